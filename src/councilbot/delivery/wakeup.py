"""Wake-ups across processes: PostgreSQL NOTIFY at commit, LISTEN where the work is done.

A `web` process enqueues deliveries and schedules jobs but cannot wake the dispatcher
or the scheduler of a `worker` process. On PostgreSQL the transaction that changes the
outbox or the jobs sends a NOTIFY, which PostgreSQL delivers when (and only if) it
commits; the worker's `Listener`, on a dedicated connection, turns it into a wake-up.
SQLite has one process, and the in-process wake-up after commit is enough there.
Either way the dispatcher's poll and the scheduler's sync remain the upper bound.
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
    ) -> None:
        self._engine = engine
        self._callbacks = dict(callbacks)
        self._retry = retry
        self._connection: AsyncConnection | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Listen on a connection of its own, and keep listening if it is lost."""
        if self._engine.dialect.name != "postgresql":
            return
        lost = await self._listen()
        self._task = asyncio.create_task(self._reconnect(lost), name="wake-up listener")

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

    async def _reconnect(self, lost: asyncio.Event) -> None:
        while True:
            await lost.wait()
            log.warning("lost the database connection that listens for wake-ups; reconnecting")
            await self._close()
            while True:
                await asyncio.sleep(self._retry)
                try:
                    lost = await self._listen()
                    break
                except Exception as exc:
                    log.warning("cannot listen for wake-ups yet (%s)", type(exc).__name__)
            # Notifications sent while we were away are gone: look at everything once.
            for callback in self._callbacks.values():
                callback()

    async def _close(self) -> None:
        if self._connection is not None:
            connection, self._connection = self._connection, None
            # Really close it: back in the pool it would keep listening for whoever gets it.
            with contextlib.suppress(Exception):
                await connection.invalidate()
