"""/healthz checks the parts a process started: database, dispatcher, scheduler, Slack tokens."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.app import App
from councilbot.db.session import create_sessionmaker
from councilbot.delivery.scheduler import Scheduler
from councilbot.web.server import WebServer
from tests.conftest import AppFactory
from tests.web.test_server import TIMEOUT, serve


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


@pytest.fixture
async def running(app: App) -> AsyncIterator[App]:
    """The app with its dispatcher and scheduler running, as in a worker or `all` process."""
    await app.start()
    yield app


@pytest.fixture
async def server(running: App) -> AsyncIterator[WebServer]:
    server = await serve(running)
    yield server
    await asyncio.wait_for(server.stop(), 10)


async def health(http: aiohttp.ClientSession, server: WebServer) -> tuple[int, dict[str, Any]]:
    async with http.get(f"{server.url}/healthz") as response:
        return response.status, await response.json()


async def wait_for(condition: Any, seconds: float = 5.0) -> None:
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.02)


async def test_healthz_is_ok_when_every_part_runs(
    server: WebServer, http: aiohttp.ClientSession
) -> None:
    assert await health(http, server) == (200, {"status": "ok", "database": "ok"})


async def test_healthz_names_a_crashed_dispatcher(
    running: App,
    server: WebServer,
    http: aiohttp.ClientSession,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def bug() -> tuple[int, int]:
        raise RuntimeError("a bug in the dispatcher loop")

    monkeypatch.setattr(running.dispatcher, "_fill", bug)
    with caplog.at_level(logging.ERROR):  # the root logger
        running.dispatcher.wake()
        await wait_for(lambda: running.dispatcher.problem is not None)
    assert await health(http, server) == (
        503,
        {
            "status": "unhealthy",
            "problems": ["dispatcher: crashed (RuntimeError)"],
            "database": "ok",
            "dispatcher": "crashed (RuntimeError)",
        },
    )
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == ["the dispatcher crashed"]
    await running.aclose()  # a crashed dispatcher does not stop the shutdown
    assert running.dispatcher.problem == "stopped"


async def test_healthz_names_a_stopped_scheduler(
    running: App, server: WebServer, http: aiohttp.ClientSession
) -> None:
    await running.scheduler.stop()
    status, body = await health(http, server)
    assert (status, body["problems"], body["scheduler"]) == (
        503,
        ["scheduler: stopped"],
        "stopped",
    )


async def test_a_scheduler_that_cannot_sync_is_reported_until_it_syncs_again(
    seeded: AsyncEngine,
) -> None:
    scheduler = Scheduler(seeded, create_sessionmaker(seeded), [], sync_interval=0.1)
    assert scheduler.problem is None  # not started: not this process's job
    await scheduler.start()
    try:
        assert scheduler.problem is None
        async with seeded.begin() as conn:  # the scheduler's queries now fail
            await conn.execute(text("ALTER TABLE jobs RENAME TO jobs_away"))
        try:
            await wait_for(lambda: scheduler.problem is not None)
            assert scheduler.problem is not None
            assert scheduler.problem.startswith("last synchronised ")
        finally:
            async with seeded.begin() as conn:
                await conn.execute(text("ALTER TABLE jobs_away RENAME TO jobs"))
        await wait_for(lambda: scheduler.problem is None)
    finally:
        await scheduler.stop()
    assert scheduler.problem == "stopped"


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)
async def test_one_process_leads_the_scheduler_and_a_follower_is_healthy(
    app_for: AppFactory, http: aiohttp.ClientSession
) -> None:
    first, second = await app_for("console:admin"), await app_for("console:admin")
    await first.start()
    await second.start()
    servers = [await serve(first), await serve(second)]
    try:
        for server in servers:
            assert await health(http, server) == (200, {"status": "ok", "database": "ok"})
        assert [await leader(http, server) for server in servers] == [1.0, 0.0]

        await first.scheduler.stop()  # the leader goes away: the follower takes over
        await second.scheduler.sync()
        assert [await leader(http, server) for server in servers] == [0.0, 1.0]
        assert (await health(http, servers[0]))[0] == 503
        assert await health(http, servers[1]) == (200, {"status": "ok", "database": "ok"})
    finally:
        for server in servers:
            await server.stop()


async def leader(http: aiohttp.ClientSession, server: WebServer) -> float:
    async with http.get(f"{server.url}/metrics") as response:
        lines = (await response.text()).splitlines()
    return float(
        next(line for line in lines if line.startswith("councilbot_scheduler_leader ")).split()[1]
    )
