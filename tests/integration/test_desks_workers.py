"""Two real `councilbot run` processes on one PostgreSQL: 100 people race for the last desk."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.db.base import Base
from councilbot.db.models import Booking, BookingSlot
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.services.desks import seed_facilities
from tests.adapters.telegram.test_run import update
from tests.conftest import SEED_FILE
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.integration.test_workers import SECRET, Cluster
from tests.processes import wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.filterwarnings("ignore::DeprecationWarning")]
PEOPLE = 100


@pytest.fixture
async def database(postgres_migrated: str) -> AsyncIterator[AsyncEngine]:
    """Seed the councils, their facilities and desks."""
    engine = create_engine(postgres_migrated)
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    async with create_sessionmaker(engine)() as session, session.begin():
        seed = read_seed_file(SEED_FILE)
        await seed_councils(session, seed, now=now)
        await seed_facilities(session, seed, now=now)
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


def next_open_day() -> str:
    """Return the next weekday after today in Cork, as an ISO date."""
    day = datetime.now(ZoneInfo("Europe/Dublin")).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day.isoformat()


def from_person(line: str, person: int, update_id: int) -> dict:
    """Return a private-chat update from one of many people."""
    data = update(line, update_id)
    user = 7000 + person
    data["message"]["from"] |= {"id": user, "username": f"racer{person}"}
    data["message"]["chat"] |= {"id": user, "username": f"racer{person}"}
    return data


async def test_a_hundred_people_on_two_processes_get_the_last_desk_once(
    cluster: Cluster, database: AsyncEngine
) -> None:
    for name in ("one", "two"):
        await cluster.start(name, "all")
    ports = [port for _process, port in cluster.processes.values()]
    line = f"/book cork-rubicon/R1 {next_open_day()} am"

    async def send(http: aiohttp.ClientSession, person: int) -> None:
        port = ports[person % 2]
        async with http.post(
            f"http://127.0.0.1:{port}/telegram/webhook",
            json=from_person(line, person, 5000 + person),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
        ) as response:
            assert response.status == 200

    async with aiohttp.ClientSession() as http:
        await asyncio.gather(*(send(http, person) for person in range(PEOPLE)))
    api = cluster.api

    def answers() -> list[str]:
        return [t for p in range(PEOPLE) for t in api.texts_to(str(7000 + p))]

    await wait_for(lambda: len(answers()) >= PEOPLE, 60)
    replies = answers()
    assert len(replies) == PEOPLE
    assert sum(r.startswith("✅ Booked") for r in replies) == 1
    refused = [r for r in replies if "Desk R1 at MTU Rubicon Centre is already booked" in r]
    assert len(refused) == PEOPLE - 1
    async with database.connect() as conn:
        assert await conn.scalar(select(func.count()).select_from(Booking)) == 1
        assert await conn.scalar(select(func.count()).select_from(BookingSlot)) == 1
