"""The language of answers given outside a command (a stale button, a message that is not
a command) is looked up read-only: no rows, no write lock, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import func, select, text

from councilbot.core.router import NOT_A_COMMAND
from councilbot.db.models import Identity, Member
from councilbot.db.session import create_engine
from tests.conftest import Bot

NO_BUTTONS = "There is no button {number}: my last message here had no buttons."


@asynccontextmanager
async def another_process_writing(database_url: str) -> AsyncIterator[None]:
    """Hold the lock a write to members and identities would wait for, from another connection."""
    if database_url.startswith("sqlite"):
        connection = sqlite3.connect(database_url.split("///", 1)[1], isolation_level=None)
        connection.execute("BEGIN IMMEDIATE")  # SQLite's one write lock
        try:
            yield
        finally:
            connection.rollback()
            connection.close()
        return
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            # Reads go on; an INSERT or UPDATE of these tables waits for the lock.
            await connection.execute(text("LOCK TABLE members, identities IN EXCLUSIVE MODE"))
            yield
            await connection.rollback()
    finally:
        await engine.dispose()


async def members_and_identities(bot: Bot) -> tuple[int, int]:
    async with bot.app.sessionmaker() as session:
        return (
            await session.scalar(select(func.count()).select_from(Member)),
            await session.scalar(select(func.count()).select_from(Identity)),
        )


async def test_a_stranger_pressing_a_stale_button_is_answered_without_writing(
    bot: Bot, database_url: str
) -> None:
    await bot("admin@bologna-chat: /link bologna")  # Bologna's language is Italian
    before = await members_and_identities(bot)
    italian = bot.app.catalogs.translator("it")
    async with another_process_writing(database_url), asyncio.timeout(10):
        reply = await bot("stranger@bologna-chat: 1")
        hint = await bot("stranger@dm: hello")
    # Answered as a newcomer would be: in the chat's language, else the default one.
    assert reply == italian(NO_BUTTONS, number="1")
    assert hint == "I only understand commands. Send /help to see them."
    assert await members_and_identities(bot) == before


async def test_a_member_who_chose_turkish_is_told_in_turkish(bot: Bot, database_url: str) -> None:
    await bot("ann@dm: /lang tr")
    turkish = bot.app.catalogs.translator("tr")
    async with another_process_writing(database_url), asyncio.timeout(10):
        # The default chat is Cork's, in English; ann's own choice wins.
        reply = await bot("ann: 1")
        hint = await bot("ann@dm: hello")
    assert reply == turkish(NO_BUTTONS, number="1")
    assert hint == turkish(NOT_A_COMMAND)
