"""Commands behind buttons, kept in the database so that a button outlives a restart.

A platform that can carry only a few bytes with a button (Telegram: 64) sends a key instead
of the command; the key and its command are stored here, shared by every process, until the
button expires. Expired rows stay a little longer so that a late press can be told what the
button did, then a cheap indexed delete removes them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.db.models import CallbackKey
from councilbot.db.session import upsert

# How long an expired key is kept after it expired, so that its button still says what it did.
KEEP_EXPIRED = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class StoredCommand:
    """The command a key stands for, and until when its button works."""

    command: str
    expires_at: datetime


async def keep_command(
    session: AsyncSession, key: str, command: str, *, expires_at: datetime, now: datetime
) -> None:
    """Store the command behind a key until `expires_at` (a later expiry already stored wins)."""
    table = CallbackKey.__table__
    statement = upsert(session, table).values(
        key=key, command=command, created_at=now, expires_at=expires_at
    )
    later = case(
        (statement.excluded.expires_at > table.c.expires_at, statement.excluded.expires_at),
        else_=table.c.expires_at,
    )
    await session.execute(
        statement.on_conflict_do_update(index_elements=["key"], set_={"expires_at": later})
    )


async def find_command(session: AsyncSession, key: str) -> StoredCommand | None:
    """Return the command stored under a key (expired or not), or None when there is none."""
    row = await session.get(CallbackKey, key)
    return None if row is None else StoredCommand(row.command, row.expires_at)


async def purge_expired(session: AsyncSession, *, now: datetime) -> int:
    """Delete the keys that expired more than KEEP_EXPIRED ago; return how many."""
    result = await session.execute(
        delete(CallbackKey).where(CallbackKey.expires_at < now - KEEP_EXPIRED)
    )
    return int(getattr(result, "rowcount", 0) or 0)
