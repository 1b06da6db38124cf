"""Migrations: the same Alembic history builds the models' schema on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncEngine

# The schema the migrations build is the bot's models plus Slack's installation tables,
# which the Slack adapter declares (with slack_sdk's builders) on the same metadata; a
# table the migrations create that the metadata lacks shows up in the diff.
from councilbot.adapters.slack import tables as slack_tables
from councilbot.app import build_app
from councilbot.db import models
from councilbot.db.base import Base
from councilbot.db.session import SchemaOutOfDate, check_schema, schema_revisions, upgrade
from councilbot.settings import Settings


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


async def upgrade_or_downgrade(engine: AsyncEngine, revision: str) -> None:
    from alembic import command

    from councilbot.db.session import alembic_config

    def run(connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, revision)

    async with engine.begin() as connection:
        await connection.run_sync(run)
