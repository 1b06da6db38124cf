import contextlib
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from councilbot.core.dates import (
    DateParseError,
    Moment,
    Shift,
    parse_date,
    parse_moment,
    parse_time,
    parse_time_range,
    parse_when,
    weekday_index,
)

MONDAY = date(2026, 6, 15)
FRIDAY = date(2026, 6, 19)
MADRID = ZoneInfo("Europe/Madrid")
ISTANBUL = ZoneInfo("Europe/Istanbul")
DUBLIN = ZoneInfo("Europe/Dublin")
# 10:00 in Madrid (CEST, UTC+2) on Monday 15 June 2026.
NOW = datetime(2026, 6, 15, 8, 0, tzinfo=UTC)


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_fixed_days_are_the_weekdays_the_tests_assume() -> None:
    assert MONDAY.weekday() == 0
    assert FRIDAY.weekday() == 4


# --- parse_date -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03", date(2026, 12, 3)),
        ("2027-1-5", date(2027, 1, 5)),
        ("03/12", date(2026, 12, 3)),
        ("3/12", date(2026, 12, 3)),
        ("03/12/2026", date(2026, 12, 3)),
        ("3/12/26", date(2026, 12, 3)),
        ("03.12", date(2026, 12, 3)),
        ("03.12.2026", date(2026, 12, 3)),
        ("03-12", date(2026, 12, 3)),
        ("03-12-2026", date(2026, 12, 3)),
        ("01/01/2020", date(2020, 1, 1)),
        ("  03/12  ", date(2026, 12, 3)),
    ],
)
def test_parse_date_numeric_forms(text: str, expected: date) -> None:
    assert parse_date(text, today=MONDAY) == expected


@pytest.mark.parametrize(
    "text",
    [
        "3 Dec", "3 december", "Dec 3", "December 3, 2026", "3 Dec 2026", "3 dec.",
        "3 de diciembre", "3 de diciembre de 2026", "3 dic", "3 dicembre", "3 décembre",
        "3 decembre", "3 déc.", "3 Aralık", "3 aralik",
    ],
)  # fmt: skip
def test_parse_date_with_month_names_in_every_language(text: str) -> None:
    assert parse_date(text, today=MONDAY) == date(2026, 12, 3)


def test_parse_date_with_a_month_name_rolls_to_the_next_one_and_refuses_a_bad_day() -> None:
    assert parse_date("3 Jan", today=MONDAY) == date(2027, 1, 3)
    assert parse_date("15 juin", today=MONDAY) == date(2026, 6, 15)  # today itself
    with pytest.raises(DateParseError):
        parse_date("31 Nov", today=MONDAY)
    with pytest.raises(DateParseError):
        parse_date("3 Smarch", today=MONDAY)


def test_parse_date_without_year_rolls_over_at_year_end() -> None:
    today = date(2026, 12, 20)
    assert parse_date("03/01", today=today) == date(2027, 1, 3)
    assert parse_date("20/12", today=today) == date(2026, 12, 20)
    assert parse_date("19/12", today=today) == date(2027, 12, 19)
    assert parse_date("31.12", today=today) == date(2026, 12, 31)


def test_parse_date_without_year_finds_next_leap_day() -> None:
    assert parse_date("29/02", today=date(2026, 3, 1)) == date(2028, 2, 29)


@pytest.mark.parametrize(
    "word",
    ["today", "hoy", "oggi", "aujourd'hui", "aujourdhui", "aujourd’hui", "bugün", "bugun"],
)
def test_parse_date_today_in_every_language(word: str) -> None:
    assert parse_date(word, today=MONDAY) == MONDAY
    assert parse_date(word.upper(), today=MONDAY) == MONDAY


@pytest.mark.parametrize(
    "word", ["tomorrow", "mañana", "manana", "domani", "demain", "yarın", "yarin", "YARIN"]
)
def test_parse_date_tomorrow_in_every_language(word: str) -> None:
    assert parse_date(word, today=MONDAY) == date(2026, 6, 16)


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("friday", date(2026, 6, 19)),
        ("Fri", date(2026, 6, 19)),
        ("wednesday", date(2026, 6, 17)),
        ("monday", MONDAY),
        ("sun", date(2026, 6, 21)),
        ("miércoles", date(2026, 6, 17)),
        ("sabado", date(2026, 6, 20)),
        ("giovedì", date(2026, 6, 18)),
        ("domenica", date(2026, 6, 21)),
        ("vendredi", date(2026, 6, 19)),
        ("mar", date(2026, 6, 16)),
        ("salı", date(2026, 6, 16)),
        ("ÇARŞAMBA", date(2026, 6, 17)),
        ("pazar", date(2026, 6, 21)),
    ],
)
def test_parse_date_weekdays(word: str, expected: date) -> None:
    assert parse_date(word, today=MONDAY) == expected


def test_weekday_said_on_that_weekday_is_today() -> None:
    assert parse_date("friday", today=FRIDAY) == FRIDAY
    assert parse_date("venerdì", today=FRIDAY) == FRIDAY


def test_next_weekday() -> None:
    assert parse_date("next friday", today=FRIDAY) == FRIDAY + timedelta(days=7)
    assert parse_date("next friday", today=MONDAY) == FRIDAY
    assert parse_date("Next  Monday", today=MONDAY) == MONDAY + timedelta(days=7)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Could not understand"),
        ("hello", "Could not understand"),
        ("32/01", "January has no day 32"),
        ("31/02", "February has no day 31"),
        ("29/02/2027", "February 2027 has no day 29"),
        ("13/13", "months go from 1 to 12"),
        ("2026-02-30", "February 2026 has no day 30"),
        ("next", "Could not understand"),
        ("2026/12/03", "Could not understand"),
        ("03/12.2026", "Could not understand"),
    ],
)
def test_parse_date_rejects(text: str, fragment: str) -> None:
    with pytest.raises(DateParseError, match=fragment) as info:
        parse_date(text, today=MONDAY)
    assert info.value.text == text
    assert isinstance(info.value, ValueError)


# --- weekday_index ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("monday", 0), ("lunes", 0), ("lunedi", 0), ("lundi", 0), ("pazartesi", 0),
        ("tue", 1), ("martes", 1), ("martedì", 1), ("mardi", 1), ("sali", 1),
        ("wed", 2), ("miercoles", 2), ("mercoledì", 2), ("mercredi", 2), ("carsamba", 2),
        ("thu", 3), ("jueves", 3), ("giovedi", 3), ("jeudi", 3), ("perşembe", 3),
        ("fri", 4), ("viernes", 4), ("venerdi", 4), ("vendredi", 4), ("cuma", 4),
        ("sat", 5), ("sábado", 5), ("sabato", 5), ("samedi", 5), ("cumartesi", 5),
        ("sun", 6), ("domingo", 6), ("domenica", 6), ("dimanche", 6), ("pazar", 6),
        ("sab", 5), ("dom", 6), ("mer", 2), ("ven", 4), ("lun", 0), ("  MON. ", 0),
    ],
)  # fmt: skip
def test_weekday_index(word: str, expected: int) -> None:
    assert weekday_index(word) == expected


@pytest.mark.parametrize("word", ["", "hello", "cum", "paz", "next friday", "monday2"])
def test_weekday_index_unknown_or_ambiguous(word: str) -> None:
    assert weekday_index(word) is None


# --- parse_time and parse_time_range ----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:00", time(14, 0)),
        ("9:30", time(9, 30)),
        ("09h30", time(9, 30)),
        ("9h", time(9, 0)),
        ("14", time(14, 0)),
        ("0:00", time(0, 0)),
        ("23:59", time(23, 59)),
        ("2pm", time(14, 0)),
        ("2:30pm", time(14, 30)),
        ("2 PM", time(14, 0)),
        ("11am", time(11, 0)),
        ("12am", time(0, 0)),
        ("12pm", time(12, 0)),
    ],
)
def test_parse_time(text: str, expected: time) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["", "25:00", "24:00", "14:60", "14:", "13pm", "0am", "hello"])
def test_parse_time_rejects(text: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_time(text)
    assert info.value.text == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("14:00-16:00", (time(14), time(16))),
        ("9-11", (time(9), time(11))),
        ("9:00–11:30", (time(9), time(11, 30))),
        ("9:00 – 11:30", (time(9), time(11, 30))),
        ("14h - 16h30", (time(14), time(16, 30))),
        ("2pm-4pm", (time(14), time(16))),
    ],
)
def test_parse_time_range(text: str, expected: tuple[time, time]) -> None:
    assert parse_time_range(text) == expected


@pytest.mark.parametrize("text", ["16:00-14:00", "14:00-14:00", "14:00", "9-25", "a-b", ""])
def test_parse_time_range_rejects(text: str) -> None:
    with pytest.raises(DateParseError) as info:
        parse_time_range(text)
    assert info.value.text == text


def test_parse_time_range_explains_order() -> None:
    with pytest.raises(DateParseError, match="end time must be after the start"):
        parse_time_range("16:00-14:00")


# --- parse_when -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-03 14:00", utc(2026, 12, 3, 13)),  # CET, UTC+1
        ("2026-07-03 14:00", utc(2026, 7, 3, 12)),  # CEST, UTC+2
        ("tomorrow 9:00", utc(2026, 6, 16, 7)),
        ("mañana a las 9h", utc(2026, 6, 16, 7)),
        ("friday 17h", utc(2026, 6, 19, 15)),
        ("next monday 2 pm", utc(2026, 6, 22, 12)),
        ("tomorrow at 2:30pm", utc(2026, 6, 16, 12, 30)),
        ("03/12 14:30", utc(2026, 12, 3, 13, 30)),
        ("2026-12-03T14:00", utc(2026, 12, 3, 13)),
        ("2026-12-03t14:00:30", utc(2026, 12, 3, 13, 0, 30)),
        ("2026-12-03T14:00+05:00", utc(2026, 12, 3, 9)),
        ("2026-12-03T14:00Z", utc(2026, 12, 3, 14)),
        ("14:00", utc(2026, 6, 15, 12)),  # still ahead today
        ("9:00", utc(2026, 6, 16, 7)),  # already past: tomorrow
        ("10:00", utc(2026, 6, 16, 8)),  # exactly now is not in the future
    ],
)
def test_parse_when_madrid(text: str, expected: datetime) -> None:
    result = parse_when(text, now=NOW, tz=MADRID)
    assert result == expected
    assert result.tzinfo is UTC


def test_parse_when_istanbul() -> None:
    now = datetime(2026, 12, 1, 9, 0, tzinfo=ISTANBUL)  # UTC+3 all year
    assert parse_when("yarın 10:00", now=now, tz=ISTANBUL) == utc(2026, 12, 2, 7)
    assert parse_when("cuma saat 18:30", now=now, tz=ISTANBUL) == utc(2026, 12, 4, 15, 30)
    assert parse_when("2026-07-01 12:00", now=now, tz=ISTANBUL) == utc(2026, 7, 1, 9)


def test_parse_when_dublin_summer_and_winter() -> None:
    now = utc(2026, 6, 15, 8)
    assert parse_when("tomorrow 9:00", now=now, tz=DUBLIN) == utc(2026, 6, 16, 8)  # IST
    assert parse_when("03/12 9:00", now=now, tz=DUBLIN) == utc(2026, 12, 3, 9)  # GMT
    assert parse_when("demain 9h", now=now, tz=DUBLIN) == utc(2026, 6, 16, 8)


def test_parse_when_today_is_taken_in_the_council_zone() -> None:
    # 22:30 UTC on the 15th is already 00:30 on the 16th in Madrid, but 23:30 in Dublin.
    now = utc(2026, 6, 15, 22, 30)
    assert parse_when("today 9:00", now=now, tz=MADRID) == utc(2026, 6, 16, 7)
    assert parse_when("oggi 9:00", now=now, tz=MADRID) == utc(2026, 6, 16, 7)
    assert parse_when("today 9:00", now=now, tz=DUBLIN) == utc(2026, 6, 15, 8)
    assert parse_when("9:00", now=now, tz=DUBLIN) == utc(2026, 6, 16, 8)


def test_parse_when_spring_forward_day_in_madrid() -> None:
    # 2026-03-29: clocks jump from 02:00 CET to 03:00 CEST.
    now = utc(2026, 3, 28, 12)
    assert parse_when("2026-03-29 01:30", now=now, tz=MADRID) == utc(2026, 3, 29, 0, 30)
    assert parse_when("2026-03-29 03:30", now=now, tz=MADRID) == utc(2026, 3, 29, 1, 30)
    assert parse_when("tomorrow 12:00", now=now, tz=MADRID) == utc(2026, 3, 29, 10)
    # 02:30 does not exist; it is shifted forward by the gap, to 03:30 CEST.
    assert parse_when("domingo 2:30", now=now, tz=MADRID) == utc(2026, 3, 29, 1, 30)


def test_parse_when_fall_back_day_takes_first_occurrence() -> None:
    # 2026-10-25: 02:00-03:00 happens twice in Madrid; the first (CEST) one is meant.
    now = utc(2026, 10, 20, 12)
    assert parse_when("25/10 2:30", now=now, tz=MADRID) == utc(2026, 10, 25, 0, 30)
    assert parse_when("25/10 3:30", now=now, tz=MADRID) == utc(2026, 10, 25, 2, 30)


def local(*args: int, fold: int = 0) -> datetime:
    return datetime(*args, tzinfo=MADRID, fold=fold)


@pytest.mark.parametrize("text", ["2027-03-28 02:30", "28/03/2027 2:30", "domingo 2:30", "2:30"])
def test_parse_moment_notes_a_time_the_spring_change_skips(text: str) -> None:
    # 2027-03-28, a Sunday: clocks jump from 02:00 CET to 03:00 CEST in Madrid.
    now = utc(2027, 3, 27, 12)
    assert parse_moment(text, now=now, tz=MADRID) == Moment(
        utc(2027, 3, 28, 1, 30),
        Shift(wall=datetime(2027, 3, 28, 2, 30), used=local(2027, 3, 28, 3, 30), skipped=True),
    )


def test_parse_moment_takes_the_first_of_a_repeated_time_and_says_so() -> None:
    # 2027-10-31: 02:00-03:00 happens twice in Madrid, first in CEST, then in CET.
    moment = parse_moment("2027-10-31 02:30", now=NOW, tz=MADRID)
    assert moment.at == utc(2027, 10, 31, 0, 30)
    assert moment.shift == Shift(
        wall=datetime(2027, 10, 31, 2, 30), used=local(2027, 10, 31, 2, 30), skipped=False
    )
    assert moment.shift.other.isoformat() == "2027-10-31T02:30:00+01:00"


@pytest.mark.parametrize(
    ("text", "now", "at"),
    [
        # The moment the note itself suggests for the second 02:30, and the first one.
        ("2027-10-31T02:30+01:00", NOW, utc(2027, 10, 31, 1, 30)),
        ("2027-10-31T02:30+02:00", NOW, utc(2027, 10, 31, 0, 30)),
        ("2027-03-28T02:30+01:00", NOW, utc(2027, 3, 28, 1, 30)),  # in the spring gap
        # Reached by counting real hours, whatever the clocks show then.
        ("in 1h", utc(2027, 10, 31, 0, 30), utc(2027, 10, 31, 1, 30)),
        ("in 1h", utc(2027, 10, 30, 23, 30), utc(2027, 10, 31, 0, 30)),
    ],
)
def test_parse_moment_notes_nothing_for_a_time_given_with_its_offset_or_counted(
    text: str, now: datetime, at: datetime
) -> None:
    assert parse_moment(text, now=now, tz=MADRID) == Moment(at)


@pytest.mark.parametrize(
    "text", ["2027-03-28 01:59", "2027-03-28 03:00", "2027-10-31 01:59", "2027-10-31 03:00"]
)
def test_parse_moment_leaves_times_next_to_a_change_alone(text: str) -> None:
    assert parse_moment(text, now=NOW, tz=MADRID).shift is None


@pytest.mark.parametrize(
    ("text", "delta"),
    [
        ("in 2h", timedelta(hours=2)),
        ("in 30m", timedelta(minutes=30)),
        ("in 90 min", timedelta(minutes=90)),
        ("in 1d", timedelta(days=1)),
        ("in 3 hours", timedelta(hours=3)),
        ("+2h", timedelta(hours=2)),
        ("+30m", timedelta(minutes=30)),
        ("IN 2H", timedelta(hours=2)),
        ("en 2 horas", timedelta(hours=2)),
        ("en 30 minutos", timedelta(minutes=30)),
        ("tra 2 ore", timedelta(hours=2)),
        ("fra 1 giorno", timedelta(days=1)),
        ("dans 2h", timedelta(hours=2)),
        ("dans 3 jours", timedelta(days=3)),
        ("2 saat sonra", timedelta(hours=2)),
        ("45 dakika sonra", timedelta(minutes=45)),
        ("1 gün sonra", timedelta(days=1)),
    ],
)
def test_parse_when_relative(text: str, delta: timedelta) -> None:
    assert parse_when(text, now=NOW, tz=MADRID) == NOW + delta


def test_parse_when_relative_counts_real_hours_across_dst() -> None:
    now = datetime(2026, 3, 29, 1, 30, tzinfo=MADRID)  # 00:30 UTC, just before the jump
    result = parse_when("in 1h", now=now, tz=MADRID)
    assert result == utc(2026, 3, 29, 1, 30)
    assert result.astimezone(MADRID).hour == 3
    assert parse_when("in 1d", now=now, tz=MADRID) == utc(2026, 3, 30, 0, 30)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "Could not understand"),
        ("hello", "Could not understand"),
        ("hello world", "Could not understand"),
        ("tomorrow", "needs a time"),
        ("tomorrow 25:00", "not a valid time"),
        ("31/02 14:00", "February has no day 31"),
        ("32/01 14:00", "January has no day 32"),
        ("2026-12-03T25:00", "not a valid date and time"),
        ("in 2 weeks", "Could not understand"),
        ("25:00", "not a valid time"),
    ],
)
def test_parse_when_rejects(text: str, fragment: str) -> None:
    with pytest.raises(DateParseError, match=fragment) as info:
        parse_when(text, now=NOW, tz=MADRID)
    assert info.value.text == text


def test_parse_when_needs_an_aware_now() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        parse_when("14:00", now=datetime(2026, 6, 15, 10), tz=MADRID)


# --- properties -------------------------------------------------------------------------------

_TOKENS = [
    "today", "mañana", "friday", "next", "sab", "03/12", "31/02", "29/02", "2026-12-03",
    "9999-12-31", "0001-01-01", "14:00", "2pm", "12am", "9h", "25:00", "in", "+", "2h",
    "999999d", "at", "à", "-", "T", "Z", "+05:00", "", " ",
]  # fmt: skip
_TEXTS = st.text() | st.lists(st.sampled_from(_TOKENS), max_size=5).map(" ".join)
_ANY_DAY = st.dates(min_value=date(1, 1, 2), max_value=date(9999, 12, 30))


@given(text=_TEXTS, today=_ANY_DAY)
def test_parse_date_returns_or_raises_date_parse_error(text: str, today: date) -> None:
    with contextlib.suppress(DateParseError):
        assert isinstance(parse_date(text, today=today), date)


@given(text=_TEXTS)
def test_parse_when_returns_or_raises_date_parse_error(text: str) -> None:
    try:
        result = parse_when(text, now=NOW, tz=MADRID)
    except DateParseError:
        return
    assert result.tzinfo is UTC


@given(text=_TEXTS)
def test_parse_time_and_range_return_or_raise_date_parse_error(text: str) -> None:
    for parse in (parse_time, parse_time_range):
        with contextlib.suppress(DateParseError):
            parse(text)


@given(day=st.dates(min_value=date(1000, 1, 1), max_value=date(9999, 12, 31)))
def test_explicit_dates_round_trip(day: date) -> None:
    assert parse_date(day.isoformat(), today=MONDAY) == day
    assert parse_date(f"{day.day}/{day.month}/{day.year}", today=MONDAY) == day
    assert parse_date(f"{day:%d.%m.%Y}", today=MONDAY) == day
