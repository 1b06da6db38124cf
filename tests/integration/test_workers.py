"""Several `councilbot run` processes on one PostgreSQL: each message once, the scheduler led."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import aiohttp
import pytest
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.core.messages import Platform
from councilbot.db.base import Base
from councilbot.db.models import Channel, Council, Delivery, DeliveryStatus, Job, JobState
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery.scheduler import ADVISORY_LOCK_KEY
from councilbot.services.councils import read_seed_file, seed_councils
from tests.adapters.telegram.test_run import update
from tests.conftest import SEED_FILE
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, free_port, stop, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
SECRET = "workers-webhook-secret"
COORDINATOR = "111"  # the sender of private_command.json, a bootstrap admin here
BROADCAST = 500
SCHEDULED = 3
SYNC_SECONDS = 2  # the scheduler's sync interval, when a test relies on it


class Cluster:
    """Start `councilbot run` processes on one database, each on its own port."""

    def __init__(self, url: str, api: FakeTelegramAPI) -> None:
        self.url, self.api = url, api
        self.processes: dict[str, tuple[asyncio.subprocess.Process, int]] = {}
        self.sync_seconds = SYNC_SECONDS
        self._update_id = 1000

    async def start(self, name: str, role: str) -> None:
        """Start one process and wait until it answers /healthz (its scheduler then leads or not)."""
        port = free_port()
        env = {
            **os.environ,
            "COUNCILBOT_DATABASE_URL": self.url,
            "COUNCILBOT_HTTP_PORT": str(port),
            "COUNCILBOT_ROLE": role,
            "COUNCILBOT_ADMINS": f"telegram:{COORDINATOR}",
            "COUNCILBOT_SCHEDULER_SYNC_SECONDS": str(self.sync_seconds),
            "COUNCILBOT_TELEGRAM_RATE": "5000",
            "TELEGRAM_BOT_TOKEN": self.api.token,
            "TELEGRAM_API_BASE_URL": self.api.base_url,
            "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{port}/telegram/webhook",
            "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }
        process = await councilbot("run", env=env)
        self.processes[name] = (process, port)
        async with aiohttp.ClientSession() as http, asyncio.timeout(30):
            while True:
                assert process.returncode is None, (await process.stderr.read()).decode()
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)

    async def say(self, name: str, line: str) -> None:
        """Send a command to one process's webhook, as Telegram would, and wait for its reply."""
        _process, port = self.processes[name]
        self._update_id += 1
        replies = len(self.api.texts_to(COORDINATOR))
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                f"http://127.0.0.1:{port}/telegram/webhook",
                json=update(line, self._update_id),
                headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            ) as response,
        ):
            assert response.status == 200
        await wait_for(lambda: len(self.api.texts_to(COORDINATOR)) > replies)

    def kill(self, name: str) -> None:
        """Kill a process with SIGKILL: no clean-up, no lock given back politely."""
        process, _port = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)

    async def stop(self) -> None:
        for process, _port in self.processes.values():
            if process.returncode is None:
                await stop(process)


@pytest.fixture
async def database(postgres_migrated: str) -> AsyncIterator[AsyncEngine]:
    """Seed the councils; link 500 Telegram groups to Málaga and 3 to Cork."""
    engine = create_engine(postgres_migrated)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=now)
        councils = dict((await session.execute(select(Council.slug, Council.id))).tuples().all())
        links = (("malaga", 1000, BROADCAST), ("cork", 5000, SCHEDULED))
        group = {"platform": Platform.TELEGRAM, "workspace": "", "title": "group", "active": True}
        rows = [
            group
            | {"council_id": councils[slug], "external_id": str(-(base + n))}
            | {"created_at": now, "updated_at": now}
            for slug, base, count in links
            for n in range(count)
        ]
        await session.execute(insert(Channel), rows)
    yield engine
    await engine.dispose()


@pytest.fixture
async def cluster(database: AsyncEngine, postgres_migrated: str) -> AsyncIterator[Cluster]:
    async with FakeTelegramAPI() as api:
        cluster = Cluster(postgres_migrated, api)
        try:
            yield cluster
        finally:
            await cluster.stop()


def at(seconds: float) -> str:
    """Return an --at value this many seconds from now (ISO, UTC)."""
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat(timespec="seconds")


def copies(api: FakeTelegramAPI, prefix: str) -> Counter[str]:
    """Count the messages each group got whose text contains `prefix`."""
    return Counter(
        r.chat_id for r in api.sent if r.chat_id != COORDINATOR and prefix in r.params["text"]
    )


async def deliveries(engine: AsyncEngine) -> dict[DeliveryStatus, int]:
    async with engine.connect() as conn:
        rows = await conn.execute(select(Delivery.status, func.count()).group_by(Delivery.status))
        return dict(rows.tuples().all())


async def scheduler_holder(engine: AsyncEngine) -> int | None:
    """Return the backend pid holding the scheduler's advisory lock, if any."""
    async with engine.connect() as conn:
        return await conn.scalar(
            text(
                "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
                "AND classid = :high AND objid = :low AND objsubid = 1"
            ),
            {"high": ADVISORY_LOCK_KEY >> 32, "low": ADVISORY_LOCK_KEY & 0xFFFFFFFF},
        )


@pytest.mark.parametrize(
    "roles", [("web", "worker"), ("all", "all")], ids=["web+worker", "all+all"]
)
async def test_a_scheduled_announcement_and_a_broadcast_go_out_once(
    cluster: Cluster, database: AsyncEngine, roles: tuple[str, str]
) -> None:
    # Far longer than the test: only a wake-up can bring the new job to the leading scheduler.
    cluster.sync_seconds = 600
    named = dict(zip(("one", "two"), roles, strict=True))
    for name, role in named.items():
        await cluster.start(name, role)  # "one" leads the scheduler if it runs one
    web = [name for name, role in named.items() if role != "worker"]
    api = cluster.api

    # Told to a process that does not lead the scheduler (a web one, or the second "all").
    await cluster.say(web[-1], f"/announce cork Scheduled hello --at {at(3)} --yes")
    await cluster.say(web[0], "/announce malaga Broadcast hello --yes")
    async with asyncio.timeout(30):
        while sum(copies(api, "hello").values()) < BROADCAST + SCHEDULED:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # a duplicate would arrive now

    broadcast = copies(api, "Broadcast hello")
    assert len(broadcast) == BROADCAST and set(broadcast.values()) == {1}
    scheduled = copies(api, "Scheduled hello")
    assert len(scheduled) == SCHEDULED and set(scheduled.values()) == {1}
    assert await deliveries(database) == {DeliveryStatus.SENT: BROADCAST + SCHEDULED}
    async with database.connect() as conn:
        assert (await conn.execute(select(Job.state))).scalars().all() == [JobState.DONE]
        senders = set((await conn.execute(select(Delivery.claimed_by))).scalars())
    # Only processes whose role sends claimed rows; only those taking updates set a webhook.
    sending = {cluster.processes[name][0].pid for name, role in named.items() if role != "web"}
    assert {int(sender.split(":")[1]) for sender in senders} <= sending
    hooks = {call.params["url"] for call in api.calls("setWebhook")}
    ports = {cluster.processes[name][1] for name in web}
    assert hooks == {f"http://127.0.0.1:{port}/telegram/webhook" for port in ports}


@pytest.mark.parametrize(
    "roles", [("worker", "worker", "web"), ("all", "all")], ids=["2 workers+web", "all+all"]
)
async def test_the_other_scheduler_takes_over_when_the_leader_is_killed(
    cluster: Cluster, database: AsyncEngine, roles: tuple[str, ...]
) -> None:
    names = [f"p{n}" for n in range(len(roles))]
    for name, role in zip(names, roles, strict=True):
        await cluster.start(name, role)  # the first one up takes the lead
    leader, web = names[0], names[-1]
    before = await scheduler_holder(database)
    assert before is not None

    cluster.kill(leader)
    killed_at = time.monotonic()
    async with asyncio.timeout(SYNC_SECONDS + 3):
        while (holder := await scheduler_holder(database)) in (None, before):  # noqa: ASYNC110
            await asyncio.sleep(0.1)
    took = time.monotonic() - killed_at
    assert holder is not None
    assert took <= SYNC_SECONDS + 1, f"took over after {took:.1f} s"

    await cluster.say(web, f"/announce cork After the kill --at {at(2)} --yes")
    api = cluster.api
    await wait_for(lambda: len(copies(api, "After the kill")) == SCHEDULED, 15)
    await asyncio.sleep(1)
    assert set(copies(api, "After the kill").values()) == {1}
    assert await deliveries(database) == {DeliveryStatus.SENT: SCHEDULED}
