"""The Slack adapter: the real bolt AsyncApp fed signed, real-shaped requests
(payloads/*.json), answering through the real router into a fake Slack Web API."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.core.messages import Command, Platform, Reply
from councilbot.core.router import Router
from councilbot.db.models import Channel
from councilbot.db.session import create_sessionmaker
from councilbot.web.server import WebServer
from tests.conftest import CORK_TEXT, Clock
from tests.fakes.scripted import Scripted
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI, Recorded

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TOKEN = "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy"
FORM = "application/x-www-form-urlencoded"
CHANNEL = "C0CORK"  # in payloads/slash_command.json
ANA = "U0ANA"
ADMIN = "U_ADMIN"
DM = "D0ANA"
SLUGS = ("malaga", "alcala", "bologna", "cork", "istanbul", "paris")
T = TypeVar("T")


def payload(name: str) -> dict[str, Any]:
    return json.loads((PAYLOADS / f"{name}.json").read_text())


def signed(
    body: str, *, content_type: str = FORM, secret: str = SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Return the headers Slack sends with a body: its timestamp and HMAC signature."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": content_type,
        "X-Slack-Request-Timestamp": ts,
        "X-Slack-Signature": f"v0={digest}",
    }


def slash(api: FakeSlackAPI, text: str, **fields: str) -> str:
    """Return the form body of `/council <text>`, answering to the fake's response_url."""
    data = payload("slash_command")
    data.update(text=text, response_url=api.response_url("command"), **fields)
    return urlencode(data)


def interaction(data: dict[str, Any]) -> str:
    """Return the form body of an interactivity request."""
    return urlencode({"payload": json.dumps(data)})


async def until(check: Callable[[], T], seconds: float = 5.0) -> T:
    """Wait until `check()` is truthy and return it."""
    async with asyncio.timeout(seconds):
        # Poll: the fake records calls from its own request handlers, with no event to wait on.
        while not (result := check()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return result


async def send(
    adapter: SlackAdapter, body: str, headers: dict[str, str] | None = None
) -> tuple[int, bytes, dict[str, str]]:
    """Dispatch one request as the web server would."""
    async with asyncio.timeout(5):
        return await adapter.handle_http(body.encode(), headers or signed(body))


async def answered(adapter: SlackAdapter, body: str, check: Callable[[], T]) -> T:
    """Send a request, expect an empty 200 ack, and wait for the answer it causes."""
    status, content, _headers = await send(adapter, body)
    assert (status, content) == (200, b"")
    return await until(check)


def calls_to(api: FakeSlackAPI, method: str, channel: str) -> list[Recorded]:
    return [r for r in api.calls(method) if r.params.get("channel") == channel]


def posted_text(recorded: Recorded) -> str:
    """Return everything a call would show: its text and its blocks."""
    return f"{recorded.params.get('text', '')}\n{json.dumps(recorded.params.get('blocks'))}"


async def adapter_for(router: Router, api: FakeSlackAPI) -> SlackAdapter:
    return SlackAdapter(router, token=TOKEN, signing_secret=SECRET, base_url=api.base_url)


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    async with asyncio.timeout(15):
        await adapter.stop()


async def test_start_checks_the_token(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    async with asyncio.timeout(5):
        await adapter.start()
    assert adapter.bot_user_id == "U0BOT"
    assert api.calls("auth.test")[0].token == TOKEN


async def test_councils_are_posted_in_the_channel(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    posts = await answered(
        adapter, slash(api, "councils"), lambda: calls_to(api, "chat.postMessage", CHANNEL)
    )
    params = posts[0].params
    assert f"*{CORK_TEXT}*" in params["text"]  # mrkdwn, not HTML
    assert all(f"({slug})" in params["text"] for slug in SLUGS)
    assert params["blocks"][0]["type"] == "section"
    assert CORK_TEXT in params["blocks"][0]["text"]["text"]
    assert posts[0].token == TOKEN
    assert not api.calls("chat.postEphemeral") and not api.responses


@pytest.mark.parametrize("text", ["", "help", "  HELP  "])
async def test_help_answers_only_the_sender(
    adapter: SlackAdapter, api: FakeSlackAPI, text: str
) -> None:
    answers = await answered(
        adapter, slash(api, text), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    assert answers[0].params["user"] == ANA
    text = answers[0].params["text"]
    assert "/council councils — Show the councils." in text  # as it is typed on Slack
    assert "Send /council help [command] for details." in text
    assert not api.calls("chat.postMessage")


@pytest.mark.parametrize("text", ["start", "subscribe announcements cork", "lang es", "whoami"])
async def test_personal_answers_in_a_channel_are_for_the_sender_only(
    adapter: SlackAdapter, api: FakeSlackAPI, text: str
) -> None:
    [answer] = await answered(
        adapter, slash(api, text), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    assert answer.params["user"] == ANA
    assert not api.calls("chat.postMessage")


async def linked_channels(engine: AsyncEngine) -> list[Channel]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.scalars(select(Channel))).all())


async def test_admin_links_the_channel(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    posts = await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN, user_name="admin"),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    assert "now linked to *Southern Ireland council (MTU)*" in posts[0].params["text"]
    await adapter.drain()
    [channel] = await linked_channels(seeded)
    assert (channel.platform, channel.workspace, channel.external_id) == (
        Platform.SLACK,
        TEAM_ID,
        CHANNEL,
    )
    assert channel.council.slug == "cork"


async def test_member_cannot_link_the_channel(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    posts = await answered(
        adapter, slash(api, "link cork"), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    assert posts[0].params["user"] == ANA  # a refusal is for the sender's eyes only
    assert "coordinator" in posts[0].params["text"].lower()
    assert "linked to" not in posts[0].params["text"]
    await adapter.drain()
    assert await linked_channels(seeded) == []
    assert not api.calls("chat.postMessage")


async def test_a_refused_button_press_leaves_the_message_alone(
    slack_app: App, api: FakeSlackAPI
) -> None:
    refusal = "Only coordinators can use /link."
    adapter = await adapter_for(Scripted(slack_app.router, Reply(text=refusal, error=refusal)), api)  # type: ignore[arg-type]
    press = payload("block_actions")
    press["channel"] = {"id": CHANNEL, "name": "cork-members"}
    press["container"].update(channel_id=CHANNEL)
    try:
        [answer] = await answered(
            adapter, interaction(press), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
        )
    finally:
        await adapter.stop()
    assert answer.params["text"] == "Only coordinators can use /council link."
    assert answer.params["user"] == ANA
    assert not api.calls("chat.update") and not api.calls("chat.postMessage")


async def test_user_text_is_escaped(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    answers = await answered(
        adapter,
        slash(api, "whoami", user_name="<!channel> & co"),
        lambda: calls_to(api, "chat.postEphemeral", CHANNEL),
    )
    shown = posted_text(answers[0])
    assert "&lt;!channel&gt; &amp; co" in answers[0].params["text"]
    assert "<!channel>" not in shown


def _stale(body: str) -> dict[str, str]:
    return signed(body, timestamp=int(time.time()) - 6 * 60)


@pytest.mark.parametrize(
    "headers",
    [
        pytest.param(lambda body: {"Content-Type": FORM}, id="missing"),
        pytest.param(lambda body: signed(body, secret="not-the-secret"), id="wrong"),
        pytest.param(_stale, id="stale"),
        pytest.param(lambda body: signed(body + "&text=unlink"), id="tampered"),
    ],
)
async def test_unsigned_requests_are_refused(
    adapter: SlackAdapter, api: FakeSlackAPI, headers: Callable[[str], dict[str, str]]
) -> None:
    body = slash(api, "link cork", user_id=ADMIN)
    status, _content, _headers = await send(adapter, body, headers(body))
    assert status == 401
    await adapter.drain()
    await asyncio.sleep(0.05)  # room for a wrongly started listener to reach the fake
    assert api.requests == [] and api.responses == []


async def test_url_verification_returns_the_challenge(adapter: SlackAdapter) -> None:
    event = payload("url_verification")
    body = json.dumps(event)
    status, content, headers = await send(
        adapter, body, signed(body, content_type="application/json")
    )
    assert status == 200
    assert json.loads(content) == {"challenge": event["challenge"]}
    assert headers["content-type"].startswith("application/json")


async def test_uninstalling_a_single_workspace_app_is_logged_loudly(
    adapter: SlackAdapter, caplog: pytest.LogCaptureFixture
) -> None:
    body = json.dumps(payload("app_uninstalled"))
    status, _content, _headers = await send(
        adapter, body, signed(body, content_type="application/json")
    )
    assert status == 200  # acknowledged, so that Slack does not retry it
    await until(lambda: "SLACK_BOT_TOKEN no longer works" in caplog.text)
    assert "team T0TEAM" in caplog.text


async def event(adapter: SlackAdapter, name: str, **fields: str) -> None:
    """Send a signed Events API callback and expect its ack."""
    data = payload(name)
    data["event"].update(fields)
    body = json.dumps(data)
    status, _content, _headers = await send(
        adapter, body, signed(body, content_type="application/json")
    )
    assert status == 200  # bolt acks events at once and handles them afterwards


async def test_invited_to_a_channel_the_bot_says_how_to_link_it(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await event(adapter, "member_joined_channel", user=ANA)  # someone else: no news
    await event(adapter, "member_joined_channel")
    [hello] = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL))
    assert "links this chat to its council with /council link" in hello.params["text"]

    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: len(calls_to(api, "chat.postMessage", CHANNEL)) == 2,
    )
    await event(adapter, "channel_left")
    async with asyncio.timeout(5):
        while (await linked_channels(seeded))[0].active:  # noqa: ASYNC110 - a stored row
            await asyncio.sleep(0.01)
    await event(adapter, "member_joined_channel")
    back = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL)[2:])
    await adapter.drain()
    [relinked] = await linked_channels(seeded)

    assert "still linked to *Southern Ireland council (MTU)*" in back[0].params["text"]
    assert relinked.active is True


async def test_a_direct_message_gets_a_hint_and_channel_messages_get_nothing(
    adapter: SlackAdapter, api: FakeSlackAPI, clock: Clock
) -> None:
    hint = "I only understand commands. Send /council help to see them."
    await event(adapter, "message_im")
    [sent] = await until(lambda: calls_to(api, "chat.postMessage", DM))
    assert sent.params["text"] == hint
    await event(adapter, "message_im", text="are you there?")  # once is enough for now
    await event(adapter, "message_im", bot_id="B0BOT", user="U0BOT")  # its own messages
    await event(adapter, "message_im", subtype="message_changed")
    await event(adapter, "message_im", channel=CHANNEL, channel_type="channel")
    await adapter.drain()
    assert len(api.calls("chat.postMessage")) == 1
    assert api.calls("chat.postEphemeral") == []

    clock.advance(minutes=10)
    await event(adapter, "message_im", text="hello again")
    again = await until(lambda: calls_to(api, "chat.postMessage", DM)[1:])
    assert again[0].params["text"] == hint


async def test_bad_body_is_refused(adapter: SlackAdapter) -> None:
    body = "payload=%7Bnot-json"
    status, _content, _headers = await send(adapter, body)
    assert status == 400  # a signed body that is not a payload
    status, _content, _headers = await adapter.handle_http(b"\xff\xfe", {})
    assert status == 400


async def test_button_runs_its_command_and_updates_the_message(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    posts = await answered(
        adapter,
        slash(api, "start", channel_id=DM, channel_name="directmessage"),
        lambda: calls_to(api, "chat.postMessage", DM),
    )
    [(key, message)] = [(key, m) for key, m in api.messages.items() if key[0] == DM]
    ts = key[1]
    buttons = [
        e for b in posts[0].params["blocks"] if b["type"] == "actions" for e in b["elements"]
    ]
    assert {b["value"] for b in buttons} == {f"/start {slug}" for slug in SLUGS}
    cork = next(b for b in buttons if b["value"] == "/start cork")

    press = payload("block_actions")
    press["container"]["message_ts"] = ts
    press["message"] = message
    press["response_url"] = api.response_url("action")
    press["actions"] = [{**cork, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    updates = await answered(adapter, interaction(press), lambda: api.calls("chat.update"))
    assert (updates[0].params["channel"], updates[0].params["ts"]) == (DM, ts)
    assert "Your home council is now *Southern Ireland council (MTU)*" in updates[0].params["text"]
    assert api.messages[(DM, ts)]["text"] == updates[0].params["text"]
    assert len(api.calls("chat.postMessage")) == 1


async def test_button_in_an_ephemeral_message_replaces_it(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    answers = await answered(
        adapter, slash(api, "lang"), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    values = {
        e["value"]
        for b in answers[0].params["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    }
    assert "/lang es" in values

    press = payload("block_actions")
    press["container"] = {
        "type": "message",
        "message_ts": "1700000000.000200",
        "channel_id": CHANNEL,
        "is_ephemeral": True,
    }
    press["channel"] = {"id": CHANNEL, "name": "cork-members"}
    del press["message"]  # Slack sends no message for an ephemeral one
    press["response_url"] = api.response_url("action")
    press["actions"][0].update(action_id="cmd_3", value="/lang es")
    [response] = await answered(adapter, interaction(press), lambda: api.responses)
    assert response.method == "action"
    assert response.params["replace_original"] is True
    assert "te hablo en español" in response.params["text"]
    assert not api.calls("chat.update")


async def test_not_in_channel_answers_through_response_url(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    api.errors[CHANNEL] = "not_in_channel"
    [response] = await answered(adapter, slash(api, "councils"), lambda: api.responses)
    assert response.method == "command"
    assert response.params["response_type"] == "ephemeral"
    assert "Invite me with /invite" in response.params["text"]
    assert CORK_TEXT in response.params["text"]
    assert len(calls_to(api, "chat.postMessage", CHANNEL)) == 1


async def test_the_not_in_channel_note_speaks_the_language_the_member_chose(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await answered(
        adapter, slash(api, "lang es"), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    api.errors[CHANNEL] = "not_in_channel"
    [response] = await answered(adapter, slash(api, "councils"), lambda: api.responses)
    assert "No soy miembro de este canal" in response.params["text"]


async def test_rate_limit_answers_through_response_url(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    api.channel_rate = 0  # every post is answered 429, Retry-After: 1
    [response] = await answered(adapter, slash(api, "councils"), lambda: api.responses)
    assert CORK_TEXT in response.params["text"]
    assert "Invite me" not in response.params["text"]
    assert api.rate_limited == 2  # one retry after the Retry-After pause, then the fallback


class Crashing:
    """The real router, except that handling any command raises."""

    def __init__(self, router: Router) -> None:
        self._router = router
        self.commands: list[Command] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._router, name)

    async def handle(self, command: Command) -> Reply:
        self.commands.append(command)
        raise RuntimeError("a bug in a handler")


async def test_a_crash_after_ack_is_contained(slack_app: App, api: FakeSlackAPI) -> None:
    router = Crashing(slack_app.router)
    adapter = await adapter_for(router, api)  # type: ignore[arg-type]
    [response] = await answered(
        adapter, slash(api, "book hub tomorrow", channel_id="C0OTHER"), lambda: api.responses
    )
    assert "something went wrong" in response.params["text"]
    [command] = router.commands
    assert (command.name, command.args) == ("book", "hub tomorrow")
    assert command.sender.workspace == TEAM_ID
    assert command.chat.chat_id == "C0OTHER" and not command.chat.is_private
    async with asyncio.timeout(15):
        await adapter.stop()


async def test_commands_in_answers_are_written_as_slack_users_type_them(
    slack_app: App, api: FakeSlackAPI
) -> None:
    text = (
        "Send /help. See https://example.org/help or mail help@x.org/help; "
        "<code>/announce cancel 3</code> undoes it. /invite @CouncilBot first. /helpful"
    )
    adapter = await adapter_for(Scripted(slack_app.router, Reply(text=text)), api)  # type: ignore[arg-type]
    try:
        [post] = await answered(
            adapter, slash(api, "councils"), lambda: calls_to(api, "chat.postMessage", CHANNEL)
        )
    finally:
        await adapter.stop()
    assert post.params["text"] == (
        "Send /council help. See https://example.org/help or mail help@x.org/help; "
        "`/council announce cancel 3` undoes it. /invite @CouncilBot first. /helpful"
    )


async def test_a_draining_web_server_still_answers_slack_and_turns_telegram_away(
    slack_app: App, adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    telegram_calls: list[bytes] = []

    async def telegram(body: bytes, _headers: Mapping[str, str]) -> int:
        telegram_calls.append(body)
        return 200

    server = WebServer(
        slack_app,
        host="127.0.0.1",
        port=0,
        routes={"/slack/events": adapter.handle_http, "/telegram/webhook": telegram},
    )
    await server.start()
    try:
        await server.pause()  # the process is stopping
        body = slash(api, "councils")
        async with aiohttp.ClientSession() as http:
            # Slack never sends a slash command again: this process answers it.
            async with http.post(
                f"{server.url}/slack/events", data=body, headers=signed(body)
            ) as response:
                assert response.status == 200
            posts = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL))
            assert f"*{CORK_TEXT}*" in posts[0].params["text"]
            # Telegram sends its update again later, to a process that is not stopping.
            async with http.post(f"{server.url}/telegram/webhook", data=b"{}") as response:
                assert response.status == 503
        assert telegram_calls == []
    finally:
        await server.stop(1.0)
