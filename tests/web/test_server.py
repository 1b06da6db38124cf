"""The built-in web server, over real HTTP on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
import pytest
from sqlalchemy import text, update

from councilbot.app import App
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import Delivery, DeliveryStatus
from councilbot.db.session import create_engine
from councilbot.delivery import outbox
from councilbot.delivery.dispatcher import Hold
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing
from councilbot.web.server import DB_TIMEOUT, MAX_BODY, WebhookHandler, WebServer
from tests.conftest import START

TIMEOUT = aiohttp.ClientTimeout(total=10)  # bounds every request, so no test can hang
STATUSES = ("pending", "sending", "sent", "failed", "dead")


class Recorder:
    """A platform handler that checks a secret header and keeps what it got."""

    def __init__(self) -> None:
        self.calls: list[tuple[bytes, dict[str, str]]] = []

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> int:
        self.calls.append((body, dict(headers)))
        return 200 if headers.get("X-Secret") == "s3cret" else 403


async def serve(app: App, routes: Mapping[str, WebhookHandler] | None = None) -> WebServer:
    server = WebServer(app, host="127.0.0.1", port=0, routes=routes)
    await asyncio.wait_for(server.start(), 10)
    assert server.port != 0
    return server


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def server(app: App, recorder: Recorder) -> AsyncIterator[WebServer]:
    server = await serve(app, {"/hook": recorder})
    yield server
    await asyncio.wait_for(server.stop(), 10)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def metrics(http: aiohttp.ClientSession, server: WebServer) -> str:
    async with http.get(f"{server.url}/metrics") as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return await response.text()


async def health_without_a_database(app: App, http: aiohttp.ClientSession) -> Any:
    """Ask /healthz of a server whose database cannot be opened; expect a 503 and its body."""
    broken = create_engine("sqlite+aiosqlite:////nonexistent-dir/x.db")
    server = await serve(dataclasses.replace(app, engine=broken))
    try:
        async with http.get(f"{server.url}/healthz") as response:
            assert response.status == 503
            return await response.json()
    finally:
        await asyncio.wait_for(server.stop(), 10)
        await broken.dispose()


async def test_healthz_is_ok_when_the_database_answers(
    server: WebServer, http: aiohttp.ClientSession
) -> None:
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok", "database": "ok"}


async def test_healthz_is_unavailable_when_the_database_is_not(
    app: App, http: aiohttp.ClientSession
) -> None:
    body = await health_without_a_database(app, http)
    assert body == {
        "status": "unhealthy",
        "problems": ["database: OperationalError"],
        "database": "OperationalError",
    }


async def test_healthz_names_a_held_workspace_with_a_503(
    app: App, server: WebServer, http: aiohttp.ClientSession
) -> None:
    app.dispatcher.held[(Platform.SLACK, "T0TEAM")] = Hold("token_revoked", START, START)
    held = {"platform": "slack", "workspace": "T0TEAM", "problem": "token_revoked"}
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 503
        assert await response.json() == {
            "status": "unhealthy",
            "problems": ["slack workspace T0TEAM: token_revoked"],
            "database": "ok",
            "workspaces": [held | {"since": "2026-12-01T09:00:00+00:00"}],
        }
    body = await health_without_a_database(app, http)
    assert body["problems"] == [
        "database: OperationalError",
        "slack workspace T0TEAM: token_revoked",
    ]
    assert body["workspaces"][0]["problem"] == "token_revoked"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_healthz_answers_at_once_while_a_transaction_holds_sqlites_only_connection(
    app: App, server: WebServer, http: aiohttp.ClientSession
) -> None:
    async with app.sessionmaker() as session, session.begin():  # takes the write lock too
        await session.execute(text("SELECT 1"))
        started = time.monotonic()
        async with http.get(f"{server.url}/healthz") as response:
            assert (response.status, await response.json()) == (
                200,
                {"status": "ok", "database": "ok"},
            )
        assert time.monotonic() - started < DB_TIMEOUT / 2


async def test_a_web_process_names_a_workspace_held_in_the_database(
    app: App, server: WebServer, http: aiohttp.ClientSession
) -> None:
    # No dispatcher runs in this process (a web role): another process's holds its rows.
    messages = [
        Outgoing(platform=Platform.SLACK, workspace=team, chat_id=chat, text="hi")
        for team, chat in (("T0TEAM", "C1"), ("T0TEAM", "C2"), ("T0OTHER", "C3"))
    ]
    async with app.sessionmaker() as session, session.begin():
        await outbox.enqueue(
            session, [Envelope(f"web:{i}", m, "test", 1) for i, m in enumerate(messages)], now=START
        )
        await session.execute(
            update(Delivery)
            .where(Delivery.workspace == "T0TEAM")
            .values(last_error=outbox.HELD + "token_revoked")
        )
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 503
        assert await response.json() == {
            "status": "unhealthy",
            "problems": ["slack workspace T0TEAM: token_revoked"],
            "database": "ok",
            "workspaces": [
                {
                    "platform": "slack",
                    "workspace": "T0TEAM",
                    "problem": "token_revoked",
                    "since": None,
                }
            ],
        }
    async with app.sessionmaker() as session, session.begin():  # the token works again
        await session.execute(update(Delivery).values(status=DeliveryStatus.SENT, last_error=None))
    async with http.get(f"{server.url}/healthz") as response:
        assert response.status == 200


async def test_metrics_count_outbox_rows(
    app: App, server: WebServer, http: aiohttp.ClientSession
) -> None:
    before = await metrics(http, server)
    assert "# TYPE councilbot_outbox_rows gauge" in before
    for status in STATUSES:
        assert f'councilbot_outbox_rows{{status="{status}"}} 0.0\n' in before

    message = Outgoing(
        platform=Platform.TELEGRAM, chat_id="-1001", chat_kind=ChatKind.GROUP, text="hi"
    )
    async with app.sessionmaker() as session, session.begin():
        await outbox.enqueue(session, [Envelope("web:1", message, "test", 1)], now=START)
    after = await metrics(http, server)
    assert 'councilbot_outbox_rows{status="pending"} 1.0\n' in after
    assert 'councilbot_outbox_rows{status="sent"} 0.0\n' in after


async def test_a_mounted_route_gets_the_body_and_headers_and_sets_the_status(
    server: WebServer, http: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = f"{server.url}/hook"
    async with http.post(url, data=b'{"update_id": 1}', headers={"X-Secret": "s3cret"}) as ok:
        assert ok.status == 200
        assert await ok.json() == {"ok": True}
    async with http.post(url, data=b"forged", headers={"X-Secret": "wrong"}) as refused:
        assert refused.status == 403
        assert await refused.read() == b""
    assert [body for body, _ in recorder.calls] == [b'{"update_id": 1}', b"forged"]
    assert recorder.calls[0][1]["X-Secret"] == "s3cret"


async def test_a_route_may_answer_with_a_body(app: App, http: aiohttp.ClientSession) -> None:
    async def challenge(body: bytes, headers: Mapping[str, str]) -> tuple[int, bytes, dict]:
        return 200, b'{"challenge": "abc"}', {"Content-Type": "application/json"}

    server = await serve(app, {"/slack/events": challenge})
    try:
        async with http.post(f"{server.url}/slack/events", data=b"{}") as response:
            assert response.status == 200
            assert await response.json() == {"challenge": "abc"}
    finally:
        await server.stop()


async def test_a_page_gets_the_query_and_headers_and_a_crash_is_a_500(
    app: App, http: aiohttp.ClientSession
) -> None:
    seen: list[tuple[str, str | None]] = []

    async def page(query: str, headers: Mapping[str, str]) -> tuple[int, bytes, dict]:
        seen.append((query, headers.get("Cookie")))
        if "boom" in query:
            raise RuntimeError("a bug, with code=secret in its message")
        return 302, b"", {"Location": "https://slack.com/oauth/v2/authorize?state=s"}

    server = WebServer(app, host="127.0.0.1", port=0, pages={"/slack/install": page})
    await asyncio.wait_for(server.start(), 10)
    try:
        url = f"{server.url}/slack/install"
        headers = {"Cookie": "slack-app-oauth-state=s"}
        async with http.get(f"{url}?team=T1", headers=headers, allow_redirects=False) as answer:
            assert answer.status == 302
            assert answer.headers["Location"].startswith("https://slack.com/oauth/v2/")
        async with http.get(f"{url}?boom=1") as answer:
            assert answer.status == 500
        async with http.post(url) as answer:
            assert answer.status == 405  # pages are GET only
    finally:
        await server.stop()
    assert seen == [("team=T1", "slack-app-oauth-state=s"), ("boom=1", None)]


async def test_unknown_paths_and_methods_are_refused(
    server: WebServer, http: aiohttp.ClientSession, recorder: Recorder
) -> None:
    async with http.get(f"{server.url}/nope") as response:
        assert response.status == 404
    async with http.get(f"{server.url}/hook") as response:
        assert response.status == 405
    assert recorder.calls == []


async def test_a_body_over_one_mebibyte_is_refused(
    server: WebServer, http: aiohttp.ClientSession, recorder: Recorder
) -> None:
    url = f"{server.url}/hook"
    headers = {"X-Secret": "s3cret"}
    async with http.post(url, data=b"x" * (MAX_BODY + 1), headers=headers) as response:
        assert response.status == 413
    assert recorder.calls == []
    async with http.post(url, data=b"x" * MAX_BODY, headers=headers) as response:
        assert response.status == 200
    assert len(recorder.calls[0][0]) == MAX_BODY
