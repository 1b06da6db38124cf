"""/metrics after real commands and a broadcast through the fake Telegram server."""

from __future__ import annotations

import asyncio
import dataclasses
import io
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform
from councilbot.db.models import Delivery
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing
from councilbot.metrics import Metrics
from councilbot.settings import Settings
from councilbot.web.server import WebServer
from tests.conftest import Bot, Clock
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.web.test_server import TIMEOUT, serve

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]
TELEGRAM_GROUP = "-1001"


async def scrape(server: WebServer) -> Samples:
    """Read /metrics over HTTP as Prometheus would, into {(name, labels): value}."""
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as http,
        http.get(f"{server.url}/metrics") as response,
    ):
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        text = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def app(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    telegram_api: FakeTelegramAPI,
) -> AsyncIterator[App]:
    """The real app delivering to the console and to the fake Telegram server."""
    telegram = TelegramTarget(telegram_api.token, telegram_api.base_url, timeout=2.0)
    await telegram.start()
    settings = Settings(
        database_url=database_url,
        admins="console:admin,telegram:42",
        default_language="en",
        telegram_group_per_minute=6000,  # the retries need not wait for the group's pace
    )
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO()), Platform.TELEGRAM: telegram},
    )
    yield app
    await app.aclose()
    await telegram.stop()


@pytest.fixture
async def server(app: App) -> AsyncIterator[WebServer]:
    server = await serve(app)
    yield server
    await asyncio.wait_for(server.stop(), 10)


async def link_telegram_group(app: App, clock: Clock) -> None:
    """Link a Telegram group to Cork, as its admin would with /link in the group."""
    reply = await app.router.handle(
        Command(
            name="link",
            args="cork",
            sender=Identity(platform=Platform.TELEGRAM, user_id="42", language_code="en"),
            chat=Chat(platform=Platform.TELEGRAM, chat_id=TELEGRAM_GROUP, kind=ChatKind.GROUP),
            received_at=clock(),
        )
    )
    assert reply.error is None, reply.text


async def test_commands_are_counted_by_name_platform_and_outcome(
    app: App, server: WebServer, clock: Clock
) -> None:
    bot = Bot(app, clock)
    await bot.console.setup()
    await link_telegram_group(app, clock)
    await bot("/help")
    await bot("/help")
    await bot("/nosuchcommand")
    await bot("/announce cork")  # no text: invalid
    await bot("carol: /announce cork Hi")  # not a coordinator: refused

    samples = await scrape(server)
    commands = "councilbot_commands_total"
    assert value(samples, commands, command="help", platform="console", outcome="ok") == 2
    assert value(samples, commands, command="link", platform="telegram", outcome="ok") == 1
    unknown = {"command": "(unknown)", "platform": "console", "outcome": "unknown"}
    assert value(samples, commands, **unknown) == 1
    assert value(samples, commands, command="announce", platform="console", outcome="invalid") == 1
    assert value(samples, commands, command="announce", platform="console", outcome="refused") == 1
    latency = "councilbot_command_duration_seconds"
    assert value(samples, f"{latency}_count", command="help") == 2
    assert value(samples, f"{latency}_bucket", command="help", le="+Inf") == 2
    assert value(samples, f"{latency}_sum", command="help") > 0
    for feature in ("rsvps", "bookings", "votes"):  # nothing counts them before the features
        assert value(samples, f"councilbot_{feature}_total") == 0


async def test_a_broadcast_shows_in_the_outbox_deliveries_and_platform_errors(
    app: App, server: WebServer, clock: Clock, telegram_api: FakeTelegramAPI
) -> None:
    bot = Bot(app, clock)
    await bot.console.setup()
    await link_telegram_group(app, clock)
    assert (await bot("/announce cork Hello --yes")).startswith(
        "Announcement #1 is on its way to 2"
    )

    clock.advance(seconds=90)  # nobody sent it yet
    samples = await scrape(server)
    assert value(samples, "councilbot_outbox_depth") == 2
    assert value(samples, "councilbot_outbox_rows", status="pending") == 2
    assert value(samples, "councilbot_outbox_oldest_pending_seconds") == 90
    assert value(samples, "councilbot_database_up") == 1

    # Telegram answers 429, then 500, then takes the message.
    telegram_api.scripted_errors["sendMessage"] = [(429, "Too Many Requests: retry after 1")]
    telegram_api.fail_next = 1
    for _ in range(3):
        await app.dispatcher.run_until_idle()
        clock.advance(seconds=10)  # past the retry time
    assert telegram_api.texts_to(TELEGRAM_GROUP) and len(telegram_api.sent) == 1

    samples = await scrape(server)
    assert value(samples, "councilbot_outbox_depth") == 0
    assert value(samples, "councilbot_outbox_oldest_pending_seconds") == 0
    assert value(samples, "councilbot_outbox_rows", status="sent") == 2
    deliveries = "councilbot_deliveries_total"
    assert value(samples, deliveries, result="sent", platform="console") == 1
    assert value(samples, deliveries, result="sent", platform="telegram") == 1
    assert value(samples, deliveries, result="rate_limited", platform="telegram") == 1
    assert value(samples, deliveries, result="retried", platform="telegram") == 1
    errors = "councilbot_platform_errors_total"
    assert value(samples, errors, platform="telegram", status_class="429") == 1
    assert value(samples, errors, platform="telegram", status_class="5xx") == 1


async def test_the_outbox_age_counts_only_rows_that_are_due(
    app: App, server: WebServer, clock: Clock
) -> None:
    message = Outgoing(platform=Platform.TELEGRAM, chat_id=TELEGRAM_GROUP, text="hi")
    async with app.sessionmaker() as session, session.begin():
        await outbox.enqueue(
            session, [Envelope(f"age:{n}", message, "test", n) for n in (1, 2)], now=clock()
        )
    clock.advance(hours=1)  # both were queued an hour ago and wait on purpose (a backoff)
    async with app.sessionmaker() as session, session.begin():
        for n, minutes in ((1, 10), (2, 20)):
            await session.execute(
                update(Delivery)
                .where(Delivery.source_id == n)
                .values(next_attempt_at=clock() + timedelta(minutes=minutes))
            )
    samples = await scrape(server)
    assert value(samples, "councilbot_outbox_depth") == 2
    assert value(samples, "councilbot_outbox_oldest_pending_seconds") == 0

    clock.advance(minutes=15)  # the first is due since 5 minutes, the second not yet
    assert value(await scrape(server), "councilbot_outbox_oldest_pending_seconds") == 300

    async with app.sessionmaker() as session, session.begin():  # a dispatcher sends it
        claimed = await outbox.claim(
            session, worker="w", limit=1, now=clock(), lease=timedelta(minutes=1)
        )
    assert [row.message.chat_id for row in claimed] == [TELEGRAM_GROUP]
    assert value(await scrape(server), "councilbot_outbox_oldest_pending_seconds") == 0
    clock.advance(minutes=2)  # and dies: its lease runs out, the row is due again
    assert value(await scrape(server), "councilbot_outbox_oldest_pending_seconds") == 420


async def test_scheduled_jobs_fired_and_missed_are_counted_by_kind(
    app: App, server: WebServer, clock: Clock
) -> None:
    bot = Bot(app, clock)
    await bot.console.setup()
    await bot("/announce cork On time --at tomorrow 08:00 --yes")
    await bot("/announce cork Too late --at tomorrow 10:00 --yes")
    clock.advance(days=1)
    clock.now = clock.now.replace(hour=9)  # 09:00 UTC: the first is due, the second is not
    assert await app.scheduler.fire_due() == 1
    clock.advance(days=3)  # the bot was down far longer than the grace period
    await app.scheduler.sync()

    samples = await scrape(server)
    jobs = "councilbot_scheduler_jobs_total"
    assert value(samples, jobs, kind="announcement.send", outcome="fired") == 1
    assert value(samples, jobs, kind="announcement.send", outcome="missed") == 1
    assert value(samples, "councilbot_scheduler_leader") == 0  # this process never started it


async def test_metrics_still_answer_when_the_database_does_not(app: App, clock: Clock) -> None:
    broken = create_engine("sqlite+aiosqlite:////nonexistent-dir/x.db")
    metrics = Metrics(
        dispatcher=app.dispatcher,
        scheduler=app.scheduler,
        sessionmaker=create_sessionmaker(broken),
        clock=clock,
    )
    server = await serve(dataclasses.replace(app, metrics=metrics))
    try:
        samples = await scrape(server)
    finally:
        await server.stop()
        await broken.dispose()
    assert value(samples, "councilbot_database_up") == 0
    assert value(samples, "councilbot_outbox_depth") is None
    assert value(samples, "councilbot_scheduler_leader") == 0


async def test_a_broken_observer_costs_no_reply(
    app: App, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(handled: object) -> None:
        raise RuntimeError("a bug in an observer")

    app.router.on_handled.insert(0, broken)
    bot = Bot(app, clock)
    await bot.console.setup()
    with caplog.at_level(logging.ERROR):  # the root logger
        assert (await bot("/help")).startswith("Here is what I can do.")
    assert [r.getMessage() for r in caplog.records] == ["observer of /help failed"]
    server = await serve(app)
    try:
        samples = await scrape(server)
    finally:
        await server.stop()
    ok = {"command": "help", "platform": "console", "outcome": "ok"}
    assert value(samples, "councilbot_commands_total", **ok) == 1  # the next observer counted it
