"""Measure the bot's own work per command: the router, services and database, no platform.

    .venv/bin/python -m bench.router [--commands 3000] [--database-url URL]

Reports read and write commands per second, and the process's resident memory once
the app is built and idle.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from councilbot.app import build_app
from councilbot.core.messages import Chat, ChatKind, Command, Identity, Platform
from councilbot.db.session import create_engine, create_sessionmaker, upgrade
from councilbot.services.councils import (
    get_council,
    link_channel,
    read_seed_file,
    seed_councils,
)
from councilbot.settings import DEFAULT_CONFIG_DIR, Settings


def rss_mib() -> float:
    """Return this process's resident set size in MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def main(commands: int, url: str | None) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        engine = create_engine(url)
        await upgrade(engine)
        now = datetime.now(UTC)
        chat = Chat(platform=Platform.CONSOLE, chat_id="bench-chat", kind=ChatKind.GROUP)
        async with create_sessionmaker(engine)() as session, session.begin():
            await seed_councils(
                session, read_seed_file(DEFAULT_CONFIG_DIR / "councils.yaml"), now=now
            )
        app = await build_app(Settings(database_url=url), engine=engine)
        async with app.sessionmaker() as session, session.begin():
            cork = await get_council(session, "cork")
            await link_channel(session, chat, None, cork, by=None, now=now)
        print(f"database: {engine.dialect.name}; idle RSS after start-up: {rss_mib():.0f} MiB")

        def command(name: str, args: str = "", user: int = 0) -> Command:
            sender = Identity(platform=Platform.CONSOLE, user_id=f"user{user}", username=f"u{user}")
            return Command(name=name, args=args, sender=sender, chat=chat, received_at=now)

        for name, args in [("councils", ""), ("help", ""), ("whoami", ""), ("subscribe", "events")]:
            # Warm up: the first command of each user creates the member.
            for user in range(50):
                await app.router.handle(command(name, args, user))
            batch = [
                command("unsubscribe" if name == "subscribe" and i % 2 == 0 else name, args, i % 50)
                for i in range(commands)
            ]
            wall, cpu = time.perf_counter(), time.process_time()
            for item in batch:
                await app.router.handle(item)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            label = "subscribe/unsubscribe (write)" if name == "subscribe" else f"/{name} (read)"
            print(
                f"{label:32} {commands / wall:8.0f} commands/s  "
                f"{wall / commands * 1e3:6.2f} ms each  {cpu / commands * 1e3:6.2f} ms CPU each"
            )
        print(f"RSS after the run: {rss_mib():.0f} MiB")
        await app.aclose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=3000)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    asyncio.run(main(options.commands, options.database_url))
