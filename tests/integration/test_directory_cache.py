"""The speaker, roles and councils caches (services/cache.py): read commands answered from
memory, and every change seen — at once when this process made it, within the time to live
when another one did. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import event, text

from councilbot.services.directory import ServiceDirectory
from tests.conftest import Bot

CORK = "Southern Ireland council (MTU)"


@contextmanager
def statements(bot: Bot) -> Iterator[list[str]]:
    """Collect the SQL statements the app sends to the database meanwhile."""
    seen: list[str] = []
    engine = bot.app.engine.sync_engine

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_read_commands_repeated_read_nothing_from_the_database(bot: Bot) -> None:
    first = {line: await bot(line) for line in ("sam: /help", "sam: /councils", "sam: /whoami")}
    with statements(bot) as seen:
        again = {line: await bot(line) for line in first}
    assert again == first
    assert seen == []


async def test_a_change_made_here_shows_in_the_very_next_reply(bot: Bot) -> None:
    await bot("sam: /help")
    assert "/announce" not in await bot("sam: /help")  # cached: sam coordinates nothing
    await bot("/coordinator add sam cork")
    assert "/announce" in await bot("sam: /help")
    await bot("/coordinator remove sam cork")
    assert "/announce" not in await bot("sam: /help")

    assert (await bot("sam: /councils")).endswith(f"This chat is linked to {CORK}.")
    # Someone known, in another chat: that chat's own link (here: none, a private chat).
    assert "linked" not in await bot("sam@dm: /councils")
    await bot("/unlink")
    assert "This chat is not linked yet" in await bot("sam: /councils")

    assert "Subscriptions: none" in await bot("sam: /whoami")
    await bot("sam: /subscribe events cork")
    assert "Subscriptions: events (cork)" in await bot("sam: /whoami")

    await bot("sam: /lang it")
    assert "Ecco cosa posso fare" in await bot("sam: /help")


async def test_a_change_made_by_another_process_shows_within_the_time_to_live(
    bot: Bot,
) -> None:
    bot.app.router.directory = ServiceDirectory(ttl=0.3)
    english = await bot("sam: /help")
    assert english.startswith("Here is what I can do.")
    assert "Atlantis" not in await bot("sam: /councils")
    # Another process (a second worker, `councilbot seed`) changes the rows behind our back.
    async with bot.app.engine.begin() as connection:
        await connection.execute(text("UPDATE members SET locale = 'it'"))
        await connection.execute(text("UPDATE councils SET city = 'Atlantis' WHERE slug = 'cork'"))
    await asyncio.sleep(0.4)
    assert "Ecco cosa posso fare" in await bot("sam: /help")
    assert "Atlantis" in await bot("sam: /councils")


async def test_a_refused_command_leaves_the_cache_usable(bot: Bot) -> None:
    await bot("sam: /councils")
    # Refused after the speaker was read: its transaction rolls back.
    assert "There is no council" in await bot("sam: /start atlantis")
    assert await bot("sam: /councils") == await bot("sam: /councils")
    await bot("sam: /lang fr")  # a write through the cached member
    assert "Voici ce que je sais faire" in await bot("sam: /help")
