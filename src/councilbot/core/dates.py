"""Parse dates and times typed by chat users (en, es, it, fr, tr) in a council's time zone."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

_DATE_HINT = "Try a date like 2026-12-03, 03/12, 3 Dec, tomorrow or friday."
_TIME_HINT = "Try a time like 14:00, 9h30 or 2pm."
_RANGE_HINT = "Try a time range like 14:00-16:00."
_WHEN_HINT = "Try 'tomorrow 14:00', '03/12 9:30', '14:00' or 'in 2h'."

_MONTHS = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

_TODAY = frozenset({"today", "hoy", "oggi", "aujourd'hui", "aujourdhui", "bugün", "bugun"})
_TOMORROW = frozenset({"tomorrow", "mañana", "manana", "domani", "demain", "yarın", "yarin"})

# Monday..Sunday. Turkish "paz" and "cum" are left out on purpose: each is a prefix of two
# different days (pazartesi/pazar, cuma/cumartesi), so a user could mean either.
_WEEKDAY_WORDS: tuple[tuple[str, ...], ...] = (
    ("monday", "mon", "lunes", "lun", "lunedì", "lunedi", "lundi", "pazartesi", "pzt"),
    ("tuesday", "tue", "tues", "martes", "mar", "martedì", "martedi", "mardi",
     "salı", "sali", "sal"),
    ("wednesday", "wed", "miércoles", "miercoles", "mié", "mie", "mercoledì", "mercoledi",
     "mer", "mercredi", "çarşamba", "carsamba", "çar", "car"),
    ("thursday", "thu", "thur", "thurs", "jueves", "jue", "giovedì", "giovedi", "gio",
     "jeudi", "jeu", "perşembe", "persembe", "per"),
    ("friday", "fri", "viernes", "vie", "venerdì", "venerdi", "ven", "vendredi", "cuma"),
    ("saturday", "sat", "sábado", "sabado", "sáb", "sab", "sabato", "samedi", "sam",
     "cumartesi", "cmt", "cts"),
    ("sunday", "sun", "domingo", "dom", "domenica", "dimanche", "dim", "pazar"),
)  # fmt: skip
# January..December, as people write them in the five languages (with or without accents).
_MONTH_WORDS: tuple[tuple[str, ...], ...] = (
    ("january", "jan", "enero", "ene", "gennaio", "gen", "janvier", "janv", "ocak", "oca"),
    ("february", "feb", "febrero", "febbraio", "février", "fevrier", "févr", "fevr", "fév",
     "fev", "şubat", "subat", "şub", "sub"),
    ("march", "mar", "marzo", "mars", "mart"),
    ("april", "apr", "abril", "abr", "aprile", "avril", "avr", "nisan", "nis"),
    ("may", "mayo", "maggio", "mag", "mai", "mayıs", "mayis"),
    ("june", "jun", "junio", "giugno", "giu", "juin", "haziran", "haz"),
    ("july", "jul", "julio", "luglio", "lug", "juillet", "juil", "temmuz", "tem"),
    ("august", "aug", "agosto", "ago", "août", "aout", "ağustos", "agustos", "ağu", "agu"),
    ("september", "sep", "sept", "septiembre", "setiembre", "settembre", "set", "septembre",
     "eylül", "eylul", "eyl"),
    ("october", "oct", "octubre", "ottobre", "ott", "octobre", "ekim", "eki"),
    ("november", "nov", "noviembre", "novembre", "kasım", "kasim", "kas"),
    ("december", "dec", "diciembre", "dic", "dicembre", "décembre", "decembre", "déc",
     "aralık", "aralik", "ara"),
)  # fmt: skip
_MONTH_NUMBERS: dict[str, int] = {
    word: index for index, words in enumerate(_MONTH_WORDS, 1) for word in words
}
# "3 Dec", "3 de diciembre de 2026", "Dec 3, 2026", "3. Dezember" is not ours.
_DAY_MONTH = re.compile(r"(\d{1,2})(?:\.)? (?:de )?([^\W\d_]+)\.?(?: (?:de )?(\d{4}))?")
_MONTH_DAY = re.compile(r"([^\W\d_]+)\.? (\d{1,2})(?:,? (\d{4}))?")

# Any spelling shared by two different days is dropped rather than guessed.
_WEEKDAYS: dict[str, int] = {
    word: index
    for index, words in enumerate(_WEEKDAY_WORDS)
    for word in words
    if all(word not in other for i, other in enumerate(_WEEKDAY_WORDS) if i != index)
}

# Digit runs are bounded so huge numbers fail as parse errors, not as int()/timedelta errors.
_ISO_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})", re.ASCII)
_DAY_FIRST = re.compile(r"(\d{1,2})([/.-])(\d{1,2})(?:\2(\d{4}|\d{2}))?", re.ASCII)
_TIME = re.compile(r"(\d{1,2})(?:([:h])(\d{2})?)?\s*(am|pm)?", re.ASCII)
_RANGE = re.compile(r"(.+?)\s*[-–—]\s*(.+)")
_ISO_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}t.+", re.ASCII)
# "in 2h" in every supported language: en "in 3 hours", es "en 2 horas", it "tra 2 ore",
# fr "dans 2 heures", tr "2 saat sonra" (the Turkish word comes after the number).
_UNIT_WORDS = {
    "minutes": ("m", "min", "mins", "minute", "minutes", "minuto", "minutos", "minuti", "dk", "dakika"),
    "hours": ("h", "hr", "hrs", "hour", "hours", "hora", "horas", "heure", "heures", "ora", "ore", "sa", "saat"),
    "days": ("d", "day", "days", "dia", "día", "dias", "días", "jour", "jours", "giorno", "giorni", "gün", "gun"),
}  # fmt: skip
_UNITS = {word: unit for unit, words in _UNIT_WORDS.items() for word in words}
_UNIT = "|".join(sorted(map(re.escape, _UNITS), key=len, reverse=True))
_RELATIVE = re.compile(
    rf"(?:(?:in|en|tra|fra|dans)\s+|\+\s*)(\d{{1,6}})\s*({_UNIT})|(\d{{1,6}})\s*({_UNIT})\s+sonra"
)
_CONNECTOR = re.compile(r" (?:at|à|a las|alle|saat) ")


class DateParseError(ValueError):
    """Raise when text is not a date/time we understand."""

    def __init__(self, message: str, text: str = "") -> None:
        super().__init__(message)
        self.text = text


class _Unrecognised(DateParseError):
    """Signal that the text had no recognisable shape, as opposed to a bad value."""


def _norm(text: str) -> str:
    text = unicodedata.normalize("NFC", text.lower())
    # Turkish "İ".lower() leaves a combining dot; users type the typographic apostrophe.
    return " ".join(text.replace("i\u0307", "i").replace("’", "'").split())


def weekday_index(word: str) -> int | None:
    """Return 0 (Monday) to 6 (Sunday) for a weekday word in any supported language."""
    return _WEEKDAYS.get(_norm(word).rstrip("."))


def _invalid_date(text: str, day: int, month: int, year: int | None = None) -> DateParseError:
    if year is not None and not 1 <= year <= 9999:
        reason = "the year is out of range"
    elif not 1 <= month <= 12:
        reason = "months go from 1 to 12"
    else:
        reason = f"{_MONTHS[month - 1]}{f' {year}' if year else ''} has no day {day}"
    return DateParseError(
        f"{text!r} is not a valid date: {reason}. Dates are day first, e.g. 03/12 is 3 December.",
        text,
    )


def _make_date(text: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise _invalid_date(text, day, month, year) from None


def _next_weekday(today: date, index: int) -> date:
    return today + timedelta(days=(index - today.weekday()) % 7)


def _parse_date(s: str, today: date, text: str) -> date:
    if s in _TODAY:
        return today
    if s in _TOMORROW:
        return today + timedelta(days=1)
    if (index := weekday_index(s)) is not None:
        return _next_weekday(today, index)
    first, _, rest = s.partition(" ")
    if first == "next" and (index := weekday_index(rest)) is not None:
        plain = _next_weekday(today, index)
        return plain + timedelta(days=7) if plain == today else plain
    if m := _ISO_DATE.fullmatch(s):
        return _make_date(text, int(m[1]), int(m[2]), int(m[3]))
    if m := _DAY_FIRST.fullmatch(s):
        year = int(m[4]) + (2000 if len(m[4]) == 2 else 0) if m[4] else None
        return _day_month(text, int(m[1]), int(m[3]), year, today)
    if (m := _DAY_MONTH.fullmatch(s)) and (month := _MONTH_NUMBERS.get(m[2])):
        return _day_month(text, int(m[1]), month, int(m[3]) if m[3] else None, today)
    if (m := _MONTH_DAY.fullmatch(s)) and (month := _MONTH_NUMBERS.get(m[1])):
        return _day_month(text, int(m[2]), month, int(m[3]) if m[3] else None, today)
    raise _Unrecognised(f"Could not understand {text!r} as a date. {_DATE_HINT}", text)


def _day_month(text: str, day: int, month: int, year: int | None, today: date) -> date:
    """Return that day, or without a year its next occurrence from today on."""
    if year is not None:
        return _make_date(text, year, month, day)
    try:
        date(2000, month, day)  # a leap year, so only impossible day/month pairs fail
    except ValueError:
        raise _invalid_date(text, day, month) from None
    # Nine years always reach the next 29 February, even across a skipped century leap.
    for candidate_year in range(today.year, today.year + 9):
        try:
            candidate = date(candidate_year, month, day)
        except ValueError:
            continue
        if candidate >= today:
            return candidate
    raise _invalid_date(text, day, month)  # unreachable: some year in nine has the day


def is_date(text: str) -> bool:
    """Tell whether some words read as a date (used to keep "3 Dec" or "next monday" whole)."""
    try:
        parse_date(text, today=date(2026, 1, 1))
    except DateParseError:
        return False
    return True


def parse_date(text: str, *, today: date) -> date:
    """Parse a user-typed date, resolving year-less and relative forms against today."""
    try:
        return _parse_date(_norm(text), today, text)
    except OverflowError:
        raise DateParseError(f"{text!r} is too far away. {_DATE_HINT}", text) from None


def parse_time(text: str) -> time:
    """Parse a user-typed wall-clock time into a naive time."""
    m = _TIME.fullmatch(_norm(text))
    if m is None or (m[2] == ":" and m[3] is None):
        raise _Unrecognised(f"Could not understand {text!r} as a time. {_TIME_HINT}", text)
    hour, minute = int(m[1]), int(m[3] or 0)
    if m[4]:
        if not 1 <= hour <= 12:
            raise DateParseError(f"{text!r}: with am/pm the hour must be 1 to 12.", text)
        hour = hour % 12 + (12 if m[4] == "pm" else 0)
    if hour > 23 or minute > 59:
        raise DateParseError(
            f"{text!r} is not a valid time: hours go 0-23 and minutes 0-59. {_TIME_HINT}", text
        )
    return time(hour, minute)


def parse_time_range(text: str) -> tuple[time, time]:
    """Parse a user-typed 'start-end' time range whose end is after its start."""
    m = _RANGE.fullmatch(_norm(text))
    if m is None:
        raise DateParseError(f"Could not understand {text!r} as a time range. {_RANGE_HINT}", text)
    try:
        start, end = parse_time(m[1]), parse_time(m[2])
    except DateParseError as exc:
        raise DateParseError(f"{exc} {_RANGE_HINT}", text) from None
    if end <= start:
        raise DateParseError(f"{text!r}: the end time must be after the start time.", text)
    return start, end


@dataclass(frozen=True, slots=True)
class Shift:
    """Say how a typed wall-clock time that a daylight-saving change skips or repeats was read."""

    wall: datetime  # naive: the wall-clock time typed
    used: datetime  # aware, in the council's zone: the moment taken (a repeat's first one)
    skipped: bool  # clocks go forward: the time does not exist; else it happens twice

    @property
    def other(self) -> datetime:
        """Return the second occurrence of a repeated time, aware in its zone."""
        return self.wall.replace(tzinfo=self.used.tzinfo, fold=1)


@dataclass(frozen=True, slots=True)
class Moment:
    """Carry a parsed moment (aware, UTC) and how a daylight-saving change moved it, if it did."""

    at: datetime
    shift: Shift | None = None


def _localize(naive: datetime, tz: ZoneInfo) -> Moment:
    """Read a wall-clock time in a zone, saying when a daylight-saving change skips or repeats it."""
    # fold=0 takes the offset in force before a transition. For an ambiguous autumn time that
    # is its first occurrence; for a time inside the spring-forward gap, the UTC round trip
    # lands it the gap's length later (02:30 -> 03:30), the moment the user most likely meant.
    used = naive.replace(tzinfo=tz, fold=0).astimezone(UTC).astimezone(tz)
    if used.replace(tzinfo=None) != naive:
        return Moment(used.astimezone(UTC), Shift(naive, used, skipped=True))
    if used.utcoffset() != naive.replace(tzinfo=tz, fold=1).utcoffset():
        return Moment(used.astimezone(UTC), Shift(naive, used, skipped=False))
    return Moment(used.astimezone(UTC))


def _parse_when(s: str, now: datetime, tz: ZoneInfo, text: str) -> datetime:
    """Return an aware moment, or a naive wall-clock time to read in the council's zone."""
    if m := _RELATIVE.fullmatch(s):
        # Absolute durations: "in 1d" is 24 hours later, even across a DST change.
        amount, unit = (m[1], m[2]) if m[1] is not None else (m[3], m[4])
        return now.astimezone(UTC) + timedelta(**{_UNITS[unit]: int(amount)})
    if _ISO_DATETIME.fullmatch(s):
        try:
            parsed = datetime.fromisoformat(s.upper())
        except ValueError:
            raise DateParseError(
                f"{text!r} is not a valid date and time. {_WHEN_HINT}", text
            ) from None
        return parsed
    s = _CONNECTOR.sub(" ", s)
    today = now.astimezone(tz).date()
    try:
        at = parse_time(s)
    except _Unrecognised:
        pass
    else:
        candidate = datetime.combine(today, at)
        if _localize(candidate, tz).at > now:
            return candidate
        return datetime.combine(today + timedelta(days=1), at)
    words = s.split(" ")
    error: DateParseError | None = None
    # The time is the last word, or the last two for "2 pm"; the date is everything before it.
    for split in (1, 2):
        if len(words) > split:
            try:
                day = parse_date(" ".join(words[:-split]), today=today)
                at = parse_time(" ".join(words[-split:]))
            except DateParseError as exc:
                if error is None or isinstance(error, _Unrecognised):
                    error = exc
                continue
            return datetime.combine(day, at)
    if error is not None and not isinstance(error, _Unrecognised):
        raise DateParseError(str(error), text)
    try:
        parse_date(s, today=today)
    except DateParseError:
        raise _Unrecognised(
            f"Could not understand {text!r} as a date and time. {_WHEN_HINT}", text
        ) from None
    raise DateParseError(f"{text!r} needs a time too, e.g. '{s} 14:00'.", text)


def parse_moment(text: str, *, now: datetime, tz: ZoneInfo) -> Moment:
    """Parse a user-typed moment read in the council's time zone, noting any DST shift."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    try:
        parsed = _parse_when(_norm(text), now, tz, text)
        # Only a wall-clock time is read in the zone: a moment given with its UTC offset, or
        # counted from now, is exactly what was asked for, so there is nothing to explain.
        return Moment(parsed.astimezone(UTC)) if parsed.tzinfo else _localize(parsed, tz)
    except OverflowError:
        raise DateParseError(f"{text!r} is too far away. {_WHEN_HINT}", text) from None


def parse_when(text: str, *, now: datetime, tz: ZoneInfo) -> datetime:
    """Parse a user-typed moment read in the council's time zone into an aware UTC datetime."""
    return parse_moment(text, now=now, tz=tz).at
