"""0015 adds the calendar tokens and the digests sent, beside a previous release's members."""

from __future__ import annotations

from sqlalchemy import inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat, render
from councilbot.app import build_app
from councilbot.core.i18n import Catalogs
from councilbot.db.session import create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.conftest import SEED_FILE, START, Clock
from tests.integration.test_migrations import upgrade_or_downgrade


async def _tables(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as connection:
        return set(await connection.run_sync(lambda c: inspect(c).get_table_names()))


async def test_0015_upgrades_a_database_holding_members_and_goes_back_down(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> None:
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0014")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        await connection.execute(
            text("INSERT INTO members (id, display_name, created_at) VALUES (7, 'Old Timer', :at)"),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO identities (member_id, platform, workspace, user_id, username, "
                "display_name, created_at, last_seen_at) "
                "VALUES (7, 'console', '', 'old', 'old', 'Old Timer', :at, :at)"
            ),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO subscriptions (member_id, topic, council_id, active, created_at) "
                "VALUES (7, 'announcements', NULL, true, :at)"
            ),
            {"at": START},
        )
    await upgrade(engine)
    assert {"calendar_tokens", "digests_sent"} <= await _tables(engine)
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=clock)
    console = ConsoleChat(app.router, user="old", chat="cork-chat", council="cork", clock=clock)
    try:
        await console.setup()
        home = render(await console.say("old@dm: /me"))
        calendar = render(await console.say("old@dm: /mycalendar"))
        await console.say("old@dm: /subscribe digest all")
    finally:
        await app.aclose()
    assert home.startswith("Your home, Old Timer\n\nSubscriptions\n• announcements — all councils")
    assert "/calendar/me/" in calendar

    await upgrade_or_downgrade(engine, "0014")
    assert not {"calendar_tokens", "digests_sent"} & await _tables(engine)
    await upgrade(engine)
    assert {"calendar_tokens", "digests_sent"} <= await _tables(engine)
