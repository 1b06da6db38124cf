"""The persistent outbox: enqueue inside the caller's transaction, claim, record outcomes.

Services enqueue in their own transaction, so a committed announcement always has
its deliveries and a rolled-back one has none. Dispatchers claim due rows with one
atomic `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`: on
PostgreSQL several dispatchers can share the table without sending a row twice;
on SQLite the lock clause disappears but the single statement is still atomic,
because SQLite has one writer at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.messages import Platform
from councilbot.db.models import Channel, Delivery, DeliveryStatus, Subscription
from councilbot.delivery.targets import Outgoing
from councilbot.delivery.wakeup import OUTBOX_CHANNEL, notify

OUTBOX_CHANGED = "outbox_changed"  # session.info flag: wake the dispatcher after commit
# Marks the last error of a row waiting for its workspace's credentials to work again; the
# rest is the platform's reason, and readers add their own (translated) explanation.
HELD = "held: "
_DELIVERIES = Delivery.__table__


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message to enqueue, with what it belongs to."""

    key: str  # idempotency: the same key is enqueued once
    message: Outgoing
    source: str
    source_id: int | None = None
    channel_id: int | None = None
    member_id: int | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed for sending."""

    id: int
    attempts: int  # with `worker`, names this claim: outcomes are written only while it holds
    worker: str
    message: Outgoing
    channel_id: int | None
    member_id: int | None


async def enqueue(session: AsyncSession, envelopes: Iterable[Envelope], *, now: datetime) -> int:
    """Add messages to the outbox, skipping keys already there; return how many were new."""
    rows = [
        {
            "key": e.key,
            "source": e.source,
            "source_id": e.source_id,
            "platform": e.message.platform,
            "workspace": e.message.workspace,
            "chat_id": e.message.chat_id,
            "chat_kind": e.message.chat_kind,
            "channel_id": e.channel_id,
            "member_id": e.member_id,
            # A file goes as its reference (its bytes are in the files table): see files.py.
            "payload": e.message.model_dump(
                mode="json", include={"text", "buttons", "file"}, exclude_none=True
            ),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "created_at": now,
        }
        for e in envelopes
    ]
    if not rows:
        return 0
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    statement = (
        dialect.insert(_DELIVERIES)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(_DELIVERIES.c.id)
    )
    inserted = 0
    for start in range(0, len(rows), 500):
        result = await session.execute(statement, rows[start : start + 500])
        inserted += len(result.all())
    session.info[OUTBOX_CHANGED] = True
    await notify(session, OUTBOX_CHANNEL)
    return inserted


def is_due(now: datetime) -> ColumnElement[bool]:
    """Match the rows a dispatcher may claim now: pending and due, or with an expired lease."""
    return or_(
        (Delivery.status == DeliveryStatus.PENDING) & (Delivery.next_attempt_at <= now),
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_until < now),
    )


async def claim(
    session: AsyncSession, *, worker: str, limit: int, now: datetime, lease: timedelta
) -> list[Claimed]:
    """Claim up to `limit` due rows (pending, or sending with an expired lease)."""
    due = (
        select(Delivery.id)
        .where(is_due(now))
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    statement = (
        update(Delivery)
        .where(Delivery.id.in_(due.scalar_subquery()))
        .values(
            status=DeliveryStatus.SENDING,
            lease_until=now + lease,
            claimed_by=worker,
            attempts=Delivery.attempts + 1,
        )
        .returning(
            Delivery.id,
            Delivery.attempts,
            Delivery.platform,
            Delivery.workspace,
            Delivery.chat_id,
            Delivery.chat_kind,
            Delivery.payload,
            Delivery.channel_id,
            Delivery.member_id,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(statement)).all()
    return sorted(
        (
            Claimed(
                id=row.id,
                attempts=row.attempts,
                worker=worker,
                message=Outgoing(
                    platform=row.platform,
                    workspace=row.workspace,
                    chat_id=row.chat_id,
                    chat_kind=row.chat_kind,
                    **row.payload,
                ),
                channel_id=row.channel_id,
                member_id=row.member_id,
            )
            for row in rows
        ),
        key=lambda c: c.id,
    )


def _held(claimed: Claimed) -> ColumnElement[bool]:
    """Match a row only while the claim still holds it."""
    # Once a lease runs out another dispatcher may claim the row (a new attempt); a late
    # outcome of the first claim must then change nothing, or the row would be sent again.
    return (
        (Delivery.id == claimed.id)
        & (Delivery.status == DeliveryStatus.SENDING)
        & (Delivery.claimed_by == claimed.worker)
        & (Delivery.attempts == claimed.attempts)
    )


async def _settle(session: AsyncSession, claimed: Claimed, **values: Any) -> bool:
    """Write a claimed row's outcome; return whether the claim still held it."""
    result = await session.execute(
        update(Delivery)
        .where(_held(claimed))
        .values(lease_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


# _held() for Core statements, so that a list of claims runs as one executemany.
_HELD_BY_PARAMS = (
    _DELIVERIES.c.id == bindparam("row_id"),
    _DELIVERIES.c.status == DeliveryStatus.SENDING,
    _DELIVERIES.c.claimed_by == bindparam("worker"),
    _DELIVERIES.c.attempts == bindparam("attempt"),
)
_MARK_SENT = (
    update(_DELIVERIES)
    .where(*_HELD_BY_PARAMS)
    .values(
        status=DeliveryStatus.SENT,
        sent_at=bindparam("when"),
        platform_message_id=bindparam("message_id"),
        lease_until=None,
        last_error=None,
    )
)


async def mark_sent(
    session: AsyncSession, sent: Sequence[tuple[Claimed, str | None]], *, now: datetime
) -> None:
    """Record successful sends, many at once."""
    if sent:
        await session.execute(
            _MARK_SENT,
            [
                {
                    "row_id": row.id,
                    "worker": row.worker,
                    "attempt": row.attempts,
                    "message_id": mid,
                    "when": now,
                }
                for row, mid in sent
            ],
        )


# Like _MARK_SENT, one executemany; the attempt is given back with the claim.
_RELEASE = (
    update(_DELIVERIES)
    .where(*_HELD_BY_PARAMS)
    .values(
        status=DeliveryStatus.PENDING,
        next_attempt_at=bindparam("when"),
        attempts=_DELIVERIES.c.attempts - 1,
        claimed_by=None,
        lease_until=None,
    )
)


async def release(session: AsyncSession, claimed: Sequence[Claimed], *, now: datetime) -> None:
    """Give back claimed rows that were never sent: due at once, for any dispatcher."""
    # A stopping dispatcher calls this, so that others need not wait for its leases to run out.
    if claimed:
        await session.execute(
            _RELEASE,
            [
                {"row_id": row.id, "worker": row.worker, "attempt": row.attempts, "when": now}
                for row in claimed
            ],
        )


async def mark_retry(
    session: AsyncSession,
    claimed: Claimed,
    *,
    at: datetime,
    error: str | None,
    count_attempt: bool = True,
) -> bool:
    """Put a claimed row back in the queue, due at `at`; return whether the claim held."""
    values: dict[str, Any] = {"status": DeliveryStatus.PENDING, "next_attempt_at": at}
    if error is not None:
        values["last_error"] = error[:500]
    if not count_attempt:
        values["attempts"] = Delivery.attempts - 1
    return await _settle(session, claimed, **values)


async def mark_failed(session: AsyncSession, claimed: Claimed, *, error: str) -> None:
    """Give up on a row (too many attempts, or a message the platform refuses); keep its chat."""
    await _settle(session, claimed, status=DeliveryStatus.FAILED, last_error=error[:500])


async def mark_dead(session: AsyncSession, claimed: Claimed, *, error: str) -> None:
    """Record a permanent error and stop sending to that chat: deactivate it."""
    if not await _settle(session, claimed, status=DeliveryStatus.DEAD, last_error=error[:500]):
        return  # another claim has the row now: its outcome tells about the chat
    if claimed.channel_id is not None:
        await session.execute(
            update(Channel)
            .where(Channel.id == claimed.channel_id)
            .values(active=False)
            .execution_options(synchronize_session=False)
        )
    if claimed.member_id is not None:
        await session.execute(
            update(Subscription)
            .where(Subscription.member_id == claimed.member_id)
            .values(active=False)
            .execution_options(synchronize_session=False)
        )


async def mark_moved(
    session: AsyncSession, claimed: Claimed, *, chat_id: str, error: str, now: datetime
) -> None:
    """Follow a chat to its new id and send there at once (the attempt does not count)."""
    if not await mark_retry(session, claimed, at=now, error=error, count_attempt=False):
        return
    message = claimed.message  # pending again, so the move below takes this row along
    await follow_moved_chat(
        session, message.platform, message.workspace, old=message.chat_id, new=chat_id
    )


async def follow_moved_chat(
    session: AsyncSession, platform: Platform, workspace: str, *, old: str, new: str
) -> None:
    """Point a chat's link and its unsent messages at the chat's new id.

    A Telegram group upgraded to a supergroup changes id. If the new id is linked already
    (someone linked the supergroup meanwhile), that link stays and the old one is left.
    """
    same_chat = (Channel.platform == platform) & (Channel.workspace == workspace)
    taken = await session.scalar(select(Channel.id).where(same_chat, Channel.external_id == new))
    if taken is None:
        await session.execute(
            update(Channel)
            .where(same_chat, Channel.external_id == old)
            .values(external_id=new)
            .execution_options(synchronize_session=False)
        )
    await session.execute(
        update(Delivery)
        .where(
            Delivery.platform == platform,
            Delivery.workspace == workspace,
            Delivery.chat_id == old,
            Delivery.status == DeliveryStatus.PENDING,
        )
        .values(chat_id=new)
        .execution_options(synchronize_session=False)
    )


@dataclass(frozen=True, slots=True)
class Problem:
    """A delivery that has not gone out, and the platform's reason."""

    status: DeliveryStatus
    chat: str
    error: str
    held: bool  # waiting until the platform accepts the workspace's credentials again


@dataclass(frozen=True, slots=True)
class Report:
    """How the deliveries of one source are doing."""

    counts: dict[DeliveryStatus, int]
    problems: list[Problem]

    @property
    def total(self) -> int:
        """Return the number of deliveries."""
        return sum(self.counts.values())


async def status_counts(
    session: AsyncSession, *where: ColumnElement[bool]
) -> dict[DeliveryStatus, int]:
    """Count deliveries by status (statuses with none are left out)."""
    rows = await session.execute(
        select(Delivery.status, func.count()).where(*where).group_by(Delivery.status)
    )
    return {status: n for status, n in rows.tuples()}


async def report(session: AsyncSession, source: str, source_id: int, *, limit: int = 5) -> Report:
    """Count a source's deliveries by status and list the latest problems."""
    counts = await status_counts(
        session, Delivery.source == source, Delivery.source_id == source_id
    )
    problems = await session.execute(
        select(Delivery.status, Channel.title, Delivery.chat_id, Delivery.last_error)
        .outerjoin(Channel, Channel.id == Delivery.channel_id)
        .where(
            Delivery.source == source,
            Delivery.source_id == source_id,
            Delivery.last_error.is_not(None),
            Delivery.status != DeliveryStatus.SENT,
        )
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    return Report(
        counts=counts,
        problems=[
            Problem(status, title or chat, error.removeprefix(HELD), error.startswith(HELD))
            for status, title, chat, error in problems
        ],
    )


async def held_workspaces(session: AsyncSession, *, limit: int) -> list[tuple[Platform, str, str]]:
    """Return (platform, workspace, reason) of up to `limit` workspaces whose rows are held."""
    # Any process sees them here, not only the dispatcher that holds them (a web process).
    rows = await session.execute(
        select(Delivery.platform, Delivery.workspace, func.max(Delivery.last_error))
        .where(
            Delivery.status == DeliveryStatus.PENDING,
            Delivery.last_error.startswith(HELD, autoescape=True),
        )
        .group_by(Delivery.platform, Delivery.workspace)
        .order_by(Delivery.platform, Delivery.workspace)
        .limit(limit)
    )
    return [(platform, workspace, error.removeprefix(HELD)) for platform, workspace, error in rows]


async def pending_count(session: AsyncSession) -> int:
    """Return how many rows still wait to be sent (pending or being sent)."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]))
        )
        or 0
    )


# A provides: re-render and delete what a source posted (helper A's branch, issue 10 item 3).
# These stubs keep the names and signatures that branch defines, so that callers can be
# written against them; the merge replaces them.
async def enqueue_edits(  # A provides
    session: AsyncSession,
    source: str,
    source_id: int,
    render: Callable[[Any], Outgoing | None],
    *,
    now: datetime,
    throttle: timedelta = timedelta(0),
) -> int:
    """Queue an edit of every post of (source, source_id), re-rendered by `render`."""
    raise NotImplementedError("outbox edits come with helper A's branch")


async def enqueue_deletes(  # A provides
    session: AsyncSession, source: str, source_id: int, *, now: datetime
) -> int:
    """Queue the deletion of every post of (source, source_id)."""
    raise NotImplementedError("outbox deletes come with helper A's branch")
