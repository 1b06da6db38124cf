"""Wake-ups across processes on PostgreSQL: NOTIFY at commit, a listener that survives a lost link."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.messages import ChatKind, Platform
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.targets import Outgoing
from councilbot.delivery.wakeup import JOBS_CHANNEL, OUTBOX_CHANNEL, Listener
from councilbot.services import jobs

pytestmark = pytest.mark.postgres
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class Heard:
    """Count the wake-ups per channel, and let a test wait for the next one."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys((OUTBOX_CHANNEL, JOBS_CHANNEL), 0)
        self.changed = asyncio.Event()

    def callbacks(self) -> dict[str, Callable[[], None]]:
        return {channel: (lambda c=channel: self._hear(c)) for channel in self.counts}

    def _hear(self, channel: str) -> None:
        self.counts[channel] += 1
        self.changed.set()

    async def settle(self, seconds: float = 0.3) -> dict[str, int]:
        """Wait a little for late notifications, then return the counts."""
        await asyncio.sleep(seconds)
        return dict(self.counts)


@pytest.fixture
async def pg_engine(postgres_migrated: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(postgres_migrated)
    async with engine.begin() as conn:
        await conn.execute(text("TRUNCATE jobs, deliveries RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def heard(pg_engine: AsyncEngine) -> AsyncIterator[tuple[Heard, Listener]]:
    heard = Heard()
    listener = Listener(pg_engine, heard.callbacks(), retry=0.1)
    await listener.start()
    yield heard, listener
    await listener.stop()


def envelope(n: int) -> outbox.Envelope:
    message = Outgoing(
        platform=Platform.TELEGRAM, chat_id=str(-n), chat_kind=ChatKind.GROUP, text=f"m{n}"
    )
    return outbox.Envelope(key=f"test:{n}", message=message, source="test")


async def test_a_commit_wakes_the_listener_and_a_rollback_does_not(
    pg_engine: AsyncEngine, heard: tuple[Heard, Listener]
) -> None:
    counter, _listener = heard
    sessionmaker = create_sessionmaker(pg_engine)
    with pytest.raises(RuntimeError):  # a command that fails after enqueueing rolls back
        async with sessionmaker() as session, session.begin():
            await outbox.enqueue(session, [envelope(1)], now=NOW)
            await jobs.schedule(session, "j1", "test", NOW + timedelta(hours=1), now=NOW)
            raise RuntimeError("the command failed")
    assert await counter.settle() == {OUTBOX_CHANNEL: 0, JOBS_CHANNEL: 0}

    async with sessionmaker() as session, session.begin():
        await outbox.enqueue(session, [envelope(2)], now=NOW)
    assert await counter.settle() == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 0}

    async with sessionmaker() as session, session.begin():
        await jobs.schedule(session, "j2", "test", NOW + timedelta(hours=1), now=NOW)
    async with sessionmaker() as session, session.begin():
        await jobs.cancel(session, "j2")
    assert await counter.settle() == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 2}


async def test_the_listener_comes_back_after_losing_its_connection(
    pg_engine: AsyncEngine, heard: tuple[Heard, Listener]
) -> None:
    counter, _listener = heard
    async with pg_engine.connect() as conn:
        killed = await conn.scalar(
            text(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
    assert killed == 1
    # Back, it looks at everything once: notifications sent meanwhile are lost.
    async with asyncio.timeout(5):
        while counter.counts[OUTBOX_CHANNEL] < 1:
            counter.changed.clear()
            await counter.changed.wait()
    assert await counter.settle() == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 1}

    async with create_sessionmaker(pg_engine)() as session, session.begin():
        await outbox.enqueue(session, [envelope(3)], now=NOW)
    assert await counter.settle() == {OUTBOX_CHANNEL: 2, JOBS_CHANNEL: 1}


async def test_stopping_closes_the_listening_connection(
    pg_engine: AsyncEngine, heard: tuple[Heard, Listener]
) -> None:
    counter, listener = heard
    await listener.stop()
    async with create_sessionmaker(pg_engine)() as session, session.begin():
        await outbox.enqueue(session, [envelope(4)], now=NOW)
    assert await counter.settle() == {OUTBOX_CHANNEL: 0, JOBS_CHANNEL: 0}
    async with pg_engine.connect() as conn:
        listening = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
    assert listening == 0
