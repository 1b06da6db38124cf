"""/mycalendar's private feed, served by the built-in web server over real HTTP.

A straw feature stands for events and desks: it declares the hooks they will declare
(MemberData's calendar and home), so that the feed and /me are checked end to end.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
from collections.abc import AsyncIterator, Sequence
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import pytest
from icalendar import Calendar
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from councilbot.adapters.console import ConsoleChat, ConsoleTarget, render
from councilbot.app import App, build_app, features
from councilbot.core.features import Feature, Features, HomeSection, MemberData, MemberView
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Button, Platform
from councilbot.db.models import CalendarToken
from councilbot.logsafe import SecretFilter
from councilbot.services.calendar import CalendarEvent
from councilbot.settings import Settings
from councilbot.web.server import WebServer
from tests.conftest import START, Clock

TIMEOUT = aiohttp.ClientTimeout(total=10)
GOING: dict[int, str] = {}  # member id -> the straw event they go to


async def _calendar(_session: AsyncSession, member_id: int, _now: datetime) -> Sequence[object]:
    if member_id not in GOING:
        return []
    start = START + timedelta(days=2)
    return [
        CalendarEvent(
            uid=f"straw-{member_id}@councilbot",
            title=GOING[member_id],
            start=start,
            end=start + timedelta(hours=2),
            zone="Europe/Dublin",
        )
    ]


async def _home(view: MemberView) -> Sequence[HomeSection]:
    if view.member_id not in GOING:
        return []
    return [
        HomeSection(
            title="Going",
            lines=(GOING[view.member_id],),
            buttons=((Button(label="Not going", command="/help"),),),
        )
    ]


STRAW = Feature("straw-events", member=MemberData(calendar=_calendar, home=_home))


@pytest.fixture
async def app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock
) -> AsyncIterator[App]:
    settings = Settings(
        database_url=database_url,
        admins="console:admin",
        default_language="en",
        public_url="https://bot.example.org/",
    )
    *others, me = features().features  # the member's own feature closes their home
    running = Features((*others, STRAW, me))
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO())},
        running=running,
    )
    GOING.clear()
    yield app
    await app.aclose()


@pytest.fixture
async def server(app: App) -> AsyncIterator[WebServer]:
    server = WebServer(app, host="127.0.0.1", port=0)
    await asyncio.wait_for(server.start(), 10)
    yield server
    await asyncio.wait_for(server.stop(), 10)


async def _get(server: WebServer, path: str, **headers: str) -> tuple[int, bytes, Any]:
    async with (
        aiohttp.ClientSession(timeout=TIMEOUT) as client,
        client.get(server.url + path, headers=headers) as response,
    ):
        return response.status, await response.read(), response.headers.copy()


def _path(text: str) -> str:
    match = re.search(r"https://bot\.example\.org(/calendar/me/[A-Za-z0-9_-]{40,}\.ics)", text)
    assert match, text
    return match.group(1)


async def test_the_private_feed_holds_the_members_entries_and_a_reset_ends_the_old_url(
    app: App, server: WebServer, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: nothing below may log the secret
    chat = ConsoleChat(app.router, user="ana", chat="cork-chat", council="cork", clock=clock)
    await chat.setup()
    first = render(await chat.say("ana@dm: /mycalendar"))
    path = _path(first)
    assert "Google Calendar" in first
    async with app.sessionmaker() as session:
        stored = (await session.get(CalendarToken, 1)).token_hash
    assert path.split("/")[-1].removesuffix(".ics") not in stored  # only its hash is kept
    GOING[1] = "Cork Demo Day"

    status, body, headers = await _get(server, path)
    assert status == 200
    assert headers["Content-Type"].startswith("text/calendar")
    assert headers["Cache-Control"].startswith("private")
    events = Calendar.from_ical(body).walk("VEVENT")
    assert [str(e["summary"]) for e in events] == ["Cork Demo Day"]
    assert (await _get(server, path, **{"If-None-Match": headers["ETag"]}))[0] == 304

    again = render(await chat.say("ana@dm: /mycalendar"))
    assert "cannot show it again" in again and "[1] Make a new URL" in again
    renewed = render(await chat.say("ana@dm: 1"))
    new_path = _path(renewed)
    assert new_path != path
    assert (await _get(server, path))[0] == 404
    assert (await _get(server, new_path))[0] == 200
    assert (await _get(server, "/calendar/me/guess.ics"))[0] == 404
    secrets = {path.split("/")[-1], new_path.split("/")[-1]}
    assert not [r for r in caplog.records if any(s in r.getMessage() for s in secrets)]


async def test_a_features_home_section_shows_in_me_before_the_subscriptions(
    app: App, clock: Clock
) -> None:
    chat = ConsoleChat(app.router, user="ana", chat="cork-chat", council="cork", clock=clock)
    await chat.setup()
    await chat.say("ana@dm: /start cork")
    GOING[1] = "Cork Demo Day"
    shown = render(await chat.say("ana@dm: /me"))
    assert shown.index("Going\n• Cork Demo Day") < shown.index("Subscriptions")
    assert "[1] Not going" in shown


def test_the_log_filter_masks_a_calendar_secret_wherever_it_appears() -> None:
    record = logging.makeLogRecord(
        {"msg": "GET %s failed", "args": ("/calendar/me/pV3x_9Q-abc123DEF456ghi789.ics",)}
    )
    SecretFilter({}).filter(record)
    assert record.getMessage() == "GET /calendar/me/[calendar token].ics failed"
