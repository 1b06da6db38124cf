"""Wake-ups across processes on PostgreSQL: NOTIFY at commit, a listener that survives a lost link."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.app import build_app
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.targets import Outgoing
from councilbot.delivery.wakeup import JOBS_CHANNEL, OUTBOX_CHANNEL, Listener
from councilbot.services import jobs
from councilbot.settings import Settings

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

    async def reach(self, outbox: int, jobs: int) -> dict[str, int]:
        """Wait (up to 10 s) until the counts reach these, then return them."""
        async with asyncio.timeout(10):
            while self.counts[OUTBOX_CHANNEL] < outbox or self.counts[JOBS_CHANNEL] < jobs:
                self.changed.clear()
                await self.changed.wait()
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
    # Notifications arrive in commit order: once the next commit's is heard, the rolled
    # back transaction's would have been too.
    async with sessionmaker() as session, session.begin():
        await outbox.enqueue(session, [envelope(2)], now=NOW)
    assert await counter.reach(1, 0) == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 0}

    async with sessionmaker() as session, session.begin():
        await jobs.schedule(session, "j2", "test", NOW + timedelta(hours=1), now=NOW)
    async with sessionmaker() as session, session.begin():
        await jobs.cancel(session, "j2")
    async with sessionmaker() as session, session.begin():
        await outbox.enqueue(session, [envelope(5)], now=NOW)
    assert await counter.reach(2, 2) == {OUTBOX_CHANNEL: 2, JOBS_CHANNEL: 2}


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
    assert await counter.reach(1, 1) == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 1}

    async with create_sessionmaker(pg_engine)() as session, session.begin():
        await outbox.enqueue(session, [envelope(3)], now=NOW)
    assert await counter.reach(2, 1) == {OUTBOX_CHANNEL: 2, JOBS_CHANNEL: 1}


async def test_stopping_closes_the_listening_connection(
    pg_engine: AsyncEngine, heard: tuple[Heard, Listener]
) -> None:
    counter, listener = heard
    await listener.stop()
    async with create_sessionmaker(pg_engine)() as session, session.begin():
        await outbox.enqueue(session, [envelope(4)], now=NOW)
    async with pg_engine.connect() as conn:
        listening = await conn.scalar(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
            )
        )
    assert listening == 0  # so nothing can wake it any more
    assert counter.counts == {OUTBOX_CHANNEL: 0, JOBS_CHANNEL: 0}


class Relay:
    """A TCP relay to PostgreSQL that can go silent without closing (a half-open link)."""

    def __init__(self, url: str) -> None:
        self._upstream = make_url(url)
        self._links: list[tuple[asyncio.Event, list[asyncio.StreamWriter]]] = []
        self._pipes: set[asyncio.Task[None]] = set()
        self._server: asyncio.Server | None = None

    def url(self, port: int) -> str:
        return self._upstream.set(host="127.0.0.1", port=port).render_as_string(hide_password=False)

    async def start(self, port: int) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)

    def go_silent(self) -> None:
        """Stop relaying on the links open now, without closing them."""
        for flowing, _writers in self._links:
            flowing.clear()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._pipes:
            task.cancel()
        await asyncio.gather(*self._pipes, return_exceptions=True)
        for _flowing, writers in self._links:
            for writer in writers:
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(
            self._upstream.host, self._upstream.port or 5432
        )
        flowing = asyncio.Event()
        flowing.set()
        self._links.append((flowing, [writer, up_writer]))
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink, flowing))
            self._pipes.add(task)

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader, sink: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        while data := await source.read(65536):
            await flowing.wait()
            sink.write(data)
            await sink.drain()
        await flowing.wait()
        sink.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_a_listener_that_cannot_connect_at_start_up_listens_once_it_can(
    pg_engine: AsyncEngine, postgres_migrated: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)  # the root logger
    relay, port = Relay(postgres_migrated), free_port()
    engine = create_engine(relay.url(port))  # nothing listens there yet
    counter = Heard()
    listener = Listener(engine, counter.callbacks(), retry=0.05)
    try:
        await listener.start()  # does not fail: the start-up goes on
        await asyncio.sleep(0.5)  # several attempts fail meanwhile
        await relay.start(port)
        # Listening, it looks at everything once, then hears the commits.
        assert await counter.reach(1, 1) == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 1}
        async with create_sessionmaker(pg_engine)() as session, session.begin():
            await outbox.enqueue(session, [envelope(6)], now=NOW)
        assert await counter.reach(2, 1) == {OUTBOX_CHANNEL: 2, JOBS_CHANNEL: 1}
    finally:
        await listener.stop()
        await engine.dispose()
        await relay.close()
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("cannot listen for wake-ups yet")


async def test_a_listener_whose_link_goes_silent_reconnects_at_its_heartbeat(
    pg_engine: AsyncEngine, postgres_migrated: str
) -> None:
    relay, port = Relay(postgres_migrated), free_port()
    await relay.start(port)
    engine = create_engine(relay.url(port))
    counter = Heard()
    listener = Listener(engine, counter.callbacks(), retry=0.05, heartbeat=0.2)
    sessionmaker = create_sessionmaker(pg_engine)
    try:
        await listener.start()
        relay.go_silent()  # no termination reaches the listener: only its heartbeat notices
        # Back on a new link, it looks at everything once, then hears the commits again.
        assert await counter.reach(1, 1) == {OUTBOX_CHANNEL: 1, JOBS_CHANNEL: 1}
        async with sessionmaker() as session, session.begin():
            await outbox.enqueue(session, [envelope(7)], now=NOW)
        assert await counter.reach(2, 1) == {OUTBOX_CHANNEL: 2, JOBS_CHANNEL: 1}
    finally:
        await listener.stop()
        await engine.dispose()
        await relay.close()


async def listening(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND query LIKE 'LISTEN%'"
                )
            )
        )


async def test_shutdown_stops_listening_before_the_commands_in_flight_finish(
    pg_engine: AsyncEngine, postgres_migrated: str
) -> None:
    settings = Settings(database_url=postgres_migrated, admins="", default_language="en")
    app = await build_app(settings)
    await app.start()
    assert await listening(pg_engine) == 1
    seen: list[int] = []

    class Command:
        """An intake finishing a command while the process stops."""

        async def pause(self) -> None:
            pass

        async def stop(self, grace: float) -> None:
            # Nothing may start a resync of the stopping scheduler from here on.
            seen.append(await listening(pg_engine))

    await app.shutdown([Command()])
    assert seen == [0]
