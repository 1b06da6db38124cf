"""The Slack App Home tab: `app_home_opened` in, `views.publish` out (the member's /me),
refreshed through the outbox when something in it changes, at most once per window."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat, ConsoleTarget, render
from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.slack.home import HomeTab
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.services.home import HOME_THROTTLE
from councilbot.settings import Settings
from tests.adapters.slack.test_slack_adapter import (
    ANA,
    DM,
    adapter_for,
    answered,
    event,
    interaction,
    payload,
    slash,
    until,
)
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def slack_app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock, api: FakeSlackAPI
) -> AsyncIterator[App]:
    """The app delivering to the fake Web API, its Slack target publishing Home tabs."""
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    target = SlackTarget.create("xoxb-test", api.base_url, timeout=2)
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO()), Platform.SLACK: target},
    )
    target.home = HomeTab(app.router)
    yield app
    await app.aclose()


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


async def ask(adapter: SlackAdapter, api: FakeSlackAPI, text: str, **fields: str) -> Any:
    """Send Ana's `/council <text>` and return the answer only she sees."""
    before = len(api.calls("chat.postEphemeral")) + len(api.calls("chat.postMessage"))
    await answered(
        adapter,
        slash(api, text, user_id=ANA, **fields),
        lambda: len(api.calls("chat.postEphemeral")) + len(api.calls("chat.postMessage")) > before,
    )
    return [*api.calls("chat.postEphemeral"), *api.calls("chat.postMessage")][-1]


def published(api: FakeSlackAPI) -> list[str]:
    """Return the text of every Home tab published for Ana, oldest first."""
    found = []
    for call in api.calls("views.publish"):
        assert call.params["user_id"] == ANA
        view = call.params["view"]
        assert view["type"] == "home"
        found.append(json.dumps(view["blocks"], ensure_ascii=False))
    return found


async def test_opening_the_home_tab_publishes_the_members_home(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await event(adapter, "app_home_opened")
    [home] = await until(lambda: published(api))
    assert "*Your home*" in home
    assert "Linked accounts" in home and "Slack: U0ANA" in home
    assert "/council mycalendar" in home  # commands as Slack users type them
    await event(adapter, "app_home_opened", tab="messages")  # the Messages tab: nothing
    await event(adapter, "app_home_opened")
    await until(lambda: len(published(api)) == 2)


async def test_a_change_refreshes_the_tab_once_per_window_however_many(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App, clock: Clock
) -> None:
    for text in ("subscribe announcements cork", "subscribe magazine cork"):
        await ask(adapter, api, text)
    await slack_app.dispatcher.run_until_idle()
    assert published(api) == []  # not before the end of the window
    clock.advance(seconds=HOME_THROTTLE.total_seconds())
    await slack_app.dispatcher.run_until_idle()
    [home] = published(api)
    assert "Unsubscribe announcements (cork)" in home
    assert "Unsubscribe magazine (cork)" in home


async def test_a_change_made_on_another_platform_refreshes_the_slack_home(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App, clock: Clock
) -> None:
    answer = await ask(adapter, api, "linkaccount", channel_id=DM, channel_name="directmessage")
    code = answer.params["text"].split("`")[1]
    console = ConsoleChat(
        slack_app.router, user="ana", chat="cork-chat", council="cork", clock=clock
    )
    await console.setup()
    assert "accounts are linked" in render(await console.say(f"ana@dm: /linkaccount {code}"))
    clock.advance(seconds=HOME_THROTTLE.total_seconds())
    await slack_app.dispatcher.run_until_idle()
    assert "Console: @ana" in published(api)[-1]
    # The same member subscribes on the console: the Slack tab follows.
    await console.say("ana@dm: /subscribe announcements all")
    clock.advance(seconds=HOME_THROTTLE.total_seconds())
    await slack_app.dispatcher.run_until_idle()
    assert "Unsubscribe announcements (all)" in published(api)[-1]
    # An RSVP made on the console by the same member: the Slack tab shows the event.
    await console.say('admin@cork-chat: /newevent "Lean workshop" 2026-12-03 18:00-20:00')
    await console.say("admin@cork-chat: 1")
    await console.say("ana@cork-chat: /rsvp E1")
    clock.advance(seconds=HOME_THROTTLE.total_seconds())
    await slack_app.dispatcher.run_until_idle()
    assert "Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT — going" in published(api)[-1]


def home_press(button: dict[str, Any]) -> str:
    """Return Ana's press of a button in her Home tab."""
    data = payload("block_actions")
    data["container"] = {"type": "view", "view_id": "V00000001"}
    data["view"] = {"id": "V00000001", "type": "home", "blocks": []}
    del data["message"], data["channel"], data["response_url"]
    data["actions"] = [{**button, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    return interaction(data)


async def test_a_button_in_the_home_tab_answers_in_the_dm_and_refreshes_the_tab(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    await ask(adapter, api, "subscribe announcements cork")
    await event(adapter, "app_home_opened")
    [home] = await until(lambda: api.calls("views.publish"))
    [button] = [
        element
        for block in home.params["view"]["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    ]
    assert button["value"] == "/unsubscribe announcements cork"
    await answered(adapter, home_press(button), lambda: len(published(api)) == 2)
    [answer] = [c for c in api.calls("chat.postMessage") if c.params["channel"] == ANA]
    assert "Unsubscribed" in answer.params["text"]
    assert "None yet" in published(api)[-1]
