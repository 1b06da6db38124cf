"""Hot desks on Telegram: Book buttons under /desks, Cancel under /mybookings, and the
morning reminder's Check in button, sent through the outbox by the real Telegram target."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.app import App
from councilbot.db.models import Booking, BookingStatus
from councilbot.db.session import create_sessionmaker
from councilbot.services.councils import read_seed_file
from councilbot.services.desks import seed_facilities
from tests.adapters.telegram import test_telegram_announce as announce_tests
from tests.adapters.telegram.test_telegram_adapter import USER, callback, say, sent_to, until
from tests.adapters.telegram.test_telegram_announce import keyboard, private
from tests.conftest import SEED_FILE, START, Clock
from tests.fakes.telegram_api import FakeTelegramAPI

api = announce_tests.api  # the fake Bot API, and the app delivering to it
telegram_app = announce_tests.telegram_app


@pytest.fixture(autouse=True)
async def facilities(seeded: AsyncEngine) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        await seed_facilities(session, read_seed_file(SEED_FILE), now=START)


async def statuses(app: App) -> list[BookingStatus]:
    async with app.sessionmaker() as session:
        return list(await session.scalars(select(Booking.status).order_by(Booking.id)))


async def press(api: FakeTelegramAPI, data: str, text: str, message_id: int) -> str:
    """Press a button of a bot message in Ana's chat; return the text it was edited to."""
    before = len(api.calls("editMessageText"))
    api.push_update(callback(data, message_id=message_id, text=text))
    edits = await until(lambda: api.calls("editMessageText")[before:])
    return str(edits[0].params["text"])


async def test_book_cancel_and_check_in_with_buttons(
    telegram_app: App, api: FakeTelegramAPI, clock: Clock
) -> None:
    async with asyncio.timeout(30):
        listing = await say(api, private("/desks cork-rubicon tomorrow", int(USER), "en"), USER)
        buttons = keyboard(listing)
        assert list(buttons)[:2] == ["Book R1 (whole day)", "Book R2 (whole day)"]
        booked = await press(api, buttons["Book R2 (whole day)"], listing.params["text"], 7)
        assert booked.startswith(
            "✅ Booked B1: desk R2 at MTU Rubicon Centre, Wed 2 Dec 2026, whole day."
        )
        mine = await say(api, private("/mybookings", int(USER), "en"), USER)
        assert list(keyboard(mine)) == ["Cancel B1"]
        cancelled = await press(api, keyboard(mine)["Cancel B1"], mine.params["text"], 8)
        assert cancelled.startswith("Cancelled B1: desk R2 at MTU Rubicon Centre")
        await say(api, private("/book cork-rubicon/R3 tomorrow am", int(USER), "en"), USER)
        clock.now = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
        assert await telegram_app.scheduler.fire_due() == 1
        before = len(sent_to(api, USER))
        await telegram_app.dispatcher.run_until_idle()
        [reminder] = sent_to(api, USER)[before:]
        assert reminder.params["text"].startswith("🪑 Today: desk R3 at MTU Rubicon Centre")
        assert list(keyboard(reminder)) == ["Check in", "Cancel"]
        checked = await press(api, keyboard(reminder)["Check in"], reminder.params["text"], 9)
    assert checked.startswith("✅ Checked in to desk R3 at MTU Rubicon Centre")
    assert await statuses(telegram_app) == [BookingStatus.CANCELLED, BookingStatus.CHECKED_IN]


async def test_a_range_cancel_asks_with_buttons_and_keep_keeps(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(30):
        for day in ("2026-12-02", "2026-12-03"):
            await say(api, private(f"/book cork-rubicon {day}", int(USER), "en"), USER)
        line = "/cancelbooking --from 2026-12-01 --to 2026-12-31"
        asked = await say(api, private(line, int(USER), "en"), USER)
        assert asked.params["text"].startswith("Cancel these 2 bookings from Tue 1 Dec 2026")
        buttons = keyboard(asked)
        assert list(buttons) == ["Cancel 2 bookings", "Keep them"]
        kept = await press(api, buttons["Keep them"], asked.params["text"], 7)
        assert "B1 · desk R1" in kept
        assert await statuses(telegram_app) == [BookingStatus.BOOKED, BookingStatus.BOOKED]
        asked = await say(api, private(line, int(USER), "en"), USER)
        done = await press(api, keyboard(asked)["Cancel 2 bookings"], asked.params["text"], 8)
    assert done.startswith("Cancelled 2 bookings from Tue 1 Dec 2026")
    assert await statuses(telegram_app) == [BookingStatus.CANCELLED, BookingStatus.CANCELLED]
