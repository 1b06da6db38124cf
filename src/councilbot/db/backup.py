"""Back up a SQLite database while the bot runs, and restore a checked backup into it.

Both go through SQLite's online backup API, which copies a consistent snapshot: in WAL
mode (see `session._sqlite_connect`) the bot goes on reading and writing meanwhile.
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from alembic.script import ScriptDirectory
from sqlalchemy.engine import make_url

from councilbot.db.session import alembic_config

VERSION_TABLE = "alembic_version"
Checked = TypeVar("Checked")


class BackupError(Exception):
    """Raise with one line saying why a backup or a restore was not made."""


@dataclass(frozen=True)
class Snapshot:
    """Describe a CouncilBot database: its schema revision and how much it holds."""

    revision: str
    tables: int
    rows: int


def sqlite_file(url: str) -> Path | None:
    """Return the file of a SQLite database URL; None for any other database."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return None
    if parsed.database in (None, "", ":memory:") or parsed.query.get("uri"):
        raise BackupError(f"{url} is not a SQLite database file")
    return Path(parsed.database)


def known_revisions() -> list[str]:
    """Return the schema revisions this version of CouncilBot knows, newest first."""
    scripts = ScriptDirectory.from_config(alembic_config()).walk_revisions()
    return [script.revision for script in scripts]


def backup(database: Path, target: Path) -> Snapshot:
    """Copy `database` to `target`, which is replaced whole or not at all."""
    if not database.is_file():
        raise BackupError(f"there is no database at {database}")
    if target.exists():
        if target.resolve() == database.resolve():
            raise BackupError(f"{target} is the database itself: back it up to another file")
        _read(target, refusal=f"{target} exists and is not a CouncilBot backup; not replacing it")
    with closing(_connect(database, "rw")) as live:
        return _save(live, database, target, check=lambda copy: _describe(copy, database))


def restore(source: Path, database: Path) -> tuple[Snapshot, Path | None]:
    """Replace `database` with the checked backup `source`; say where the old one is kept."""
    if not source.is_file():
        raise BackupError(f"there is no backup at {source}")
    if database.exists() and source.resolve() == database.resolve():
        raise BackupError(f"{source} is the database itself")
    snapshot = _read(source, refusal=f"{source} is not a CouncilBot backup")
    if snapshot.revision not in known_revisions():
        raise BackupError(
            f"{source} is at schema revision {snapshot.revision}, which this version of "
            "CouncilBot does not know; restore it with the version that made it"
        )
    created = not database.exists()
    if created and not database.parent.is_dir():
        raise BackupError(f"cannot write {database}: the folder {database.parent} does not exist")
    # The previous one's copy, so that restoring the wrong file can be undone.
    kept = None if created else database.with_name(f"{database.name}.before-restore")
    try:
        with closing(_claim(database, created)) as target, closing(_connect(source, "ro")) as copy:
            if kept is not None:
                # Unchecked: a damaged database is one to keep, not a reason to refuse.
                _save(target, database, kept, check=lambda _: None)
            with _sqlite_errors(database):
                copy.backup(target)
    except BaseException:
        if created:
            database.unlink(missing_ok=True)
        raise
    return snapshot, kept


def _save(
    live: sqlite3.Connection,
    database: Path,
    target: Path,
    *,
    check: Callable[[sqlite3.Connection], Checked],
) -> Checked:
    """Copy the database open on `live` to `target`, `check`ed, replaced whole or not at all."""
    try:
        # Beside the target, so that the final rename is atomic; mkstemp makes it private
        # (the database holds Slack workspaces' tokens).
        handle, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror}") from exc
    os.close(handle)
    partial = Path(name)
    try:
        with closing(_connect(partial, "rw")) as copy:
            with _sqlite_errors(database):
                live.backup(copy)
            with _sqlite_errors(target):
                # The copy inherits WAL mode; a backup is better one self-contained file.
                copy.execute("PRAGMA journal_mode=DELETE")
            checked = check(copy)
        partial.replace(target)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror}") from exc
    finally:
        partial.unlink(missing_ok=True)
    return checked


def _claim(database: Path, created: bool) -> sqlite3.Connection:
    """Open `database` alone; refuse one that a process has open or that is not CouncilBot's."""
    connection = _connect(database, "rwc" if created else "rw", timeout=0)
    try:
        # In EXCLUSIVE locking mode a lock once taken is kept until the connection closes;
        # it cannot be taken while another connection has the database open (in WAL mode
        # each one holds a shared lock all along), e.g. a running bot's.
        connection.execute("PRAGMA locking_mode=EXCLUSIVE")
        connection.execute("BEGIN EXCLUSIVE")
        tables = _tables(connection)
        connection.execute("COMMIT")
    except sqlite3.DatabaseError as exc:
        connection.close()
        if "locked" in str(exc):
            raise BackupError(
                f"{database} is in use (is the bot running?): stop it, then restore"
            ) from exc
        raise BackupError(f"{database} is not a SQLite database; not replacing it") from exc
    if tables and VERSION_TABLE not in tables:
        connection.close()
        raise BackupError(f"{database} is not a CouncilBot database; not replacing it")
    return connection


def _read(path: Path, *, refusal: str) -> Snapshot:
    """Describe the CouncilBot database at `path`, or refuse with `refusal`."""
    try:
        with closing(_connect(path, "ro")) as connection:
            return _describe(connection, path)
    except BackupError as exc:
        raise BackupError(f"{refusal} ({exc})") from exc


def _describe(connection: sqlite3.Connection, path: Path) -> Snapshot:
    """Check the whole database on `connection` and say what it holds."""
    with _sqlite_errors(path):
        (check,) = connection.execute("PRAGMA quick_check").fetchone()
        if check != "ok":
            raise BackupError(f"{path} is damaged: {check}")
        tables = _tables(connection)
        revision = None
        if VERSION_TABLE in tables:
            revision = connection.execute(f"SELECT version_num FROM {VERSION_TABLE}").fetchone()
        if revision is None:
            raise BackupError(f"{path} has no CouncilBot schema revision")
        data = [table for table in tables if table != VERSION_TABLE]
        rows = sum(_count(connection, table) for table in data)
    return Snapshot(revision=revision[0], tables=len(data), rows=rows)


def _tables(connection: sqlite3.Connection) -> list[str]:
    query = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    return [name for (name,) in connection.execute(query)]


def _count(connection: sqlite3.Connection, table: str) -> int:
    quoted = '"' + table.replace('"', '""') + '"'
    return connection.execute(f"SELECT count(*) FROM {quoted}").fetchone()[0]


def _connect(path: Path, mode: str, timeout: float = 30) -> sqlite3.Connection:
    """Open `path` in `mode` (`ro`, `rw` or `rwc`): only `rwc` creates a missing file."""
    uri = f"{path.resolve().as_uri()}?mode={mode}"
    with _sqlite_errors(path):
        return sqlite3.connect(uri, uri=True, timeout=timeout, isolation_level=None)


@contextmanager
def _sqlite_errors(path: Path) -> Iterator[None]:
    """Turn SQLite's errors about `path` into one line."""
    try:
        yield
    except sqlite3.DatabaseError as exc:
        if "not a database" in str(exc):
            raise BackupError(f"{path} is not a SQLite database") from exc
        raise BackupError(f"{path}: {exc}") from exc
