"""Kill a dispatcher process in the middle of a broadcast: a restart delivers everything."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.db.models import DeliveryStatus
from tests.delivery.crash_worker import CONFIG
from tests.delivery.test_dispatcher import dispatcher, drain, enqueue
from tests.fakes.telegram_api import FakeTelegramAPI

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
ROOT = Path(__file__).resolve().parents[2]
TOTAL = 1000


async def test_restart_mid_broadcast_loses_nothing(
    engine: AsyncEngine,
    database_url: str,
    telegram_api: FakeTelegramAPI,
    telegram: TelegramTarget,
) -> None:
    await enqueue(engine, TOTAL)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.delivery.crash_worker",
        database_url,
        telegram_api.base_url,
        telegram_api.token,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            while len(telegram_api.sent) < 300:  # noqa: ASYNC110 - the fake counts
                await asyncio.sleep(0.01)
    finally:
        process.send_signal(signal.SIGKILL)  # no clean-up, no last flush: a crash
        await process.wait()
    sent_before_restart = len(telegram_api.sent)
    assert sent_before_restart < TOTAL, "the broadcast finished before the crash"

    await asyncio.sleep(CONFIG.lease.total_seconds())  # the dead worker's leases run out
    await drain(dispatcher(engine, telegram), engine, {DeliveryStatus.SENT: TOTAL})

    copies = Counter(r.params["text"] for r in telegram_api.sent)
    assert set(copies) == {f"message {n}" for n in range(TOTAL)}
    duplicates = sum(n - 1 for n in copies.values())
    # Only messages in flight (or sent but not yet recorded) at the crash go out twice.
    assert duplicates <= CONFIG.max_in_flight + 20, duplicates
