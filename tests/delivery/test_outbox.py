"""The outbox's storage rules, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import Channel, Delivery, DeliveryStatus, Member, Subscription
from councilbot.db.session import create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing
from tests.conftest import START


def envelope(n: int, *, chat: str | None = None, kind: ChatKind = ChatKind.GROUP) -> Envelope:
    return Envelope(
        key=f"test:{n}",
        message=Outgoing(
            platform=Platform.TELEGRAM, chat_id=chat or f"-100{n}", chat_kind=kind, text=f"#{n}"
        ),
        source="test",
        source_id=1,
    )


async def rows(engine: AsyncEngine) -> list[Delivery]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


async def test_enqueue_is_idempotent(engine: AsyncEngine) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        assert await outbox.enqueue(session, [envelope(1), envelope(2)], now=START) == 2
    async with create_sessionmaker(engine)() as session, session.begin():
        assert await outbox.enqueue(session, [envelope(2), envelope(3)], now=START) == 1
    assert [r.key for r in await rows(engine)] == ["test:1", "test:2", "test:3"]


async def test_a_rolled_back_transaction_enqueues_nothing(engine: AsyncEngine) -> None:
    with pytest.raises(RuntimeError):
        async with create_sessionmaker(engine)() as session, session.begin():
            await outbox.enqueue(session, [envelope(1)], now=START)
            raise RuntimeError("the command failed after enqueueing")
    assert await rows(engine) == []


async def test_claim_takes_due_rows_once_and_reclaims_expired_leases(engine: AsyncEngine) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session, session.begin():
        await outbox.enqueue(session, [envelope(n) for n in range(5)], now=START)
        await outbox.enqueue(session, [envelope(9)], now=START + timedelta(hours=1))
    lease = timedelta(seconds=30)
    async with maker() as session, session.begin():
        first = await outbox.claim(session, worker="a", limit=3, now=START, lease=lease)
    async with maker() as session, session.begin():
        second = await outbox.claim(session, worker="b", limit=10, now=START, lease=lease)
    assert [c.message.text for c in first] == ["#0", "#1", "#2"]
    assert [c.message.text for c in second] == ["#3", "#4"]  # #9 is not due yet
    assert all(c.attempts == 1 for c in first + second)
    async with maker() as session, session.begin():
        assert await outbox.claim(session, worker="b", limit=10, now=START, lease=lease) == []
    # Worker "a" died: once its lease is over, its rows come back (with #3, #4 of "b").
    async with maker() as session, session.begin():
        await outbox.mark_sent(session, [(c, "m") for c in second], now=START)
        again = await outbox.claim(
            session, worker="c", limit=10, now=START + timedelta(seconds=31), lease=lease
        )
    assert [c.message.text for c in again] == ["#0", "#1", "#2"]
    assert all(c.attempts == 2 for c in again)
    statuses = {r.key: r.status for r in await rows(engine)}
    assert statuses["test:3"] is DeliveryStatus.SENT
    assert statuses["test:9"] is DeliveryStatus.PENDING


async def test_dead_rows_deactivate_their_channel(seeded: AsyncEngine) -> None:
    maker = create_sessionmaker(seeded)
    async with maker() as session, session.begin():
        channel = Channel(
            platform=Platform.TELEGRAM,
            workspace="",
            external_id="-1001",
            council_id=1,
            active=True,
            created_at=START,
            updated_at=START,
        )
        session.add(channel)
        await session.flush()
        item = envelope(1, chat="-1001")
        await outbox.enqueue(
            session,
            [Envelope(item.key, item.message, item.source, source_id=1, channel_id=channel.id)],
            now=START,
        )
    async with maker() as session, session.begin():
        (claimed,) = await outbox.claim(
            session, worker="a", limit=1, now=START, lease=timedelta(seconds=5)
        )
        await outbox.mark_dead(session, claimed, error="Forbidden: bot was kicked")
    async with maker() as session:
        assert (await session.get(Channel, channel.id)).active is False
        report = await outbox.report(session, "test", 1)
    assert report.counts == {DeliveryStatus.DEAD: 1}
    assert report.problems == [
        outbox.Problem(
            DeliveryStatus.DEAD,
            "-1001",
            "Forbidden: bot was kicked",
            held=False,
            platform=Platform.TELEGRAM,
        )
    ]


async def test_retry_waits_and_does_not_count_a_rate_limit(engine: AsyncEngine) -> None:
    maker = create_sessionmaker(engine)
    async with maker() as session, session.begin():
        await outbox.enqueue(session, [envelope(1)], now=START)
    async with maker() as session, session.begin():
        (claimed,) = await outbox.claim(
            session, worker="a", limit=1, now=START, lease=timedelta(seconds=5)
        )
        await outbox.mark_retry(
            session, claimed, at=START + timedelta(seconds=3), error="429", count_attempt=False
        )
    (row,) = await rows(engine)
    assert (row.status, row.attempts, row.last_error) == (DeliveryStatus.PENDING, 0, "429")
    async with maker() as session, session.begin():
        assert await outbox.pending_count(session) == 1
        assert (
            await outbox.claim(
                session, worker="a", limit=1, now=START + timedelta(seconds=2), lease=timedelta(1)
            )
            == []
        )
    async with maker() as session:
        assert await session.scalar(select(func.count()).select_from(Delivery)) == 1


LATE_OUTCOMES = {
    "retry": lambda s, c: outbox.mark_retry(s, c, at=START, error="HTTP 500"),
    "rate limited": lambda s, c: outbox.mark_retry(
        s, c, at=START, error="429", count_attempt=False
    ),
    "failed": lambda s, c: outbox.mark_failed(s, c, error="can't parse entities"),
    "dead": lambda s, c: outbox.mark_dead(s, c, error="bot was kicked"),
    "moved": lambda s, c: outbox.mark_moved(s, c, chat_id="-100999", error="migrated", now=START),
    "sent": lambda s, c: outbox.mark_sent(s, [(c, "sent-by-a")], now=START),
}


@pytest.mark.parametrize("outcome", LATE_OUTCOMES)
async def test_a_late_outcome_of_a_lost_claim_changes_nothing(
    seeded: AsyncEngine, outcome: str
) -> None:
    maker = create_sessionmaker(seeded)
    async with maker() as session, session.begin():
        member = Member(display_name="Ana", created_at=START)
        channel = Channel(
            platform=Platform.TELEGRAM,
            external_id="-1001",
            council_id=1,
            created_at=START,
            updated_at=START,
        )
        session.add_all([member, channel])
        await session.flush()
        session.add(
            Subscription(member_id=member.id, topic="announcements", council_id=1, created_at=START)
        )
        item = envelope(1, chat="-1001")
        await outbox.enqueue(
            session,
            [Envelope(item.key, item.message, "test", 1, channel.id, member.id)],
            now=START,
        )
    lease = timedelta(seconds=30)
    async with maker() as session, session.begin():
        (first,) = await outbox.claim(session, worker="a", limit=1, now=START, lease=lease)
    later = START + timedelta(seconds=31)  # a's lease ran out: b takes the row
    async with maker() as session, session.begin():
        (second,) = await outbox.claim(session, worker="b", limit=1, now=later, lease=lease)

    async with maker() as session, session.begin():
        await LATE_OUTCOMES[outcome](session, first)  # a answers at last

    (row,) = await rows(seeded)
    assert (row.status, row.claimed_by, row.attempts) == (DeliveryStatus.SENDING, "b", 2)
    assert (row.chat_id, row.last_error, row.platform_message_id) == ("-1001", None, None)
    async with maker() as session, session.begin():
        assert await outbox.claim(session, worker="c", limit=1, now=later, lease=lease) == []
        await outbox.mark_sent(session, [(second, "sent-by-b")], now=later)
        assert (await session.get(Channel, channel.id)).active is True
        assert (await session.scalar(select(Subscription))).active is True
    (row,) = await rows(seeded)
    assert (row.status, row.platform_message_id) == (DeliveryStatus.SENT, "sent-by-b")


async def test_an_outcome_of_a_claim_that_still_holds_is_recorded(engine: AsyncEngine) -> None:
    """A lease that ran out with nobody taking the row over does not lose the outcome."""
    maker = create_sessionmaker(engine)
    async with maker() as session, session.begin():
        await outbox.enqueue(session, [envelope(1)], now=START)
        (claimed,) = await outbox.claim(
            session, worker="a", limit=1, now=START, lease=timedelta(seconds=1)
        )
    async with maker() as session, session.begin():
        await outbox.mark_failed(session, claimed, error="message is too long")
    (row,) = await rows(engine)
    assert (row.status, row.last_error) == (DeliveryStatus.FAILED, "message is too long")
