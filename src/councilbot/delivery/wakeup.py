"""Wake-ups across processes: PostgreSQL NOTIFY at commit, LISTEN where the work is done.

A `web` process enqueues deliveries and schedules jobs but cannot wake the dispatcher
or the scheduler of a `worker` process. On PostgreSQL the transaction that changes the
outbox or the jobs sends a NOTIFY, which PostgreSQL delivers when (and only if) it
commits; the worker's `Listener`, on a dedicated connection, turns it into a wake-up.
SQLite has one process, and the in-process wake-up after commit is enough there.
Either way the dispatcher's poll and the scheduler's sync remain the upper bound.
The listener checks its connection with a cheap query every `heartbeat` seconds (a
half-open link sends no termination), and reconnects when it is lost or cannot connect.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

log = logging.getLogger(__name__)

OUTBOX_CHANNEL = "councilbot_outbox"
JOBS_CHANNEL = "councilbot_jobs"
HEARTBEAT_TIMEOUT = 5.0  # seconds the listening connection may take to answer a heartbeat


async def notify(session: AsyncSession, channel: str) -> None:
    """Tell the listening processes about `channel` when this transaction commits."""
    if session.bind.dialect.name == "postgresql":
        await session.execute(text(f"NOTIFY {channel}"))


class Listener:
    """Call a channel's callback whenever a committed transaction notifies it (PostgreSQL only)."""

    def __init__(
        self,
        engine: AsyncEngine,
        callbacks: Mapping[str, Callable[[], None]],
        *,
        retry: float = 5.0,
        heartbeat: float = 30.0,
    ) -> None:
        self._engine = engine
        self._callbacks = dict(callbacks)
        self._retry = retry
        self._heartbeat = heartbeat
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen on a connection of its own; retry in the background if that fails now or later."""
        if self._engine.dialect.name != "postgresql":
            return
        try:
            lost: asyncio.Event | None = await self._listen()
        except Exception as exc:
            log.warning("cannot listen for wake-ups yet (%s); retrying", type(exc).__name__)
            lost = None
        self._task = asyncio.create_task(self._keep(lost), name="wake-up listener")

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._close()

    async def _listen(self) -> asyncio.Event:
        """Open the connection and LISTEN; return an event set when the connection is lost."""
        connection = await self._engine.connect()
        try:
            raw = (await connection.get_raw_connection()).driver_connection
            assert raw is not None
            lost = asyncio.Event()
            raw.add_termination_listener(lambda _connection: lost.set())
            for channel in self._callbacks:
                await raw.add_listener(channel, self._heard)
        except BaseException:
            await connection.invalidate()  # it may already listen: never back to the pool
            raise
        self._connection = connection
        return lost

    def _heard(self, _connection: Any, _pid: int, channel: str, _payload: str) -> None:
        self._callbacks[channel]()

    async def _keep(self, lost: asyncio.Event | None) -> None:
        """Keep a listening connection: watch it, and open a new one whenever it is lost."""
        failures = 1 if lost is None else 0  # start() could not listen, and said so
        while True:
            if lost is None:
                lost = await self._reconnect(failures)
            await self._watch(lost)
            log.warning("lost the database connection that listens for wake-ups; reconnecting")
            await self._close()
            lost, failures = None, 0

    async def _watch(self, lost: asyncio.Event) -> None:
        """Return once the connection is closed or stops answering the heartbeat."""
        assert self._connection is not None
        raw = (await self._connection.get_raw_connection()).driver_connection
        assert raw is not None
        while True:
            try:
                await asyncio.wait_for(lost.wait(), self._heartbeat)
                return
            except TimeoutError:
                pass
            try:
                async with asyncio.timeout(min(HEARTBEAT_TIMEOUT, self._heartbeat)):
                    await raw.fetchval("SELECT 1")  # outside any transaction: NOTIFYs still come
            except Exception:
                return

    async def _reconnect(self, failures: int) -> asyncio.Event:
        """Listen again, retrying every `retry` seconds; then look at everything once."""
        while True:
            await asyncio.sleep(self._retry)
            try:
                lost = await self._listen()
                break
            except Exception as exc:
                failures += 1
                if failures == 1:  # once per outage, not once per attempt
                    log.warning("cannot listen for wake-ups yet (%s)", type(exc).__name__)
        if failures:
            log.info("listening for wake-ups again")
        # Notifications sent while we were away are gone: look at everything once.
        for callback in self._callbacks.values():
            callback()
        return lost

    async def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Really close it: back in the pool it would keep listening for whoever gets it.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(HEARTBEAT_TIMEOUT):  # a half-open link may hang
                    await connection.invalidate()
