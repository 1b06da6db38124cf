"""Migration 0009 (drafts, deleted announcements, identities' app language) keeps the data.

SQLite changes the announcements' CHECK constraint by copying the table: their councils
(announcement_councils, ON DELETE CASCADE) must survive the copy, up and down.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.session import create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from tests.conftest import SEED_FILE, START
from tests.integration.test_migrations import upgrade_or_downgrade


async def links(engine: AsyncEngine) -> list[tuple[int, str, str]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            text(
                "SELECT a.id, a.status, c.slug FROM announcements a "
                "JOIN announcement_councils l ON l.announcement_id = a.id "
                "JOIN councils c ON c.id = l.council_id ORDER BY a.id, c.slug"
            )
        )
        return [tuple(row) for row in rows]


async def test_0009_keeps_announcements_councils_up_and_down(engine: AsyncEngine) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0008")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        for number, status in ((1, "sent"), (2, "scheduled")):
            await connection.execute(
                text(
                    "INSERT INTO announcements (id, text, all_councils, status, scheduled_at, "
                    "created_at) VALUES (:id, 'News', false, :status, :at, :at)"
                ),
                {"id": number, "status": status, "at": START + timedelta(days=1)},
            )
            await connection.execute(
                text(
                    "INSERT INTO announcement_councils SELECT :id, id FROM councils "
                    "WHERE slug IN ('cork', 'malaga')"
                ),
                {"id": number},
            )
    before = [
        (1, "sent", "cork"), (1, "sent", "malaga"),
        (2, "scheduled", "cork"), (2, "scheduled", "malaga"),
    ]  # fmt: skip
    assert await links(engine) == before

    await upgrade(engine)
    assert await links(engine) == before
    async with engine.begin() as connection:  # the new statuses are allowed now
        await connection.execute(
            text(
                "INSERT INTO announcements (id, text, all_councils, status, created_at) "
                "VALUES (3, 'Draft', false, 'draft', :at), (4, 'Gone', false, 'deleted', :at)"
            ),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO announcement_councils SELECT a, id FROM councils, "
                "(SELECT 3 AS a UNION SELECT 4) x WHERE slug = 'cork'"
            )
        )

    await upgrade_or_downgrade(engine, "0008")
    try:
        # The draft was never sent and goes; the deleted one reads as sent again.
        assert await links(engine) == [*before, (4, "sent", "cork")]
    finally:
        await upgrade(engine)  # the PostgreSQL database is shared by the tests that follow
