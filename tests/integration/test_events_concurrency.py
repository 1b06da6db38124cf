"""50 members press Going at once for 10 places: exactly 10 go, 40 wait in arrival order.

The database enforces it (the event's row lock and a conditional UPDATE of its places), on
SQLite and PostgreSQL alike; one member is one answer whichever platform they press from.
"""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import select

from councilbot.db.models import Event, Rsvp, RsvpStatus
from tests.conftest import Bot

MEMBERS = 50
PLACES = 10


async def test_fifty_going_at_once_for_ten_places(bot: Bot) -> None:
    await bot(f'/newevent "Open day" 2026-12-03 10:00-12:00 cap {PLACES} --yes')
    replies = await asyncio.gather(*(bot(f"m{n}: /rsvp E1") for n in range(MEMBERS)))
    going = [r for r in replies if r.startswith("You are going")]
    waiting = [int(m[1]) for r in replies if (m := re.search(r"number (\d+) on the waitlist", r))]
    assert len(going) == PLACES
    assert sorted(waiting) == list(range(1, MEMBERS - PLACES + 1))  # each position once
    async with bot.app.sessionmaker() as session:
        rows = list(await session.scalars(select(Rsvp).order_by(Rsvp.turn)))
        event = await session.get(Event, 1)
    assert event is not None and event.taken == PLACES and event.turns == MEMBERS
    assert [r.turn for r in rows] == list(range(1, MEMBERS + 1))
    # The first ten to arrive go; the others wait in the order they arrived.
    assert [r.status for r in rows] == [RsvpStatus.GOING] * PLACES + [RsvpStatus.WAITING] * (
        MEMBERS - PLACES
    )
    told = {f"m{n}": replies[n] for n in range(MEMBERS)}
    for place, row in enumerate(rows[PLACES:], 1):
        assert f"number {place} on the waitlist" in told[row.member.display_name]


async def test_one_member_pressing_going_twice_at_once_is_one_answer(bot: Bot) -> None:
    await bot('/newevent "Open day" 2026-12-03 10:00-12:00 cap 1 --yes')
    replies = await asyncio.gather(*(bot("alice: /rsvp E1") for _ in range(5)))
    assert sum(r.startswith("You are going") for r in replies) == 1
    assert sum(r.startswith("Already noted.") for r in replies) == 4
    async with bot.app.sessionmaker() as session:
        assert len(list(await session.scalars(select(Rsvp)))) == 1
