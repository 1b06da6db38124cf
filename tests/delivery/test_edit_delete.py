"""Editing and deleting what an announcement posted, end to end.

The real app announces from the console; the outbox's edits and deletions go through the
real dispatcher and the real Telegram, Slack and console targets to the fake platforms, and
/deliveries reports what each platform allowed.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta
from itertools import pairwise

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import (
    Channel,
    Council,
    Delivery,
    DeliveryOperation,
    Identity,
    Member,
    Subscription,
)
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Posted
from councilbot.delivery.targets import DeliveryTarget, Outgoing
from councilbot.services.announcements import SOURCE
from councilbot.settings import Settings
from tests.conftest import CORK_TEXT, START, Bot, Clock
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

GROUP = "-100777"  # a Telegram group linked to Cork
ANA = "4242"  # a Telegram user subscribed to Cork's announcements
SLACK_CHANNELS = ("C0CORK1", "C0CORK2")
BEA = "U0BEA"  # a Slack user subscribed to Cork's announcements


async def start_bot(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    target: DeliveryTarget,
    **rates: float,
) -> Bot:
    settings = Settings(
        database_url=database_url,
        admins="console:admin",
        default_language="en",
        **({"telegram_group_per_minute": 600, "telegram_private_rate": 10} | rates),
    )
    targets = {Platform.CONSOLE: ConsoleTarget(io.StringIO()), target.platform: target}
    app = await build_app(settings, engine=seeded, catalogs=catalogs, clock=clock, targets=targets)
    bot = Bot(app, clock)
    await bot.console.setup()
    return bot


async def link(app: App, platform: Platform, chat_id: str, workspace: str = "") -> None:
    async with app.sessionmaker() as session, session.begin():
        cork = await session.scalar(select(Council.id).where(Council.slug == "cork"))
        session.add(
            Channel(
                platform=platform,
                workspace=workspace,
                external_id=chat_id,
                council_id=cork,
                created_at=START,
                updated_at=START,
            )
        )


async def subscribe(app: App, platform: Platform, user_id: str, workspace: str = "") -> None:
    """Someone follows Cork's announcements by direct message."""
    async with app.sessionmaker() as session, session.begin():
        cork = await session.scalar(select(Council.id).where(Council.slug == "cork"))
        member = Member(display_name=user_id, locale="en", created_at=START)
        session.add(member)
        await session.flush()
        session.add_all(
            [
                Identity(
                    member_id=member.id,
                    platform=platform,
                    workspace=workspace,
                    user_id=user_id,
                    created_at=START,
                    last_seen_at=START,
                ),
                Subscription(
                    member_id=member.id,
                    topic="announcements",
                    council_id=cork,
                    created_at=START,
                ),
            ]
        )


async def send(bot: Bot) -> None:
    await asyncio.wait_for(bot.app.dispatcher.run_until_idle(), 20)


async def announce(bot: Bot, text: str, *, go: bool = True) -> None:
    assert (await bot(f"/announce cork {text} --yes")).startswith("Announcement #")
    if go:
        await send(bot)


def replacing(old: str, new: str) -> outbox.Render:
    """Render each post with `old` replaced by `new` (as a feature re-rendering would)."""

    def render(posted: Posted) -> Outgoing:
        return posted.message.model_copy(update={"text": posted.message.text.replace(old, new)})

    return render


async def edit(bot: Bot, announcement: int, old: str, new: str) -> int:
    async with bot.app.sessionmaker() as session, session.begin():
        return await outbox.enqueue_edits(
            session, SOURCE, announcement, replacing(old, new), now=bot.console.clock()
        )


async def delete(bot: Bot, announcement: int) -> int:
    async with bot.app.sessionmaker() as session, session.begin():
        return await outbox.enqueue_deletes(session, SOURCE, announcement, now=bot.console.clock())


async def message_ids(app: App, announcement: int) -> dict[str, str]:
    """Return each chat's platform message id of an announcement's posts."""
    async with app.sessionmaker() as session:
        rows = await session.execute(
            select(Delivery.chat_id, Delivery.platform_message_id).where(
                Delivery.source == SOURCE,
                Delivery.source_id == announcement,
                Delivery.operation == DeliveryOperation.SEND,
                Delivery.platform != Platform.CONSOLE,
            )
        )
        return {chat: str(mid) for chat, mid in rows.tuples()}


@pytest.fixture
async def telegram_bot(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    telegram: TelegramTarget,
) -> AsyncIterator[Bot]:
    bot = await start_bot(seeded, database_url, catalogs, clock, telegram)
    await link(bot.app, Platform.TELEGRAM, GROUP)
    await subscribe(bot.app, Platform.TELEGRAM, ANA)
    yield bot
    await bot.app.aclose()


async def test_an_announcement_is_edited_in_a_telegram_group_and_a_private_chat(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    await announce(telegram_bot, "Meet at 7")
    assert await edit(telegram_bot, 1, "Meet at 7", "Meet at 8") == 3  # with cork-chat
    await send(telegram_bot)

    ids = await message_ids(telegram_bot.app, 1)
    for chat in (GROUP, ANA):
        assert telegram_api.current(chat, ids[chat]) == (
            f"📣 <b>Announcement — {CORK_TEXT}</b>\nMeet at 8"
        )
    assert len(telegram_api.calls("editMessageText")) == 2
    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report == [
        "Announcement #1: 3 sent, 0 pending, 0 failed, 0 dead (of 3).",
        "Edits: 3 done, 0 pending, 0 failed.",
    ]


async def test_a_telegram_message_older_than_48_hours_is_not_tried_and_deliveries_says_why(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI, clock: Clock
) -> None:
    await announce(telegram_bot, "Meet at 7")
    clock.advance(hours=49)
    assert await delete(telegram_bot, 1) == 3
    await send(telegram_bot)

    assert telegram_api.calls("deleteMessage") == []  # it would be refused
    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report == [
        "Announcement #1: 3 sent, 0 pending, 0 failed, 0 dead (of 3).",
        "Deletions: 1 done, 0 pending, 2 failed.",  # the console deletes at any age
        "Telegram does not let a bot delete a message more than 48 hours old: 2 messages "
        "stay in their chats; delete them by hand if they must go.",
        f"• {ANA}: not deleted: Telegram does not let a bot delete a message this old "
        "(telegram: posted more than 48 hours ago).",
        f"• {GROUP}: not deleted: Telegram does not let a bot delete a message this old "
        "(telegram: posted more than 48 hours ago).",
    ]


async def test_telegrams_refusal_to_delete_is_reported_in_words(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    await announce(telegram_bot, "Meet at 7")
    ids = await message_ids(telegram_bot.app, 1)
    telegram_api.make_old(GROUP, ids[GROUP], hours=50)  # Telegram sees it older than we do
    await delete(telegram_bot, 1)
    await send(telegram_bot)

    assert telegram_api.current(ANA, ids[ANA]) is None
    assert telegram_api.current(GROUP, ids[GROUP]) is not None
    await telegram_bot("/lang es")
    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report[1:] == [
        "Borrados: 2 hechos, 0 pendientes, 1 fallido.",
        "Telegram no deja que un bot borre un mensaje de más de 48 horas: 1 mensaje se queda "
        "en su chat; bórralo a mano si tiene que desaparecer.",
        f"• {GROUP}: no borrado: Telegram no deja que el bot borre este mensaje (telegram: "
        "message refused: Bad Request: message can't be deleted for everyone).",
    ]


async def test_a_post_deleted_before_it_went_out_is_never_sent(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    await announce(telegram_bot, "Oops", go=False)
    assert await delete(telegram_bot, 1) == 3
    await send(telegram_bot)

    assert telegram_api.calls("sendMessage") == []
    assert telegram_api.calls("deleteMessage") == []
    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report == [
        "Announcement #1: 0 sent, 0 pending, 0 failed, 0 dead (of 0).",
        "3 messages were withdrawn before they went out.",
    ]


async def test_edits_go_at_the_chats_pace_and_are_retried(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    telegram: TelegramTarget,
    telegram_api: FakeTelegramAPI,
) -> None:
    # Telegram allows about one message a second in a chat here, edits included.
    bot = await start_bot(
        seeded, database_url, catalogs, clock, telegram, telegram_group_per_minute=60
    )
    try:
        await link(bot.app, Platform.TELEGRAM, GROUP)
        await announce(bot, "One", go=False)
        await announce(bot, "Two")
        telegram_api.chat_rate = 1
        telegram_api.fail_next = 1  # the first edit meets a server error
        before = len(telegram_api.requests)
        await edit(bot, 1, "One", "Uno")
        await edit(bot, 2, "Two", "Dos")
        await send(bot)
        clock.advance(seconds=5)  # the failed edit's backoff
        await send(bot)

        ids = await message_ids(bot.app, 1) | {"2": (await message_ids(bot.app, 2))[GROUP]}
        assert telegram_api.current(GROUP, ids[GROUP]).endswith("Uno")
        assert telegram_api.current(GROUP, ids["2"]).endswith("Dos")
        assert telegram_api.rate_limited == 0
        arrivals = [r.time for r in telegram_api.requests[before:] if r.method == "editMessageText"]
        assert len(arrivals) == 3  # one retried
        assert min(b - a for a, b in pairwise(arrivals)) >= 0.95
    finally:
        await bot.app.aclose()


async def test_an_announcement_is_edited_and_deleted_in_slack_channels_and_a_dm(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    slack_api: FakeSlackAPI,
) -> None:
    target = SlackTarget.create("xoxb-test", slack_api.base_url, timeout=2)
    bot = await start_bot(seeded, database_url, catalogs, clock, target, slack_channel_rate=50)
    try:
        for channel in SLACK_CHANNELS:
            await link(bot.app, Platform.SLACK, channel, TEAM_ID)
        await subscribe(bot.app, Platform.SLACK, BEA, TEAM_ID)
        await announce(bot, "Meet at 7")
        await edit(bot, 1, "Meet at 7", "Meet at 8")
        await send(bot)

        ids = await message_ids(bot.app, 1)
        where = {**{c: c for c in SLACK_CHANNELS}, BEA: "D0BEA"}  # a DM lives in its D...
        for chat, conversation in where.items():
            assert slack_api.text_of(conversation, ids[chat]) == (
                f"📣 *Announcement — {CORK_TEXT}*\nMeet at 8"
            )

        slack_api.errors["C0CORK2"] = "cant_delete_message"
        await delete(bot, 1)
        await send(bot)
        assert sorted(slack_api.deleted) == [("C0CORK1", ids["C0CORK1"]), ("D0BEA", ids[BEA])]
        report = (await bot("/deliveries 1")).splitlines()
        assert report == [
            "Announcement #1: 4 sent, 0 pending, 0 failed, 0 dead (of 4).",
            "Edits: 4 done, 0 pending, 0 failed.",
            "Deletions: 3 done, 0 pending, 1 failed.",
            "Slack did not let the bot delete 1 message.",
            "• C0CORK2: not deleted: Slack does not let the bot delete this message "
            "(cant_delete_message).",
        ]
    finally:
        await bot.app.aclose()


async def test_the_console_prints_edits_and_deletions(bot: Bot, console_out: io.StringIO) -> None:
    await announce(bot, "Meet at 7")
    await edit(bot, 1, "Meet at 7", "Meet at 8")
    await send(bot)
    await delete(bot, 1)
    await send(bot)

    assert console_out.getvalue().split("\n\n") == [
        f"[to cork-chat] 📣 Announcement — {CORK_TEXT}\nMeet at 7",
        f"[edited in cork-chat, message 1] 📣 Announcement — {CORK_TEXT}\nMeet at 8",
        "[deleted in cork-chat: message 1]",
        "",
    ]


async def test_an_edit_of_a_post_that_never_went_out_is_dropped_without_a_request(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    await announce(telegram_bot, "Meet at 7", go=False)
    # Another dispatcher is sending the posts when the edit comes; then the bot turns out
    # to have been kicked from the group, and Ana blocked it.
    async with telegram_bot.app.sessionmaker() as session, session.begin():
        claimed = await outbox.claim(
            session, worker="other", limit=10, now=START, lease=timedelta(seconds=30)
        )
    assert await edit(telegram_bot, 1, "Meet at 7", "Meet at 8") == 3
    async with telegram_bot.app.sessionmaker() as session, session.begin():
        for row in claimed:
            await outbox.mark_dead(session, row, error="telegram: chat unavailable")
    await send(telegram_bot)

    assert telegram_api.requests == [r for r in telegram_api.requests if r.method == "getMe"]
    dispatcher = telegram_bot.app.dispatcher
    assert dispatcher.stats.results["cancelled", Platform.TELEGRAM] == 2
    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report[0] == "Announcement #1: 0 sent, 0 pending, 0 failed, 3 dead (of 3)."
    assert not any(line.startswith("Edits") for line in report)


async def test_an_edit_in_a_group_that_became_a_supergroup_fails_and_says_why(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    await announce(telegram_bot, "Meet at 7")
    telegram_api.migrated[GROUP] = "-1009999"  # its old messages stay in the old group
    await edit(telegram_bot, 1, "Meet at 7", "Meet at 8")
    await send(telegram_bot)

    report = (await telegram_bot("/deliveries 1")).splitlines()
    assert report[1:] == [
        "Edits: 2 done, 0 pending, 1 failed.",
        f"• {GROUP}: edit: telegram: chat migrated to supergroup -1009999 (failed)",
    ]


async def test_a_held_slack_workspace_holds_its_edits_too(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    slack_api: FakeSlackAPI,
) -> None:
    target = SlackTarget.create("xoxb-test", slack_api.base_url, timeout=2)
    bot = await start_bot(seeded, database_url, catalogs, clock, target)
    try:
        await link(bot.app, Platform.SLACK, "C0CORK1", TEAM_ID)
        await announce(bot, "Meet at 7")
        slack_api.auth_error = "invalid_auth"
        await edit(bot, 1, "Meet at 7", "Meet at 8")
        await send(bot)
        report = (await bot("/deliveries 1")).splitlines()
        assert report[1:] == [
            "Edits: 1 done, 1 pending, 0 failed.",  # the console's, and Slack's waiting
            "• C0CORK1: invalid_auth (pending): the platform refuses the bot's credentials "
            "for this workspace; its messages wait until they work again.",
        ]

        slack_api.auth_error = None
        clock.advance(seconds=61)
        await send(bot)
        ts = (await message_ids(bot.app, 1))["C0CORK1"]
        assert slack_api.text_of("C0CORK1", ts) == f"📣 *Announcement — {CORK_TEXT}*\nMeet at 8"
        assert (await bot("/deliveries 1")).splitlines()[1:] == [
            "Edits: 2 done, 0 pending, 0 failed."
        ]
    finally:
        await bot.app.aclose()
