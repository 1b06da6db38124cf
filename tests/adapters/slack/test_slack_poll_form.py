"""`/council poll` with no arguments on Slack: a modal with the question and one option per
line, a day and time picker for the closing, and the poll's options as checkboxes and menus;
its submission shows the same preview as the typed command."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Poll, PollKind
from councilbot.services import polls
from councilbot.settings import Settings
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    ANA,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    send,
    slash,
    until,
)
from tests.adapters.slack.test_slack_forms import submit
from tests.adapters.test_poll_platforms import press
from tests.conftest import Clock
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def slack_app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock, api: FakeSlackAPI
) -> AsyncIterator[App]:
    """The app with slack:U_ADMIN as an admin, delivering to the fake Web API."""
    settings = Settings(database_url=database_url, admins=f"slack:{ADMIN}", default_language="en")
    target = SlackTarget.create("xoxb-test", api.base_url, timeout=2)
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO()), Platform.SLACK: target},
    )
    yield app
    await app.aclose()


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


async def test_the_poll_form_takes_one_option_per_line_and_a_closing_time(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    [opened] = await answered(
        adapter, slash(api, "poll", user_id=ADMIN), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    inputs = {b["block_id"]: b for b in view["blocks"] if b["type"] == "input"}
    assert inputs["words"]["label"]["text"] == "question, then one option per line"
    assert inputs["words"]["element"]["multiline"] is True
    assert inputs["closes"]["element"]["type"] == "datepicker"
    assert inputs["closes__time"]["element"]["type"] == "timepicker"
    assert inputs["multi"]["element"]["type"] == "checkboxes"
    assert inputs["every"]["element"]["type"] == "static_select"
    answer = await submit(
        adapter,
        opened,
        words="Which workshop?\nLean\n  Six Sigma  \n\nAgile",
        multi="on",
        closes="2026-12-03",
        closes__time="17:00",
    )
    assert answer is None  # the modal closes; the preview comes as an ephemeral message
    [shown] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert "Preview of poll #1" in shown.params["text"]
    assert "Closes Thu 3 Dec, 17:00 GMT." in shown.params["text"]
    async with slack_app.sessionmaker() as session:
        poll = await session.scalar(select(Poll))
        assert poll is not None
        assert (poll.question, poll.kind) == ("Which workshop?", PollKind.MULTIPLE)
        assert [o.label for o in poll.options] == ["Lean", "Six Sigma", "Agile"]


async def test_other_opens_a_form_whose_answer_is_counted_as_a_vote(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    await answered(
        adapter,
        slash(api, 'poll "Next topic?" "AI" "Energy" --other --yes', user_id=ADMIN),
        lambda: len(calls_to(api, "chat.postMessage", CHANNEL)) > 1,
    )
    await slack_app.dispatcher.run_until_idle()
    [(ts, post)] = [
        (ts, m)
        for (channel, ts), m in api.messages.items()
        if channel == CHANNEL and "Next topic?" in m["text"]
    ]
    [opened] = await answered(
        adapter, press(api, post, ts, "Other…", ANA), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    [box] = view["blocks"]
    assert (box["block_id"], box["label"]["text"]) == ("other", "Your answer")
    assert await submit(adapter, opened, other="Water") is None
    await until(lambda: api.responses or calls_to(api, "chat.postEphemeral", CHANNEL))
    async with slack_app.sessionmaker() as session:
        poll = await session.scalar(select(Poll))
        assert poll is not None
        found = await polls.tally(session, poll)
    assert [(o.label, found.count(o)) for o in poll.options] == [
        ("AI", 0),
        ("Energy", 0),
        ("Water", 1),
    ]
    assert found.by_platform == {Platform.SLACK: 1}


async def test_multiple_choice_buttons_tick_and_untick_and_own_answers_become_buttons(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    await answered(
        adapter,
        slash(api, 'poll "Days?" "Mon" "Tue" --multi --other --yes', user_id=ADMIN),
        lambda: len(calls_to(api, "chat.postMessage", CHANNEL)) > 1,
    )
    await slack_app.dispatcher.run_until_idle()

    def post() -> tuple[str, dict]:
        [(ts, message)] = [
            (ts, m)
            for (channel, ts), m in api.messages.items()
            if channel == CHANNEL and "Days?" in m["text"]
        ]
        return ts, message

    async def counts() -> dict[str, int]:
        async with slack_app.sessionmaker() as session:
            poll = await session.scalar(select(Poll))
            assert poll is not None
            found = await polls.tally(session, poll)
            return {o.label: found.count(o) for o in poll.options if found.count(o)}

    async def counts_become(expected: dict[str, int]) -> None:
        for _ in range(500):
            if await counts() == expected:
                return
            await asyncio.sleep(0.01)
        assert await counts() == expected

    ts, message = post()
    [opened] = await answered(
        adapter, press(api, message, ts, "Other…", ANA), lambda: api.calls("views.open")
    )
    assert await submit(adapter, opened, other="Wed") is None
    await counts_become({"Wed": 1})
    await slack_app.dispatcher.run_until_idle()
    ts, message = post()  # edited: the voter's own answer is a button for everyone
    labels = [
        e["text"]["text"]
        for b in message["blocks"]
        if b["type"] == "actions"
        for e in b["elements"]
    ]
    assert labels == ["Mon", "Tue", "Wed", "Other…"]
    await send(adapter, press(api, message, ts, "Mon", ANA))
    await counts_become({"Mon": 1, "Wed": 1})
    await send(adapter, press(api, message, ts, "Wed", ANA))
    await counts_become({"Mon": 1, "Wed": 2})
    await send(adapter, press(api, message, ts, "Mon", ANA))  # pressed again: unticked
    await counts_become({"Wed": 2})
