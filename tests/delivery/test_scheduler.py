"""The scheduler with real APScheduler timing: jobs fire once, and one process leads."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.features import JobKind, JobRun
from councilbot.db.models import Job, JobState
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery.scheduler import Scheduler
from councilbot.services import jobs


class Recorder:
    """A job handler that remembers its calls."""

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []
        self.called = asyncio.Event()

    async def __call__(self, job: JobRun) -> None:
        self.calls.append(job.payload)
        self.called.set()


async def schedule_in(engine: AsyncEngine, seconds: float, name: str = "ping:1") -> None:
    now = datetime.now(UTC)
    async with create_sessionmaker(engine)() as session, session.begin():
        await jobs.schedule(
            session, name, "ping", now + timedelta(seconds=seconds), {"n": 1}, now=now
        )


async def test_a_job_fires_once_at_its_time(engine: AsyncEngine) -> None:
    recorder = Recorder()
    scheduler = Scheduler(
        engine, create_sessionmaker(engine), [JobKind("ping", recorder)], sync_interval=60
    )
    await schedule_in(engine, 0.3)
    await scheduler.start()
    try:
        await asyncio.wait_for(recorder.called.wait(), 5)
        await scheduler.sync()  # a later sync must not bring it back
        await asyncio.sleep(0.3)
    finally:
        await scheduler.stop()
    assert recorder.calls == [{"n": 1}]
    async with create_sessionmaker(engine)() as session:
        job = await session.scalar(select(Job))
    assert job.state is JobState.DONE and job.fired_at is not None


async def test_jobs_added_after_start_are_picked_up_by_sync(engine: AsyncEngine) -> None:
    recorder = Recorder()
    scheduler = Scheduler(
        engine, create_sessionmaker(engine), [JobKind("ping", recorder)], sync_interval=60
    )
    await scheduler.start()
    try:
        await schedule_in(engine, 0.2)
        await scheduler.sync()  # what the app does after a commit that scheduled a job
        await asyncio.wait_for(recorder.called.wait(), 5)
    finally:
        await scheduler.stop()
    assert len(recorder.calls) == 1


async def test_a_failing_job_is_marked_failed(engine: AsyncEngine) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("boom")

    scheduler = Scheduler(engine, create_sessionmaker(engine), [JobKind("ping", broken)])
    await schedule_in(engine, -1)
    assert await scheduler.fire_due() == 0
    async with create_sessionmaker(engine)() as session:
        job = await session.scalar(select(Job))
    assert job.state is JobState.FAILED and "boom" in job.last_error


@pytest.mark.postgres
async def test_only_one_process_leads_on_postgres(postgres_migrated: str) -> None:
    engines = [create_engine(postgres_migrated) for _ in range(2)]
    recorders = [Recorder(), Recorder()]
    schedulers = [
        Scheduler(
            engine, create_sessionmaker(engine), [JobKind("ping", recorder)], sync_interval=0.2
        )
        for engine, recorder in zip(engines, recorders, strict=True)
    ]
    try:
        async with engines[0].begin() as conn:
            await conn.exec_driver_sql("TRUNCATE jobs RESTART IDENTITY CASCADE")
        for scheduler in schedulers:
            await scheduler.start()
        assert [s.is_leader for s in schedulers] == [True, False]
        await schedule_in(engines[1], 0.3)
        await asyncio.wait_for(recorders[0].called.wait(), 5)
        assert [len(r.calls) for r in recorders] == [1, 0]

        await schedulers[0].stop()  # the leader dies: the other takes over at its next sync
        await schedule_in(engines[1], 0.5, name="ping:2")
        await asyncio.wait_for(recorders[1].called.wait(), 5)
        assert schedulers[1].is_leader
        assert [len(r.calls) for r in recorders] == [1, 1]
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for engine in engines:
            await engine.dispose()


@pytest.mark.postgres
async def test_a_leader_whose_lock_connection_died_notices_at_its_next_sync(
    postgres_migrated: str,
) -> None:
    engines = [create_engine(postgres_migrated) for _ in range(2)]
    schedulers = [
        Scheduler(engine, create_sessionmaker(engine), [], sync_interval=60) for engine in engines
    ]
    try:
        await schedulers[0].start()
        assert schedulers[0].is_leader
        async with engines[1].connect() as conn:
            # What a PostgreSQL restart or a dead link does to the lock connection.
            killed = await conn.scalar(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_locks "
                    "WHERE locktype = 'advisory' AND granted AND database = "
                    "(SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        assert killed == 1
        async with asyncio.timeout(5):  # the backend is gone once the lock is released
            while await locks_held(engines[1]):  # noqa: ASYNC110 - polling the database
                await asyncio.sleep(0.05)
        await schedulers[1].start()  # the lead is free: another process takes it
        assert schedulers[1].is_leader

        await schedulers[0].sync()  # the old leader notices it lost the lead
        assert not schedulers[0].is_leader
        assert schedulers[0].problem is None  # it asked, and another process leads

        await schedulers[1].stop()
        await schedulers[0].sync()  # and takes it again, on a fresh connection
        assert schedulers[0].is_leader
        assert await locks_held(engines[1]) == 1
    finally:
        for scheduler in schedulers:
            await scheduler.stop()
        for engine in engines:
            await engine.dispose()


async def locks_held(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int(
            await conn.scalar(
                text(
                    "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
                )
            )
        )
