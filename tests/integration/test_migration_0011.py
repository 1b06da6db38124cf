"""Migration 0011 (events, their series and councils, RSVPs) keeps what 0010 held, up and down."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.session import create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from tests.conftest import SEED_FILE, START
from tests.integration.test_migrations import upgrade_or_downgrade


async def announcements(engine: AsyncEngine) -> list[tuple[int, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(text("SELECT id, text FROM announcements ORDER BY id"))
        return [tuple(row) for row in rows]


async def test_0011_adds_events_beside_the_rows_0010_holds(engine: AsyncEngine) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0010")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        await connection.execute(
            text(
                "INSERT INTO announcements (id, text, all_councils, status, created_at) "
                "VALUES (1, 'News', false, 'sent', :at)"
            ),
            {"at": START},
        )
        await connection.execute(
            text("INSERT INTO members (id, display_name, created_at) VALUES (1, 'Ana', :at)"),
            {"at": START},
        )
    await upgrade(engine, "0011")
    try:
        assert await announcements(engine) == [(1, "News")]
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO events (id, council_id, all_councils, title, description, venue, "
                    "start_at, end_at, planned_start_at, timezone, capacity, taken, turns, "
                    "guests_allowed, approval, "
                    "status, organiser_id, sequence, full_told, created_at, updated_at) "
                    "SELECT 1, id, false, 'Lean', '', '', :at, :at, :at, 'Europe/Dublin', 1, 1, 1, 1, "
                    "false, 'scheduled', 1, 0, false, :at, :at FROM councils WHERE slug = 'cork'"
                ),
                {"at": START},
            )
            await connection.execute(
                text(
                    "INSERT INTO rsvps (event_id, member_id, status, guests, turn, created_at, "
                    "updated_at) VALUES (1, 1, 'going', 0, 1, :at, :at)"
                ),
                {"at": START},
            )
            # One answer a member: a second row for the same member and event is refused.
            duplicate = text(
                "INSERT INTO rsvps (event_id, member_id, status, guests, turn, created_at, "
                "updated_at) VALUES (1, 1, 'waiting', 0, 2, :at, :at)"
            )
            with pytest.raises(IntegrityError):
                async with connection.begin_nested():
                    await connection.execute(duplicate, {"at": START})
        await upgrade_or_downgrade(engine, "0010")
        assert await announcements(engine) == [(1, "News")]
    finally:
        await upgrade(engine)
