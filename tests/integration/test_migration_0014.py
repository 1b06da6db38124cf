"""Migration 0014 (the magazine) upgrades a database holding the previous revision's rows,
and its downgrade leaves them as they were."""

from __future__ import annotations

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.app import build_app
from councilbot.core.i18n import Catalogs
from councilbot.db.session import create_sessionmaker, upgrade
from councilbot.services import magazine
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.conftest import SEED_FILE, START, Clock
from tests.integration.test_migrations import upgrade_or_downgrade


async def rows(engine: AsyncEngine) -> list[tuple[str, str]]:
    async with engine.connect() as connection:
        found = await connection.execute(
            text(
                "SELECT s.topic, c.slug FROM subscriptions s JOIN councils c "
                "ON c.id = s.council_id ORDER BY s.id"
            )
        )
        return [tuple(row) for row in found]


async def test_0014_upgrades_a_database_with_members_and_subscriptions_and_back(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0013")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO members (id, display_name, created_at) VALUES (1, 'Bob', :at)"),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO identities (member_id, platform, workspace, user_id, created_at, "
                "last_seen_at) VALUES (1, 'telegram', '', '42', :at, :at)"
            ),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO subscriptions (member_id, topic, council_id, active, created_at) "
                "SELECT 1, 'magazine', id, true, :at FROM councils WHERE slug = 'cork'"
            ),
            {"at": START},
        )
    before = [("magazine", "cork")]
    assert await rows(engine) == before

    await upgrade(engine)
    assert await rows(engine) == before
    settings = Settings(database_url=database_url, default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=clock)
    try:
        async with app.sessionmaker() as session, session.begin():
            assert await magazine.seed_archive(session, now=START)
        async with app.sessionmaker() as session:
            reached = await magazine.audience(session, catalogs=catalogs, default_language="en")
            assert reached.subscribers == 1  # the subscription made before the magazine
    finally:
        await app.aclose()

    await upgrade_or_downgrade(engine, "0013")
    try:
        assert await rows(engine) == before
    finally:
        await upgrade(engine)  # as the next test expects it
