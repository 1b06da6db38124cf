"""Deliver outbox messages to Slack with chat.postMessage.

Slack's error codes are sorted by what they are about: the channel (gone for us:
`PermanentError`, the channel is switched off), this message (`Rejected`: it fails, the
channel stays), the workspace's token or installation (`Unauthorized`: the dispatcher holds
the workspace's messages and keeps its channels), or Slack itself (`TransientError`). A code
in none of these lists is retried like a transient error and ends `failed`, never `dead`.
A workspace that uninstalled the app (its installation deleted by the `app_uninstalled` or
`tokens_revoked` event) chose so: its messages are `Rejected`, its channels stay linked for
a reinstall, and nothing is held.

A message with a file uploads it with `files_upload_v2` (files.getUploadURLExternal, the
upload, files.completeUploadExternal) into the channel, or into a person's direct messages
(conversations.open: uploads take no user id), and then posts its text with its buttons as a
message of its own, which can be edited like any other post. The id `deliver` returns for
it is "<file id>/<ts>" ("<file id>/" for a file without text), so that a deletion also
deletes the file (`files.delete`: a deleted message would leave it in the channel) and a
file without text can be deleted at all.

It also edits (`chat.update`) and deletes (`chat.delete`) what it posted. Those take the
conversation's id, which for a direct message is the DM's (D...), not the person's (U...)
that messages are posted to: the target asks `conversations.open` once per person and keeps
the answer. Slack's refusals to change a message (`cant_update_message`,
`cant_delete_message`, ...) become `NotAllowed`; deleting a message already gone is no error.
"""

from __future__ import annotations

import logging
import math
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from typing import Any, TypeVar

import aiohttp
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.exc import SQLAlchemyError

from councilbot.adapters.slack.home import HomeTab
from councilbot.adapters.slack.oauth import WorkspaceTokens
from councilbot.adapters.slack.render import blocks_for, fallback_text
from councilbot.core.formatting import plain_text
from councilbot.core.messages import ChatKind, Platform
from councilbot.delivery.targets import (
    DeliveryError,
    FileRef,
    NotAllowed,
    Outgoing,
    PermanentError,
    Rejected,
    RetryAfter,
    TransientError,
    Unauthorized,
)
from councilbot.services.home import HOME_VIEW

log = logging.getLogger(__name__)
DEFAULT_TIMEOUT = 10  # seconds for one Web API call
_REMEMBERED = 1_000  # files uploaded whose text still has to follow; people's DM channels
K = TypeVar("K")
V = TypeVar("V")

# The channel is gone for us, or closed to the bot.
CHANNEL_GONE = frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "cannot_dm_bot",
        "messages_tab_disabled",
        "restricted_action",
        "restricted_action_read_only_channel",
    }
)
# The workspace's token or installation, not the channel: every message there fails alike.
WORKSPACE_ERRORS = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "missing_scope",
    }
)
# This message will never be accepted, wherever it goes.
MESSAGE_ERRORS = frozenset(
    {
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_attachments",
        "too_many_attachments",
        "msg_too_long",
        "no_text",
        "invalid_arguments",
    }
)
# Slack does not let the bot change this message (edit window, retention, not its own).
NOT_ALLOWED = frozenset(
    {
        "cant_update_message",
        "cant_delete_message",
        "edit_window_closed",
        "compliance_exports_prevent_deletion",
        "cant_delete_file",
    }
)
MESSAGE_GONE = "message_not_found"
FILE_GONE = frozenset({"file_not_found", "file_deleted"})  # files.delete: already deleted


class SlackTarget:
    """Send outbox messages to Slack: one workspace's token, or each installed workspace's."""

    platform = Platform.SLACK
    delete_window: timedelta | None = None  # a bot may delete its messages at any time

    def __init__(self, client: AsyncWebClient, tokens: WorkspaceTokens | None = None) -> None:
        self.client = client
        self.tokens = tokens
        # Renders Home tab refreshes (services.home.home_changed); set once the router exists.
        self.home: HomeTab | None = None
        # A file whose text failed after it, by Slack's file id: a retry posts only the text.
        self._uploaded: OrderedDict[tuple[str, str, str, str], str] = OrderedDict()
        self._dms: OrderedDict[tuple[str, str], str] = OrderedDict()  # (workspace, user) -> D…

    @classmethod
    def create(
        cls,
        token: str | None,
        base_url: str = AsyncWebClient.BASE_URL,
        *,
        tokens: WorkspaceTokens | None = None,
        timeout: int = DEFAULT_TIMEOUT,
    ) -> SlackTarget:
        """Build a target with its own Web API client (token None: look tokens up in `tokens`)."""
        # slack_sdk's default retry handlers are [AsyncConnectionErrorRetryHandler()] (one
        # retry on ServerConnectionError / ServerDisconnectedError / ClientOSError); the 429
        # and 5xx handlers are opt-in. We keep none: the outbox dispatcher owns retries and
        # backoff, and re-sending after a dropped connection could post a message twice.
        client = AsyncWebClient(token=token, base_url=base_url, timeout=timeout, retry_handlers=[])
        return cls(client, tokens)

    async def deliver(self, message: Outgoing) -> str | None:
        """Post the message to its channel and return its id, or raise a DeliveryError.

        The id is the text's `ts`, or "<file id>/<ts>" for a message with a file ("<file
        id>/" when the file went without text).
        """
        token = await self._token(message.workspace)
        if message.view == HOME_VIEW:
            await self._publish_home(message, token)
            return None
        if message.file is not None:
            return await self._post_with_file(message, message.file, token)
        return await self._post_text(message, token)

    async def _publish_home(self, message: Outgoing, token: str | None) -> None:
        """Publish the member's Home tab as it is now (see adapters.slack.home)."""
        if self.home is None:  # no router in this process to render it: nothing to show
            log.warning("slack: a Home tab refresh, but no Home tab renderer was given")
            return
        view = await self.home.view(message.workspace, message.chat_id)
        await self._call(
            message,
            token,
            lambda: self.client.views_publish(user_id=message.chat_id, view=view, token=token),
        )

    async def _post_text(self, message: Outgoing, token: str | None) -> str:
        """Post the message's text, picture and buttons to its channel; return its `ts`.

        Slack fetches a picture itself and refuses the whole message if it cannot: then the
        message goes without it (a post without its cover beats no post).
        """
        try:
            return await self._post_blocks(message, token, message.image_url)
        except Rejected as exc:
            if not message.image_url:
                raise
            log.info("slack would not show the picture %s (%s): text alone", message.image_url, exc)
            return await self._post_blocks(message, token, None)

    async def _post_blocks(self, message: Outgoing, token: str | None, image: str | None) -> str:
        blocks = blocks_for(
            message.text, message.buttons, image_url=image, image_alt=fallback_text(message.text)
        )
        response = await self._call(
            message,
            token,
            lambda: self.client.chat_postMessage(
                channel=message.chat_id,
                text=fallback_text(message.text),
                blocks=blocks or None,
                unfurl_links=False,
                token=token,
            ),
        )
        return str(response["ts"])

    async def _post_with_file(self, message: Outgoing, file: FileRef, token: str | None) -> str:
        """Upload the file to the message's chat, then post the text if there is one."""
        if file.data is None:
            raise TransientError(f"the bytes of file {file.id} were not read")
        key = (message.workspace, message.chat_id, file.sha256, message.text)
        file_id = self._uploaded.get(key)
        if file_id is None:
            channel = await self._conversation(message, token)
            data = file.data
            response = await self._call(
                message,
                token,
                lambda: self.client.files_upload_v2(
                    channel=channel,
                    file=data,
                    filename=file.filename,
                    title=file.filename,
                    token=token,
                ),
            )
            shared = response.get("files") or [{}]  # one file: the one uploaded
            file_id = str(shared[0].get("id") or "")
            _remember(self._uploaded, key, file_id)
        ts = ""
        if plain_text(message.text).strip() or message.buttons:
            ts = await self._post_text(message, token)
        self._uploaded.pop(key, None)
        return f"{file_id}/{ts}"

    async def edit(self, message: Outgoing, message_id: str) -> None:
        """Replace a posted message's text and buttons (chat.update), or raise a DeliveryError.

        A file posted without text has no message to edit: giving it a text is `NotAllowed`.
        """
        _, ts = _parts(message_id)
        if not ts:
            if plain_text(message.text).strip() or message.buttons:
                raise NotAllowed("the file was posted without a text message to edit")
            return
        token = await self._token(message.workspace)
        channel = await self._conversation(message, token)
        # Without `blocks`, Slack keeps the old ones: an empty list removes them.
        for image in dict.fromkeys((message.image_url, None)):
            blocks = blocks_for(
                message.text,
                message.buttons,
                image_url=image,
                image_alt=fallback_text(message.text),
            )
            try:
                await self._call(
                    message,
                    token,
                    lambda blocks=blocks: self.client.chat_update(
                        channel=channel,
                        ts=ts,
                        text=fallback_text(message.text),
                        blocks=blocks,
                        token=token,
                    ),
                )
            except Rejected:
                if image is None:  # nothing left to leave out
                    raise
                continue  # the picture is what Slack refused: the text alone, as when posted
            return

    async def delete(self, message: Outgoing, message_id: str) -> None:
        """Delete a post: its message (chat.delete), then its file (files.delete).

        A message or a file already gone counts as deleted, so a retry after a partial
        deletion is safe.
        """
        file_id, ts = _parts(message_id)
        token = await self._token(message.workspace)
        if ts:
            channel = await self._conversation(message, token)
            try:
                await self._call(
                    message,
                    token,
                    lambda: self.client.chat_delete(channel=channel, ts=ts, token=token),
                )
            except Rejected as exc:
                if exc.reason != MESSAGE_GONE:
                    raise
        if file_id:
            try:
                await self._call(
                    message, token, lambda: self.client.files_delete(file=file_id, token=token)
                )
            except Rejected as exc:
                if exc.reason not in FILE_GONE:
                    raise

    async def _conversation(self, message: Outgoing, token: str | None) -> str:
        """Return the id of the conversation a message was posted to (a DM's, for a person)."""
        user = message.chat_id
        if message.chat_kind is not ChatKind.PRIVATE or not user.startswith(("U", "W")):
            return user
        key = (message.workspace, user)
        channel = self._dms.get(key)
        if channel is None:
            response = await self._call(
                message, token, lambda: self.client.conversations_open(users=user, token=token)
            )
            channel = str(response["channel"]["id"])
            _remember(self._dms, key, channel)
        return channel

    async def _call(
        self, message: Outgoing, token: str | None, request: Callable[[], Awaitable[Any]]
    ) -> Any:
        """Make one Web API call for a message; turn its failure into a DeliveryError."""
        try:
            return await request()
        except SlackApiError as exc:
            error = self._api_error(exc.response, token)
            if self.tokens is not None and isinstance(error, Unauthorized):
                # Drop the refused token, so that a reinstall is picked up at once; a
                # remembered token can outlive its installation's removal.
                self.tokens.forget(message.workspace)
                if await self._lookup(message.workspace) is None:
                    error = _not_installed(message.workspace)
            error.status = getattr(exc.response, "status_code", None)
            raise error from None
        except (aiohttp.ClientError, TimeoutError) as exc:  # asyncio.TimeoutError is TimeoutError
            raise TransientError(self._describe(exc, token)) from None
        except SlackClientError as exc:  # a client-side problem: nothing says the channel is gone
            raise TransientError(self._describe(exc, token)) from None

    async def _token(self, workspace: str) -> str | None:
        """Return the token for the message's workspace (None: the client's own)."""
        if self.tokens is None:
            return None
        token = await self._lookup(workspace)
        if token is None:
            raise _not_installed(workspace)
        return token

    async def _lookup(self, workspace: str) -> str | None:
        """Return the workspace's installed token, or None when the app is not installed."""
        assert self.tokens is not None  # only asked in multi-workspace mode
        try:
            return await self.tokens.token_for(workspace)
        except SQLAlchemyError as exc:
            raise TransientError(f"installation lookup failed: {type(exc).__name__}") from None

    def _api_error(self, response: Any, token: str | None) -> DeliveryError:
        """Map a failed Web API response to a delivery error."""
        status = getattr(response, "status_code", None) or getattr(response, "status", None)
        data = getattr(response, "data", None)
        code = str(data.get("error") or "") if isinstance(data, Mapping) else ""
        if status == 429 or code == "ratelimited":
            headers = getattr(response, "headers", None) or {}
            seconds = _retry_after(headers.get("Retry-After"))
            return RetryAfter(self._scrub(code or "ratelimited", token), seconds)
        if isinstance(status, int) and status >= 500:
            return TransientError(
                self._scrub(f"HTTP {status}" + (f" {code}" if code else ""), token)
            )
        if code in CHANNEL_GONE:
            return PermanentError(code)
        if code in WORKSPACE_ERRORS:
            return Unauthorized(code)
        if code in NOT_ALLOWED:
            return NotAllowed(code)
        if code in MESSAGE_ERRORS or code == MESSAGE_GONE or code in FILE_GONE:
            return Rejected(code)
        if code:  # internal_error, fatal_error, ... and codes Slack adds later
            return TransientError(self._scrub(code, token))
        return TransientError(f"HTTP {status}: no Slack answer")

    def _describe(self, exc: Exception, token: str | None) -> str:
        """Name an exception for a reason, without the token."""
        detail = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        name = type(exc).__name__
        return self._scrub(f"{name}: {detail}" if detail else name, token)

    def _scrub(self, reason: str, token: str | None) -> str:
        """Make sure a reason never carries a token."""
        for secret in filter(None, (token, self.client.token)):
            reason = reason.replace(secret, "[token]")
        return reason


def _parts(message_id: str) -> tuple[str, str]:
    """Read the id `deliver` returned: (the file's id or "", the text message's ts or "")."""
    file_id, slash, ts = message_id.partition("/")
    return (file_id, ts) if slash else ("", message_id)


def _remember(memory: OrderedDict[K, V], key: K, value: V) -> None:
    """Keep a value, forgetting the oldest beyond _REMEMBERED."""
    memory[key] = value
    while len(memory) > _REMEMBERED:
        memory.popitem(last=False)


def _not_installed(workspace: str) -> Rejected:
    """Fail a message to a workspace without the app, keeping its channels for a reinstall."""
    return Rejected(f"the app is not installed in Slack workspace {workspace or '?'}")


def _retry_after(value: object) -> float:
    """Read a Retry-After header as seconds, defaulting to 1."""
    try:
        seconds = float(str(value))
    except ValueError:
        return 1.0
    return seconds if math.isfinite(seconds) and seconds > 0 else 1.0
