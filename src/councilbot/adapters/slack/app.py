"""The Slack chat adapter: commands, buttons and forms in, the router's replies out.

It runs slack_bolt's AsyncApp behind the built-in web server's /slack/events (HTTP mode,
where bolt verifies request signatures and answers URL verification) or over Slack's
Socket Mode WebSocket (SLACK_APP_TOKEN: no public address needed). One workspace's bot
token, or, with OAuth settings, every workspace that installed the app (see oauth.py).
Every listener acks first and answers afterwards, so Slack gets its 200 within its 3
seconds. Outbox messages (announcements, reminders) do not pass here: they go through
delivery.SlackTarget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime
from typing import Any

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext, AsyncRespond
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from councilbot.adapters.slack.forms import (
    FORM_CALLBACK,
    field_error,
    form_values,
    form_view,
    refilled,
    request_fields,
    request_view,
)
from councilbot.adapters.slack.home import HomeTab, slack_mentions
from councilbot.adapters.slack.oauth import INSTALL_PATH, NOT_INSTALLED
from councilbot.adapters.slack.render import blocks_for, fallback_text, to_mrkdwn
from councilbot.core.grammar import split_command
from councilbot.core.i18n import N_
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform, Reply
from councilbot.core.router import FAILED, Router
from councilbot.delivery.targets import PermanentError, TransientError

log = logging.getLogger(__name__)

ACTION_ID = re.compile(r"^cmd_\d+$")
LINK_ID = re.compile(r"^url_\d+$")  # a link button: Slack opens the page itself
# chat.* errors after which the bot cannot write in the channel at all.
NOT_THERE = frozenset({"not_in_channel", "channel_not_found", "is_archived"})
NOT_IN_CHANNEL = N_(
    "I am not a member of this channel, so only you can see my answer. "
    "Invite me with /invite to answer here for everyone."
)
FILE_FAILED = N_("I could not send you the file {name} ({error}). Please try again later.")
DRAIN_TIMEOUT = 10.0  # seconds stop() waits for answers still being sent
SOCKET_PING = 10.0  # seconds between Socket Mode pings (a silent connection is reopened)


class SlackAdapter:
    """Answer Slack commands, button presses, forms and channel events through the router."""

    def __init__(
        self,
        router: Router,
        *,
        token: str | None = None,
        signing_secret: str | None = None,
        oauth: AsyncOAuthSettings | None = None,
        app_token: str | None = None,
        base_url: str = "https://slack.com/api/",
        command: str = "/council",
    ) -> None:
        if (token is None) == (oauth is None):
            raise ValueError("give the Slack adapter either a bot token or OAuth settings")
        if signing_secret is None and app_token is None:
            raise ValueError("HTTP mode needs the signing secret; Socket Mode the app token")
        self.router = router
        self.command = command
        # "/help", "/announce cancel 3" in replies, but not "https://example.org/help".
        self._mentions = slack_mentions(router, command)
        self._slash = rf"{command} \1"
        self.home = HomeTab(router, command)
        self.bot_user_id: str | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        client = AsyncWebClient(
            token=token,
            base_url=base_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)],
        )
        # A single workspace's token travels with the client (passing both makes bolt warn);
        # with OAuth settings bolt picks each request's token from the installation store.
        t = router.translator()
        self.bolt = AsyncApp(
            client=client,
            signing_secret=signing_secret or "",
            user_facing_authorize_error_message=str(t(NOT_INSTALLED)),
            oauth_settings=oauth,
            installation_store_bot_only=True if oauth is not None else None,
            process_before_response=False,
            # Socket Mode requests come over the app's own WebSocket and carry no signature;
            # with no signing secret there is no HTTP route to verify either (handle_http).
            request_verification_enabled=signing_secret is not None,
        )
        self._signed = signing_secret is not None
        self.bolt.command(command)(self._on_command)
        self.bolt.action(ACTION_ID)(self._on_action)
        self.bolt.action(LINK_ID)(self._on_link)
        self.bolt.view(FORM_CALLBACK)(self._on_form)
        self.bolt.event("member_joined_channel")(self._on_joined)
        self.bolt.event("app_home_opened")(self._on_home_opened)
        self.bolt.event("message")(self._on_message)  # message.im: direct messages to the bot
        for left in ("channel_left", "group_left"):  # the bot removed from a channel
            self.bolt.event(left)(self._on_left)
        if oauth is not None:
            # app_uninstalled / tokens_revoked delete the workspace's stored tokens.
            self.bolt.enable_token_revocation_listeners()
        else:
            # The manifest subscribes to both events; one workspace's bot can only say so.
            self.bolt.event("app_uninstalled")(self._on_uninstalled)
            self.bolt.event("tokens_revoked")(self._on_uninstalled)
        # The connections replies go out on, opened by start(): without one, slack_sdk opens
        # (and closes) a connection for every call.
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        if app_token is not None:
            self._socket = AsyncSocketModeHandler(self.bolt, app_token, ping_interval=SOCKET_PING)

    def _on_slack(self, reply: Reply) -> Reply:
        """Write the commands a reply mentions as Slack users type them: `/council help`."""
        update = {"text": self._mentions.sub(self._slash, reply.text)}
        if reply.error is not None:
            update["error"] = self._mentions.sub(self._slash, reply.error)
        return reply.model_copy(update=update)

    @property
    def installs(self) -> bool:
        """Tell whether the adapter serves Slack's install flow (multi-workspace mode)."""
        return self.bolt.oauth_flow is not None

    async def start(self) -> None:
        """Check the token (one workspace) and open the Socket Mode connection (if any)."""
        if self.bolt.client.session is None:
            # Shared by every request's client: bolt hands each the app client's session.
            self._session = aiohttp.ClientSession()
            self.bolt.client.session = self._session
        try:
            if self.bolt.client.token is not None:
                answer = await self.bolt.client.auth_test()
                self.bot_user_id = answer.get("user_id")
                log.info("slack bot %s ready in team %s", self.bot_user_id, answer.get("team_id"))
            else:
                log.info("slack ready for every workspace that installs the app (%s)", INSTALL_PATH)
            if self._socket is not None:
                # Ask for the socket's address here, where a refused app token can stop the
                # start-up: slack_sdk's own connect() would log and retry for ever.
                socket = self._socket.client
                opened = await self.bolt.client.apps_connections_open(app_token=socket.app_token)
                socket.wss_uri = str(opened["url"])
                await self._socket.connect_async()
                log.info("slack socket mode connected")
        except SlackApiError as exc:
            await self._close_session()
            raise PermanentError(f"Slack refused the token: {_error_code(exc)}") from None
        except (aiohttp.ClientError, TimeoutError) as exc:
            await self._close_session()
            raise TransientError(f"Slack did not answer: {type(exc).__name__}") from None
        except BaseException:
            await self._close_session()
            raise

    async def _close_session(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            self.bolt.client.session = None
            await session.close()

    async def pause(self) -> None:
        """Close the Socket Mode connection (over HTTP the web server refuses new requests)."""
        socket, self._socket = self._socket, None
        if socket is not None:
            await socket.close_async()

    async def stop(self, grace: float = DRAIN_TIMEOUT) -> None:
        """Stop receiving and wait (up to `grace` seconds) for answers still being sent."""
        await self.pause()
        await self.drain(grace)
        await self._close_session()

    async def drain(self, grace: float = DRAIN_TIMEOUT) -> None:
        """Wait until every command and button press being answered is done."""
        pending = set(self._tasks)
        if pending:
            _done, late = await asyncio.wait(pending, timeout=grace)
            if late:
                log.warning("%d slack answers still running after %.0f s", len(late), grace)

    async def handle_http(
        self, body: bytes, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Dispatch one HTTP request from Slack and return (status, body, headers)."""
        if not self._signed:  # Socket Mode only: nothing over HTTP can be verified
            return 401, b"", {}
        try:
            request = AsyncBoltRequest(body=body.decode("utf-8"), headers=dict(headers.items()))
        except Exception as exc:  # an undecodable body or a payload that is not JSON
            log.info("refused a slack request with a bad body: %s", type(exc).__name__)
            return 400, b"", {}
        response = await self.bolt.async_dispatch(request)
        return _answer(response)

    async def handle_install(
        self, query: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Serve GET /slack/install: off to Slack's consent page, with a one-time state cookie."""
        return await self._oauth_page("install", query, headers)

    async def handle_oauth_redirect(
        self, query: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Serve GET /slack/oauth_redirect: check the state, trade the code, store the install."""
        return await self._oauth_page("callback", query, headers)

    async def _oauth_page(
        self, step: str, query: str, headers: Mapping[str, str]
    ) -> tuple[int, bytes, dict[str, str]]:
        """Run one step of bolt's install flow (404 when this is a single-workspace bot)."""
        flow = self.bolt.oauth_flow
        if flow is None:
            return 404, b"", {}
        request = AsyncBoltRequest(body="", query=query, headers=dict(headers.items()))
        if step == "install":
            return _answer(await flow.handle_installation(request))
        return _answer(await flow.handle_callback(request))

    # -- listeners

    async def _on_command(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Answer `/council <command> <args>`."""
        async with self._answering(ack, respond, f"command {self.command}"):
            name, args = split_command(str(body.get("text") or ""))
            team = str(body.get("team_id") or "")
            user_id = str(body["user_id"])
            command = Command(
                name=name or "help",
                args=args,
                sender=_identity(user_id, team, body.get("user_name")),
                chat=_chat(str(body["channel_id"]), team, body.get("channel_name")),
                received_at=datetime.now(UTC),
            )
            # `/council announce`, or `/council announce cancel`: that form's fields only.
            if self.router.form_of(command) and await self._open_form(
                client, respond, command, body
            ):
                return
            reply = self._on_slack(await self.router.handle(command))
            if await self._open_request(client, command, reply, body):
                return
            spec = self.router.lookup(command.name)
            personal = spec is not None and spec.is_personal(command.args)
            # In a shared channel, only the sender sees personal answers and refusals; a
            # direct message is private already, and its answers can be updated later.
            ephemeral = not command.chat.is_private and (
                reply.private or reply.error is not None or personal
            )
            public = await self._send(client, respond, command, reply, ephemeral=ephemeral)
            await self._send_file(client, respond, command, reply, public=public)

    async def _on_link(self, ack: AsyncAck) -> None:
        """Acknowledge a link button: Slack opened its page; there is nothing to run."""
        await ack()

    async def _on_action(
        self, ack: AsyncAck, body: dict[str, Any], respond: AsyncRespond, client: AsyncWebClient
    ) -> None:
        """Run the command behind a pressed button and show its answer in place."""
        async with self._answering(ack, respond, "button press"):
            action = body["actions"][0]
            name, args = split_command(str(action.get("value") or ""))
            sender = _sender(body)
            container = body.get("container") or {}
            if (body.get("view") or {}).get("type") == "home":
                await self._on_home_action(client, sender, name or "help", args)
                return
            channel = body.get("channel") or {}
            channel_id = str(channel.get("id") or container.get("channel_id") or "")
            command = Command(
                name=name or "help",
                args=args,
                sender=sender,
                chat=_chat(channel_id, sender.workspace, channel.get("name")),
                received_at=datetime.now(UTC),
            )
            reply = self._on_slack(await self.router.handle(command))
            if await self._open_request(client, command, reply, body):
                return  # the message stays as it was until the form is sent
            message = body.get("message")
            public = not container.get("is_ephemeral") and not reply.private
            if reply.error is not None:
                # A refusal is for the presser alone; the message stays as it was.
                public = await self._send(client, respond, command, reply, ephemeral=True)
            elif container.get("is_ephemeral"):
                # Ephemeral messages have no ts to update: only their response_url can.
                await respond(
                    text=_text(reply),
                    blocks=blocks_for(reply.text, reply.buttons),
                    replace_original=True,
                )
            elif reply.private or not isinstance(message, dict):
                public = await self._send(client, respond, command, reply, ephemeral=True)
            elif _text(reply) != message.get("text"):
                public = await self._update(client, respond, command, reply, str(message["ts"]))
            await self._send_file(client, respond, command, reply, public=public)

    async def _on_home_action(
        self, client: AsyncWebClient, sender: Identity, name: str, args: str
    ) -> None:
        """Run a Home tab button's command, answer in the member's DM, and refresh the tab."""
        chat = Chat(
            platform=Platform.SLACK,
            workspace=sender.workspace,
            chat_id=sender.user_id,  # a bot posting to a user id writes in its DM with them
            kind=ChatKind.PRIVATE,
        )
        command = Command(
            name=name, args=args, sender=sender, chat=chat, received_at=datetime.now(UTC)
        )
        reply = await self.router.handle(command)
        await self._post(client, sender.user_id, reply)
        view = await self.home.view(sender.workspace, sender.user_id)
        await client.views_publish(user_id=sender.user_id, view=view)

    async def _open_form(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond,
        command: Command,
        body: dict[str, Any],
    ) -> bool:
        """Open the command's modal when it has one; return whether the command is answered."""
        form = await self.router.form(command)
        if form is None or not body.get("trigger_id"):
            return False
        if isinstance(form, Reply):  # not allowed: say so now, not after the form is filled
            await self._send(client, respond, command, self._on_slack(form), ephemeral=True)
            return True
        metadata = {"command": command.name, "channel": command.chat.chat_id}
        if form.words:  # the sub-command the form fills in, sent back with the fields
            metadata["args"] = form.words
        if command.chat.title:
            metadata["channel_name"] = command.chat.title
        await client.views_open(trigger_id=body["trigger_id"], view=form_view(form, metadata))
        return True

    async def _open_request(
        self, client: AsyncWebClient, command: Command, reply: Reply, body: dict[str, Any]
    ) -> bool:
        """Open the form a reply asks for (e.g. an announcement's new text); return whether it
        did, so that the reply's typed instructions are not shown as well."""
        if reply.form is None or reply.error is not None or not body.get("trigger_id"):
            return False
        metadata = {"command": reply.form.command, "channel": command.chat.chat_id}
        if command.chat.title:
            metadata["channel_name"] = command.chat.title
        view = request_view(reply.form, metadata)
        await client.views_open(trigger_id=body["trigger_id"], view=view)
        return True

    async def _on_form(self, ack: AsyncAck, body: dict[str, Any], client: AsyncWebClient) -> None:
        """Run the command of a submitted modal; show refusals in the modal, results in chat."""
        self._track()
        view = body["view"]
        acked = False
        try:
            metadata = json.loads(view.get("private_metadata") or "{}")
            sender = _sender(body)
            values = form_values(view.get("state") or {})
            command = Command(
                name=str(metadata["command"]),
                args=str(metadata.get("args") or ""),
                fields=request_fields(metadata, values),
                sender=sender,
                chat=_chat(
                    str(metadata["channel"]), sender.workspace, metadata.get("channel_name")
                ),
                received_at=datetime.now(UTC),
            )
            reply = self._on_slack(await self.router.handle(command))
            acked = True
            if reply.error is not None:
                await self._refuse_form(ack, view, reply)
                return
            await ack()  # closes the modal
            public = await self._send(client, None, command, reply, ephemeral=reply.private)
            await self._send_file(client, None, command, reply, public=public)
        except Exception:
            incident = secrets.token_hex(4)
            log.exception("slack form failed (incident %s)", incident)
            if not acked:
                t = self.router.translator()
                problem = t(FAILED, incident=incident)
                await ack(response_action="errors", errors=_first_input(view, problem))

    async def _refuse_form(self, ack: AsyncAck, view: dict[str, Any], reply: Reply) -> None:
        """Keep the modal open with the reason: beside its field, or on top of the form."""
        assert reply.error is not None
        errors = field_error(view, reply.error_field, reply.error)
        if errors is not None:
            await ack(response_action="errors", errors=errors)
        else:
            await ack(response_action="update", view=refilled(view, reply.error))

    async def _on_joined(
        self,
        ack: AsyncAck,
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """Greet a channel the bot was invited to, saying how to link it to a council."""
        async with self._answering(ack, None, f"greeting of channel {event.get('channel')}"):
            if event.get("user") != (context.bot_user_id or self.bot_user_id):
                return  # someone else joined
            team = str(event.get("team") or context.team_id or "")
            chat = _chat(str(event["channel"]), team, None)
            inviter = event.get("inviter")
            by = _identity(str(inviter), team, None) if inviter else None
            reply = await self.router.presence(chat, by, present=True)
            if reply is not None:
                await self._post(client, chat.chat_id, reply)

    async def _on_home_opened(
        self,
        ack: AsyncAck,
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """Publish the member's home in the Home tab they opened."""
        async with self._answering(ack, None, "home tab"):
            if event.get("tab", "home") != "home" or not event.get("user"):
                return  # the Messages tab: nothing to publish
            team = str(event.get("team") or context.team_id or "")
            user = str(event["user"])
            await client.views_publish(user_id=user, view=await self.home.view(team, user))

    async def _on_message(
        self,
        ack: AsyncAck,
        event: dict[str, Any],
        context: AsyncBoltContext,
        client: AsyncWebClient,
    ) -> None:
        """Answer a direct message (commands come as /council): the router may hint at help."""
        async with self._answering(ack, None, f"message in {event.get('channel')}"):
            if event.get("subtype") or event.get("bot_id") or not event.get("user"):
                return  # edits, deletions and bots' messages, the bot's own included
            team = str(event.get("team") or context.team_id or "")
            chat = _chat(str(event["channel"]), team, None)
            sender = _identity(str(event["user"]), team, None)
            reply = await self.router.handle_text(sender, chat)
            if reply is not None:
                await self._post(client, chat.chat_id, reply)

    async def _post(self, client: AsyncWebClient, channel: str, reply: Reply) -> None:
        """Post an answer nobody typed a command for (a greeting, a hint) to a channel."""
        reply = self._on_slack(reply)
        await client.chat_postMessage(
            channel=channel,
            text=_text(reply),
            blocks=blocks_for(reply.text, reply.buttons),
            unfurl_links=False,
        )

    async def _on_left(
        self, ack: AsyncAck, event: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        """Stop sending to a channel the bot was removed from (its link is kept)."""
        async with self._answering(ack, None, f"leaving of channel {event.get('channel')}"):
            chat = _chat(str(event["channel"]), str(context.team_id or ""), None)
            await self.router.presence(chat, None, present=False)

    async def _on_uninstalled(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Say loudly that SLACK_BOT_TOKEN stopped working (single-workspace mode)."""
        await ack()
        log.error(
            "slack: the app was uninstalled or its tokens revoked in team %s; "
            "SLACK_BOT_TOKEN no longer works there (reinstall the app and update it)",
            body.get("team_id"),
        )

    # -- sending

    async def _send(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        command: Command,
        reply: Reply,
        *,
        ephemeral: bool,
    ) -> bool:
        """Post the reply in the channel (or to the sender only); fall back to response_url.

        Return whether everyone in the channel can see the answer.
        """
        channel = command.chat.chat_id
        text, blocks = _text(reply), blocks_for(reply.text, reply.buttons)
        try:
            if ephemeral:
                await client.chat_postEphemeral(
                    channel=channel, user=command.sender.user_id, text=text, blocks=blocks
                )
            else:
                await client.chat_postMessage(
                    channel=channel, text=text, blocks=blocks, unfurl_links=False
                )
            return not ephemeral
        except SlackApiError as exc:
            return await self._instead(client, respond, command, reply, exc, "post to")

    async def _update(
        self, client: AsyncWebClient, respond: AsyncRespond, command: Command, reply: Reply, ts: str
    ) -> bool:
        """Replace the message whose button was pressed; fall back to response_url.

        Return whether everyone in the channel can see the answer.
        """
        channel = command.chat.chat_id
        try:
            await client.chat_update(
                channel=channel,
                ts=ts,
                text=_text(reply),
                blocks=blocks_for(reply.text, reply.buttons),
            )
            return True
        except SlackApiError as exc:
            return await self._instead(client, respond, command, reply, exc, "update in")

    async def _instead(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        command: Command,
        reply: Reply,
        exc: SlackApiError,
        what: str,
    ) -> bool:
        """Answer the sender alone when the channel refused; return False (not public)."""
        code = _error_code(exc)
        log.warning(
            "slack %s %s failed (%s): answering the sender only", what, command.chat.chat_id, code
        )
        await self._respond(client, respond, command, reply, note=code in NOT_THERE)
        return False

    async def _send_file(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        command: Command,
        reply: Reply,
        *,
        public: bool,
    ) -> None:
        """Upload the reply's file beside a public answer, else in the sender's direct messages."""
        file = reply.file
        if file is None:
            return
        channel = command.chat.chat_id
        try:
            if not public and not command.chat.is_private:
                opened = await client.conversations_open(users=command.sender.user_id)
                channel = str(opened["channel"]["id"])
            await client.files_upload_v2(
                channel=channel, file=file.data, filename=file.filename, title=file.filename
            )
        except SlackApiError as exc:
            code = _error_code(exc)
            log.warning("slack upload of %s to %s failed (%s)", file.filename, channel, code)
            t = await self.router.translator_for(command.sender, command.chat)
            text = t(FILE_FAILED, name=file.filename, error=code)
            await self._respond(client, respond, command, Reply(text=text), note=False)

    async def _respond(
        self,
        client: AsyncWebClient,
        respond: AsyncRespond | None,
        command: Command,
        reply: Reply,
        *,
        note: bool,
    ) -> None:
        """Answer only the sender: through the request's response_url, else in a direct message."""
        text = reply.text
        if note:
            t = await self.router.translator_for(command.sender, command.chat)
            text = f"{t(NOT_IN_CHANNEL)}\n\n{text}"
        mrkdwn, blocks = fallback_text(text), blocks_for(text, reply.buttons)
        if respond is None:  # a modal's submission has no response_url
            await client.chat_postMessage(
                channel=command.sender.user_id, text=mrkdwn, blocks=blocks, unfurl_links=False
            )
            return
        answer = await respond(text=mrkdwn, blocks=blocks, response_type="ephemeral")
        if answer.status_code != 200:
            log.warning("slack response_url answered HTTP %s", answer.status_code)

    @contextlib.asynccontextmanager
    async def _answering(
        self, ack: AsyncAck, respond: AsyncRespond | None, what: str
    ) -> AsyncIterator[None]:
        """Ack at once, then answer; if answering breaks, log it and apologise (if someone
        asked) rather than let it escape: after ack(), bolt would answer Slack with a 404.
        """
        self._track()  # before the ack, which lets the request's answer go
        await ack()
        try:
            yield
        except Exception:
            incident = secrets.token_hex(4)
            log.exception("slack %s failed (incident %s)", what, incident)
            if respond is None:  # an event: nobody is waiting for an answer
                return
            try:
                t = self.router.translator()
                text = to_mrkdwn(t(FAILED, incident=incident))
                await respond(text=text, response_type="ephemeral")
            except Exception as exc:
                log.warning("could not apologise through response_url: %s", type(exc).__name__)

    def _track(self) -> None:
        """Remember the running listener so that stop() can wait for it."""
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


def _first_input(view: dict[str, Any], reason: str) -> dict[str, str]:
    """Put a reason that concerns no field in particular under the form's first input."""
    first = next(b["block_id"] for b in view.get("blocks", ()) if b["type"] == "input")
    errors = field_error(view, first, reason)
    assert errors is not None
    return errors


def _answer(response: BoltResponse) -> tuple[int, bytes, dict[str, str]]:
    """Turn bolt's response into (status, body, headers) for the web server."""
    return response.status, (response.body or "").encode(), response.first_headers()


def _text(reply: Reply) -> str:
    """Return the reply's mrkdwn fallback text, as Slack stores it."""
    return fallback_text(reply.text)


def _error_code(exc: SlackApiError) -> str:
    """Read Slack's error code (or the HTTP status) from a failed call."""
    response = exc.response
    data = getattr(response, "data", None)
    if isinstance(data, Mapping) and data.get("error"):
        return str(data["error"])
    return f"HTTP {getattr(response, 'status_code', '?')}"


def _sender(body: dict[str, Any]) -> Identity:
    """Name who pressed a button or sent a form, from an interaction payload."""
    user = body["user"]
    team = str((body.get("team") or {}).get("id") or user.get("team_id") or "")
    return _identity(str(user["id"]), team, user.get("username") or user.get("name"))


def _identity(user_id: str, team: str, username: str | None) -> Identity:
    """Name a Slack user in their workspace; Slack gives commands only the handle."""
    return Identity(
        platform=Platform.SLACK,
        user_id=user_id,
        workspace=team,
        username=username,
        display_name=username,
    )


def _chat(channel_id: str, team: str, channel_name: object) -> Chat:
    """Describe a Slack conversation: D… and `directmessage` are one-to-one chats."""
    private = channel_name == "directmessage" or channel_id.startswith("D")
    return Chat(
        platform=Platform.SLACK,
        workspace=team,
        chat_id=channel_id,
        kind=ChatKind.PRIVATE if private else ChatKind.GROUP,
        title=str(channel_name) if channel_name else None,
    )
