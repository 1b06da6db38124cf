"""Calendar files (RFC 5545): one event's `.ics`, a council's feed, a member's feed.

Features describe what goes in a calendar as `CalendarEvent`s; this module writes the file.
The events feature builds them from its rows; the web server serves a council's feed
(`CouncilFeeds`, handed to it by the composition root).

What calendar apps need, and get here: a UID that stays the same across edits (the app
updates the event instead of adding one), a SEQUENCE that grows with each change, the
event's time zone as a VTIMEZONE (Outlook reads it rather than its own zone database), a
series as one event with an RRULE in local wall-clock time (a 10:00 meeting stays at
10:00 across a daylight-saving change) with its moved occurrences as RECURRENCE-ID
overrides and its cancelled ones as EXDATEs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import hashlib
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal, Protocol
from zoneinfo import ZoneInfo

import sqlalchemy.event
from dateutil.rrule import MONTHLY, WEEKLY, rrule
from icalendar import Alarm, Calendar, Event, Timezone, vDuration, vRecur
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.errors import NotFound
from councilbot.services.councils import council_key, get_council

__all__ = [
    "CalendarEvent",
    "CalendarFeeds",
    "CouncilFeeds",
    "EventsOf",
    "Feed",
    "Recurrence",
    "calendars_changed",
    "council_feed",
    "ics",
]

PRODID = "-//Cluster Growth Councils//CouncilBot//EN"
# How often a subscribed calendar app should fetch a feed again (RFC 7986 REFRESH-INTERVAL;
# X-PUBLISHED-TTL for Outlook). Google Calendar ignores both and polls every few hours.
FEED_REFRESH = timedelta(hours=1)
# Seconds a rendered feed is served from memory before the database is read again. Changes
# made in this process (calendars_changed) retire it at once; other processes' within this.
FEED_TTL = 60.0
# Years a VTIMEZONE covers past the last date used.
ZONE_YEARS_AHEAD = 2


@dataclass(frozen=True, slots=True)
class Recurrence:
    """Say that an event is one occurrence of a series (a training cycle, a monthly meeting).

    Give `ics()` every occurrence of the series from the first one to show: the series is
    written from the earliest given `original_start` to `until` (the last day, in the
    event's zone, inclusive; None: to the latest given occurrence), and a date its rule
    makes that no given occurrence stands for is left out (EXDATE), while a given one the
    rule does not make is added (RDATE): the file shows exactly the occurrences given.
    """

    uid: str  # the series' UID, shared by all its occurrences
    every: Literal["week", "month"]
    until: date | None
    original_start: datetime  # this occurrence's start as the series first planned it


@dataclass(frozen=True, slots=True)
class CalendarEvent:
    """Describe one event as calendars show it; times are aware, shown in `zone`."""

    uid: str  # stable across edits: calendars update the event instead of adding one
    title: str
    start: datetime
    end: datetime
    zone: str  # IANA name, e.g. "Europe/Istanbul"
    description: str = ""
    location: str = ""
    url: str = ""
    cancelled: bool = False
    sequence: int = 0  # bumped on every change the attendees should see
    alarm: timedelta | None = timedelta(hours=1)  # a reminder that long before the start
    recurrence: Recurrence | None = None
    # When the event last changed (its row's updated_at): DTSTAMP and LAST-MODIFIED. Set it
    # in feeds: without it DTSTAMP is ics()'s `stamp`, and a feed's body (and ETag) changes
    # whenever that does.
    updated: datetime | None = None


def ics(
    events: Iterable[CalendarEvent],
    *,
    name: str,
    zone: str | None = None,
    stamp: datetime | None = None,
    refresh: timedelta | None = None,
) -> bytes:
    """Return a VCALENDAR holding `events`, named `name` in calendar apps.

    `zone` is the calendar's own zone (a council's): named as its default and given a
    VTIMEZONE even when no event uses it. `stamp` is the DTSTAMP of events that carry no
    `updated` (default: now). `refresh` asks subscribed apps to fetch it again that often.
    """
    items = list(events)
    stamp = (stamp or datetime.now(UTC)).astimezone(UTC)
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("method", "PUBLISH")
    calendar.add("x-wr-calname", name)
    if zone:
        calendar.add("x-wr-timezone", zone)
    if refresh is not None:
        calendar.add("refresh-interval", vDuration(refresh), parameters={"VALUE": "DURATION"})
        calendar.add("x-published-ttl", vDuration(refresh))
    components: list[Event] = []
    series: dict[str, list[CalendarEvent]] = {}
    for item in items:
        if item.recurrence is None:
            components.append(_event(item, item.uid, stamp))
        else:
            series.setdefault(item.recurrence.uid, []).append(item)
    for uid, occurrences in series.items():
        components += _series(uid, occurrences, stamp)
    for timezone in _timezones(items, zone, stamp):
        calendar.add_component(timezone)
    for component in components:
        calendar.add_component(component)
    return calendar.to_ical()


def _event(
    item: CalendarEvent,
    uid: str,
    stamp: datetime,
    *,
    start: datetime | None = None,
    duration: timedelta | None = None,
    sequence: int | None = None,
    updated: datetime | None = None,
) -> Event:
    """Return a VEVENT for `item` (a series' master gets its own start and duration)."""
    zone = ZoneInfo(item.zone)
    begins = (start or item.start).astimezone(zone)
    event = Event()
    event.add("uid", uid)
    event.add("dtstamp", (updated or item.updated or stamp).astimezone(UTC))
    if updated or item.updated:
        event.add("last-modified", (updated or item.updated or stamp).astimezone(UTC))
    event.add("summary", item.title)
    event.add("dtstart", begins)
    event.add("dtend", begins + duration if duration is not None else item.end.astimezone(zone))
    event.add("sequence", item.sequence if sequence is None else sequence)
    event.add("status", "CANCELLED" if item.cancelled else "CONFIRMED")
    event.add("transp", "OPAQUE")
    if item.description:
        event.add("description", item.description)
    if item.location:
        event.add("location", item.location)
    if item.url:
        event.add("url", item.url)
    if item.alarm is not None and not item.cancelled:  # no reminder of a cancelled event
        alarm = Alarm()
        alarm.add("action", "DISPLAY")
        alarm.add("description", item.title)
        alarm.add("trigger", -item.alarm)
        event.add_component(alarm)
    return event


def _looks(item: CalendarEvent) -> tuple[object, ...]:
    """Return what an occurrence shares with its series' master when it needs no override."""
    return (
        item.title,
        item.description,
        item.location,
        item.url,
        item.alarm,
        item.zone,
        item.end - item.start,
    )


def _series(uid: str, occurrences: Sequence[CalendarEvent], stamp: datetime) -> list[Event]:
    """Return a series' master VEVENT (RRULE, EXDATE, RDATE) and its overriding VEVENTs."""
    planned = sorted(occurrences, key=lambda o: _original(o))
    first = planned[0]
    live = [o for o in planned if not o.cancelled]
    # The master looks like most occurrences, so that as few as possible need an override;
    # on a tie, like the latest ("from now on" edits change the later ones).
    counts = Counter(_looks(o) for o in live or planned)
    template = max(reversed(live or planned), key=lambda o: counts[_looks(o)])
    zone = ZoneInfo(template.zone)
    updates = [o.updated for o in planned if o.updated is not None]
    # One revision number for the whole series: an app may ignore an override older than
    # its master.
    sequence = max(o.sequence for o in planned)
    master = _event(
        dataclasses.replace(template, cancelled=not live),
        uid,
        stamp,
        start=_original(first),
        duration=template.end - template.start,
        sequence=sequence,
        updated=max(updates) if updates else None,
    )
    starts = _local(_original(first), zone)
    recurrence = first.recurrence
    assert recurrence is not None
    untils = [o.recurrence.until for o in planned if o.recurrence is not None]
    until = None if None in untils else max(u for u in untils if u is not None)
    if until is not None:
        last = datetime.combine(until, time(23, 59, 59))
    else:
        # No end date: the series as far as its occurrences exist (each has its own RSVPs),
        # growing with them, rather than dates the bot knows nothing about yet.
        last = max(_local(_original(o), zone) for o in planned)
    rule = vRecur(freq="WEEKLY" if recurrence.every == "week" else "MONTHLY")
    # UNTIL is in UTC when DTSTART names a zone (RFC 5545 3.3.10).
    rule["until"] = last.replace(tzinfo=zone).astimezone(UTC)
    master.add("rrule", rule)
    if not live:
        return [master]
    # The rule's dates in local wall-clock time, as a calendar app expands them.
    made = set(
        rrule(
            WEEKLY if recurrence.every == "week" else MONTHLY,
            dtstart=starts,
            until=last,
        )
    )
    given = {_local(_original(o), zone): o for o in planned}
    excluded = sorted(d for d in made if d not in given or given[d].cancelled)
    added = sorted(d for d, o in given.items() if d not in made and not o.cancelled)
    if excluded:
        master.add("exdate", [d.replace(tzinfo=zone) for d in excluded])
    if added:
        master.add("rdate", [d.replace(tzinfo=zone) for d in added])
    overrides = []
    for occurrence in live:
        original = _original(occurrence)
        if occurrence.start == original and _looks(occurrence) == _looks(template):
            continue
        override = _event(occurrence, uid, stamp, sequence=sequence)
        override.add("recurrence-id", original.astimezone(zone))
        overrides.append(override)
    return [master, *overrides]


def _original(item: CalendarEvent) -> datetime:
    """Return where the series planned an occurrence (its start, outside a series)."""
    return item.recurrence.original_start if item.recurrence is not None else item.start


def _local(moment: datetime, zone: ZoneInfo) -> datetime:
    """Return `moment` as naive wall-clock time in `zone`."""
    return moment.astimezone(zone).replace(tzinfo=None)


def _timezones(items: Sequence[CalendarEvent], zone: str | None, stamp: datetime) -> list[Timezone]:
    """Return a VTIMEZONE for every zone used, covering every date the file names."""
    zones = {item.zone for item in items} | ({zone} if zone else set())
    moments = [m for item in items for m in (item.start, item.end, _original(item))]
    years = [m.year for m in moments] or [stamp.year]
    last = max(years)
    for item in items:
        if item.recurrence is not None and item.recurrence.until is not None:
            last = max(last, item.recurrence.until.year)
    return [_timezone(name, min(years), last + ZONE_YEARS_AHEAD) for name in sorted(zones)]


@functools.lru_cache(maxsize=128)
def _timezone(name: str, first_year: int, last_year: int) -> Timezone:
    """Return the VTIMEZONE of an IANA zone from `first_year` to `last_year` (kept: slow).

    The component is shared between the files that use it: it must not be changed.
    """
    return Timezone.from_tzinfo(ZoneInfo(name), name, date(first_year, 1, 1), date(last_year, 1, 1))


# --- Feeds ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Feed:
    """A rendered calendar, ready to serve: its body, entity tag and file name."""

    body: bytes
    tag: str  # the ETag's value, unquoted: a hash of the body
    filename: str

    @classmethod
    def of(cls, body: bytes, filename: str) -> Feed:
        return cls(body, hashlib.sha256(body).hexdigest()[:32], filename)


class CalendarFeeds(Protocol):
    """Where the web server gets the calendars it serves (the composition root hands it)."""

    async def council(self, key: str) -> Feed | None:
        """Return the feed of the council named `key` as people write it, or None."""


EventsOf = Callable[[AsyncSession, str, datetime], Awaitable[list[CalendarEvent] | None]]
"""Return a council's upcoming events (cross-council ones included) for its feed."""


async def council_feed(
    session: AsyncSession,
    key: str,
    now: datetime,
    events_of: EventsOf,
) -> Feed | None:
    """Render the feed of the council `key` names (slug or city, any case or accents)."""
    try:
        council = await get_council(session, key)
    except NotFound:
        return None
    events = await events_of(session, council.slug, now) or []
    body = ics(
        events,
        name=council.name,
        zone=council.timezone,
        # Events that say when they last changed keep their DTSTAMP; others take the day's
        # start, so that an unchanged feed keeps its body and ETag (a 304) all day.
        stamp=now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0),
        refresh=FEED_REFRESH,
    )
    return Feed.of(body, f"{council.slug}.ics")


class _Changes:
    value = 0


def calendars_changed(session: AsyncSession | None = None) -> None:
    """Retire this process's rendered feeds: call in the transaction that changes an event,
    passing its session (they are retired again when it commits), or after committing."""
    _Changes.value += 1
    if session is not None:
        # A feed rendered before the commit, and so without the change, is retired too.
        sqlalchemy.event.listen(session.sync_session, "after_commit", _changed, once=True)


def _changed(_session: object) -> None:
    _Changes.value += 1


@dataclass(slots=True)
class _Rendered:
    feed: Feed
    changes: int
    expires: datetime


class CouncilFeeds:
    """Serve councils' feeds from memory, rendering one again after FEED_TTL or a change.

    A calendar app polling an unchanged feed then costs neither a query nor a render, and
    many asking at once for one that expired wait for a single render.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime],
        events_of: EventsOf,
        ttl: float = FEED_TTL,
    ) -> None:
        self._sessionmaker = sessionmaker
        self._clock = clock
        self._events_of = events_of
        self._ttl = timedelta(seconds=ttl)
        self._rendered: dict[str, _Rendered] = {}  # known councils' keys only: bounded
        self._loading: dict[str, asyncio.Event] = {}

    async def council(self, key: str) -> Feed | None:
        """Return the feed of the council named `key`, or None when there is no such council."""
        wanted = council_key(key)
        if (feed := self._fresh(wanted)) is not None:
            return feed
        loading = self._loading.get(wanted)
        if loading is not None:
            await loading.wait()
            if (feed := self._fresh(wanted)) is not None:
                return feed
        done = self._loading.setdefault(wanted, asyncio.Event())
        try:
            changes, now = _Changes.value, self._clock()
            async with self._sessionmaker() as session, session.begin():
                feed = await council_feed(session, key, now, self._events_of)
            if feed is not None and changes == _Changes.value:
                self._rendered[wanted] = _Rendered(feed, changes, now + self._ttl)
            return feed
        finally:
            if self._loading.get(wanted) is done:
                del self._loading[wanted]
            done.set()

    def _fresh(self, wanted: str) -> Feed | None:
        rendered = self._rendered.get(wanted)
        if rendered is None or rendered.changes != _Changes.value:
            return None
        if rendered.expires <= self._clock():
            return None
        return rendered.feed
