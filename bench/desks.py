"""Measure /book on one contended facility: bookings per second and latency, no platform.

    .venv/bin/python -m bench.desks [--attempts 2000] [--concurrency 50] [--database-url URL]

Many members (each a new one: the weekly limit never refuses them) book, `--concurrency`
at a time, through the real router, a random open day of the next fortnight and a random
slot (am, pm or day) at one facility (cork-rubicon, 5 desks): the first ones get desks,
then the facility fills and the rest are refused with the nearest free slot offered.
Reports attempts per second, bookings per second while desks were left (bookings made
over the time until the last one), the latency of booked and refused attempts
(p50/p99), and checks that no half-day of a desk was booked twice. On PostgreSQL the
given database's tables are emptied first.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import tempfile
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, text

from councilbot.app import build_app
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform
from councilbot.db.base import Base
from councilbot.db.models import Booking, BookingSlot, BookingStatus
from councilbot.db.session import create_engine, create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.services.desks import seed_facilities
from councilbot.settings import DEFAULT_CONFIG_DIR, Settings

FACILITY = "cork-rubicon"


def percentile(values: list[float], share: float) -> float:
    """Return the value below which `share` of the values fall (nearest rank)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def main(attempts: int, concurrency: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = create_engine(url)
        await upgrade(engine)
        if engine.dialect.name == "postgresql":
            tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
            async with engine.begin() as conn:
                await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
        now = datetime.now(UTC)
        seed = read_seed_file(DEFAULT_CONFIG_DIR / "councils.yaml")
        async with create_sessionmaker(engine)() as session, session.begin():
            await seed_councils(session, seed, now=now)
            await seed_facilities(session, seed, now=now)
        app = await build_app(Settings(database_url=url), engine=engine)
        today = now.astimezone(ZoneInfo("Europe/Dublin")).date()
        days = [
            day for day in (today + timedelta(days=n) for n in range(1, 15)) if day.weekday() < 5
        ]
        rng = random.Random(12)
        lines = [
            f"/book {FACILITY} {rng.choice(days).isoformat()} {rng.choice(['am', 'pm', 'day'])}"
            for _ in range(attempts)
        ]
        gate = asyncio.Semaphore(concurrency)
        booked: list[float] = []
        refused: list[float] = []
        last_booked = [0.0]  # when the last booking was made, since the start

        async def attempt(number: int, line: str) -> None:
            name, _, args = line[1:].partition(" ")
            chat = Chat(platform=Platform.CONSOLE, chat_id=f"dm:m{number}", kind=ChatKind.PRIVATE)
            sender = Identity(
                platform=Platform.CONSOLE, user_id=f"m{number}", username=f"m{number}"
            )
            command = Command(name=name, args=args, sender=sender, chat=chat, received_at=now)
            async with gate:
                started = time.perf_counter()
                reply = await app.router.handle(command)
                seconds = time.perf_counter() - started
            if reply.text.startswith("✅"):
                booked.append(seconds)
                last_booked[0] = time.perf_counter() - wall
            else:
                refused.append(seconds)

        wall = time.perf_counter()
        await asyncio.gather(*(attempt(n, line) for n, line in enumerate(lines)))
        wall = time.perf_counter() - wall
        async with app.sessionmaker() as session:
            live = await session.scalar(
                select(func.count())
                .select_from(Booking)
                .where(Booking.status == BookingStatus.BOOKED)
            )
            halves = await session.scalar(select(func.count()).select_from(BookingSlot))
            distinct = await session.scalar(
                select(func.count()).select_from(
                    select(BookingSlot.desk_id, BookingSlot.day, BookingSlot.half)
                    .distinct()
                    .subquery()
                )
            )
        await app.aclose()
        everything = booked + refused
        print(
            f"database: {engine.dialect.name}; {attempts} attempts at {FACILITY} (5 desks, "
            f"{len(days)} open days), {concurrency} at a time"
        )
        print(
            f"{attempts / wall:8.0f} attempts/s over {wall:.1f} s: {len(booked)} booked, "
            f"{len(refused)} refused with an alternative"
        )
        print(
            f"{len(booked) / last_booked[0]:8.0f} bookings/s while desks were left (the "
            f"{len(booked)} bookings took {last_booked[0]:.1f} s)"
        )
        for label, values in (("booked", booked), ("refused", refused), ("all", everything)):
            print(
                f"  {label:8} p50 {percentile(values, 0.5) * 1e3:7.1f} ms   "
                f"p99 {percentile(values, 0.99) * 1e3:7.1f} ms"
            )
        assert live == len(booked) and halves == distinct, "a half-day was booked twice"
        print(f"no double booking: {halves} half-days held by {live} bookings, each once")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--attempts", type=int, default=2000, help="bookings attempted")
    parser.add_argument("--concurrency", type=int, default=50, help="attempts in flight at once")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    options = parser.parse_args()
    asyncio.run(main(options.attempts, options.concurrency, options.database_url))
