"""Broadcast through the outbox to a fake Bot API and compare the achieved rate with the limit.

    .venv/bin/python -m bench.broadcast [--messages 10000] [--rate 2000] [--database-url URL]

The fake Telegram server runs in its own process and answers 429 to anything above
`--rate` messages per second; the dispatcher (real python-telegram-bot client, real
outbox on SQLite or PostgreSQL) is configured with the same limit. Reports achieved
rate / configured rate, the 429s the fake answered, and the dispatcher process's CPU
time per message.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import multiprocessing
import tempfile
import time
import warnings
from datetime import UTC, datetime

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.app import freeze_startup_objects
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.session import create_engine, create_sessionmaker, upgrade
from councilbot.delivery import outbox
from councilbot.delivery.dispatcher import DispatchConfig, Dispatcher, platform_rates
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.ratelimit import RateLimiter
from councilbot.delivery.targets import Outgoing


def _serve(rate: float, ready: multiprocessing.Queue, done: multiprocessing.Queue) -> None:
    from tests.fakes.telegram_api import FakeTelegramAPI

    # The fake stamps arrivals when its loop gets to them; a collector pause would bunch
    # the stamps of requests that arrived evenly and count them as a burst.
    gc.disable()

    async def main() -> None:
        async with FakeTelegramAPI(global_rate=rate) as api:
            ready.put((api.token, api.base_url))
            while done.empty():  # noqa: ASYNC110 - a process queue has no event
                await asyncio.sleep(0.05)
            done.get()
            times = [r.time for r in api.sent]
            ready.put((len(api.sent), api.rate_limited, min(times), max(times)))

    asyncio.run(main())


async def run(messages: int, rate: float, url: str | None) -> None:
    context = multiprocessing.get_context("spawn")
    ready, done = context.Queue(), context.Queue()
    server = context.Process(target=_serve, args=(rate, ready, done), daemon=True)
    server.start()
    token, base_url = ready.get(timeout=30)
    with tempfile.TemporaryDirectory() as tmp:
        engine = create_engine(url or f"sqlite+aiosqlite:///{tmp}/bench.db")
        await upgrade(engine)
        maker = create_sessionmaker(engine)
        now = datetime.now(UTC)
        async with maker() as session, session.begin():
            await session.execute(outbox.Delivery.__table__.delete())
            await outbox.enqueue(
                session,
                (
                    Envelope(
                        key=f"bench:{n}",
                        message=Outgoing(
                            platform=Platform.TELEGRAM,
                            chat_id=str(10_000_000 + n),
                            chat_kind=ChatKind.PRIVATE,
                            text=f"📣 Announcement — bench\nmessage {n}",
                        ),
                        source="bench",
                    )
                    for n in range(messages)
                ),
                now=now,
            )
        target = TelegramTarget(token, base_url, connections=32)
        await target.start()
        dispatcher = Dispatcher(
            maker,
            {Platform.TELEGRAM: target},
            RateLimiter(platform_rates(telegram_per_second=rate)),
            DispatchConfig(batch=100, max_in_flight=256, poll_interval=0.05),
        )
        freeze_startup_objects()  # as App.start() does
        cpu, wall = time.process_time(), time.perf_counter()
        while True:  # rows answered 429 come back a little later
            await dispatcher.run_until_idle()
            async with maker() as session:
                if not await outbox.pending_count(session):
                    break
            await asyncio.sleep(0.05)
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        await target.stop()
        await engine.dispose()
    done.put("stop")
    sent, rate_limited, first, last = ready.get(timeout=30)
    server.join(timeout=10)
    achieved = (sent - 1) / (last - first)
    print(f"database: {engine.dialect.name}; {sent} messages sent in {wall:.2f} s")
    print(f"configured rate {rate:.0f}/s, achieved {achieved:.0f}/s: ratio {achieved / rate:.3f}")
    print(f"429 answers from the fake server: {rate_limited}")
    print(f"dispatcher CPU time: {cpu / sent * 1e3:.3f} ms per message")


if __name__ == "__main__":
    warnings.simplefilter("ignore", DeprecationWarning)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--database-url", default=None)
    options = parser.parse_args()
    asyncio.run(run(options.messages, options.rate, options.database_url))
