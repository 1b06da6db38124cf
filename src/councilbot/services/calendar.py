"""Calendar files (RFC 5545): one event's `.ics`, a council's feed, a member's feed.

Features describe what goes in a calendar as `CalendarEvent`s; this module writes the file.
The events feature builds them from its rows; the web server serves a council's feed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from icalendar import Calendar, Event

__all__ = ["CalendarEvent", "Recurrence", "ics"]

PRODID = "-//Cluster Growth Councils//CouncilBot//EN"


@dataclass(frozen=True, slots=True)
class Recurrence:
    """Say that an event is one occurrence of a series (a training cycle, a monthly meeting)."""

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


def ics(events: Iterable[CalendarEvent], *, name: str) -> bytes:
    """Return a VCALENDAR holding `events`, named `name` in calendar apps."""
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", name)
    for item in events:
        zone = ZoneInfo(item.zone)
        event = Event()
        event.add("uid", item.uid)
        event.add("summary", item.title)
        event.add("dtstart", item.start.astimezone(zone))
        event.add("dtend", item.end.astimezone(zone))
        event.add("sequence", item.sequence)
        if item.description:
            event.add("description", item.description)
        if item.location:
            event.add("location", item.location)
        if item.cancelled:
            event.add("status", "CANCELLED")
        calendar.add_component(event)
    return calendar.to_ical()
