"""Calendar files (services.calendar.ics), parsed back with icalendar as a calendar app would."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from dateutil.rrule import rrulestr
from icalendar import Calendar, Event

from councilbot.services.calendar import CalendarEvent, Recurrence, ics

MADRID = ZoneInfo("Europe/Madrid")
ISTANBUL = ZoneInfo("Europe/Istanbul")
DUBLIN = ZoneInfo("Europe/Dublin")
STAMP = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
SERIES = "series-7@councilbot"

MEETUP = CalendarEvent(
    uid="event-12@councilbot",
    title="Partner meeting",
    start=datetime(2027, 3, 4, 7, 0, tzinfo=UTC),  # 10:00 in Istanbul
    end=datetime(2027, 3, 4, 9, 0, tzinfo=UTC),
    zone="Europe/Istanbul",
    description="Technopark tour, then lunch.",
    location="ITU Arı Teknokent, Istanbul",
    url="https://example.org/e/12",
)


def parse(body: bytes) -> Calendar:
    calendar = Calendar.from_ical(body)
    assert body.endswith(b"END:VCALENDAR\r\n")
    # A VTIMEZONE for every TZID used (get_missing_tzids() fails on an unused one).
    assert calendar.get_used_tzids() <= {timezone.tz_name for timezone in calendar.timezones}
    return calendar


def events(calendar: Calendar) -> list[Event]:
    return list(calendar.walk("VEVENT"))


def check_zones(calendar: Calendar, *moments: datetime) -> None:
    """Check that every VTIMEZONE gives the offsets the IANA zone gives (Outlook uses it)."""
    for timezone in calendar.timezones:
        written, real = timezone.to_tz(), ZoneInfo(str(timezone["TZID"]))
        for moment in moments:
            wall = moment.astimezone(real).replace(tzinfo=None)
            assert wall.replace(tzinfo=written).utcoffset() == wall.replace(tzinfo=real).utcoffset()


def weekly(
    count: int, start: datetime, *, until: date | None, **changes: object
) -> list[CalendarEvent]:
    """Return a weekly series of two-hour trainings from `start`, occurrence k as changes[k]."""
    items = []
    for k in range(count):
        planned = start + timedelta(weeks=k)
        item = CalendarEvent(
            uid=f"event-{100 + k}@councilbot",
            title="Training: export markets",
            start=planned,
            end=planned + timedelta(hours=2),
            zone=str(start.tzinfo),
            location="PTA, Málaga",
            recurrence=Recurrence(SERIES, "week", until, planned),
        )
        change = changes.get(f"k{k}")
        items.append(dataclasses.replace(item, **change) if change else item)  # type: ignore[arg-type]
    return items


def expand(calendar: Calendar, uid: str) -> dict[datetime, tuple[datetime, datetime, str]]:
    """Expand a series as a calendar app does: RRULE, minus EXDATE, plus RDATE, overrides."""
    found = [e for e in events(calendar) if str(e["UID"]) == uid]
    (master,) = [e for e in found if "RECURRENCE-ID" not in e]
    start, end = master.decoded("DTSTART"), master.decoded("DTEND")
    rule = rrulestr(master["RRULE"].to_ical().decode(), dtstart=start)
    last = start + timedelta(days=400)
    dates = {d for d in rule.between(start, last, inc=True)}
    for prop, into in (("EXDATE", dates.difference_update), ("RDATE", dates.update)):
        values = master.get(prop)
        for value in values if isinstance(values, list) else [values] if values else []:
            into({d.dt for d in value.dts})
    status = str(master["STATUS"])
    shown = {d: (d, d + (end - start), status) for d in dates}
    for override in found:
        if "RECURRENCE-ID" in override:
            original = override.decoded("RECURRENCE-ID")
            assert original in shown  # it replaces an occurrence the rule makes
            shown[original] = (
                override.decoded("DTSTART"),
                override.decoded("DTEND"),
                str(override["STATUS"]),
            )
    return dict(sorted(shown.items()))


def test_an_event_file_names_its_zone_alarm_and_details() -> None:
    calendar = parse(ics([MEETUP], name="Istanbul council", stamp=STAMP))
    assert (str(calendar["METHOD"]), str(calendar["VERSION"])) == ("PUBLISH", "2.0")
    assert str(calendar["X-WR-CALNAME"]) == "Istanbul council"
    (event,) = events(calendar)
    assert str(event["UID"]) == "event-12@councilbot"
    assert event.decoded("DTSTAMP") == STAMP
    assert event["DTSTART"].params["TZID"] == "Europe/Istanbul"
    assert event.decoded("DTSTART") == datetime(2027, 3, 4, 10, 0, tzinfo=ISTANBUL)
    assert event.decoded("DTEND") == datetime(2027, 3, 4, 12, 0, tzinfo=ISTANBUL)
    assert (str(event["STATUS"]), event.decoded("SEQUENCE")) == ("CONFIRMED", 0)
    assert str(event["SUMMARY"]) == "Partner meeting"
    assert str(event["LOCATION"]) == "ITU Arı Teknokent, Istanbul"
    assert str(event["DESCRIPTION"]) == "Technopark tour, then lunch."
    assert str(event["URL"]) == "https://example.org/e/12"
    (alarm,) = event.walk("VALARM")
    assert str(alarm["ACTION"]) == "DISPLAY" and str(alarm["DESCRIPTION"]) == "Partner meeting"
    assert alarm.decoded("TRIGGER") == -timedelta(hours=1)
    assert [str(tz["TZID"]) for tz in calendar.timezones] == ["Europe/Istanbul"]
    check_zones(calendar, MEETUP.start)


def test_each_zone_used_gets_its_vtimezone_right_on_both_sides_of_summer_time() -> None:
    cork = dataclasses.replace(
        MEETUP,
        uid="event-13@councilbot",
        start=datetime(2027, 7, 1, 9, 0, tzinfo=UTC),
        end=datetime(2027, 7, 1, 10, 0, tzinfo=UTC),
        zone="Europe/Dublin",  # its zone's "winter time" is the exception: negative DST
        alarm=timedelta(minutes=15),
    )
    calendar = parse(ics([MEETUP, cork], name="All councils", zone="Europe/Madrid", stamp=STAMP))
    zones = [str(tz["TZID"]) for tz in calendar.timezones]
    assert zones == ["Europe/Dublin", "Europe/Istanbul", "Europe/Madrid"]
    assert str(calendar["X-WR-TIMEZONE"]) == "Europe/Madrid"
    check_zones(calendar, *(datetime(2027, m, 15, 12, tzinfo=UTC) for m in range(1, 13)))
    second = events(calendar)[1]
    assert second.decoded("DTSTART") == datetime(2027, 7, 1, 10, 0, tzinfo=DUBLIN)
    assert second.walk("VALARM")[0].decoded("TRIGGER") == -timedelta(minutes=15)


def test_an_edit_keeps_the_uid_and_raises_the_sequence_and_the_same_file_is_written_again() -> None:
    moved = dataclasses.replace(
        MEETUP,
        start=MEETUP.start + timedelta(hours=1),
        end=MEETUP.end + timedelta(hours=1),
        sequence=1,
        updated=datetime(2026, 12, 2, 8, 30, tzinfo=UTC),
    )
    assert ics([MEETUP], name="x", stamp=STAMP) == ics([MEETUP], name="x", stamp=STAMP)
    (event,) = events(parse(ics([moved], name="x", stamp=STAMP)))
    assert str(event["UID"]) == "event-12@councilbot"
    assert event.decoded("SEQUENCE") == 1
    assert event.decoded("DTSTART") == datetime(2027, 3, 4, 11, 0, tzinfo=ISTANBUL)
    assert event.decoded("DTSTAMP") == event.decoded("LAST-MODIFIED") == moved.updated


def test_a_cancelled_event_says_so_and_rings_no_alarm() -> None:
    cancelled = dataclasses.replace(MEETUP, cancelled=True, sequence=2)
    (event,) = events(parse(ics([cancelled], name="x", stamp=STAMP)))
    assert (str(event["STATUS"]), event.decoded("SEQUENCE")) == ("CANCELLED", 2)
    assert event.walk("VALARM") == []


def test_an_empty_feed_is_a_valid_calendar_with_its_zone() -> None:
    hour = timedelta(hours=1)
    body = ics([], name="Cork council", zone="Europe/Dublin", stamp=STAMP, refresh=hour)
    calendar = parse(body)
    assert events(calendar) == []
    assert [str(tz["TZID"]) for tz in calendar.timezones] == ["Europe/Dublin"]
    # How often subscribed apps fetch it again (RFC 7986, and Outlook's name for it).
    assert b"\r\nREFRESH-INTERVAL;VALUE=DURATION:PT1H\r\n" in body
    assert b"\r\nX-PUBLISHED-TTL:PT1H\r\n" in body


def test_a_weekly_series_stays_at_ten_local_across_the_october_change_with_its_exceptions() -> None:
    # Six Mondays at 10:00 in Málaga from 12 October; summer time ends on 25 October.
    # The third is moved to 12:00, the fifth cancelled.
    start = datetime(2026, 10, 12, 10, 0, tzinfo=MADRID)
    third = start + timedelta(weeks=2)
    items = weekly(
        6,
        start,
        until=date(2026, 11, 16),
        k2={"start": third + timedelta(hours=2), "end": third + timedelta(hours=4), "sequence": 1},
        k4={"cancelled": True, "sequence": 1},
    )
    calendar = parse(ics(reversed(items), name="Andalusian council", stamp=STAMP))
    found = events(calendar)
    assert {str(e["UID"]) for e in found} == {SERIES}  # one series, not six events
    master = next(e for e in found if "RECURRENCE-ID" not in e)
    rule = master["RRULE"]
    assert rule["FREQ"] == ["WEEKLY"]
    assert rule["UNTIL"] == [datetime(2026, 11, 16, 22, 59, 59, tzinfo=UTC)]  # UTC, day's end
    assert master.decoded("DTSTART") == start
    assert master.decoded("SEQUENCE") == 1
    assert master.walk("VALARM")[0].decoded("TRIGGER") == -timedelta(hours=1)
    shown = expand(calendar, SERIES)
    assert [
        (s.astimezone(MADRID).strftime("%d %H:%M"), status) for s, _, status in shown.values()
    ] == [
        ("12 10:00", "CONFIRMED"),
        ("19 10:00", "CONFIRMED"),
        ("26 12:00", "CONFIRMED"),  # moved
        ("02 10:00", "CONFIRMED"),
        ("16 10:00", "CONFIRMED"),  # 9 November is cancelled
    ]
    # The wall-clock hour holds; the UTC hour moves with summer time.
    assert [s.astimezone(UTC).hour for s in shown] == [8, 8, 9, 9, 9]
    (override,) = [e for e in found if "RECURRENCE-ID" in e]
    assert override["RECURRENCE-ID"].params["TZID"] == "Europe/Madrid"
    assert override.decoded("RECURRENCE-ID") == third
    assert override.decoded("SEQUENCE") == 1 and override.walk("VALARM")
    assert master["EXDATE"].params["TZID"] == "Europe/Madrid"
    check_zones(calendar, *(s for s in shown))


def test_a_monthly_series_across_the_march_change_keeps_its_hour_and_its_odd_dates() -> None:
    # The 31st of each month from January: where a month has none, the series met on its
    # last day, a date the RRULE does not make (so it comes as an RDATE).
    zone = MADRID
    planned = [
        datetime(2027, m, d, 18, 30, tzinfo=zone) for m, d in ((1, 31), (2, 28), (3, 31), (4, 30))
    ]
    items = [
        CalendarEvent(
            uid=f"event-{k}@councilbot",
            title="Council meeting",
            start=moment,
            end=moment + timedelta(hours=1),
            zone="Europe/Madrid",
            recurrence=Recurrence(SERIES, "month", date(2027, 4, 30), moment),
        )
        for k, moment in enumerate(planned)
    ]
    calendar = parse(ics(items, name="Madrid council", stamp=STAMP))
    (master,) = events(calendar)
    assert master["RRULE"]["FREQ"] == ["MONTHLY"]
    assert list(expand(calendar, SERIES)) == planned
    assert {s.astimezone(zone).hour for s in expand(calendar, SERIES)} == {18}


def test_a_series_with_a_later_edit_and_a_cancelled_whole() -> None:
    start = datetime(2027, 3, 22, 10, 0, tzinfo=MADRID)  # the March change is on the 28th
    # From the third on, the venue changed: the master takes the look of most occurrences.
    cartuja = {"location": "Cartuja"}
    items = weekly(5, start, until=None, k2=cartuja, k3=cartuja, k4=cartuja)
    calendar = parse(ics(items, name="x", stamp=STAMP))
    master = next(e for e in events(calendar) if "RECURRENCE-ID" not in e)
    # No end date: the series runs as far as its occurrences were made.
    assert master["RRULE"]["UNTIL"] == [(start + timedelta(weeks=4)).astimezone(UTC)]
    assert str(master["LOCATION"]) == "Cartuja"
    overrides = {e.decoded("RECURRENCE-ID"): str(e["LOCATION"]) for e in events(calendar)[1:]}
    assert overrides == {start: "PTA, Málaga", start + timedelta(weeks=1): "PTA, Málaga"}
    assert {s.astimezone(MADRID).hour for s in expand(calendar, SERIES)} == {10}
    assert len(expand(calendar, SERIES)) == 5
    # An occurrence that no longer exists is not shown (EXDATE), whatever the rule says.
    without = parse(ics([items[0], *items[2:]], name="x", stamp=STAMP))
    assert list(expand(without, SERIES)) == [start + timedelta(weeks=k) for k in (0, 2, 3, 4)]

    gone = [dataclasses.replace(item, cancelled=True, sequence=3) for item in items]
    (master,) = events(parse(ics(gone, name="x", stamp=STAMP)))
    assert (str(master["STATUS"]), master.decoded("SEQUENCE")) == ("CANCELLED", 3)
