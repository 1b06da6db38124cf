"""Events on Slack after the user trial: the cancel question's Block Kit buttons answer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    slash,
)
from tests.adapters.slack.test_slack_announce import buttons, press, slack_app
from tests.fakes.slack_api import FakeSlackAPI

__all__ = ["slack_app"]  # the fixture, shared


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


async def test_cancelling_asks_with_buttons_and_keep_keeps_it(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    await answered(
        adapter,
        slash(api, 'newevent "Lean workshop" 2026-12-03 18:00-20:00 --yes', user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL)[1:],
    )
    before = len(calls_to(api, "chat.postEphemeral", CHANNEL)) + len(api.responses)
    found = await answered(
        adapter,
        slash(api, "cancelevent E1", user_id=ADMIN),
        lambda: (calls_to(api, "chat.postEphemeral", CHANNEL) + api.responses)[before:],
    )
    asked = found[0]
    assert asked.params["text"].startswith(
        "Cancel Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT? Nobody has answered yet."
    )
    assert list(buttons(asked)) == ["Cancel event", "Keep"]
    seen = len(api.responses)
    [kept] = await answered(
        adapter, press(api, buttons(asked)["Keep"], "keep"), lambda: api.responses[seen:]
    )
    assert kept.params["text"] == "E1 stays on; nobody was told anything."
