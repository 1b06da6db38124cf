"""Migration 0012 (hot desks) upgrades a database holding the rows of 0011, and back."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.session import create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.services.desks import seed_facilities
from tests.conftest import SEED_FILE, START
from tests.integration.test_migrations import upgrade_or_downgrade


async def count(engine: AsyncEngine, table: str) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_0012_adds_the_desks_tables_beside_the_rows_of_before(engine: AsyncEngine) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0011")
    seed = read_seed_file(SEED_FILE)
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, seed, now=START)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO members (id, display_name, created_at) VALUES (1, 'Ana', :at)"),
            {"at": START},
        )

    await upgrade(engine)
    async with create_sessionmaker(engine)() as session, session.begin():
        report = await seed_facilities(session, seed, now=START)
    assert report.desks_added == 55
    async with engine.begin() as connection:
        desk = (await connection.execute(text("SELECT min(id) FROM desks"))).scalar_one()
        await connection.execute(
            text(
                "INSERT INTO bookings (id, desk_id, member_id, day, slot, status, created_at) "
                "VALUES (1, :desk, 1, '2026-12-02', 'day', 'booked', :at)"
            ),
            {"desk": desk, "at": START},
        )
    assert (await count(engine, "councils"), await count(engine, "bookings")) == (6, 1)

    await upgrade_or_downgrade(engine, "0011")
    assert (await count(engine, "councils"), await count(engine, "members")) == (6, 1)
    await upgrade(engine)
    assert await count(engine, "facilities") == 0
