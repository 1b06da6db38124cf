"""In-process caches of what every command reads and almost nothing changes: who is
speaking, in which chat, their roles, the councils (and what /whoami shows).

An entry is used only while it is fresh: younger than its time to live, and no newer than
the last write this process committed to the tables it was read from. A session that
writes to one of them (an ORM flush or an INSERT, UPDATE or DELETE statement) marks
itself, and its commit moves `generation` on, which retires every entry read before.
Another process's writes (a second worker, `councilbot seed`) are seen when the entry
expires: TTL seconds at most.

A reader takes the generation *before* it reads the database and stores its entry under
that one, so an entry read while another transaction was committing a change cannot
outlive it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Hashable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import event, inspect
from sqlalchemy.orm import (
    ORMExecuteState,
    Session,
    UOWTransaction,
    make_transient_to_detached,
)
from sqlalchemy.orm.attributes import set_committed_value

from councilbot.db.models import Channel, Council, Identity, Member, Role, Subscription

# Seconds another process's change may go unseen here (see the module's docstring).
TTL = 2.0
CACHED = (Member, Identity, Channel, Council, Role, Subscription)
CACHED_TABLES = frozenset(model.__tablename__ for model in CACHED)
_WROTE = "councilbot_cached_tables_written"
_CONNECTED = "councilbot_holds_a_connection"

T = TypeVar("T")


class _Generation:
    value = 0


def generation() -> int:
    """Return the number of committed writes to the cached tables so far, in this process."""
    return _Generation.value


def invalidate() -> None:
    """Retire every entry read so far (after a write this process made)."""
    _Generation.value += 1


@dataclass(slots=True)
class _Entry(Generic[T]):
    value: T
    generation: int
    expires: float


class Cache(Generic[T]):
    """Values by key, each used while fresh (see the module's docstring)."""

    def __init__(self, ttl: float = TTL, size: int = 10_000) -> None:
        self.ttl = ttl
        self.size = size
        self._entries: dict[Hashable, _Entry[T]] = {}
        self._loading: dict[Hashable, asyncio.Event] = {}

    def get(self, key: Hashable) -> T | None:
        """Return the fresh value of a key, if there is one."""
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry.generation != _Generation.value:
            del self._entries[key]
            return None
        if entry.expires < time.monotonic():
            # Expired, but nothing changed here: while one command reads it again, the
            # others take the value it replaces rather than all read the database at once.
            return entry.value if key in self._loading else None
        return entry.value

    async def get_after_loading(self, key: Hashable, session: Session | Any) -> T | None:
        """Return the fresh value of a key, first waiting for a command reading it now.

        Under load many commands arrive together: when an entry is missing (at start-up,
        or retired by a write here), one reads the database and the others wait for it
        rather than read it too. Only a session that holds no connection waits: on SQLite
        the one connection may be what the reader is waiting for.
        """
        value = self.get(key)
        loading = self._loading.get(key)
        if value is None and loading is not None and not session.info.get(_CONNECTED):
            await loading.wait()
            value = self.get(key)
        return value

    @contextlib.contextmanager
    def loading(self, key: Hashable) -> Iterator[None]:
        """Mark a key as being read from the database meanwhile (see get and get_after_loading)."""
        if key in self._loading:
            yield  # another command reads it too (it did not wait): nothing to announce
            return
        done = self._loading[key] = asyncio.Event()
        try:
            yield
        finally:
            del self._loading[key]
            done.set()

    def put(self, key: Hashable, value: T, read_at: int) -> None:
        """Keep a value read from the database at generation `read_at`."""
        if self.ttl <= 0 or read_at != _Generation.value:
            return  # written meanwhile: the value may already be stale
        if len(self._entries) >= self.size:
            self._entries.clear()  # cheaper than tracking ages; refilled on the next reads
        self._entries[key] = _Entry(value, read_at, time.monotonic() + self.ttl)

    def clear(self) -> None:
        self._entries.clear()


def read_generation(session: Session | Any) -> int | None:
    """Return the generation to cache what this session reads now under; None when the
    session wrote a cached table (what it reads is not committed yet: not for sharing)."""
    if session.info.get(_WROTE):
        return None
    return _Generation.value


@dataclass(frozen=True, slots=True)
class Snapshot:
    """An ORM object's column values, taken when it was read (immune to a later rollback)."""

    model: type[Any]
    values: tuple[tuple[str, Any], ...]

    @classmethod
    def of(cls, obj: Any) -> Snapshot:
        mapper = inspect(obj).mapper
        return cls(type(obj), tuple((a.key, getattr(obj, a.key)) for a in mapper.column_attrs))

    def attach(self, session: Session, **related: Any) -> Any:
        """Return the object as a clean, persistent one of `session`, without a query.

        `related` sets loaded relationships (a channel's council). A session that already
        holds the object keeps its own.
        """
        mapper = self.model.__mapper__
        key = mapper.identity_key_from_primary_key(
            [dict(self.values)[column.key] for column in mapper.primary_key]
        )
        held = session.identity_map.get(key)
        if held is not None:
            return held
        obj = mapper.class_manager.new_instance()
        # Loaded values with no history, as a query leaves them (set_committed_value's
        # effect, a tenth of its cost).
        obj.__dict__.update(self.values)
        for name, value in related.items():
            set_committed_value(obj, name, value)
        make_transient_to_detached(obj)
        session.add(obj)
        return obj


def watch_writes() -> None:
    """Have every session's commit retire the cached entries when it wrote a cached table."""
    if not event.contains(Session, "after_flush", _after_flush):
        event.listen(Session, "after_flush", _after_flush)
        event.listen(Session, "do_orm_execute", _on_execute)
        event.listen(Session, "after_commit", _after_commit)
        event.listen(Session, "after_soft_rollback", _after_rollback)
        event.listen(Session, "after_begin", _after_begin)


def _after_begin(session: Session, _transaction: Any, _connection: Any) -> None:
    session.info[_CONNECTED] = True


def _after_flush(session: Session, _flush: UOWTransaction) -> None:
    for objects in (session.new, session.dirty, session.deleted):
        if any(isinstance(obj, CACHED) for obj in objects):
            session.info[_WROTE] = True
            invalidate()  # now too: a reader in this transaction must not cache what it saw
            return


def _on_execute(state: ORMExecuteState) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        table: Any = getattr(state.statement, "table", None)
        if table is None or getattr(table, "name", None) in CACHED_TABLES:
            session = state.session
            session.info[_WROTE] = True
            invalidate()


def _after_commit(session: Session) -> None:
    session.info.pop(_CONNECTED, None)
    if session.info.pop(_WROTE, False):
        invalidate()


def _after_rollback(session: Session, _previous: Any) -> None:
    if not session.in_transaction():
        session.info.pop(_CONNECTED, None)
    if session.info.pop(_WROTE, False):
        invalidate()  # harmless: entries are read again
