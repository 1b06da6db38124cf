"""Backups: `councilbot db backup|restore` on SQLite, and the pg_dump procedure on PostgreSQL.

Every table of the schema gets a row, whatever tables later issues add: the rows are
made from `Base.metadata`, so a backup that missed a table would be noticed here.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sqlite3
import stat
import sys
from contextlib import closing
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Enum, Table, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.types import TypeDecorator

from councilbot.adapters.slack import tables as slack_tables
from councilbot.db import models  # noqa: F401 - adds the bot's tables to Base.metadata
from councilbot.db.backup import backup, known_revisions, restore
from councilbot.db.base import Base
from councilbot.db.session import check_schema, create_engine, create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from tests.conftest import SEED_FILE, START
from tests.processes import ROOT, councilbot

HEAD = known_revisions()[0]
DELIVERIES = Base.metadata.tables["deliveries"]
TABLES = Base.metadata.sorted_tables
Rows = dict[str, list[Any]]
# A backup big enough (a few MB) that copying it takes a while, so the writer writes meanwhile.
BULK = 2000

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


def value_for(column: Any, n: int) -> Any:
    """Make a value for `column`, different for each `n`."""
    kind = column.type
    if isinstance(kind, Enum):
        return next(iter(kind.enum_class)) if kind.enum_class else kind.enums[0]
    if isinstance(kind, TypeDecorator):
        kind = kind.impl
    python = kind.python_type
    if python is bool:
        return True
    if python is int:
        return n
    if python is datetime:
        return datetime(2026, 12, 1, 9, n % 60, 30, tzinfo=UTC if kind.timezone else None)
    if python is date:
        return date(2026, 12, 1) + timedelta(days=n % 365)
    if python is dict:
        return {"n": n, "text": "Málaga 📣" * 50}
    if python is str:
        return f"{n}-{column.name}-ñ"[: kind.length]
    if python is bytes:  # a stored file: every byte value, NUL and invalid UTF-8 among them
        return n.to_bytes(4, "big") + bytes(range(256))
    raise AssertionError(f"teach value_for about {column} ({kind})")


def row_for(table: Table, n: int, parents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Make row `n` of `table`: every column set, each foreign key on the parent's row.

    A foreign key to the table itself (an outbox edit's post) points at its first row.
    """
    row: dict[str, Any] = {}
    for column in table.columns:
        if column is table.autoincrement_column:
            continue
        if column.foreign_keys:
            (key,) = column.foreign_keys
            parent = key.column.table.name
            if parent == table.name and parent not in parents:
                row[column.name] = None  # a table's first row cannot point at itself
                continue
            row[column.name] = parents[parent][key.column.name]
        else:
            row[column.name] = value_for(column, n)
    return row


async def fill_every_table(engine: AsyncEngine) -> None:
    """Insert one row in every table of the schema, and deliveries by the thousand."""
    rows: dict[str, dict[str, Any]] = {}
    async with engine.begin() as connection:
        for table in TABLES:
            row = row_for(table, 1, rows)
            result = await connection.execute(table.insert().values(row))
            rows[table.name] = {**row, **result.inserted_primary_key._asdict()}
        bulk = [row_for(DELIVERIES, n, rows) for n in range(2, BULK)]
        await connection.execute(DELIVERIES.insert(), bulk)


async def every_row(url: str) -> Rows:
    """Read every row of every table, in primary key order."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return {
                table.name: (
                    await connection.execute(select(table).order_by(*table.primary_key))
                ).all()
                for table in TABLES
            }
    finally:
        await engine.dispose()


def sqlite_url(path: Path) -> str:
    return f"sqlite+aiosqlite:///{path}"


async def cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run the real `councilbot` executable; return its status, output and errors."""
    process = await councilbot(*args, env=env)
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def seed_and_fill(engine: AsyncEngine) -> None:
    """Load the councils, then put rows in every table."""
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    await fill_every_table(engine)


@pytest.fixture
async def live(sqlite_template: Path, tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """Make a migrated, seeded SQLite database with rows in every table, and the CLI's env."""
    database = tmp_path / "bot.db"
    shutil.copy(sqlite_template, database)
    engine = create_engine(sqlite_url(database))
    try:
        await seed_and_fill(engine)
    finally:
        await engine.dispose()
    env = {**os.environ, "COUNCILBOT_DATABASE_URL": sqlite_url(database), "COUNCILBOT_ADMINS": ""}
    return database, env


async def test_a_backup_taken_while_the_bot_writes_restores_every_row(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, _ = live
    assert {slack_tables.slack_installations, DELIVERIES} <= set(TABLES)
    engine = create_engine(sqlite_url(database))
    async with engine.connect() as connection:
        parents = {
            table.name: (await connection.execute(select(table).limit(1))).one()._asdict()
            for table in TABLES
        }
    written: list[int] = []
    stop = asyncio.Event()

    async def writer() -> None:
        """Queue deliveries one transaction at a time, as the bot does, until told to stop."""
        n = BULK
        while not stop.is_set():
            async with engine.begin() as connection:
                await connection.execute(
                    DELIVERIES.insert().values(row_for(DELIVERIES, n, parents))
                )
            written.append(n)
            n += 1

    task = asyncio.create_task(writer())
    backups: list[tuple[Path, int, int]] = []
    try:
        for number in range(3):
            await asyncio.sleep(0.05)
            target = tmp_path / f"backup-{number}.db"
            before = len(written)
            snapshot = await asyncio.to_thread(backup, database, target)
            backups.append((target, before, len(written)))
            assert snapshot.revision == HEAD
            assert snapshot.tables == len(TABLES)
    finally:
        stop.set()
        await task
        await engine.dispose()
    # The writer was never held up: it wrote while each backup was being taken.
    assert any(during > before for _, before, during in backups), backups
    after = await every_row(sqlite_url(database))
    assert all(after.values()), [name for name, rows in after.items() if not rows]
    for number, (target, before, during) in enumerate(backups):
        fresh = tmp_path / f"restored-{number}.db"
        snapshot, kept = restore(target, fresh)
        assert kept is None
        assert snapshot.revision == HEAD
        restored = await every_row(sqlite_url(fresh))
        # A consistent snapshot: everything, and the deliveries written up to one moment.
        assert {name: rows for name, rows in restored.items() if name != "deliveries"} == {
            name: rows for name, rows in after.items() if name != "deliveries"
        }
        copied = restored["deliveries"]
        assert copied == after["deliveries"][: len(copied)]
        assert BULK - 1 + before <= len(copied) <= BULK - 1 + during
        assert snapshot.rows == sum(map(len, restored.values()))
    # Restoring over the live database (the bot stopped) brings back the first backup.
    first = backups[0][0]
    restore(first, database)
    assert await every_row(sqlite_url(database)) == await every_row(sqlite_url(first))
    engine = create_engine(sqlite_url(database))
    try:
        await check_schema(engine)
    finally:
        await engine.dispose()


async def test_the_commands_print_one_line(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    rows = sum(map(len, (await every_row(sqlite_url(database))).values()))
    status, out, err = await cli("db", "backup", str(tmp_path / "nightly.db"), env=env)
    assert (status, err) == (0, "")
    assert out == (
        f"backed up {database} to {tmp_path}/nightly.db: "
        f"{len(TABLES)} tables, {rows} rows, schema at {HEAD}\n"
    )
    assert permissions(tmp_path / "nightly.db") == 0o600  # it holds Slack workspaces' tokens
    assert journal_mode(tmp_path / "nightly.db") == "delete"  # one file, no -wal beside it
    elsewhere = {**env, "COUNCILBOT_DATABASE_URL": sqlite_url(tmp_path / "new.db")}
    status, out, err = await cli("db", "restore", str(tmp_path / "nightly.db"), env=elsewhere)
    assert (status, err) == (0, "")
    assert out == (
        f"restored {tmp_path}/nightly.db into {tmp_path}/new.db: "
        f"{len(TABLES)} tables, {rows} rows, schema at {HEAD}\n"
    )
    assert await every_row(sqlite_url(tmp_path / "new.db")) == await every_row(sqlite_url(database))


async def test_a_restored_older_backup_says_to_upgrade(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    older = tmp_path / "older.db"
    backup(database, older)
    with sqlite3.connect(older) as connection:
        connection.execute("UPDATE alembic_version SET version_num = ?", (known_revisions()[1],))
    status, out, err = await cli("db", "restore", str(older), env=env)
    assert (status, err) == (0, "")
    assert out.endswith(
        f"schema at {known_revisions()[1]}; `councilbot db upgrade` brings it to {HEAD}; "
        f"the database it replaced is kept as {database}.before-restore until the next restore\n"
    )


async def test_restore_keeps_the_database_it_replaces_until_the_next_restore(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    before = await every_row(sqlite_url(database))
    wrong = tmp_path / "wrong.db"
    backup(database, wrong)
    with sqlite3.connect(wrong) as connection:
        connection.execute("DELETE FROM deliveries")
    status, out, err = await cli("db", "restore", str(wrong), env=env)
    assert (status, err) == (0, "")
    kept = tmp_path / "bot.db.before-restore"
    assert out.endswith(f"; the database it replaced is kept as {kept} until the next restore\n")
    assert (await every_row(sqlite_url(database)))["deliveries"] == []
    assert await every_row(sqlite_url(kept)) == before
    assert permissions(kept) == 0o600  # it holds Slack workspaces' tokens
    # Restoring the kept copy undoes the wrong restore; the copy now holds the wrong one.
    status, _, err = await cli("db", "restore", str(kept), env=env)
    assert (status, err) == (0, "")
    assert await every_row(sqlite_url(database)) == before
    assert (await every_row(sqlite_url(kept)))["deliveries"] == []


async def refused(*args: str, env: dict[str, str]) -> str:
    """Run a command that must refuse; return its one line."""
    status, out, err = await cli(*args, env=env)
    assert status == 2
    assert out == ""
    assert err.count("\n") == 1, err
    assert err.startswith("councilbot: ")
    return err.removeprefix("councilbot: ").rstrip("\n")


async def test_restore_refuses_what_is_not_a_councilbot_backup(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    before = database.read_bytes()
    missing = tmp_path / "missing.db"
    assert (
        await refused("db", "restore", str(missing), env=env) == f"there is no backup at {missing}"
    )
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    assert await refused("db", "restore", str(notes), env=env) == (
        f"{notes} is not a CouncilBot backup ({notes} is not a SQLite database)"
    )
    other = tmp_path / "other-app.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    assert await refused("db", "restore", str(other), env=env) == (
        f"{other} is not a CouncilBot backup ({other} has no CouncilBot schema revision)"
    )
    newer = tmp_path / "newer.db"
    backup(database, newer)
    with sqlite3.connect(newer) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    assert await refused("db", "restore", str(newer), env=env) == (
        f"{newer} is at schema revision 9999, which this version of CouncilBot does not know; "
        "restore it with the version that made it"
    )
    assert database.read_bytes() == before


async def test_restore_refuses_to_replace_what_is_not_a_councilbot_database(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    good = tmp_path / "good.db"
    backup(database, good)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a database\n" * 100)
    other = tmp_path / "other-app.db"
    with sqlite3.connect(other) as connection:
        connection.execute("CREATE TABLE notes (body TEXT)")
    for target, what in ((notes, "SQLite"), (other, "CouncilBot")):
        before = target.read_bytes()
        elsewhere = {**env, "COUNCILBOT_DATABASE_URL": sqlite_url(target)}
        assert await refused("db", "restore", str(good), env=elsewhere) == (
            f"{target} is not a {what} database; not replacing it"
        )
        assert target.read_bytes() == before


async def test_restore_refuses_while_the_bot_runs(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    good = tmp_path / "good.db"
    backup(database, good)
    with sqlite3.connect(good) as connection:
        connection.execute("DELETE FROM deliveries")
    chat = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councilbot", "chat", cwd=ROOT, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert chat.stdin is not None and chat.stdout is not None
    try:
        chat.stdin.write(b"/councils\n")
        await chat.stdin.drain()
        assert b"Cork" in await asyncio.wait_for(chat.stdout.readuntil(b"\n\n"), 60)
        before = await every_row(sqlite_url(database))
        assert await refused("db", "restore", str(good), env=env) == (
            f"{database} is in use (is the bot running?): stop it, then restore"
        )
        assert await every_row(sqlite_url(database)) == before
    finally:
        chat.stdin.close()
        assert await asyncio.wait_for(chat.wait(), 60) == 0
    status, out, _ = await cli("db", "restore", str(good), env=env)
    assert status == 0, out
    assert (await every_row(sqlite_url(database)))["deliveries"] == []


async def test_backup_refuses_to_replace_what_is_not_a_backup(
    live: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    database, env = live
    notes = tmp_path / "notes.txt"
    notes.write_text("precious\n")
    assert await refused("db", "backup", str(notes), env=env) == (
        f"{notes} exists and is not a CouncilBot backup; not replacing it "
        f"({notes} is not a SQLite database)"
    )
    assert notes.read_text() == "precious\n"
    assert await refused("db", "backup", str(database), env=env) == (
        f"{database} is the database itself: back it up to another file"
    )
    nowhere = tmp_path / "no-such-folder" / "nightly.db"
    assert await refused("db", "backup", str(nowhere), env=env) == (
        f"cannot write {nowhere}: No such file or directory"
    )
    gone = {**env, "COUNCILBOT_DATABASE_URL": sqlite_url(tmp_path / "gone.db")}
    assert await refused("db", "backup", str(tmp_path / "b.db"), env=gone) == (
        f"there is no database at {tmp_path}/gone.db"
    )
    assert hidden_files(tmp_path) == []  # no half-written backup left behind


def journal_mode(path: Path) -> str:
    with closing(sqlite3.connect(path)) as connection:
        return connection.execute("PRAGMA journal_mode").fetchone()[0]


def permissions(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def hidden_files(folder: Path) -> list[str]:
    return [path.name for path in folder.iterdir() if path.name.startswith(".")]


async def test_backup_on_postgresql_points_to_pg_dump(tmp_path: Path) -> None:
    env = {**os.environ, "COUNCILBOT_DATABASE_URL": "postgresql+asyncpg://bot@db.invalid/bot"}
    for action in ("backup", "restore"):
        assert await refused("db", action, str(tmp_path / "x.db"), env=env) == (
            f"db {action} is for SQLite; on PostgreSQL use pg_dump and pg_restore "
            "as README.md shows (Operations, Backups)"
        )


@pytest.mark.postgres
async def test_the_documented_pg_dump_procedure_restores_every_row(
    postgres_migrated: str, tmp_path: Path
) -> None:
    tools = [shutil.which(tool) for tool in ("pg_dump", "pg_restore")]
    if not all(tools):
        pytest.skip("pg_dump and pg_restore are not installed here")
    engine = create_engine(postgres_migrated)
    try:
        async with engine.begin() as connection:
            names = ", ".join(table.name for table in TABLES)
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        await seed_and_fill(engine)
        before = await every_row(postgres_migrated)
        # pg_dump and pg_restore speak libpq's URLs: no SQLAlchemy driver name.
        libpq = make_url(postgres_migrated).set(drivername="postgresql")
        database = libpq.render_as_string(hide_password=False)
        dump = tmp_path / "councilbot.dump"
        await run(tools[0], "--format=custom", f"--file={dump}", database)
        # The database is lost: an empty schema, as on a new server.
        async with engine.begin() as connection:
            await connection.execute(text("DROP SCHEMA public CASCADE"))
            await connection.execute(text("CREATE SCHEMA public"))
        await run(tools[1], "--clean", "--if-exists", f"--dbname={database}", str(dump))
        env = {**os.environ, "COUNCILBOT_DATABASE_URL": postgres_migrated}
        status, out, err = await cli("db", "upgrade", env=env)
        assert (status, out, err) == (0, f"database schema at {HEAD}: up to date\n", "")
        after = await every_row(postgres_migrated)
    finally:
        await engine.dispose()
    assert after == before
    assert all(after.values())


async def run(*command: str) -> None:
    """Run a PostgreSQL client tool and expect it to succeed quietly."""
    process = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(process.communicate(), 120)
    assert (process.returncode, err.decode()) == (0, "")
