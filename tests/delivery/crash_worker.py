"""A dispatcher process for the crash test: `python -m tests.delivery.crash_worker URL API TOKEN`.

It sends the outbox to a fake Bot API until it is killed.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import timedelta

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.core.messages import Platform
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery.dispatcher import DispatchConfig, Dispatcher, platform_rates
from councilbot.delivery.ratelimit import RateLimiter

CONFIG = DispatchConfig(
    batch=50, max_in_flight=50, lease=timedelta(seconds=1), poll_interval=0.05, flush_interval=0.02
)


async def main(url: str, api: str, token: str) -> None:
    target = TelegramTarget(token, api, timeout=2.0)
    await target.start()
    engine = create_engine(url)
    worker = Dispatcher(
        create_sessionmaker(engine),
        {Platform.TELEGRAM: target},
        RateLimiter(platform_rates(telegram_per_second=400, telegram_private_per_second=400)),
        CONFIG,
    )
    print("ready", flush=True)
    await worker.run()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
