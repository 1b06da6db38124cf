"""Councils' calendar feeds over real HTTP on 127.0.0.1, as calendar apps poll them."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import aiohttp
import pytest
from icalendar import Calendar
from multidict import CIMultiDict
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.app import App
from councilbot.db.models import Council
from councilbot.db.session import create_sessionmaker
from councilbot.services.calendar import (
    FEED_TTL,
    CalendarEvent,
    CouncilFeeds,
    calendars_changed,
)
from councilbot.settings import Role
from councilbot.web.server import WebServer
from tests.conftest import Clock

TIMEOUT = aiohttp.ClientTimeout(total=10)
MALAGA = "Andalusian council (Smart City cluster)"


class Events:
    """The events feature's side of the feed: whatever a test puts here, and who asked."""

    def __init__(self) -> None:
        self.items: list[CalendarEvent] = []
        self.asked: list[str] = []

    async def __call__(
        self, session: AsyncSession, council_slug: str, now: datetime
    ) -> list[CalendarEvent]:
        self.asked.append(council_slug)
        await asyncio.sleep(0)  # let the other requests arrive meanwhile
        return list(self.items)


@pytest.fixture
def events() -> Events:
    return Events()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=TIMEOUT) as session:
        yield session


async def started(server: WebServer) -> AsyncIterator[WebServer]:
    await asyncio.wait_for(server.start(), 10)
    yield server
    await asyncio.wait_for(server.stop(), 10)


@pytest.fixture
async def server(app: App) -> AsyncIterator[WebServer]:
    """The server as app.py builds it: its feeds are the composition root's."""
    async for running in started(WebServer(app, host="127.0.0.1", port=0)):
        yield running


@pytest.fixture
async def fed(app: App, clock: Clock, events: Events) -> AsyncIterator[WebServer]:
    """A server whose feeds take their events from `events`."""
    feeds = CouncilFeeds(
        create_sessionmaker(app.engine, read_only=True), clock=clock, events_of=events
    )
    async for running in started(WebServer(app, host="127.0.0.1", port=0, calendars=feeds)):
        yield running


async def get(
    http: aiohttp.ClientSession, server: WebServer, path: str, etag: str | None = None
) -> tuple[int, bytes, CIMultiDict[str]]:
    headers = {"If-None-Match": etag} if etag else {}
    async with http.get(f"{server.url}{path}", headers=headers) as response:
        return response.status, await response.read(), CIMultiDict(response.headers)


def meeting(start: datetime, **changes: object) -> CalendarEvent:
    fields: dict[str, object] = {
        "uid": "event-1@councilbot",
        "title": "Partner meeting",
        "start": start,
        "end": start + timedelta(hours=2),
        "zone": "Europe/Madrid",
        "location": "PTA, Málaga",
    }
    return CalendarEvent(**(fields | changes))  # type: ignore[arg-type]


async def test_a_councils_feed_is_served_for_calendar_apps(
    server: WebServer, http: aiohttp.ClientSession
) -> None:
    status, body, headers = await get(http, server, "/calendar/malaga.ics")
    assert status == 200
    assert headers["Content-Type"] == "text/calendar; charset=utf-8"
    assert headers["Content-Disposition"] == 'inline; filename="malaga.ics"'
    assert headers["Cache-Control"] == "public, max-age=300"
    assert headers["ETag"].startswith('"') and len(headers["ETag"]) == 34
    calendar = Calendar.from_ical(body)
    assert str(calendar["X-WR-CALNAME"]) == MALAGA
    assert str(calendar["METHOD"]) == "PUBLISH"
    # No events yet: a valid, empty calendar.
    assert calendar.walk("VEVENT") == []
    assert [tz.tz_name for tz in calendar.timezones] == ["Europe/Madrid"]


async def test_an_unchanged_feed_is_answered_304_with_no_body(
    server: WebServer, http: aiohttp.ClientSession
) -> None:
    _, body, headers = await get(http, server, "/calendar/cork.ics")
    etag = headers["ETag"]
    for asked in (etag, f"W/{etag}", f'"older", {etag}', "*"):
        status, again, answer = await get(http, server, "/calendar/cork.ics", asked)
        assert (status, again) == (304, b"")
        assert (answer["ETag"], answer["Cache-Control"]) == (etag, "public, max-age=300")
    status, again, _ = await get(http, server, "/calendar/cork.ics", '"older"')
    assert (status, again) == (200, body)


@pytest.mark.parametrize(
    "written", ["MALAGA", "M%C3%A1laga", "M%C3%81LAGA", "Seville", "  malaga%20"]
)
async def test_a_council_is_found_however_it_is_written(
    server: WebServer, http: aiohttp.ClientSession, written: str
) -> None:
    status, body, headers = await get(http, server, f"/calendar/{written}.ics")
    assert status == 200
    assert headers["Content-Disposition"] == 'inline; filename="malaga.ics"'
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == MALAGA


@pytest.mark.parametrize("path", ["/calendar/lyon.ics", "/calendar/all.ics", "/calendar/.ics"])
async def test_an_unknown_council_is_a_404(
    server: WebServer, http: aiohttp.ClientSession, path: str
) -> None:
    status, body, headers = await get(http, server, path)
    assert status == 404
    assert "ETag" not in headers
    if path != "/calendar/.ics":  # aiohttp's own 404: no such route
        assert body == b"No such council.\n"


async def test_a_changed_feed_gets_a_new_etag_and_the_events(
    app: App, fed: WebServer, http: aiohttp.ClientSession, clock: Clock, events: Events
) -> None:
    _, _, headers = await get(http, fed, "/calendar/alcala.ics")
    empty = headers["ETag"]
    # An event is added (by this process, which says so: the feed is rendered again).
    events.items.append(meeting(datetime(2027, 3, 25, 10, 0, tzinfo=clock.now.tzinfo)))
    calendars_changed()
    status, body, headers = await get(http, fed, "/calendar/alcala.ics", empty)
    assert status == 200 and headers["ETag"] != empty
    (event,) = Calendar.from_ical(body).walk("VEVENT")
    assert (str(event["UID"]), str(event["LOCATION"])) == ("event-1@councilbot", "PTA, Málaga")
    one = headers["ETag"]
    assert (await get(http, fed, "/calendar/alcala.ics", one))[0] == 304

    # This process renames the council and says so in the transaction: seen at once.
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(Council).where(Council.slug == "alcala").values(name="Madrid council (UAH)")
        )
        calendars_changed(session)
    status, body, headers = await get(http, fed, "/calendar/alcala.ics", one)
    assert status == 200 and headers["ETag"] not in (empty, one)
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == "Madrid council (UAH)"
    renamed = headers["ETag"]

    # Another process renames it again: seen once the rendered feed expires.
    async with app.sessionmaker() as session, session.begin():
        await session.execute(
            update(Council).where(Council.slug == "alcala").values(name="Madrid council (Alcalá)")
        )
    assert (await get(http, fed, "/calendar/alcala.ics", renamed))[0] == 304
    clock.advance(seconds=FEED_TTL)
    status, body, headers = await get(http, fed, "/calendar/alcala.ics", renamed)
    assert status == 200 and headers["ETag"] not in (empty, one, renamed)
    assert str(Calendar.from_ical(body)["X-WR-CALNAME"]) == "Madrid council (Alcalá)"


async def test_calendar_apps_polling_at_once_cost_one_render(
    fed: WebServer, http: aiohttp.ClientSession, clock: Clock, events: Events
) -> None:
    answers = await asyncio.gather(*(get(http, fed, "/calendar/bologna.ics") for _ in range(30)))
    assert {status for status, _, _ in answers} == {200}
    assert len({headers["ETag"] for _, _, headers in answers}) == 1
    assert events.asked == ["bologna"]
    etag = answers[0][2]["ETag"]
    polls = await asyncio.gather(
        *(get(http, fed, "/calendar/Bologna.ics", etag) for _ in range(30))
    )
    assert {status for status, _, _ in polls} == {304}
    assert events.asked == ["bologna"]  # answered from memory: no query, no render
    clock.advance(seconds=FEED_TTL)
    assert (await get(http, fed, "/calendar/bologna.ics", etag))[0] == 304  # same content
    assert events.asked == ["bologna", "bologna"]


async def test_a_worker_process_serves_no_calendars(app: App, http: aiohttp.ClientSession) -> None:
    worker = dataclasses.replace(
        app, settings=app.settings.model_copy(update={"role": Role.WORKER})
    )
    async for server in started(WebServer(worker, host="127.0.0.1", port=0)):
        assert (await get(http, server, "/calendar/cork.ics"))[0] == 404
        assert (await get(http, server, "/healthz"))[0] == 200
