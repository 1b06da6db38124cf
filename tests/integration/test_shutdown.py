"""SIGTERM to `councilbot run`: what is in flight finishes, the rest is given back, exit 0.

The real process runs against a fake Bot API that is slow to answer sendMessage, so that a
broadcast (or a command's reply) is still going when the signal arrives.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from collections import Counter
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.models import DeliveryStatus
from tests.adapters.telegram.test_run import SECRET, update
from tests.delivery.test_dispatcher import enqueue, statuses
from tests.delivery.test_stop import assert_given_back
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, free_port, prepared_environment, stop, wait_for

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
TOTAL = 300
EXIT_BOUND = 15  # seconds: the 10 s grace, and the process's own start and stop
PHASES = (
    "stopping: taking no new updates",
    "dispatcher stopping: ",
    "dispatcher stopped: the outcomes of its sends are recorded",
    "scheduler stopped",
    "stopping: the commands in flight are answered",
    "stopped: database connections closed",
)


def bot_environment(database_url: str, api: FakeTelegramAPI) -> dict[str, str]:
    return {
        **os.environ,
        "COUNCILBOT_DATABASE_URL": database_url,
        "COUNCILBOT_HTTP_PORT": str(free_port()),
        "COUNCILBOT_ADMINS": "",
        "COUNCILBOT_LOG_LEVEL": "INFO",  # the shutdown's phases are logged at INFO
        "TELEGRAM_BOT_TOKEN": api.token,
        "TELEGRAM_API_BASE_URL": api.base_url,
    }


async def terminate(process: asyncio.subprocess.Process) -> float:
    """Send SIGTERM, expect exit status 0, and return how long the process took."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), EXIT_BOUND + 5) == 0
    return loop.time() - started


async def test_sigterm_mid_broadcast_loses_nothing_and_sends_nothing_twice(
    engine: AsyncEngine, database_url: str
) -> None:
    async with FakeTelegramAPI() as api:
        api.send_delay = (0.05, 0.2)
        await enqueue(engine, TOTAL)  # 300 private chats, paced at 30 messages a second
        env = bot_environment(database_url, api)
        process = await councilbot("run", env=env)
        logs = asyncio.create_task(process.stderr.read())  # keeps the pipe from filling
        try:
            await wait_for(lambda: len(api.sent) >= 30, 60)
        except BaseException:
            process.kill()
            raise
        took = await terminate(process)
        log = (await logs).decode()

        assert took < EXIT_BOUND, log
        # Each message the platform was asked for was answered and recorded as sent; none is
        # left claimed or in `sending`; the rest is due now for any worker, no attempt used.
        sent = len(api.sent)
        assert 0 < sent < TOTAL, "the broadcast was not in progress"
        assert len(api.calls("sendMessage")) == sent
        await assert_given_back(engine, sent=sent, total=TOTAL)
        for phase in PHASES:  # one line each, at INFO
            assert phase in log, (phase, log)

        # The next worker sends the rest: every message reaches the platform exactly once.
        # (at ten times the pace: its part is the count, not the pacing)
        faster = {"COUNCILBOT_HTTP_PORT": str(free_port()), "COUNCILBOT_TELEGRAM_RATE": "300"}
        second = await councilbot("run", env=env | faster)
        try:
            async with asyncio.timeout(60):
                while await statuses(engine) != {DeliveryStatus.SENT: TOTAL}:  # noqa: ASYNC110
                    await asyncio.sleep(0.2)
        finally:
            await stop(second)
        copies = Counter(str(r.params["text"]) for r in api.sent)
        assert copies == Counter(f"message {n}" for n in range(TOTAL))


@pytest.fixture
async def environment(tmp_path: Path) -> dict[str, str]:
    return await prepared_environment(tmp_path)


async def test_a_command_in_flight_is_answered_and_new_webhook_calls_wait(
    environment: dict[str, str],
) -> None:
    async with FakeTelegramAPI() as api:
        api.send_delay = (1.5, 1.5)  # the reply is on its way when the signal arrives
        port = environment["COUNCILBOT_HTTP_PORT"]
        base = f"http://127.0.0.1:{port}"
        env = environment | {
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_WEBHOOK_URL": f"{base}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }  # fmt: skip
        headers = {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET}
        process = await councilbot("run", env=env)
        logs = asyncio.create_task(process.stderr.read())
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=20)) as http:

            async def call(text: str, update_id: int) -> int:
                body = json.dumps(update(text, update_id))
                async with http.post(f"{base}/telegram/webhook", data=body, headers=headers) as r:
                    return r.status

            try:
                await wait_for(lambda: api.calls("setWebhook"), 60)
                first = asyncio.create_task(call("/help", 9101))
                await wait_for(lambda: api.calls("sendMessage"))  # the reply is being sent
            except BaseException:
                process.kill()
                raise
            process.send_signal(signal.SIGTERM)

            async def health() -> int:
                async with http.get(f"{base}/healthz") as response:
                    return response.status

            async with asyncio.timeout(5):  # the load balancer sees us going
                while await health() != 503:  # noqa: ASYNC110 - polling as a load balancer does
                    await asyncio.sleep(0.05)
            assert await call("/councils", 9102) == 503  # Telegram sends it again later
            assert await first == 200
        assert await asyncio.wait_for(process.wait(), EXIT_BOUND) == 0
        log = (await logs).decode()
    assert len(api.sent) == 1, log
    assert "/councils" in api.texts_to("111")[0]  # the reply to /help, which lists the commands


async def test_a_polled_command_in_flight_is_answered(environment: dict[str, str]) -> None:
    async with FakeTelegramAPI() as api:
        api.send_delay = (1.5, 1.5)
        env = environment | {
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
        }  # fmt: skip
        process = await councilbot("run", env=env)
        try:
            await wait_for(lambda: api.calls("getUpdates"), 60)
            api.push_update(update("/help", 9201))
            await wait_for(lambda: api.calls("sendMessage"))
        except BaseException:
            process.kill()
            raise
        await terminate(process)
    assert len(api.sent) == 1
    assert "/councils" in api.texts_to("111")[0]
