"""Slack Socket Mode: the real bolt app and slack_sdk's aiohttp Socket Mode client, connected
to the fake's WebSocket, answering slash commands and button presses without a public URL."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.delivery.targets import PermanentError, TransientError
from tests.adapters.slack.test_slack_adapter import (
    ANA,
    CHANNEL,
    DM,
    TOKEN,
    calls_to,
    payload,
    signed,
    until,
)
from tests.fakes.slack_api import APP_TOKEN, FakeSlackAPI
from tests.processes import free_port


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = SlackAdapter(
        slack_app.router, token=TOKEN, app_token=APP_TOKEN, base_url=api.base_url
    )
    async with asyncio.timeout(10):
        await adapter.start()
    yield adapter
    async with asyncio.timeout(15):
        await adapter.stop()


def command(api: FakeSlackAPI, text: str, **fields: str) -> dict[str, Any]:
    """Return a slash command as Socket Mode carries it: the form fields as JSON."""
    data = payload("slash_command")
    data.update(text=text, response_url=api.response_url("command"), **fields)
    return data


async def test_a_slash_command_is_acknowledged_and_answered(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [opened] = api.calls("apps.connections.open")
    assert opened.token == APP_TOKEN

    ack = await api.envelope("slash_commands", command(api, "councils"))

    assert set(ack) == {"envelope_id"}  # an empty ack: the answer comes as a message
    [post] = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL))
    assert "(cork)" in post.params["text"] and "(istanbul)" in post.params["text"]
    assert post.token == TOKEN


async def test_personal_answers_stay_ephemeral(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    await api.envelope("slash_commands", command(api, "whoami"))
    [answer] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert answer.params["user"] == ANA
    assert not api.calls("chat.postMessage")


async def test_a_button_press_updates_its_message(adapter: SlackAdapter, api: FakeSlackAPI) -> None:
    await api.envelope("slash_commands", command(api, "start", channel_id=DM))
    [start] = await until(lambda: calls_to(api, "chat.postMessage", DM))
    [message] = [m for (channel, _ts), m in api.messages.items() if channel == DM]
    button = next(
        element
        for block in message["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["value"] == "/start cork"
    )
    press = payload("block_actions")
    press["actions"][0].update(action_id=button["action_id"], value=button["value"])
    press["container"].update(message_ts=message["ts"], channel_id=DM)
    press["message"] = message

    ack = await api.envelope("interactive", press)

    assert set(ack) == {"envelope_id"}
    [update] = await until(lambda: calls_to(api, "chat.update", DM))
    assert update.params["ts"] == message["ts"]
    assert "Southern Ireland council" in update.params["text"]
    assert update.params["text"] != start.params["text"]


async def test_the_app_reconnects_when_slack_refreshes_the_socket(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await api.refresh()
    await until(lambda: len(api.calls("apps.connections.open")) >= 2 and api.sockets)

    await api.envelope("slash_commands", command(api, "councils"))

    [post] = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL))
    assert "(cork)" in post.params["text"]


async def test_http_requests_are_refused_without_a_signing_secret(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    body = "command=%2Fcouncil&text=councils"
    status, _content, _headers = await adapter.handle_http(body.encode(), signed(body))
    assert status == 401
    assert not api.calls("chat.postMessage")


async def test_stop_closes_the_socket(slack_app: App, api: FakeSlackAPI) -> None:
    adapter = SlackAdapter(
        slack_app.router, token=TOKEN, app_token=APP_TOKEN, base_url=api.base_url
    )
    await adapter.start()
    await until(lambda: api.sockets)
    await adapter.stop()
    await until(lambda: not api.sockets)


async def test_a_refused_app_token_stops_the_start(slack_app: App, api: FakeSlackAPI) -> None:
    adapter = SlackAdapter(
        slack_app.router, token=TOKEN, app_token="xapp-1-revoked", base_url=api.base_url
    )
    try:
        with pytest.raises(PermanentError, match="Slack refused the token: invalid_auth"):
            async with asyncio.timeout(5):
                await adapter.start()
        assert not api.sockets
    finally:
        await adapter.stop()


async def test_an_unreachable_slack_stops_the_start(slack_app: App) -> None:
    adapter = SlackAdapter(
        slack_app.router,
        token=TOKEN,
        app_token=APP_TOKEN,
        base_url=f"http://127.0.0.1:{free_port()}/api/",  # nothing listens there
    )
    try:
        with pytest.raises(TransientError, match="Slack did not answer"):
            async with asyncio.timeout(10):
                await adapter.start()
    finally:
        await adapter.stop()
