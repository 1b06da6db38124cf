"""Files sent through the outbox: stored once by content, read back for the dispatcher.

A feature that posts a calendar file, a chart or a cover stores it with `store()` in its
own transaction and puts the returned `FileRef` on each `Outgoing`: the outbox rows hold
only that reference, and the bytes live once in the `files` table, whatever the number of
chats and subscribers. The same bytes stored twice (the same cover in two posts, two
processes at once) are one row. The dispatcher reads a file's bytes through a
`FileLoader`, which keeps the latest ones in memory, so a broadcast reads its file once.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from datetime import datetime
from pathlib import PurePosixPath

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.errors import InvalidInput
from councilbot.core.i18n import N_
from councilbot.db.models import File
from councilbot.db.session import READ_ONLY, upsert
from councilbot.delivery.targets import FileRef

__all__ = ["MAX_BYTES", "FileGone", "FileLoader", "FileRef", "store"]

MAX_MB = 50
MAX_BYTES = MAX_MB * 1024 * 1024  # what a Telegram bot may upload; Slack takes more
NAME_LIMIT = 200  # characters of a file name
FILE_EMPTY = N_("The file {name} is empty, so there is nothing to send.")
_FILES = File.__table__


def clean_name(filename: str) -> str:
    """Return a file name without directories, at most NAME_LIMIT characters, never empty."""
    name = PurePosixPath(filename.replace("\\", "/")).name.strip() or "file"
    if len(name) <= NAME_LIMIT:
        return name
    stem, dot, suffix = name.rpartition(".")
    if not dot or len(suffix) > 16:
        return name[:NAME_LIMIT]
    return stem[: NAME_LIMIT - len(suffix) - 1] + "." + suffix


async def store(
    session: AsyncSession, *, filename: str, content_type: str, data: bytes, now: datetime
) -> FileRef:
    """Keep a file's bytes once (by content) and return the reference a message carries."""
    name = clean_name(filename)
    if not data:
        raise InvalidInput(FILE_EMPTY, name=name)
    if len(data) > MAX_BYTES:
        raise InvalidInput.plural(
            "The file {name} is too big to send: files can have at most {count} megabyte.",
            "The file {name} is too big to send: files can have at most {count} megabytes.",
            MAX_MB,
            name=name,
        )
    digest = hashlib.sha256(data).hexdigest()
    # One statement that does nothing when the bytes are there already: a second
    # transaction storing them meanwhile waits for the first and then finds its row.
    inserted = await session.scalar(
        upsert(session, _FILES)
        .values(sha256=digest, size=len(data), data=data, created_at=now)
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(_FILES.c.id)
    )
    file_id = inserted or await session.scalar(select(File.id).where(File.sha256 == digest))
    assert file_id is not None  # inserted, or there already
    return FileRef(
        id=file_id,
        sha256=digest,
        filename=name,
        content_type=content_type or "application/octet-stream",
        size=len(data),
    )


class FileGone(Exception):
    """The file a message refers to is no longer stored."""


class FileLoader:
    """Read stored files' bytes, keeping the most recently used ones in memory."""

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, cache_bytes: int = 64 * 2**20
    ) -> None:
        self._sessionmaker = sessionmaker
        self.cache_bytes = cache_bytes
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cached = 0  # bytes held in _cache
        self._locks: dict[int, asyncio.Lock] = {}
        self.reads = 0  # database reads, for tests and benchmarks

    async def load(self, ref: FileRef) -> FileRef:
        """Return the reference with its bytes, read once however many sends ask at once."""
        if ref.data is not None:
            return ref
        lock = self._locks.setdefault(ref.id, asyncio.Lock())
        async with lock:  # the sends waiting here then find the bytes in the cache
            data = self._cache.get(ref.id)
            if data is None:
                data = await self._read(ref.id)
                self._remember(ref.id, data)
            else:
                self._cache.move_to_end(ref.id)
        if not lock.locked():
            self._locks.pop(ref.id, None)
        return ref.model_copy(update={"data": data})

    async def _read(self, file_id: int) -> bytes:
        async with self._sessionmaker() as session:
            await session.connection(execution_options=READ_ONLY)
            data = await session.scalar(select(File.data).where(File.id == file_id))
        self.reads += 1
        if data is None:
            raise FileGone(f"file {file_id} is no longer stored")
        return bytes(data)

    def _remember(self, file_id: int, data: bytes) -> None:
        if len(data) > self.cache_bytes:
            return
        self._cache[file_id] = data
        self._cached += len(data)
        while self._cached > self.cache_bytes:
            _, dropped = self._cache.popitem(last=False)
            self._cached -= len(dropped)
