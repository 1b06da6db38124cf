"""Migrations: the same Alembic history builds the models' schema on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from datetime import timedelta

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, make_url, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat, render

# The schema the migrations build is the bot's models plus Slack's installation tables,
# which the Slack adapter declares (with slack_sdk's builders) on the same metadata; a
# table the migrations create that the metadata lacks shows up in the diff.
from councilbot.adapters.slack import tables as slack_tables
from councilbot.app import build_app
from councilbot.core.i18n import Catalogs
from councilbot.db import models
from councilbot.db.base import Base
from councilbot.db.session import (
    SchemaOutOfDate,
    alembic_config,
    check_schema,
    create_sessionmaker,
    schema_revisions,
    upgrade,
)
from councilbot.delivery import outbox
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.conftest import SEED_FILE, START, Clock
from tests.processes import councilbot


async def test_migrations_match_the_models(engine: AsyncEngine) -> None:
    assert {models.Council.__table__, slack_tables.slack_bots} <= set(Base.metadata.sorted_tables)

    def diff(connection) -> list:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return compare_metadata(context, Base.metadata)

    async with engine.connect() as connection:
        assert await connection.run_sync(diff) == []
    current, head = await schema_revisions(engine)
    assert current == head is not None
    await check_schema(engine)  # does not raise


async def test_downgrade_to_nothing_and_up_again(engine: AsyncEngine) -> None:
    await upgrade_or_downgrade(engine, "base")
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert set(tables) <= {"alembic_version"}
    with pytest.raises(SchemaOutOfDate, match="`councilbot db upgrade && councilbot seed`"):
        await check_schema(engine)
    await upgrade(engine)
    async with engine.connect() as connection:
        tables = await connection.run_sync(lambda c: inspect(c).get_table_names())
    assert {t.name for t in Base.metadata.sorted_tables} <= set(tables)


async def test_the_app_refuses_an_out_of_date_schema(
    engine: AsyncEngine, database_url: str
) -> None:
    await upgrade_or_downgrade(engine, "base")
    with pytest.raises(SchemaOutOfDate, match="there is no CouncilBot database at"):
        await build_app(Settings(database_url=database_url), engine=engine)
    await upgrade(engine)


async def db_upgrade(database_url: str, *revision: str) -> tuple[int, str, str]:
    """Run the real `councilbot db upgrade`; return its status, output and errors."""
    env = {**os.environ, "COUNCILBOT_DATABASE_URL": database_url}
    process = await councilbot("db", "upgrade", *revision, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_db_upgrade_says_whether_it_created_upgraded_or_left_the_schema(
    engine: AsyncEngine, database_url: str
) -> None:
    scripts = ScriptDirectory.from_config(alembic_config())
    head = scripts.get_current_head()
    older = scripts.get_revision(head).down_revision
    await upgrade_or_downgrade(engine, "base")
    assert await db_upgrade(database_url) == (0, f"database schema created at {head}\n", "")
    await upgrade_or_downgrade(engine, older)
    assert await db_upgrade(database_url) == (
        0,
        f"database schema upgraded from {older} to {head}\n",
        "",
    )
    assert await db_upgrade(database_url) == (0, f"database schema at {head}: up to date\n", "")
    assert await schema_revisions(engine) == (head, head)


@pytest.mark.postgres
async def test_a_postgresql_database_that_does_not_exist_is_one_line(
    postgres_migrated: str,
) -> None:
    missing = make_url(postgres_migrated).set(database="councilbot_no_such_database")
    assert await db_upgrade(missing.render_as_string(hide_password=False)) == (
        2,
        "",
        'councilbot: cannot use the database (database "councilbot_no_such_database" '
        "does not exist)\n",
    )


async def upgrade_or_downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)


async def test_0005_upgrades_a_database_holding_announcements(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> None:
    """The previous release's announcements survive 0005 and read as before."""
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0004")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        cork = await connection.scalar(text("SELECT id FROM councils WHERE slug = 'cork'"))
        for number, status in ((1, "cancelled"), (2, "scheduled")):
            await connection.execute(
                text(
                    "INSERT INTO announcements (id, text, all_councils, status, scheduled_at, "
                    "created_at) VALUES (:id, 'Old news', false, :status, :at, :at)"
                ),
                {"id": number, "status": status, "at": START + timedelta(days=1)},
            )
            await connection.execute(
                text("INSERT INTO announcement_councils VALUES (:id, :council)"),
                {"id": number, "council": cork},
            )
    await upgrade(engine)
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=clock)
    console = ConsoleChat(app.router, user="admin", chat="cork-chat", council="cork", clock=clock)
    try:
        await console.setup()  # links cork-chat to Cork, as `councilbot chat --council cork`
        answers = [render(await console.say(f"/deliveries {n}")) for n in (1, 2)]
    finally:
        await app.aclose()
    assert answers == [
        "Announcement #1 was cancelled; nothing was sent.",
        "Announcement #2 is scheduled for Wed 2 Dec, 09:00 GMT; nothing was sent yet.",
    ]


async def test_0010_keeps_subscriptions_and_takes_topics_no_enum_knows(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> None:
    """Subscriptions survive 0010; a feature's new topic needs no schema change after it."""
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0009")
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    async with engine.begin() as connection:
        cork = await connection.scalar(text("SELECT id FROM councils WHERE slug = 'cork'"))
        await connection.execute(
            text("INSERT INTO members (id, display_name, created_at) VALUES (1, 'admin', :at)"),
            {"at": START},
        )
        await connection.execute(
            text(
                "INSERT INTO identities (member_id, platform, workspace, user_id, username, "
                "created_at, last_seen_at) VALUES (1, 'console', '', 'admin', 'admin', :at, :at)"
            ),
            {"at": START},
        )
        for topic, council in (("announcements", None), ("magazine", cork)):
            await connection.execute(
                text(
                    "INSERT INTO subscriptions (member_id, topic, council_id, active, created_at) "
                    "VALUES (1, :topic, :council, true, :at)"
                ),
                {"topic": topic, "council": council, "at": START},
            )
    await upgrade(engine)
    async with engine.begin() as connection:  # the topic of a feature added later
        await connection.execute(
            text(
                "INSERT INTO subscriptions (member_id, topic, council_id, active, created_at) "
                "VALUES (1, 'weather', NULL, true, :at)"
            ),
            {"at": START},
        )
    settings = Settings(database_url=database_url, admins="console:admin", default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=clock)
    console = ConsoleChat(app.router, user="admin", chat="cork-chat", council="cork", clock=clock)
    try:
        await console.setup()
        whoami = render(await console.say("/whoami"))
    finally:
        await app.aclose()
    # Declared topics by their label; one no running feature declares, by its name. The
    # magazine's row kept with a council still counts, shown without one (no council).
    assert (
        "Subscriptions: announcements (all councils), magazine issues, "
        "weather (all councils)" in whoami
    )
    assert "magazine issues (cork)" not in whoami

    await upgrade_or_downgrade(engine, "0009")
    async with engine.connect() as connection:
        kept = await connection.execute(text("SELECT topic FROM subscriptions ORDER BY topic"))
        assert [row.topic for row in kept] == ["announcements", "magazine"]
    with pytest.raises(IntegrityError):  # the old CHECK is back: only the four old topics
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO subscriptions (member_id, topic, council_id, active, created_at) "
                    "VALUES (1, 'weather', NULL, true, :at)"
                ),
                {"at": START},
            )
    await upgrade(engine)


async def test_0006_upgrades_a_database_holding_deliveries(
    engine: AsyncEngine, clock: Clock
) -> None:
    """The previous release's deliveries become sends, which can then be edited and deleted."""
    await upgrade_or_downgrade(engine, "base")
    await upgrade(engine, "0005")
    async with engine.begin() as connection:
        for number, status in ((1, "sent"), (2, "pending")):
            await connection.execute(
                text(
                    "INSERT INTO deliveries (key, source, source_id, platform, workspace, "
                    "chat_id, chat_kind, payload, status, attempts, next_attempt_at, "
                    "created_at, platform_message_id) VALUES (:key, 'announcement', 1, "
                    "'telegram', '', :chat, 'group', :payload, :status, 1, :at, :at, :mid)"
                ),
                {
                    "key": f"announcement:1:{number}",
                    "chat": f"-100{number}",
                    "payload": '{"text": "Old news", "buttons": []}',
                    "status": status,
                    "at": START,
                    "mid": "7" if status == "sent" else None,
                },
            )
    await upgrade(engine)
    async with create_sessionmaker(engine)() as session, session.begin():
        rows = list(await session.scalars(select(models.Delivery).order_by(models.Delivery.id)))
        assert [(r.operation, r.status, r.rewritten) for r in rows] == [
            (models.DeliveryOperation.SEND, models.DeliveryStatus.SENT, False),
            (models.DeliveryOperation.SEND, models.DeliveryStatus.PENDING, False),
        ]
        assert await outbox.enqueue_deletes(session, "announcement", 1, now=clock()) == 2
    async with create_sessionmaker(engine)() as session:
        statuses = await session.execute(
            select(models.Delivery.operation, models.Delivery.status).order_by(models.Delivery.id)
        )
        assert statuses.all() == [
            (models.DeliveryOperation.SEND, models.DeliveryStatus.SENT),
            (models.DeliveryOperation.SEND, models.DeliveryStatus.CANCELLED),
            (models.DeliveryOperation.DELETE, models.DeliveryStatus.PENDING),
        ]
