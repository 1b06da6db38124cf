"""The dispatcher against a fake Bot API on 127.0.0.1, through the real python-telegram-bot."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import Channel, Delivery, DeliveryStatus
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.dispatcher import DispatchConfig, Dispatcher, platform_rates
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.ratelimit import RateLimiter
from councilbot.delivery.targets import Outgoing
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
FAST = DispatchConfig(poll_interval=0.05, flush_interval=0.02, backoff_first=0.05, max_attempts=3)


def dispatcher(
    engine: AsyncEngine, target: TelegramTarget, config: DispatchConfig = FAST, **rates: float
) -> Dispatcher:
    limits = {"telegram_per_second": 1000.0, "telegram_private_per_second": 1000.0} | rates
    return Dispatcher(
        create_sessionmaker(engine),
        {Platform.TELEGRAM: target},
        RateLimiter(platform_rates(**limits)),
        config,
    )


async def enqueue(
    engine: AsyncEngine, count: int, *, chat: str | None = None, channel_id: int | None = None
) -> None:
    envelopes = [
        Envelope(
            key=f"test:{n}",
            message=Outgoing(
                platform=Platform.TELEGRAM,
                chat_id=chat or str(1000 + n),
                chat_kind=ChatKind.PRIVATE,
                text=f"message {n}",
            ),
            source="test",
            source_id=1,
            channel_id=channel_id,
        )
        for n in range(count)
    ]
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.enqueue(session, envelopes, now=datetime.now(UTC))


async def statuses(engine: AsyncEngine) -> Counter[DeliveryStatus]:
    async with create_sessionmaker(engine)() as session:
        return Counter(await session.scalars(select(Delivery.status)))


async def test_paces_sends_within_the_global_limit(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.global_rate = 50
    await enqueue(engine, 75)
    started = time.monotonic()
    await asyncio.wait_for(
        dispatcher(engine, telegram, telegram_per_second=50).run_until_idle(), 10
    )
    elapsed = time.monotonic() - started
    assert len(telegram_api.sent) == 75 and telegram_api.rate_limited == 0
    assert elapsed >= 74 / 50 - 0.05  # 75 sends at 50/s need about 1.5 s
    assert await statuses(engine) == {DeliveryStatus.SENT: 75}


async def test_paces_one_private_chat_at_its_own_rate(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.chat_rate = 10
    await enqueue(engine, 12, chat="42")
    started = time.monotonic()
    await asyncio.wait_for(
        dispatcher(engine, telegram, telegram_private_per_second=10).run_until_idle(), 10
    )
    assert time.monotonic() - started >= 11 / 10 - 0.05
    assert telegram_api.texts_to("42") == [f"message {n}" for n in range(12)]
    assert telegram_api.rate_limited == 0


async def test_a_429_is_waited_out_and_nothing_is_lost(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.chat_rate = 3  # the platform is stricter than we were told
    await enqueue(engine, 6, chat="42")
    worker = dispatcher(engine, telegram, telegram_private_per_second=100)
    await drain(worker, engine, {DeliveryStatus.SENT: 6})
    assert (
        telegram_api.rate_limited >= 1
        and worker.stats.results["rate_limited", Platform.TELEGRAM] >= 1
    )
    assert sorted(telegram_api.texts_to("42")) == sorted(f"message {n}" for n in range(6))
    assert await statuses(engine) == {DeliveryStatus.SENT: 6}


async def test_server_errors_are_retried_with_backoff(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.fail_next = 2
    await enqueue(engine, 1)
    worker = dispatcher(engine, telegram)
    await drain(worker, engine, {DeliveryStatus.SENT: 1})
    assert worker.stats.results["retried", Platform.TELEGRAM] == 2 and len(telegram_api.sent) == 1
    async with create_sessionmaker(engine)() as session:
        row = await session.scalar(select(Delivery))
    assert row.attempts == 3
    assert row.platform_message_id is not None and row.platform_message_id.isdigit()


async def test_gives_up_after_the_last_attempt(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.fail_next = 10
    await enqueue(engine, 1)
    worker = dispatcher(engine, telegram)
    await drain(worker, engine, {DeliveryStatus.FAILED: 1})
    assert telegram_api.sent == [] and worker.stats.results["failed", Platform.TELEGRAM] == 1


async def linked_chat(engine: AsyncEngine, chat_id: str) -> Channel:
    """Link a Telegram group to the first council."""
    async with create_sessionmaker(engine)() as session, session.begin():
        channel = Channel(
            platform=Platform.TELEGRAM,
            external_id=chat_id,
            council_id=1,
            active=True,
            created_at=datetime.now(UTC),
            updated_at=datetime.now(UTC),
        )
        session.add(channel)
    return channel


async def test_permanent_errors_kill_the_row_and_deactivate_the_chat(
    seeded: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    channel = await linked_chat(seeded, "-100777")
    telegram_api.kicked.add("-100777")
    await enqueue(seeded, 2, chat="-100777", channel_id=channel.id)
    worker = dispatcher(seeded, telegram)
    await asyncio.wait_for(worker.run_until_idle(), 10)
    assert await statuses(seeded) == {DeliveryStatus.DEAD: 2}
    assert len(telegram_api.calls("sendMessage")) <= 2  # never retried
    async with create_sessionmaker(seeded)() as session:
        assert (await session.get(Channel, channel.id)).active is False
        report = await outbox.report(session, "test", 1)
    assert all("kicked" in problem.error for problem in report.problems)


async def test_a_group_upgraded_to_a_supergroup_is_followed(
    seeded: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    channel = await linked_chat(seeded, "-777")
    telegram_api.migrated["-777"] = "-1001777"
    await enqueue(seeded, 3, chat="-777", channel_id=channel.id)
    worker = dispatcher(seeded, telegram)
    await asyncio.wait_for(worker.run_until_idle(), 10)

    assert await statuses(seeded) == {DeliveryStatus.SENT: 3}
    assert sorted(r.params["text"] for r in telegram_api.sent) == [
        "message 0",
        "message 1",
        "message 2",
    ]
    assert {r.chat_id for r in telegram_api.sent} == {"-1001777"}
    async with create_sessionmaker(seeded)() as session:
        moved = await session.get(Channel, channel.id)
        rows = (await session.scalars(select(Delivery))).all()
    assert (moved.external_id, moved.active) == ("-1001777", True)
    assert all(row.attempts <= 1 for row in rows)  # the move cost no attempt


async def test_background_run_wakes_on_new_rows(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    worker = dispatcher(engine, telegram, DispatchConfig(poll_interval=30, flush_interval=0.02))
    worker.start()
    try:
        await asyncio.sleep(0.1)
        await enqueue(engine, 3)
        started = time.monotonic()
        worker.wake()  # what the router does after a commit that queued messages
        await wait_for_statuses(engine, {DeliveryStatus.SENT: 3})
    finally:
        await worker.stop()
    assert len(telegram_api.sent) == 3
    assert time.monotonic() - started < 5  # far sooner than the 30 s poll


@pytest.mark.postgres
async def test_two_dispatchers_on_postgres_never_send_twice(
    postgres_migrated: str, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    engines = [create_engine(postgres_migrated) for _ in range(2)]
    try:
        async with engines[0].begin() as conn:
            await conn.exec_driver_sql("TRUNCATE deliveries RESTART IDENTITY CASCADE")
        await enqueue(engines[0], 400)
        small = DispatchConfig(batch=20, max_in_flight=40, poll_interval=0.01, flush_interval=0.01)
        workers = [dispatcher(engine, telegram, small) for engine in engines]
        await asyncio.wait_for(asyncio.gather(*(w.run_until_idle() for w in workers)), 30)
        texts = [r.params["text"] for r in telegram_api.sent]
        assert len(texts) == 400 and len(set(texts)) == 400
        sent = [w.stats.results["sent", Platform.TELEGRAM] for w in workers]
        assert all(n > 50 for n in sent), sent
        assert await statuses(engines[0]) == {DeliveryStatus.SENT: 400}
    finally:
        for engine in engines:
            await engine.dispose()


async def test_lease_brings_back_rows_of_a_dead_dispatcher(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    await enqueue(engine, 5)
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.claim(
            session, worker="gone", limit=5, now=datetime.now(UTC), lease=timedelta(seconds=0.5)
        )
    worker = dispatcher(engine, telegram)
    await asyncio.wait_for(worker.run_until_idle(), 5)
    assert telegram_api.sent == []  # still leased to the worker that died
    await asyncio.sleep(0.6)
    await asyncio.wait_for(worker.run_until_idle(), 5)
    assert len(telegram_api.sent) == 5
    assert await statuses(engine) == {DeliveryStatus.SENT: 5}


async def drain(worker: Dispatcher, engine: AsyncEngine, expected: dict) -> None:
    """Run the dispatcher until the outbox reaches `expected` (retries are due later)."""
    async with asyncio.timeout(15):
        while await statuses(engine) != expected:
            await worker.run_until_idle()
            await asyncio.sleep(0.05)


async def wait_for_statuses(engine: AsyncEngine, expected: dict, seconds: float = 5) -> None:
    async with asyncio.timeout(seconds):
        while await statuses(engine) != expected:  # noqa: ASYNC110 - polling the database
            await asyncio.sleep(0.02)


@pytest.mark.parametrize(
    ("status", "description"),
    [
        (500, "Internal Server Error"),  # a retries
        (400, "Bad Request: can't parse entities: unclosed tag"),  # a gives the row up
        (403, "Forbidden: bot was kicked from the supergroup chat"),  # a kills the row
    ],
)
async def test_a_dispatcher_that_lost_its_lease_cannot_undo_the_next_claim(
    seeded: AsyncEngine,
    telegram_api: FakeTelegramAPI,
    telegram: TelegramTarget,
    status: int,
    description: str,
) -> None:
    channel = await linked_chat(seeded, "-100777")
    await enqueue(seeded, 1, chat="-100777", channel_id=channel.id)
    telegram_api.scripted_errors["sendMessage"] = [(status, description)]  # a's send only
    slow = DispatchConfig(poll_interval=30, flush_interval=30, backoff_first=0.05)
    a = dispatcher(seeded, telegram, slow)  # its outcome stays in memory until it stops
    b = Dispatcher(
        create_sessionmaker(seeded),
        {Platform.TELEGRAM: telegram},
        RateLimiter(platform_rates(telegram_private_per_second=1000.0)),
        FAST,
        clock=lambda: datetime.now(UTC) + timedelta(minutes=2),  # a's 60 s lease is over
    )
    a.start()
    try:
        async with asyncio.timeout(5):
            while not a.stats.results:  # its one send's outcome  # noqa: ASYNC110
                await asyncio.sleep(0.01)
        await asyncio.wait_for(b.run_until_idle(), 5)
    finally:
        await a.stop()  # a's late outcome is written now
    await asyncio.wait_for(b.run_until_idle(), 5)  # anything put back would be sent again

    assert telegram_api.texts_to("-100777") == ["message 0"]
    assert await statuses(seeded) == {DeliveryStatus.SENT: 1}
    async with create_sessionmaker(seeded)() as session:
        assert (await session.get(Channel, channel.id)).active is True
        row = await session.scalar(select(Delivery))
    assert (row.claimed_by, row.attempts, row.last_error) == (b.worker, 2, None)


async def test_an_unknown_slack_error_is_retried_then_failed_and_the_channel_stays(
    seeded: AsyncEngine,
) -> None:
    async with FakeSlackAPI() as api:
        api.errors["C0CORK"] = "some_code_slack_added_later"
        async with create_sessionmaker(seeded)() as session, session.begin():
            channel = Channel(
                platform=Platform.SLACK,
                workspace="T0TEAM",
                external_id="C0CORK",
                council_id=1,
                created_at=datetime.now(UTC),
                updated_at=datetime.now(UTC),
            )
            session.add(channel)
            await session.flush()
            message = Outgoing(
                platform=Platform.SLACK, workspace="T0TEAM", chat_id="C0CORK", text="hi"
            )
            await outbox.enqueue(
                session,
                [Envelope("slack:1", message, "test", 1, channel.id)],
                now=datetime.now(UTC),
            )
        worker = Dispatcher(
            create_sessionmaker(seeded),
            {Platform.SLACK: SlackTarget.create("xoxb-test", api.base_url, timeout=2)},
            RateLimiter(platform_rates(slack_channel_per_second=1000.0)),
            FAST,
        )
        await drain(worker, seeded, {DeliveryStatus.FAILED: 1})
        assert len(api.calls("chat.postMessage")) == FAST.max_attempts
    async with create_sessionmaker(seeded)() as session:
        assert (await session.get(Channel, channel.id)).active is True
        row = await session.scalar(select(Delivery))
    assert row.last_error == "some_code_slack_added_later"
