"""One poll on Telegram and Slack, one set of results: a native Telegram poll whose
`poll_answer` updates go through the real python-telegram-bot adapter, and Block Kit buttons
pressed through the real bolt app, both against the fake platform servers."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram import Update

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.telegram.app import TelegramAdapter
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Poll, PollPost, PollVote
from councilbot.services import polls
from councilbot.settings import Settings
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    ANA,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    interaction,
    payload,
    slash,
)
from tests.adapters.telegram.test_telegram_adapter import (
    GROUP,
    USER,
    callback,
    command,
    running,
    say,
    until,
)
from tests.conftest import CORK_TEXT, START, Clock
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

LUCA = 222
MARIA = 333


@pytest.fixture
async def apis() -> AsyncIterator[tuple[FakeTelegramAPI, FakeSlackAPI]]:
    async with FakeTelegramAPI() as telegram, FakeSlackAPI() as slack:
        yield telegram, slack


@pytest.fixture
async def both(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    apis: tuple[FakeTelegramAPI, FakeSlackAPI],
) -> AsyncIterator[tuple[App, TelegramAdapter, SlackAdapter]]:
    """The app on Telegram and Slack at once, delivering to both fakes."""
    telegram, slack = apis
    settings = Settings(
        database_url=database_url,
        admins=f"telegram:{USER},slack:{ADMIN}",
        default_language="en",
        telegram_group_per_minute=600,
        telegram_private_rate=10,
    )
    tg_target = TelegramTarget(telegram.token, telegram.base_url, timeout=2.0, clock=clock)
    await tg_target.start()
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={
            Platform.CONSOLE: ConsoleTarget(io.StringIO()),
            Platform.TELEGRAM: tg_target,
            Platform.SLACK: SlackTarget.create("xoxb-test", slack.base_url, timeout=2),
        },
    )
    tg_adapter = await running(app.router, telegram)
    slack_adapter = await adapter_for(app.router, slack)
    yield app, tg_adapter, slack_adapter
    async with asyncio.timeout(10):
        await tg_adapter.stop()
        await slack_adapter.stop()
    await app.aclose()
    await tg_target.stop()


def poll_answer(poll_id: str, user: int, options: list[int], name: str) -> dict[str, Any]:
    """Return a `poll_answer` update as Bot API 9.6 sends it: no chat, only the poll's id."""
    return {
        "poll_answer": {
            "poll_id": poll_id,
            "user": {"id": user, "is_bot": False, "first_name": name, "language_code": "en"},
            "option_ids": options,
            "option_persistent_ids": [f"{poll_id}-{n}" for n in options],
        }
    }


def press(api: FakeSlackAPI, post: dict[str, Any], ts: str, label: str, user: str) -> str:
    """Return a press of a button on the bot's post in the Cork channel."""
    [button] = [
        element
        for block in post["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
        if element["text"]["text"] == label
    ]
    data = payload("block_actions")
    data["user"].update(id=user, username=user.lower(), name=user.lower())
    data["container"] = {
        "type": "message",
        "message_ts": ts,
        "channel_id": CHANNEL,
        "is_ephemeral": False,
    }
    data["channel"] = {"id": CHANNEL, "name": "cork-members"}
    data["message"] = {**data["message"], "ts": ts, "text": post["text"], "blocks": post["blocks"]}
    data["response_url"] = api.response_url("vote")
    data["actions"] = [{**button, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    return interaction(data)


async def votes(app: App) -> list[tuple[int, Platform]]:
    async with app.sessionmaker() as session:
        rows = await session.scalars(select(PollVote).order_by(PollVote.id))
        return [(v.option_id, v.platform) for v in rows]


async def test_native_telegram_votes_and_slack_buttons_add_up_to_one_result(
    both: tuple[App, TelegramAdapter, SlackAdapter],
    apis: tuple[FakeTelegramAPI, FakeSlackAPI],
) -> None:
    app, _tg, slack_adapter = both
    telegram, slack = apis
    async with asyncio.timeout(30):
        await say(telegram, command("group_command", "/link cork", id=int(USER)), GROUP)
        await answered(
            slack_adapter,
            slash(slack, "link cork", user_id=ADMIN),
            lambda: calls_to(slack, "chat.postMessage", CHANNEL),
        )
        await say(
            telegram,
            command("group_command", '/poll "Lunch where?" "Canteen" "Park" --yes', id=int(USER)),
            GROUP,
        )
        await app.dispatcher.run_until_idle()
        # Telegram's group gets a native, non-anonymous poll; Slack's channel text and buttons.
        [native] = telegram.calls("sendPoll")
        assert native.params["chat_id"] == GROUP and native.params["is_anonymous"] is False
        assert [o["text"] for o in native.params["options"]] == ["Canteen", "Park"]
        [poll_id] = telegram.polls
        # The outbox mapped the native poll's id to our poll as it recorded the post sent:
        # an answer is one primary-key lookup, no scan of the outbox.
        async with app.sessionmaker() as session:
            mapped = await session.get(PollPost, poll_id)
            assert mapped is not None and mapped.poll_id == 1
        [(ts, post)] = [
            (ts, m)
            for (channel, ts), m in slack.messages.items()
            if channel == CHANNEL and "Lunch where?" in m["text"]
        ]
        assert "Canteen" in str(post["blocks"])

        # Luca and Maria vote in the native poll; Luca changes his mind; Maria takes hers back.
        telegram.push_update(poll_answer(poll_id, LUCA, [0], "Luca"))
        telegram.push_update(poll_answer(poll_id, MARIA, [1], "Maria"))
        await _wait_votes(app, 2)
        telegram.push_update(poll_answer(poll_id, LUCA, [1], "Luca"))
        telegram.push_update(poll_answer(poll_id, MARIA, [], "Maria"))
        await _wait(lambda rows: sorted(rows) == [(2, Platform.TELEGRAM)], app)
        # Ana presses "Canteen" on Slack: an ephemeral confirmation, the post stays the poll.
        await answered(
            slack_adapter,
            press(slack, post, ts, "Canteen", ANA),
            lambda: slack.responses or calls_to(slack, "chat.postEphemeral", CHANNEL),
        )
        await _wait_votes(app, 2)
        # A `poll` update (the native poll's new state) parses and changes nothing.
        poll_state = {
            "poll": {
                **telegram.messages[GROUP, int(native_id(telegram))]["poll"],
                "total_voter_count": 1,
            }
        }
        assert Update.de_json({"update_id": 1, **poll_state}, None).poll is not None
        telegram.push_update(poll_state)

        results = await say(telegram, command("group_command", "/results 1", id=int(USER)), GROUP)
        assert "1. Canteen ▇▇▇▇▇ 1 (50%)" in results.params["text"]
        assert "2. Park ▇▇▇▇▇ 1 (50%)" in results.params["text"]
        assert "2 voters · Votes by platform: Slack 1, Telegram 1" in results.params["text"]

        # Closing stops the native poll and takes the Slack buttons away.
        await say(telegram, command("group_command", "/closepoll 1", id=int(USER)), GROUP)
        await app.dispatcher.run_until_idle()
    assert [c.params["message_id"] for c in telegram.calls("stopPoll")] == [
        int(native_id(telegram))
    ]
    final = slack.messages[CHANNEL, ts]
    assert "(closed)" in final["text"]
    assert not [b for b in final.get("blocks") or [] if b["type"] == "actions"]
    assert sorted(await votes(app)) == sorted([(2, Platform.TELEGRAM), (1, Platform.SLACK)])


def native_id(telegram: FakeTelegramAPI) -> int:
    [(_, message_id)] = telegram.polls.values()
    return message_id


async def _wait(check: Any, app: App, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        # Poll: the adapter answers updates in its own task, with no event to wait on.
        while not check(await votes(app)):  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def _wait_votes(app: App, count: int) -> None:
    await _wait(lambda rows: len(rows) == count, app)


async def test_a_channel_refusing_native_polls_gets_text_and_buttons(
    both: tuple[App, TelegramAdapter, SlackAdapter],
    apis: tuple[FakeTelegramAPI, FakeSlackAPI],
) -> None:
    app, _tg, _slack = both
    telegram, _ = apis
    telegram.channels.add(GROUP)  # this chat is a channel: non-anonymous polls are refused
    async with asyncio.timeout(20):
        await say(telegram, command("group_command", "/link cork", id=int(USER)), GROUP)
        await say(
            telegram,
            command("group_command", '/poll "Lunch where?" "Canteen" "Park" --yes', id=int(USER)),
            GROUP,
        )
        await app.dispatcher.run_until_idle()
    assert len(telegram.calls("sendPoll")) == 1 and not telegram.polls
    [post] = [r for r in telegram.sent if "Lunch where?" in str(r.params.get("text"))]
    rows = post.params["reply_markup"]["inline_keyboard"]
    assert [b["text"] for row in rows for b in row] == ["Canteen", "Park"]


async def test_a_rating_button_in_a_telegram_group_counts_with_a_toast_and_changes_no_post(
    both: tuple[App, TelegramAdapter, SlackAdapter],
    apis: tuple[FakeTelegramAPI, FakeSlackAPI],
) -> None:
    app, _tg, _slack = both
    telegram, _ = apis
    async with asyncio.timeout(20):
        await say(telegram, command("group_command", "/link cork", id=int(USER)), GROUP)
        await say(
            telegram,
            command(
                "group_command", '/poll "Rate the fair" --rating --anonymous --yes', id=int(USER)
            ),
            GROUP,
        )
        await app.dispatcher.run_until_idle()
        assert not telegram.calls("sendPoll")  # anonymous ratings use buttons
        [post] = [r for r in telegram.sent if "Rate the fair" in str(r.params.get("text"))]
        [row] = post.params["reply_markup"]["inline_keyboard"]
        assert [b["text"] for b in row] == ["1", "2", "3", "4", "5"]
        update = callback(row[3]["callback_data"], message_id=1, text="Rate the fair")
        update["callback_query"]["message"]["chat"] = {
            "id": int(GROUP),
            "title": "Cork members",
            "type": "supergroup",
        }
        before = len(telegram.sent)
        telegram.push_update(update)
        [answer] = await until(lambda: telegram.calls("answerCallbackQuery"))
        await app.dispatcher.run_until_idle()
    assert answer.params["text"] == (
        "Your anonymous vote in poll #1 is counted. Nobody can see what you chose."
    )
    assert len(telegram.sent) == before  # no message in the group, none in private
    assert not telegram.calls("editMessageText") or all(
        "Rate the fair" in c.params["text"] for c in telegram.calls("editMessageText")
    )
    async with app.sessionmaker() as session:
        poll = await session.get(Poll, 1)
        assert poll is not None
        assert (await polls.tally(session, poll)).average == 4.0


async def test_a_native_multiple_choice_answer_sets_exactly_the_options_chosen(
    both: tuple[App, TelegramAdapter, SlackAdapter],
    apis: tuple[FakeTelegramAPI, FakeSlackAPI],
) -> None:
    app, _tg, _slack = both
    telegram, _ = apis
    async with asyncio.timeout(20):
        await say(telegram, command("group_command", "/link cork", id=int(USER)), GROUP)
        await say(
            telegram,
            command(
                "group_command",
                '/poll "Topics?" "AI" "Energy" "Water" --multi --closes in 2 days --yes',
                id=111,
            ),
            GROUP,
        )
        await app.dispatcher.run_until_idle()
        [native] = telegram.calls("sendPoll")
        assert native.params["allows_multiple_answers"] is True
        # Telegram closes it at the poll's closing time, and says who can see the votes.
        assert native.params["close_date"] == int((START + timedelta(days=2)).timestamp())
        assert native.params["description"] == (
            f"Poll #1 — {CORK_TEXT}\nNot anonymous: coordinators can see who voted for what.\n"
            "Closes Thu 3 Dec 2026, 09:00 GMT."  # it stays as sent: the year is said
        )
        # Only the updates the bot uses: a native poll's own state ("poll") is not asked for.
        allowed = telegram.calls("getUpdates")[0].params["allowed_updates"]
        assert "poll_answer" in allowed and "poll" not in allowed
        [poll_id] = telegram.polls
        telegram.push_update(poll_answer(poll_id, LUCA, [0, 2], "Luca"))
        await _wait_votes(app, 2)
        telegram.push_update(poll_answer(poll_id, LUCA, [1], "Luca"))
        await _wait_votes(app, 1)
    assert await votes(app) == [(2, Platform.TELEGRAM)]  # Energy, the only one chosen now
