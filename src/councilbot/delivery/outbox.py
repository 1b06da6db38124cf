"""The persistent outbox: enqueue inside the caller's transaction, claim, record outcomes.

Services enqueue in their own transaction, so a committed announcement always has
its deliveries and a rolled-back one has none. Dispatchers claim due rows with one
atomic `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING`: on
PostgreSQL several dispatchers can share the table without sending a row twice;
on SQLite the lock clause disappears but the single statement is still atomic,
because SQLite has one writer at a time.

What was posted can be changed afterwards: `enqueue_edits` re-renders every post of a
source (a post not sent yet simply gets the new payload; a sent one gets an edit row, at
most one waiting per post, due no sooner than a throttle after the post's previous edit) and
`enqueue_deletes` deletes them (a post not sent yet is cancelled). Edits and deletions are
rows like sends: claimed, paced, retried and leased the same way, and sent once their post
is. A row rewritten while a dispatcher sends it stays claimed; that send's outcome puts it
back in the queue, so that the newer text follows the older one and never races it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    bindparam,
    case,
    exists,
    false,
    func,
    literal,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from councilbot.core.messages import Platform
from councilbot.db.models import (
    Channel,
    Delivery,
    DeliveryOperation,
    DeliveryStatus,
    Subscription,
)
from councilbot.db.session import upsert
from councilbot.delivery.targets import Outgoing
from councilbot.delivery.wakeup import OUTBOX_CHANNEL, notify

OUTBOX_CHANGED = "outbox_changed"  # session.info flag: wake the dispatcher after commit
# Marks the last error of a row waiting for its workspace's credentials to work again; the
# rest is the platform's reason, and readers add their own (translated) explanation.
HELD = "held: "
# Mark the last error of an edit or deletion the platform does not allow: TOO_OLD when the
# dispatcher knew it without asking (a Telegram message more than 48 hours old cannot be
# deleted), NOT_ALLOWED when the platform said so.
TOO_OLD = "too old: "
NOT_ALLOWED = "not allowed: "
_DELIVERIES = Delivery.__table__
# A post whose fate is settled: its edits and deletions may be claimed (and are cancelled
# if it never went out).
_SETTLED = (
    DeliveryStatus.SENT,
    DeliveryStatus.FAILED,
    DeliveryStatus.DEAD,
    DeliveryStatus.CANCELLED,
)
_Post = aliased(Delivery, name="post")
_LIVE = (DeliveryStatus.PENDING, DeliveryStatus.SENDING, DeliveryStatus.SENT)


def _payload(message: Outgoing) -> dict[str, Any]:
    """Return what an outbox row keeps of a message besides its address.

    A file goes as its reference (its bytes are in the files table): see files.py.
    """
    return message.model_dump(
        mode="json",
        include={"text", "buttons", "file", "poll", "image_url", "view"},
        exclude_none=True,
    )


@dataclass(frozen=True, slots=True)
class Envelope:
    """A message to enqueue, with what it belongs to."""

    key: str  # idempotency: the same key is enqueued once
    message: Outgoing
    source: str
    source_id: int | None = None
    channel_id: int | None = None
    member_id: int | None = None
    due_at: datetime | None = None  # not sent before (None: at once)


@dataclass(frozen=True, slots=True)
class Claimed:
    """A row claimed for sending (or, for an edit or a deletion, for changing its post)."""

    id: int
    attempts: int  # with `worker`, names this claim: outcomes are written only while it holds
    worker: str
    message: Outgoing
    channel_id: int | None
    member_id: int | None
    operation: DeliveryOperation = DeliveryOperation.SEND
    # An edit's or a deletion's post: its platform message id, when it was sent, and whether
    # it was (False: it failed, died or was cancelled, so there is nothing to change).
    message_id: str | None = None
    posted_at: datetime | None = None
    post_sent: bool = True


@dataclass(frozen=True, slots=True)
class Posted:
    """A post of a source, as `enqueue_edits` hands it to the renderer."""

    id: int
    message: Outgoing  # its chat and its content as last queued (a waiting edit's, if any)
    status: DeliveryStatus  # pending, sending or sent
    channel_id: int | None
    member_id: int | None
    sent_at: datetime | None


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
            "payload": _payload(e.message),
            "status": DeliveryStatus.PENDING,
            "attempts": 0,
            "next_attempt_at": e.due_at or now,
            "created_at": now,
        }
        for e in envelopes
    ]
    if not rows:
        return 0
    statement = (
        upsert(session, _DELIVERIES)
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


Render = Callable[[Posted], Outgoing | None]


def _posts_of(source: str, source_id: int, *statuses: DeliveryStatus) -> ColumnElement[bool]:
    return (
        (Delivery.source == source)
        & (Delivery.source_id == source_id)
        & (Delivery.operation == DeliveryOperation.SEND)
        & Delivery.status.in_(statuses)
    )


def _changes_of(source: str, source_id: int, *operations: DeliveryOperation) -> ColumnElement[bool]:
    """Match a source's edits or deletions (which carry their post's source)."""
    return (
        (Delivery.source == source)
        & (Delivery.source_id == source_id)
        & Delivery.operation.in_(operations)
    )


def _operation_row(
    post: Any,
    operation: DeliveryOperation,
    payload: dict[str, Any],
    *,
    now: datetime,
    due: datetime | None = None,
) -> dict[str, Any]:
    """Build the outbox row of an edit or a deletion of `post` (one per post and operation)."""
    return {
        "key": f"{operation.value}:{post.id}",
        "source": post.source,
        "source_id": post.source_id,
        "platform": post.platform,
        "workspace": post.workspace,
        "chat_id": post.chat_id,
        "chat_kind": post.chat_kind,
        "channel_id": post.channel_id,
        "member_id": post.member_id,
        "payload": payload,
        "status": DeliveryStatus.PENDING,
        "attempts": 0,
        "next_attempt_at": due or now,
        "created_at": now,
        "operation": operation,
        "post_id": post.id,
    }


async def enqueue_edits(
    session: AsyncSession,
    source: str,
    source_id: int,
    render: Render,
    *,
    now: datetime,
    throttle: timedelta = timedelta(0),
) -> int:
    """Re-render every post of a source; return how many posts will change.

    `render(posted)` returns a post's new message (only its content is used: the post keeps
    its chat) or None to leave that post. A post not sent yet gets the new payload in place;
    a sent one (or one being sent) gets an edit, at most one waiting per post: a newer edit
    replaces a waiting one and keeps its place, and with `throttle` an edit is due no sooner
    than `throttle` after the post's previous edit. A post whose content would not change,
    that failed, or that is being deleted is left alone.

    Call it with the rendered thing locked (its row `FOR UPDATE`), so that concurrent edits
    of one source serialise and the last to commit renders the latest state.
    """
    posts = (
        await session.execute(
            select(_DELIVERIES).where(_posts_of(source, source_id, *_LIVE)).order_by(Delivery.id)
        )
    ).all()
    if not posts:
        return 0
    ops = await session.execute(
        select(
            Delivery.post_id,
            Delivery.operation,
            Delivery.status,
            Delivery.payload,
            Delivery.sent_at,
        ).where(_changes_of(source, source_id, DeliveryOperation.EDIT, DeliveryOperation.DELETE))
    )
    deleted: set[int] = set()
    edits: dict[int, Any] = {}
    for op in ops:
        if op.operation is DeliveryOperation.DELETE:
            deleted.add(op.post_id)
        elif op.operation is DeliveryOperation.EDIT:
            edits[op.post_id] = op
    replace: list[tuple[Any, dict[str, Any]]] = []  # posts not sent yet: new payload in place
    queue: list[dict[str, Any]] = []  # sent posts: an edit each
    for post in posts:
        edit = edits.get(post.id)
        if post.id in deleted or (edit is not None and edit.status is DeliveryStatus.DEAD):
            continue  # being deleted, or its chat is gone
        current = post.payload
        if edit is not None:
            # A failed or cancelled edit says nothing sure about what the chat shows.
            current = edit.payload if edit.status in _LIVE else None
        message = Outgoing(
            platform=post.platform,
            workspace=post.workspace,
            chat_id=post.chat_id,
            chat_kind=post.chat_kind,
            **(current or post.payload),
        )
        posted = Posted(
            id=post.id,
            message=message,
            status=post.status,
            channel_id=post.channel_id,
            member_id=post.member_id,
            sent_at=post.sent_at,
        )
        rendered = render(posted)
        if rendered is None:
            continue
        payload = _payload(rendered)
        if payload == current:
            continue
        if post.status is DeliveryStatus.PENDING:
            replace.append((post, payload))
            continue
        due = now
        if edit is not None and edit.sent_at is not None:
            due = max(now, edit.sent_at + throttle)  # after the previous edit landed
        queue.append(_operation_row(post, DeliveryOperation.EDIT, payload, now=now, due=due))
    changed = list(queue)
    if replace:
        await session.execute(
            update(_DELIVERIES)
            .where(
                _DELIVERIES.c.id == bindparam("row_id"),
                _DELIVERIES.c.status == DeliveryStatus.PENDING,
            )
            .values(payload=bindparam("new_payload")),
            [{"row_id": post.id, "new_payload": payload} for post, payload in replace],
        )
        # A dispatcher may have claimed one between our read and our write (on PostgreSQL):
        # that post goes out as it was, and gets an edit. Once written, the row is ours.
        still = set(
            await session.scalars(
                select(Delivery.id).where(_posts_of(source, source_id, DeliveryStatus.PENDING))
            )
        )
        changed += [
            _operation_row(post, DeliveryOperation.EDIT, payload, now=now)
            for post, payload in replace
            if post.id not in still
        ]
    if changed:
        await _upsert_edits(session, changed, busy_due=now + throttle)
    if replace or changed:
        session.info[OUTBOX_CHANGED] = True
        await notify(session, OUTBOX_CHANNEL)
    return len(replace) + len(queue)


async def _upsert_edits(
    session: AsyncSession, rows: list[dict[str, Any]], *, busy_due: datetime
) -> None:
    """Insert edit rows, or rewrite a post's existing edit row (its key is the post's)."""
    insert = upsert(session, _DELIVERIES)
    old = _DELIVERIES.c  # in ON CONFLICT DO UPDATE, the row as it was
    sending = old.status == DeliveryStatus.SENDING
    statement = insert.on_conflict_do_update(
        index_elements=["key"],
        set_={
            "payload": insert.excluded.payload,
            # One being sent stays claimed: its outcome puts it back with the new payload.
            "status": case(
                (sending, literal(DeliveryStatus.SENDING.value)),
                else_=literal(DeliveryStatus.PENDING.value),
            ),
            "rewritten": case((sending, true()), else_=false()),
            "attempts": case((sending, old.attempts), else_=0),
            # A waiting edit keeps its place; one being sent is followed after the throttle.
            "next_attempt_at": case(
                (old.status == DeliveryStatus.PENDING, old.next_attempt_at),
                (sending, literal(busy_due, old.next_attempt_at.type)),
                else_=insert.excluded.next_attempt_at,
            ),
            "last_error": None,
        },
    )
    for start in range(0, len(rows), 500):
        await session.execute(statement, rows[start : start + 500])


async def enqueue_deletes(
    session: AsyncSession, source: str, source_id: int, *, now: datetime
) -> int:
    """Delete every post of a source; return how many posts that concerns.

    A post not sent yet is cancelled (never sent); a sent one (or one being sent) gets a
    deletion, and its edits not sent yet are cancelled.
    """
    withdrawn = (
        await session.execute(
            update(Delivery)
            .where(_posts_of(source, source_id, DeliveryStatus.PENDING))
            .values(status=DeliveryStatus.CANCELLED, last_error=None)
            .returning(Delivery.id)
            .execution_options(synchronize_session=False)
        )
    ).all()
    posts = (
        await session.execute(
            select(_DELIVERIES)
            .where(_posts_of(source, source_id, DeliveryStatus.SENDING, DeliveryStatus.SENT))
            .order_by(Delivery.id)
        )
    ).all()
    await session.execute(
        update(Delivery)
        .where(
            _changes_of(source, source_id, DeliveryOperation.EDIT),
            Delivery.status.in_([DeliveryStatus.PENDING, DeliveryStatus.SENDING]),
        )
        .values(status=DeliveryStatus.CANCELLED, rewritten=False, lease_until=None)
        .execution_options(synchronize_session=False)
    )
    queued = 0
    if posts:
        statement = (
            upsert(session, _DELIVERIES)
            .on_conflict_do_nothing(index_elements=["key"])
            .returning(_DELIVERIES.c.id)
        )
        rows = [
            _operation_row(post, DeliveryOperation.DELETE, {"text": ""}, now=now) for post in posts
        ]
        for start in range(0, len(rows), 500):
            queued += len((await session.execute(statement, rows[start : start + 500])).all())
    if withdrawn or queued:
        session.info[OUTBOX_CHANGED] = True
        await notify(session, OUTBOX_CHANNEL)
    return len(withdrawn) + queued


def is_due(now: datetime) -> ColumnElement[bool]:
    """Match the rows a dispatcher may claim now: pending and due, or with an expired lease.

    An edit or a deletion waits until its post is sent (or will never be).
    """
    post_settled = exists().where(_Post.id == Delivery.post_id, _Post.status.in_(_SETTLED))
    return or_(
        (Delivery.status == DeliveryStatus.PENDING) & (Delivery.next_attempt_at <= now),
        (Delivery.status == DeliveryStatus.SENDING) & (Delivery.lease_until < now),
    ) & (Delivery.post_id.is_(None) | post_settled)


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
            Delivery.operation,
            Delivery.post_id,
        )
        .execution_options(synchronize_session=False)
    )
    rows = (await session.execute(statement)).all()
    post_ids = [row.post_id for row in rows if row.post_id is not None]
    posts = {}
    if post_ids:  # an edit or a deletion goes to its post's message, where it was sent
        found = await session.execute(
            select(
                Delivery.id,
                Delivery.status,
                Delivery.workspace,
                Delivery.chat_id,
                Delivery.platform_message_id,
                Delivery.sent_at,
            ).where(Delivery.id.in_(post_ids))
        )
        posts = {post.id: post for post in found}
    claimed = []
    for row in rows:
        post = posts.get(row.post_id)
        claimed.append(
            Claimed(
                id=row.id,
                attempts=row.attempts,
                worker=worker,
                message=Outgoing(
                    platform=row.platform,
                    workspace=post.workspace if post else row.workspace,
                    chat_id=post.chat_id if post else row.chat_id,
                    chat_kind=row.chat_kind,
                    **row.payload,
                ),
                channel_id=row.channel_id,
                member_id=row.member_id,
                operation=row.operation,
                message_id=post.platform_message_id if post else None,
                posted_at=post.sent_at if post else None,
                post_sent=post is None or post.status is DeliveryStatus.SENT,
            )
        )
    return sorted(claimed, key=lambda c: c.id)


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
        .values(lease_until=None, rewritten=False, **values)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount == 1


def _unless_rewritten(value: Any, rewritten: Any) -> Any:
    """Write `value`, or `rewritten` to a row whose payload changed while it was being sent."""
    # Such a row goes back to the queue with no attempt used: its newer payload is next.
    return case((Delivery.rewritten, rewritten), else_=value)


# _held() for Core statements, so that a list of claims runs as one executemany.
_HELD_BY_PARAMS = (
    _DELIVERIES.c.id == bindparam("row_id"),
    _DELIVERIES.c.status == DeliveryStatus.SENDING,
    _DELIVERIES.c.claimed_by == bindparam("worker"),
    _DELIVERIES.c.attempts == bindparam("attempt"),
)
# A row rewritten while it was sent (an edit overtaken by a newer one) goes back to the queue
# with its new payload, due when enqueue_edits said; sent_at still tells when its edit landed.
_MARK_SENT = (
    update(_DELIVERIES)
    .where(*_HELD_BY_PARAMS)
    .values(
        status=case(
            (_DELIVERIES.c.rewritten, literal(DeliveryStatus.PENDING.value)),
            else_=literal(DeliveryStatus.SENT.value),
        ),
        attempts=case((_DELIVERIES.c.rewritten, 0), else_=_DELIVERIES.c.attempts),
        rewritten=False,
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
        attempts=case((_DELIVERIES.c.rewritten, 0), else_=_DELIVERIES.c.attempts - 1),
        rewritten=False,
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
    attempts = Delivery.attempts if count_attempt else Delivery.attempts - 1
    values["attempts"] = _unless_rewritten(attempts, 0)  # a new payload: its tries are new
    return await _settle(session, claimed, **values)


async def mark_failed(session: AsyncSession, claimed: Claimed, *, error: str) -> None:
    """Give up on a row (too many attempts, or a message the platform refuses); keep its chat.

    A row rewritten meanwhile is tried again with its new payload, which may be accepted.
    """
    await _settle(
        session,
        claimed,
        status=_unless_rewritten(
            literal(DeliveryStatus.FAILED.value), literal(DeliveryStatus.PENDING.value)
        ),
        attempts=_unless_rewritten(Delivery.attempts, 0),
        last_error=error[:500],
    )


_MARK_CANCELLED = (
    update(_DELIVERIES)
    .where(*_HELD_BY_PARAMS)
    .values(status=DeliveryStatus.CANCELLED, lease_until=None, rewritten=False)
)


async def mark_cancelled(session: AsyncSession, claimed: Sequence[Claimed]) -> None:
    """Cancel claimed edits and deletions whose post never went out: there is nothing to change."""
    if claimed:
        await session.execute(
            _MARK_CANCELLED,
            [{"row_id": row.id, "worker": row.worker, "attempt": row.attempts} for row in claimed],
        )


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
    """A delivery (or an edit or deletion) that has not gone through, and the reason."""

    status: DeliveryStatus
    chat: str
    error: str
    held: bool  # waiting until the platform accepts the workspace's credentials again
    operation: DeliveryOperation = DeliveryOperation.SEND
    platform: Platform | None = None
    # The platform does not allow this edit or deletion: "too_old" (known without asking:
    # a Telegram message older than 48 hours) or "not_allowed" (the platform said so).
    refusal: str | None = None


@dataclass(frozen=True, slots=True)
class Report:
    """How the deliveries of one source are doing, and their edits and deletions."""

    counts: dict[DeliveryStatus, int]  # the posts (cancelled: deleted before they went out)
    problems: list[Problem]
    edits: dict[DeliveryStatus, int] = field(default_factory=dict)  # the last edit of each post
    deletes: dict[DeliveryStatus, int] = field(default_factory=dict)
    # Edits and deletions each platform did not allow (a subset of the failed ones).
    refused: dict[tuple[DeliveryOperation, Platform], int] = field(default_factory=dict)

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


def _refusal(error: str) -> tuple[str | None, str]:
    """Read an error's refusal marker: return (refusal, the platform's reason)."""
    for marker, refusal in ((TOO_OLD, "too_old"), (NOT_ALLOWED, "not_allowed")):
        if error.startswith(marker):
            return refusal, error.removeprefix(marker)
    return None, error


async def report(session: AsyncSession, source: str, source_id: int, *, limit: int = 5) -> Report:
    """Count a source's deliveries, edits and deletions by status and list the latest problems."""
    of_source = (Delivery.source == source) & (Delivery.source_id == source_id)
    counts: dict[DeliveryOperation, dict[DeliveryStatus, int]] = {
        op: {} for op in DeliveryOperation
    }
    rows = await session.execute(
        select(Delivery.operation, Delivery.status, func.count())
        .where(of_source)
        .group_by(Delivery.operation, Delivery.status)
    )
    for operation, status, n in rows.tuples():
        counts[operation][status] = n
    refused = await session.execute(
        select(Delivery.operation, Delivery.platform, func.count())
        .where(
            of_source,
            Delivery.status == DeliveryStatus.FAILED,
            Delivery.last_error.startswith(TOO_OLD, autoescape=True)
            | Delivery.last_error.startswith(NOT_ALLOWED, autoescape=True),
        )
        .group_by(Delivery.operation, Delivery.platform)
    )
    problems = await session.execute(
        select(
            Delivery.status,
            Channel.title,
            Delivery.chat_id,
            Delivery.last_error,
            Delivery.operation,
            Delivery.platform,
        )
        .outerjoin(Channel, Channel.id == Delivery.channel_id)
        .where(
            of_source,
            Delivery.last_error.is_not(None),
            Delivery.status.not_in([DeliveryStatus.SENT, DeliveryStatus.CANCELLED]),
        )
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    listed = []
    for status, title, chat, error, operation, platform in problems:
        refusal, reason = _refusal(error)
        listed.append(
            Problem(
                status,
                title or chat,
                reason.removeprefix(HELD),
                reason.startswith(HELD),
                operation,
                platform,
                refusal,
            )
        )
    return Report(
        counts=counts[DeliveryOperation.SEND],
        problems=listed,
        edits=counts[DeliveryOperation.EDIT],
        deletes=counts[DeliveryOperation.DELETE],
        refused={(operation, platform): n for operation, platform, n in refused.tuples()},
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


async def due_count(session: AsyncSession, *, now: datetime) -> int:
    """Return how many rows a dispatcher would send now or is sending."""
    return (
        await session.scalar(
            select(func.count())
            .select_from(Delivery)
            .where(is_due(now) | (Delivery.status == DeliveryStatus.SENDING))
        )
        or 0
    )


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
