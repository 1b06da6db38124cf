"""The scheduler: APScheduler fires the jobs stored in the `jobs` table, once each.

APScheduler (AsyncIOScheduler, in-memory job store) only keeps time; the rows in
`jobs` are the truth. On start-up and every `sync_interval` the scheduler mirrors
the pending rows into date jobs. Firing claims the row (pending -> done) and runs
the job's handler in the same transaction, so a job runs once even if two
processes fire it. A job found overdue by more than `grace` (after an outage) is
marked missed and logged, not silently dropped or run late; its kind's declared `missed`
handler (core.features.JobKind) then records what that means for the feature.

When several processes share PostgreSQL, only one runs the scheduler: the holder
of a PostgreSQL advisory lock, taken on a dedicated connection at start-up. The
others retry at every sync, so one of them takes over when the holder dies (its
connection closes and the lock is released). The holder checks its lock connection at
every sync too: once that connection is gone (a PostgreSQL restart, a dead link), so is
the lock, and it drops the connection and tries to take the lead again.
On SQLite there is one process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from councilbot.core.features import (
    JobHandler,
    JobKind,
    JobRun,
    MemberHooks,
    Periodic,
    PeriodicRun,
)
from councilbot.core.http import HttpAnswer, HttpFailure, HttpGet
from councilbot.core.i18n import Catalogs
from councilbot.db.models import Job, JobState
from councilbot.delivery.outbox import OUTBOX_CHANGED
from councilbot.services import jobs

log = logging.getLogger(__name__)
ADVISORY_LOCK_KEY = 0x436F756E63696C  # "Council"
SYNC_JOB = "councilbot:sync"
PERIODIC = "periodic:"  # the prefix of the APScheduler ids of periodic work
STALE_SYNCS = 3  # sync intervals without a sync after which /healthz reports the scheduler
LOCK_CHECK_TIMEOUT = 5.0  # seconds the lock connection may take to answer at a sync


class Scheduler:
    """Mirror pending job rows into APScheduler and run them when due."""

    def __init__(
        self,
        engine: AsyncEngine,
        sessionmaker: async_sessionmaker[AsyncSession],
        kinds: Iterable[JobKind],
        *,
        catalogs: Catalogs | None = None,
        default_language: str = "en",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        grace: timedelta = timedelta(hours=1),
        sync_interval: float = 15.0,
        on_commit: Callable[[dict[str, Any]], None] | None = None,
        members: MemberHooks = (),
        periodic: Iterable[tuple[Periodic, float]] = (),
        settings: Any = None,
        get: HttpGet | None = None,
    ) -> None:
        self._engine = engine
        self._members = members
        self._sessionmaker = sessionmaker
        self._kinds: dict[str, JobKind] = {}
        for kind in kinds:
            if kind.kind in self._kinds:
                raise ValueError(f"job kind {kind.kind!r} is declared twice")
            self._kinds[kind.kind] = kind
        self._catalogs = catalogs or Catalogs({})  # English only, unless the app gives them
        self._default_language = default_language
        self._clock = clock
        self._grace = grace
        self._sync_interval = sync_interval
        self._on_commit = on_commit
        # Periodic work with its interval in seconds, and the settings it is handed.
        self._periodic = {work.name: (work, seconds) for work, seconds in periodic}
        self._settings = settings
        self._get = get
        self._aps = AsyncIOScheduler(timezone=UTC)
        self._lock: AsyncConnection | None = None
        self._running: set[asyncio.Task[Any]] = set()
        self._started = self._stopped = False
        self._synced_at: float | None = None  # time.monotonic() of the last sync that worked
        # One sync at a time: concurrent ones (the periodic one, one after a commit) would
        # each try to take the lead on their own connection, and the losers skip the work.
        self._sync_lock = asyncio.Lock()
        self.counts: Counter[tuple[str, str]] = Counter()  # (job kind, "fired" or "missed")

    @property
    def leading(self) -> bool:
        """Tell whether this process runs the jobs now: started, not stopped, holding the lead."""
        return self._started and not self._stopped and self._aps.running and self.is_leader

    @property
    def problem(self) -> str | None:
        """Say why this scheduler may not run the jobs (None: it works, or was never started).

        A leader must have synchronised the jobs, and a follower tried to take the lead and
        been told by PostgreSQL that another process holds it, within STALE_SYNCS intervals.
        """
        if not self._started:
            return None
        if self._stopped or not self._aps.running:
            return "stopped"
        if self._synced_at is None:
            return "never synchronised"
        ago = time.monotonic() - self._synced_at
        if ago > STALE_SYNCS * self._sync_interval:
            return f"last synchronised {ago:.0f} s ago"
        return None

    @property
    def is_leader(self) -> bool:
        """Tell whether this process runs the jobs."""
        return self._engine.dialect.name != "postgresql" or self._lock is not None

    async def start(self) -> None:
        """Start timing, take the lead if we can, and load the pending jobs."""
        self._started = True
        self._aps.start()
        self._aps.add_job(
            self._tracked,
            "interval",
            args=[self.sync],
            seconds=self._sync_interval,
            id=SYNC_JOB,
            coalesce=True,
            max_instances=1,
        )
        await self.sync()
        for name, (_work, seconds) in self._periodic.items():
            # At once (start-up), then every `seconds`; never two runs of one at a time.
            self._aps.add_job(
                self._tracked,
                "interval",
                args=[self.run_periodic, name],
                seconds=seconds,
                id=PERIODIC + name,
                next_run_time=datetime.now(UTC),
                coalesce=True,
                max_instances=1,
            )

    async def run_periodic(self, name: str) -> bool:
        """Do one run of periodic work if this process leads; return whether it ran.

        Whatever goes wrong is logged: the next run comes as planned, and the bot goes on.
        """
        work, _seconds = self._periodic[name]
        try:
            async with self._sync_lock:
                if not await self._take_lead():
                    return False
            await work.run(
                PeriodicRun(
                    sessionmaker=self._sessionmaker,
                    now=self._clock(),
                    catalogs=self._catalogs,
                    settings=self._settings,
                    get=self._get or _no_http,
                    default_language=self._default_language,
                )
            )
        except Exception:
            log.exception("periodic %s failed; it runs again at its next time", name)
            return False
        if self._on_commit is not None:
            self._on_commit({OUTBOX_CHANGED: True})  # it may have queued posts
        return True

    async def stop(self) -> None:
        """Stop timing, let a job that is running finish, and give up the lead."""
        self._stopped = True
        running = self._aps.running
        if running:
            self._aps.shutdown(wait=False)
        if self._running:
            await asyncio.wait(self._running, timeout=10)
        async with self._sync_lock:  # a sync in flight may be checking the lock connection
            lock, self._lock = self._lock, None
        if lock is not None:
            # The pool would keep the connection, and with it the lock: release it first.
            with contextlib.suppress(Exception):
                await lock.execute(
                    text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY}
                )
                await lock.commit()
            await lock.close()
            log.info("scheduler stopped: another process may take the lead now")
        elif running:
            log.info("scheduler stopped")

    async def _tracked(self, work: Callable[..., Awaitable[Any]], *args: Any) -> None:
        """Run a job APScheduler fires, so that stop() can wait for it."""
        task = asyncio.current_task()
        assert task is not None
        self._running.add(task)
        try:
            await work(*args)
        finally:
            self._running.discard(task)

    async def _take_lead(self) -> bool:
        if self._stopped:
            return False
        if self._lock is not None and not await self._still_locked(self._lock):
            log.warning("lost the connection that holds the scheduler's lead; taking it again")
            self._lock = None
        if self.is_leader:
            return True
        connection = await self._engine.connect()
        got = await connection.scalar(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
        )
        await connection.commit()  # the session-level lock outlives the transaction
        if got:
            self._lock = connection
            log.info("this process now runs the scheduler")
            return True
        await connection.close()
        return False

    @staticmethod
    async def _still_locked(lock: AsyncConnection) -> bool:
        """Tell whether the lock connection still answers; invalidate it if not."""
        try:
            async with asyncio.timeout(LOCK_CHECK_TIMEOUT):
                await lock.execute(text("SELECT 1"))
                await lock.commit()
        except Exception:
            # Never back to the pool: if the server still had it, it would hold the lock.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LOCK_CHECK_TIMEOUT):
                    await lock.invalidate()
            return False
        return True

    async def sync(self) -> None:
        """Mirror pending rows into date jobs; mark long-overdue ones missed."""
        async with self._sync_lock:
            if await self._sync():
                self._synced_at = time.monotonic()

    async def _sync(self) -> bool:
        """Synchronise if we lead; return False if the database failed us."""
        try:
            if not await self._take_lead():
                return True  # the database answered: another process leads (or we stop)
            now = self._clock()
            async with self._sessionmaker() as session, session.begin():
                rows = await jobs.pending(session)
                for job in rows:
                    if job.due_at < now - self._grace:
                        await self._miss(session, job, now)
            wanted = {job.name: job for job in rows if job.state is JobState.PENDING}
            for aps_job in self._aps.get_jobs():
                if (
                    aps_job.id != SYNC_JOB
                    and not aps_job.id.startswith(PERIODIC)
                    and aps_job.id not in wanted
                ):
                    aps_job.remove()
            for name, job in wanted.items():
                existing = self._aps.get_job(name)
                run_date = max(job.due_at, now)
                if existing is None or existing.trigger.run_date != run_date:
                    self._aps.add_job(
                        self._tracked,
                        DateTrigger(run_date=run_date, timezone=UTC),
                        args=[self.fire, name],
                        id=name,
                        replace_existing=True,
                        misfire_grace_time=int(self._grace.total_seconds()),
                    )
        except Exception:
            log.exception("could not synchronise the scheduler")
            return False
        return True

    async def fire(self, name: str) -> bool:
        """Run the job `name` if it is still pending; return whether it ran."""
        now = self._clock()
        try:
            async with self._sessionmaker() as session, session.begin():
                # Claim and read the row in one statement: only one firing gets it.
                job = await session.scalar(
                    update(Job)
                    .where(Job.name == name, Job.state == JobState.PENDING, Job.due_at <= now)
                    .values(state=JobState.DONE, fired_at=now)
                    .returning(Job)
                    .execution_options(synchronize_session=False)
                )
                if job is None:
                    return False
                if job.due_at < now - self._grace:
                    await self._miss(session, job, now)
                    return False
                declared = self._kinds.get(job.kind)
                if declared is None:
                    raise LookupError(f"no handler for job kind {job.kind!r}")
                await self._run(declared.run, session, job, now)
                info, kind = dict(session.info), job.kind
        except Exception as exc:
            log.exception("job %s failed", name)
            async with self._sessionmaker() as session, session.begin():
                await session.execute(
                    update(Job)
                    .where(Job.name == name, Job.state == JobState.PENDING)
                    .values(state=JobState.FAILED, fired_at=now, last_error=repr(exc)[:500])
                    .execution_options(synchronize_session=False)
                )
            return False
        self.counts[kind, "fired"] += 1
        if self._on_commit is not None:
            self._on_commit(info)
        return True

    async def _miss(self, session: AsyncSession, job: Job, now: datetime) -> None:
        """Mark a long-overdue job missed and tell its feature, instead of running it late."""
        # Conditional on the state we read, like fire()'s claim: a sync and a fire (or two
        # syncs) racing over the same row report it once.
        claimed = await session.execute(
            update(Job)
            .where(Job.id == job.id, Job.state == job.state)
            .values(
                state=JobState.MISSED,
                last_error=f"missed: due {job.due_at.isoformat()}, found {now.isoformat()}",
            )
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:
            return
        job.state = JobState.MISSED
        self.counts[job.kind, "missed"] += 1
        log.warning("job %s was due at %s and is missed", job.name, job.due_at)
        declared = self._kinds.get(job.kind)
        if declared is not None and declared.missed is not None:
            await self._run(declared.missed, session, job, now)

    async def _run(
        self, handler: JobHandler, session: AsyncSession, job: Job, now: datetime
    ) -> None:
        await handler(
            JobRun(
                session=session,
                payload=job.payload,
                now=now,
                catalogs=self._catalogs,
                default_language=self._default_language,
                members=self._members,
                settings=self._settings,
            )
        )

    async def fire_due(self) -> int:
        """Run every pending job that is due now (for tests and start-up); return how many."""
        async with self._sessionmaker() as session:
            names = [job.name for job in await jobs.pending(session) if job.due_at <= self._clock()]
        return sum([await self.fire(name) for name in names])


async def _no_http(url: str, *_args: Any) -> HttpAnswer:
    """Refuse to read the web: the app gave the scheduler no way to."""
    raise HttpFailure(f"no HTTP client was given to read {url}")
