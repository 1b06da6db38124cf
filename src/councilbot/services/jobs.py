"""Timed jobs as rows: services schedule and cancel named jobs at aware datetimes.

The rows are the truth; the scheduler only mirrors them, so jobs survive restarts.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.db.models import Job, JobState
from councilbot.delivery.wakeup import JOBS_CHANNEL, notify

JOBS_CHANGED = "jobs_changed"  # session.info flag: resynchronise the scheduler after commit


async def schedule(
    session: AsyncSession,
    name: str,
    kind: str,
    due_at: datetime,
    payload: dict[str, Any] | None = None,
    *,
    now: datetime,
) -> Job:
    """Schedule (or move) the job called `name` to run `kind` at `due_at`."""
    if due_at.tzinfo is None:
        raise ValueError("due_at must be timezone-aware")
    job = await session.scalar(select(Job).where(Job.name == name))
    if job is None:
        job = Job(name=name, kind=kind, created_at=now)
        session.add(job)
    job.kind = kind
    job.due_at = due_at
    job.payload = payload or {}
    job.state = JobState.PENDING
    job.fired_at = None
    job.last_error = None
    await session.flush()
    session.info[JOBS_CHANGED] = True
    await notify(session, JOBS_CHANNEL)
    return job


async def cancel(session: AsyncSession, name: str) -> None:
    """Cancel a pending job; one claimed by the scheduler first, or none, is left alone."""
    # Conditional, like the scheduler's claim: on PostgreSQL a cancel racing a firing waits
    # for the row, then matches nothing if the firing committed; the firing, if second,
    # finds the job cancelled.
    cancelled = await session.execute(
        update(Job)
        .where(Job.name == name, Job.state == JobState.PENDING)
        .values(state=JobState.CANCELLED)
    )
    if cancelled.rowcount:
        session.info[JOBS_CHANGED] = True
        await notify(session, JOBS_CHANNEL)


async def pending(session: AsyncSession) -> list[Job]:
    """Return every pending job, soonest first."""
    return list(
        await session.scalars(
            select(Job).where(Job.state == JobState.PENDING).order_by(Job.due_at, Job.id)
        )
    )
