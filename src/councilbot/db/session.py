"""Engines, sessions and the schema check that guards start-up."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Table, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import AsyncAdaptedQueuePool, NullPool

from councilbot.settings import PROJECT_ROOT

MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
# The execution options of sessions that only read: PostgreSQL runs their transactions
# READ ONLY, and on SQLite they take no write lock (see _sqlite_begin).
READ_ONLY = {"councilbot_read_only": True, "postgresql_readonly": True}


class SchemaOutOfDate(Exception):
    """Raise when the database is behind (or ahead of) the code's migrations."""


class DatabaseUnusable(Exception):
    """Raise when the database cannot be opened or upgraded, saying why in one line."""


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine (errors omit parameters; SQLite: foreign keys, lock waits)."""
    if url.startswith("sqlite"):
        # SQLite has one writer at a time. One connection per process turns lock
        # contention between our own coroutines into an orderly asyncio queue (no
        # "database is locked"); other processes (the CLI) wait on the busy timeout.
        kwargs.setdefault("connect_args", {"timeout": 30})
        if ":memory:" not in url:
            kwargs.setdefault("poolclass", AsyncAdaptedQueuePool)
            kwargs.setdefault("pool_size", 1)
            kwargs.setdefault("max_overflow", 0)
    # A failed statement's error would otherwise quote its parameters, which hold what
    # people wrote (an announcement's text), into the traceback that gets logged.
    kwargs.setdefault("hide_parameters", True)
    engine = create_async_engine(url, **kwargs)
    if engine.dialect.name == "sqlite":
        event.listen(engine.sync_engine, "connect", _sqlite_connect)
        event.listen(engine.sync_engine, "begin", _sqlite_begin)
    return engine


def probe_engine(engine: AsyncEngine, *, timeout: float) -> AsyncEngine:
    """Return an engine for health checks that queues behind none of the app's own work."""
    # On a SQLite file the app's pool has one connection, which commands and the dispatcher
    # hold for whole transactions: a check opens its own to the same file instead (in WAL
    # mode a reader waits for no writer), and waits at most `timeout` for a lock.
    if engine.dialect.name != "sqlite" or engine.url.database in (None, "", ":memory:"):
        return engine
    return create_async_engine(
        engine.url, poolclass=NullPool, connect_args={"timeout": timeout}, hide_parameters=True
    )


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # The sqlite3 module's own transaction handling breaks SAVEPOINT; we emit BEGIN ourselves.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    # IMMEDIATE takes the write lock up front, so a transaction that reads and then
    # writes never fails on a snapshot another process moved on meanwhile. One that only
    # reads needs no lock: in WAL mode it reads its snapshot while another process writes.
    read_only = connection.get_execution_options().get("councilbot_read_only", False)
    connection.exec_driver_sql("BEGIN" if read_only else "BEGIN IMMEDIATE")


def create_sessionmaker(engine: AsyncEngine, *, read_only: bool = False) -> async_sessionmaker:
    """Return the session factory used for one transaction per command, or for reads only."""
    if read_only:
        engine = engine.execution_options(**READ_ONLY)
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config(url: str | None = None, directory: Path = MIGRATIONS_DIR) -> Config:
    """Build an Alembic config pointing at the project's migrations."""
    config = Config()
    config.set_main_option("script_location", str(directory))
    if url:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Run the migrations up to `revision` on this engine."""
    from alembic import command
    from alembic.util import CommandError

    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    _require_sqlite_folder(engine)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(run)
    except CommandError as exc:  # an unknown revision, say
        raise DatabaseUnusable(f"cannot upgrade to {revision}: {exc}") from exc


# What sets up a database from nothing: the schema, then the councils.
SETUP_COMMAND = "councilbot db upgrade && councilbot seed"


def _sqlite_file(engine: AsyncEngine) -> Path | None:
    """Return the SQLite file the engine names (None for other databases); refuse a folder."""
    url = engine.url
    database = url.database or ""
    if engine.dialect.name != "sqlite" or database in ("", ":memory:") or url.query.get("uri"):
        return None
    path = Path(database)
    if path.is_dir():
        raise DatabaseUnusable(f"{path} is a folder, not a database file")
    return path


def _sqlite_file_missing(engine: AsyncEngine) -> bool:
    """Tell whether the engine names a SQLite file that does not exist (connecting creates it)."""
    path = _sqlite_file(engine)
    return path is not None and not path.exists()


def _require_sqlite_folder(engine: AsyncEngine) -> None:
    """Refuse to create a SQLite file in a folder that is missing or cannot be written."""
    path = _sqlite_file(engine)
    if path is None or path.exists():
        return
    folder = path.parent
    if not folder.is_dir():
        raise DatabaseUnusable(
            f"cannot create the database {path}: the folder {folder} does not exist"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DatabaseUnusable(
            f"cannot create the database {path}: the folder {folder} cannot be written"
        )


async def schema_revisions(engine: AsyncEngine) -> tuple[str | None, str | None]:
    """Return (the database's revision, the code's head revision), creating no file."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if _sqlite_file_missing(engine):
        return None, head

    def current(connection: Connection) -> str | None:
        return MigrationContext.configure(connection).get_current_revision()

    async with engine.connect() as connection:
        return await connection.run_sync(current), head


async def check_schema(engine: AsyncEngine) -> None:
    """Refuse to run on a database whose schema does not match the code."""
    current, head = await schema_revisions(engine)
    if current is None:
        url = engine.url
        where = url.database if url.get_backend_name() == "sqlite" else url.render_as_string()
        raise SchemaOutOfDate(
            f"there is no CouncilBot database at {where} yet; "
            f"create it and load the councils with `{SETUP_COMMAND}`"
        )
    if current != head:
        raise SchemaOutOfDate(
            f"the database schema is at {current} but this version needs {head}; "
            "run `councilbot db upgrade` (`make run` does it for you)"
        )


def upsert(session: AsyncSession, table: Table) -> Any:
    """Return an INSERT into `table` in the session's dialect, which has ON CONFLICT clauses.

    SQLite and PostgreSQL spell `on_conflict_do_nothing` / `on_conflict_do_update` alike,
    but each in its own dialect's insert construct.
    """
    dialect = postgresql if session.bind.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)
