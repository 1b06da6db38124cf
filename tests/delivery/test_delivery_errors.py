"""What a platform's refusal does to an announcement, its chats and its readers, end to end.

The real app announces from the console; the outbox goes through the real Telegram and
Slack targets to the fake platform servers.
"""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import AsyncIterator
from itertools import pairwise

import aiohttp
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
    DeliveryStatus,
    Identity,
    Member,
    Subscription,
)
from councilbot.delivery.targets import DeliveryTarget
from councilbot.settings import Settings
from councilbot.web.server import WebServer
from tests.conftest import START, Bot, Clock
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

GROUP = "-100777"  # a Telegram group linked to Cork
ANA = "4242"  # a Telegram user subscribed to Cork's announcements
SLACK_CHANNELS = ("C0CORK1", "C0CORK2", "C0CORK3")  # Slack channels linked to Cork


async def start_bot(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    target: DeliveryTarget,
) -> Bot:
    # Pacing is not what these tests are about: a group's 20 a minute would cost 3 s a message.
    settings = Settings(
        database_url=database_url,
        admins="console:admin",
        default_language="en",
        telegram_group_per_minute=600,
        telegram_private_rate=10,
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


async def subscribe_ana(app: App) -> None:
    """Ana follows Cork's announcements and talks to the bot on Telegram."""
    async with app.sessionmaker() as session, session.begin():
        cork = await session.scalar(select(Council.id).where(Council.slug == "cork"))
        ana = Member(display_name="Ana", locale="en", created_at=START)
        session.add(ana)
        await session.flush()
        session.add_all(
            [
                Identity(
                    member_id=ana.id,
                    platform=Platform.TELEGRAM,
                    user_id=ANA,
                    created_at=START,
                    last_seen_at=START,
                ),
                Subscription(
                    member_id=ana.id, topic="announcements", council_id=cork, created_at=START
                ),
            ]
        )


async def outcomes(app: App, platform: Platform) -> dict[str, tuple[DeliveryStatus, str | None]]:
    """Return each chat's delivery status and error for the platform's rows."""
    async with app.sessionmaker() as session:
        rows = await session.scalars(
            select(Delivery).where(Delivery.platform == platform).order_by(Delivery.id)
        )
        return {row.chat_id: (row.status, row.last_error) for row in rows}


async def still_linked(app: App) -> tuple[list[bool], list[bool]]:
    """Return whether each chat is active, and whether each subscription is."""
    async with app.sessionmaker() as session:
        channels = await session.scalars(
            select(Channel.active).where(Channel.platform != Platform.CONSOLE)
        )
        subscriptions = await session.scalars(select(Subscription.active))
        return list(channels), list(subscriptions)


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
    await subscribe_ana(bot.app)
    yield bot
    await bot.app.aclose()


async def announce(bot: Bot, text: str) -> None:
    assert (await bot(f"/announce cork {text} --yes")).startswith("Announcement #")
    await asyncio.wait_for(bot.app.dispatcher.run_until_idle(), 10)


async def test_a_message_telegram_cannot_parse_fails_alone_and_the_chats_stay(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    refusal = 'Bad Request: can\'t parse entities: Unsupported start tag "x" at byte offset 40'
    telegram_api.scripted_errors["sendMessage"] = [(400, refusal), (400, refusal)]
    await announce(telegram_bot, "First")

    assert telegram_api.sent == []
    assert await outcomes(telegram_bot.app, Platform.TELEGRAM) == {
        GROUP: (DeliveryStatus.FAILED, f"telegram: message refused: {refusal}"),
        ANA: (DeliveryStatus.FAILED, f"telegram: message refused: {refusal}"),
    }
    assert await still_linked(telegram_bot.app) == ([True], [True])
    report = await telegram_bot("/deliveries 1")
    assert report.startswith("Announcement #1: 1 sent, 0 pending, 2 failed, 0 dead (of 3).")
    assert "can't parse entities" in report
    assert len(telegram_api.calls("sendMessage")) == 2  # refused once, never retried

    await announce(telegram_bot, "Second")
    assert [t.endswith("Second") for t in telegram_api.texts_to(GROUP)] == [True]
    assert [t.endswith("Second") for t in telegram_api.texts_to(ANA)] == [True]


async def test_a_user_who_blocked_the_bot_is_switched_off(
    telegram_bot: Bot, telegram_api: FakeTelegramAPI
) -> None:
    telegram_api.blocked.add(ANA)
    await announce(telegram_bot, "First")

    statuses = await outcomes(telegram_bot.app, Platform.TELEGRAM)
    assert statuses[ANA] == (
        DeliveryStatus.DEAD,
        "telegram: chat unavailable: Forbidden: bot was blocked by the user",
    )
    assert statuses[GROUP] == (DeliveryStatus.SENT, None)
    assert await still_linked(telegram_bot.app) == ([True], [False])  # Ana's paused

    await announce(telegram_bot, "Second")
    assert len(telegram_api.calls("sendMessage")) == 3  # the group twice, Ana once
    assert len(telegram_api.texts_to(GROUP)) == 2


@pytest.fixture
async def slack_bot(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    slack_api: FakeSlackAPI,
) -> AsyncIterator[Bot]:
    target = SlackTarget.create("xoxb-revoked-later", slack_api.base_url, timeout=2)
    bot = await start_bot(seeded, database_url, catalogs, clock, target)
    for channel in SLACK_CHANNELS:
        await link(bot.app, Platform.SLACK, channel, TEAM_ID)
    yield bot
    await bot.app.aclose()


async def healthz(app: App) -> tuple[int, dict]:
    server = WebServer(app, host="127.0.0.1", port=0)
    await asyncio.wait_for(server.start(), 10)
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
            http.get(f"{server.url}/healthz") as response,
        ):
            return response.status, await response.json()
    finally:
        await asyncio.wait_for(server.stop(), 10)


async def test_a_revoked_slack_token_holds_the_workspace_and_keeps_its_channels(
    slack_bot: Bot, slack_api: FakeSlackAPI, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the root logger: whatever logs it is counted
    slack_api.auth_error = "invalid_auth"
    await announce(slack_bot, "First")
    await announce(slack_bot, "Second")

    assert len(slack_api.calls("chat.postMessage")) == 3  # the first try in each channel
    waiting = await outcomes(slack_bot.app, Platform.SLACK)
    assert {status for status, _ in waiting.values()} == {DeliveryStatus.PENDING}
    assert {error for _, error in waiting.values()} == {"held: invalid_auth"}
    assert await still_linked(slack_bot.app) == ([True] * 3, [])
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert "invalid_auth" in errors[0].getMessage()
    assert TEAM_ID in errors[0].getMessage()
    assert await healthz(slack_bot.app) == (
        503,
        {
            "status": "unhealthy",
            "problems": [f"slack workspace {TEAM_ID}: invalid_auth"],
            "database": "ok",
            "workspaces": [
                {
                    "platform": "slack",
                    "workspace": TEAM_ID,
                    "problem": "invalid_auth",
                    "since": START.isoformat(),
                }
            ],
        },
    )

    clock.advance(seconds=61)  # one message tries again, is refused again: no new error
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 10)
    assert len(slack_api.calls("chat.postMessage")) == 4
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1

    slack_api.auth_error = None  # the token is fixed
    clock.advance(seconds=59)
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 10)
    assert len(slack_api.calls("chat.postMessage")) == 4  # nothing tries before the minute
    clock.advance(seconds=2)  # one message tries again; the others wait for its answer
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 10)
    assert await healthz(slack_bot.app) == (200, {"status": "ok", "database": "ok"})
    for channel in SLACK_CHANNELS:
        assert [t.rsplit("\n", 1)[-1] for t in slack_api.texts_to(channel)] == [
            "First",
            "Second",
        ]
    assert len([r for r in caplog.records if r.levelno >= logging.ERROR]) == 1


def texts(api: FakeSlackAPI) -> dict[str, list[str]]:
    """Return the announcement texts each Slack channel received, in order."""
    return {c: [t.rsplit("\n", 1)[-1] for t in api.texts_to(c)] for c in SLACK_CHANNELS}


async def test_a_probe_that_gets_no_answer_lets_the_next_message_try_at_once(
    slack_bot: Bot, slack_api: FakeSlackAPI, clock: Clock
) -> None:
    slack_api.auth_error = "invalid_auth"
    await announce(slack_bot, "First")  # held: every channel's message waits
    slack_api.auth_error = None  # the token is fixed, and Slack has a bad moment
    slack_api.fail_next = 1
    clock.advance(seconds=61)
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 10)
    clock.advance(seconds=2)  # the message that got the 500 is retried after its backoff
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 10)

    assert texts(slack_api) == {channel: ["First"] for channel in SLACK_CHANNELS}
    assert await healthz(slack_bot.app) == (200, {"status": "ok", "database": "ok"})


async def test_messages_that_waited_for_a_probe_go_out_at_their_channels_pace(
    slack_bot: Bot, slack_api: FakeSlackAPI, clock: Clock
) -> None:
    slack_api.auth_error = "invalid_auth"
    await announce(slack_bot, "First")
    await announce(slack_bot, "Second")
    slack_api.auth_error = None
    slack_api.channel_rate = 1  # Slack's limit: one message per second and channel
    # A slow answer to the probe: the other messages' send slots pass while they wait for it.
    slack_api.delay = 1.5
    before = len(slack_api.posted)
    clock.advance(seconds=61)
    await asyncio.wait_for(slack_bot.app.dispatcher.run_until_idle(), 20)

    assert slack_api.rate_limited == 0
    assert texts(slack_api) == {channel: ["First", "Second"] for channel in SLACK_CHANNELS}
    for channel in SLACK_CHANNELS:
        arrivals = [r.time for r in slack_api.posted[before:] if r.params["channel"] == channel]
        assert min(b - a for a, b in pairwise(arrivals)) >= 0.95


async def test_deliveries_explains_a_held_workspace_in_the_readers_language(
    slack_bot: Bot, slack_api: FakeSlackAPI
) -> None:
    slack_api.auth_error = "invalid_auth"
    await announce(slack_bot, "First")
    await slack_bot("/lang es")

    report = await slack_bot("/deliveries 1")

    assert report.splitlines()[1:] == [
        f"• {channel}: invalid_auth (pendiente): la plataforma rechaza las credenciales del "
        "bot en este espacio de trabajo; sus mensajes esperan hasta que las credenciales "
        "vuelvan a funcionar."
        for channel in reversed(SLACK_CHANNELS)
    ]
