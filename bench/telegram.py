"""Replies per second on Telegram: CouncilBot's adapter against a bare python-telegram-bot echo bot.

    .venv/bin/python -m bench.telegram [--updates 2000]

A fake Bot API in its own process hands out `--updates` private messages through
getUpdates and times the replies (first update served to last sendMessage). The
same python-telegram-bot Application, polling the same fake, runs either a bare
echo handler or CouncilBot's adapter with its router, services and SQLite
database, answering read commands.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import tempfile
import warnings
from datetime import UTC, datetime

from telegram import Update
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters

from councilbot.adapters.telegram.app import TelegramAdapter
from councilbot.app import build_app, freeze_startup_objects
from councilbot.db.session import create_engine, create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import DEFAULT_CONFIG_DIR, Settings

USERS = 50


def _update(n: int, text: str) -> dict:
    user = 1000 + n % USERS
    sender = {"id": user, "is_bot": False, "first_name": f"User {user}", "language_code": "en"}
    entities = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    message = {
        "message_id": n + 1,
        "from": sender,
        "chat": {"id": user, "first_name": sender["first_name"], "type": "private"},
        "date": 1796115600,
        "text": text,
        "entities": entities,
    }
    return {"update_id": n + 1, "message": message}


def _serve(
    count: int,
    text: str,
    ready: multiprocessing.Queue,
    done: multiprocessing.Queue,
    finish: multiprocessing.Queue,
) -> None:
    from tests.fakes.telegram_api import FakeTelegramAPI

    gc.disable()  # the fake's own pauses must not count against the bot

    async def main() -> None:
        async with FakeTelegramAPI() as api:
            api.updates.extend(_update(n, text) for n in range(count))
            ready.put((api.token, api.base_url))
            async with asyncio.timeout(600):
                while len(api.sent) < count:  # noqa: ASYNC110 - counting recorded calls
                    await asyncio.sleep(0.01)
            first = min(r.time for r in api.calls("getUpdates"))
            done.put((len(api.sent), api.sent[-1].time - first))
            await asyncio.to_thread(finish.get, True, 60)  # serve until the bot has stopped

    asyncio.run(main())


async def _echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.effective_message is not None
    await update.effective_message.reply_text(update.effective_message.text or "")


async def run(kind: str, count: int, text: str) -> float:
    context = multiprocessing.get_context("spawn")
    ready, done, finish = context.Queue(), context.Queue(), context.Queue()
    server = context.Process(target=_serve, args=(count, text, ready, done, finish), daemon=True)
    server.start()
    token, base_url = ready.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "echo":
            application = ApplicationBuilder().token(token).base_url(base_url).build()
            application.add_handler(MessageHandler(filters.ALL, _echo))
            await application.initialize()
            await application.start()
            assert application.updater is not None
            await application.updater.start_polling(poll_interval=0.0, timeout=1)
            stop = application
        else:
            url = f"sqlite+aiosqlite:///{tmp}/bench.db"
            engine = create_engine(url)
            await upgrade(engine)
            async with create_sessionmaker(engine)() as session, session.begin():
                seed = read_seed_file(DEFAULT_CONFIG_DIR / "councils.yaml")
                await seed_councils(session, seed, now=datetime.now(UTC))
            app = await build_app(Settings(database_url=url), engine=engine, targets={})
            adapter = TelegramAdapter(app.router, token, base_url=base_url, poll_timeout=1)
            freeze_startup_objects()
            await adapter.start()
            stop = adapter.application
        sent, seconds = await asyncio.to_thread(done.get, True, 600)
        if stop.updater is not None:
            await stop.updater.stop()
        await stop.stop()
        await stop.shutdown()
    finish.put("stop")
    server.join(timeout=10)
    rate = sent / seconds
    print(f"{kind:24} {text:10} {sent} replies in {seconds:.2f} s: {rate:.0f} replies/s")
    return rate


async def main(count: int) -> None:
    echo = await run("bare PTB echo bot", count, "/echo")
    for command in ("/help", "/councils", "/whoami"):
        rate = await run("CouncilBot", count, command)
        print(f"{'':24} {command:10} {rate / echo:.0%} of the echo bot")


if __name__ == "__main__":
    warnings.simplefilter("ignore", DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--updates", type=int, default=2000)
    asyncio.run(main(parser.parse_args().updates))
