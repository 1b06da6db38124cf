"""A dispatcher that stops gives back the rows it claimed but did not send, for others at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.db.models import Delivery, DeliveryStatus
from councilbot.db.session import create_sessionmaker
from councilbot.delivery import outbox
from councilbot.delivery.dispatcher import DispatchConfig
from tests.delivery.test_dispatcher import dispatcher, enqueue, statuses
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOTAL = 40


async def rows(engine: AsyncEngine) -> list[Delivery]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


async def assert_given_back(engine: AsyncEngine, *, sent: int, total: int) -> None:
    """Assert `sent` rows are sent and the rest is due now, unclaimed, its attempt not counted."""
    assert await statuses(engine) == {
        DeliveryStatus.SENT: sent,
        DeliveryStatus.PENDING: total - sent,
    }
    now = datetime.now(UTC)
    for row in await rows(engine):
        assert row.lease_until is None
        if row.status is DeliveryStatus.PENDING:
            assert (row.attempts, row.claimed_by) == (0, None)
            assert row.next_attempt_at.replace(tzinfo=UTC) <= now


async def test_stop_gives_back_unsent_rows_and_finishes_the_sends_in_flight(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    telegram_api.send_delay = (0.1, 0.3)
    await enqueue(engine, TOTAL)
    # 5 a second: the whole batch is claimed at once, most of it waiting for its send slot.
    config = DispatchConfig(poll_interval=0.05, flush_interval=0.02)
    worker = dispatcher(engine, telegram, config, telegram_per_second=5)
    worker.start()
    async with asyncio.timeout(10):
        while len(telegram_api.calls("sendMessage")) < 5:  # noqa: ASYNC110 - the fake counts
            await asyncio.sleep(0.01)
    stopping = asyncio.get_running_loop().time()
    await worker.stop()
    # Waiting for the slots would take the rest of the batch at 5 a second (7 s); the sends
    # in flight take 0.3 s at most. 3 s leaves room for a loaded machine.
    assert asyncio.get_running_loop().time() - stopping < 3

    # Every request that reached the platform was answered and recorded.
    requested = len(telegram_api.calls("sendMessage"))
    assert len(telegram_api.sent) == requested
    await assert_given_back(engine, sent=requested, total=TOTAL)

    # Another dispatcher sends the rest at once, and nothing twice.
    fast = dispatcher(engine, telegram, config, telegram_per_second=1000)
    await asyncio.wait_for(fast.run_until_idle(), 10)
    assert await statuses(engine) == {DeliveryStatus.SENT: TOTAL}
    copies = Counter(str(r.params["text"]) for r in telegram_api.sent)
    assert copies == Counter(f"message {n}" for n in range(TOTAL))


async def test_a_release_after_the_lease_passed_on_changes_nothing(engine: AsyncEngine) -> None:
    await enqueue(engine, 3)
    start = datetime.now(UTC)
    sessionmaker = create_sessionmaker(engine)
    async with sessionmaker() as session, session.begin():
        late = await outbox.claim(
            session, worker="a", limit=3, now=start, lease=timedelta(seconds=1)
        )
    async with sessionmaker() as session, session.begin():
        await outbox.claim(
            session,
            worker="b",
            limit=3,
            now=start + timedelta(seconds=5),  # a's lease is over
            lease=timedelta(seconds=60),
        )
    async with sessionmaker() as session, session.begin():
        await outbox.release(session, late, now=start)
    assert [(r.status, r.claimed_by, r.attempts) for r in await rows(engine)] == [
        (DeliveryStatus.SENDING, "b", 2)
    ] * 3
