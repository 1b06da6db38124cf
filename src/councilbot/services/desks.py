"""Hot desks: facilities and desks seeded from the YAML, bookings that never overlap.

A booking holds one `booking_slots` row per half-day it covers (a `day` booking holds am
and pm), inserted in the booking's transaction inside a savepoint: the table's primary key
(desk, date, half) makes a second booking of the same half-day fail to commit on any
database, so a refused insert is a desk taken, never a double booking. The weekly quota
is counted under a lock on the member's row (PostgreSQL; SQLite has one writer at a time).

A facility's dates are its council's: "tomorrow" at Istanbul is Istanbul's tomorrow, and
its check-in deadlines, reminders and opening hours are wall-clock times there. Each
booking schedules two durable jobs: a reminder at 08:00 on the day, with a Check in
button, and its release at the check-in deadline; both go through the scheduler and the
outbox, so they survive a restart and fire once.
"""

from __future__ import annotations

import csv
import difflib
import io
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import FEATURE_EVENTS, Erasure, HomeSection, MemberView
from councilbot.core.i18n import N_, Catalogs, Translator
from councilbot.core.ids import parse_prefixed_id
from councilbot.core.messages import Button
from councilbot.db.base import MAX_ID
from councilbot.db.models import (
    Booking,
    BookingSlot,
    BookingStatus,
    Council,
    Desk,
    DeskProfile,
    Facility,
    FacilityKind,
    Member,
    Slot,
)
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.services import access, broadcast, home, jobs
from councilbot.services.calendar import CalendarEvent
from councilbot.services.councils import WEEKDAYS, DeskRules, SeedFile, council_key

if TYPE_CHECKING:
    from matplotlib.figure import Figure

log = logging.getLogger(__name__)

SOURCE = "desks"  # the outbox's source of the feature's messages
TOPIC = "desks"  # the weekly occupancy summary, by direct message
RELEASE_JOB = "desks.release"
REMIND_JOB = "desks.remind"
WEEKLY_JOB = "desks.weekly"
REMIND_AT = time(8, 0)  # the morning reminder, at the facility
WEEKLY_AT = time(8, 0)  # Mondays, the summary of the week before, in the council's zone
LIVE = (BookingStatus.BOOKED, BookingStatus.CHECKED_IN)
SEARCH_DAYS = 21  # how far the nearest free slot is looked for, at most
_SLOT_TABLE = BookingSlot.__table__


# Reading what people type ---------------------------------------------------------------


def parse_booking_id(text: str) -> int:
    """Read `B34`, `b34`, `#34` or `34` as a booking id, or raise InvalidInput."""
    return parse_prefixed_id(
        text,
        "B",
        what=N_(
            "“{value}” is not a booking id: booking ids look like B34. /mybookings lists yours."
        ),
    )


def rules_of(facility: Facility) -> DeskRules:
    """Return the facility's booking rules (the defaults where the row has none)."""
    return DeskRules.model_validate(facility.rules or {})


def zone_of(facility: Facility) -> ZoneInfo:
    """Return the zone the facility's dates and times are in: its council's."""
    return ZoneInfo(facility.council.timezone)


def local_today(facility: Facility, now: datetime) -> date:
    """Return today's date at the facility."""
    return now.astimezone(zone_of(facility)).date()


def at_facility(facility: Facility, day: date, moment: time) -> datetime:
    """Return the aware moment of a wall-clock time on a date at the facility."""
    return datetime.combine(day, moment, tzinfo=zone_of(facility))


def clock(facility: Facility, day: date, moment: time) -> str:
    """Show a wall-clock time at the facility with its zone named: `19:00 GMT`."""
    from councilbot.core.formatting import zone_abbreviation

    local = at_facility(facility, day, moment)
    return f"{local.strftime('%H:%M')} {zone_abbreviation(local)}"


def deadline_of(facility: Facility, day: date, slot: Slot) -> datetime:
    """Return when a booking not checked in is released."""
    rules = rules_of(facility)
    return at_facility(facility, day, rules.checkin_pm if slot is Slot.PM else rules.checkin_am)


def week_of(day: date) -> tuple[date, date]:
    """Return the Monday and Sunday of a date's week."""
    monday = day - timedelta(days=day.weekday())
    return monday, monday + timedelta(days=6)


# Seeding ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DeskSeedReport:
    """What loading facilities and desks changed."""

    facilities: int  # created or updated
    desks_added: int
    desks_retired: int


async def seed_facilities(
    session: AsyncSession, seed: SeedFile, *, now: datetime
) -> DeskSeedReport:
    """Create or update facilities and desks from the seed file; retire what it no longer lists.

    Run after the councils are seeded. Running it twice changes nothing; a desk removed
    from the file is retired (no longer bookable) and keeps its bookings.
    """
    councils = {c.slug: c for c in await session.scalars(select(Council))}
    existing = {f.slug: f for f in await session.scalars(select(Facility))}
    changed = added = retired = 0
    listed: set[str] = set()
    for council_seed in seed.councils:
        council = councils[council_seed.slug]
        for item in council_seed.facilities:
            listed.add(item.slug)
            rules = seed.rules_of(item).model_dump(mode="json")
            values = {
                "council_id": council.id,
                "name": item.name,
                "kind": FacilityKind(item.kind),
                "address": item.address,
                "rules": rules,
                "retired_at": None,
            }
            facility = existing.get(item.slug)
            if facility is None:
                facility = Facility(slug=item.slug, created_at=now, updated_at=now, **values)
                session.add(facility)
                await session.flush()
                changed += 1
            elif any(getattr(facility, key) != value for key, value in values.items()):
                for key, value in values.items():
                    setattr(facility, key, value)
                facility.updated_at = now
                changed += 1
            desks = {
                d.code: d
                for d in await session.scalars(select(Desk).where(Desk.facility_id == facility.id))
            }
            codes = set()
            for desk_seed in item.desks:
                codes.add(desk_seed.code)
                desk = desks.get(desk_seed.code)
                if desk is None:
                    session.add(
                        Desk(
                            facility_id=facility.id,
                            code=desk_seed.code,
                            features=sorted(desk_seed.features),
                            created_at=now,
                        )
                    )
                    added += 1
                else:
                    if desk.retired_at is not None:
                        desk.retired_at = None
                        added += 1
                    if desk.features != sorted(desk_seed.features):
                        desk.features = sorted(desk_seed.features)
            for code, desk in desks.items():
                if code not in codes and desk.retired_at is None:
                    desk.retired_at = now
                    retired += 1
        if council_seed.facilities:
            await schedule_weekly(session, council, now=now)
    for slug, facility in existing.items():
        if slug not in listed and facility.retired_at is None:
            facility.retired_at = now
            changed += 1
    await session.flush()
    return DeskSeedReport(changed, added, retired)


# Finding facilities and desks ---------------------------------------------------------------


# session.info caches: a command (one session) reads the facilities and desks once, however
# many alternatives it looks for. Seeding, which changes them, reads neither.
_FACILITIES = "desks.facilities"
_DESKS = "desks.desks"


async def list_facilities(session: AsyncSession, council: Council | None = None) -> list[Facility]:
    """Return the facilities open for booking (of one council, or all), by council and slug."""
    if _FACILITIES not in session.info:
        query = select(Facility).join(Council).where(Facility.retired_at.is_(None))
        found = await session.scalars(query.order_by(Council.slug, Facility.slug))
        session.info[_FACILITIES] = list(found)
    facilities: list[Facility] = session.info[_FACILITIES]
    if council is None:
        return list(facilities)
    return [f for f in facilities if f.council_id == council.id]


async def facility_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """Return (slug, name) of every open facility: what a form's facility menu offers."""
    return [(f.slug, f"{f.name} ({f.council.city})") for f in await list_facilities(session)]


async def desks_of(session: AsyncSession, facility: Facility) -> list[Desk]:
    """Return the facility's bookable desks, in their natural order (T2 before T10)."""
    cache: dict[int, list[Desk]] = session.info.setdefault(_DESKS, {})
    if facility.id not in cache:
        found = await session.scalars(
            select(Desk).where(Desk.facility_id == facility.id, Desk.retired_at.is_(None))
        )
        cache[facility.id] = sorted(found, key=lambda d: _natural(d.code))
    return list(cache[facility.id])


def _natural(code: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part for part in re.split(r"(\d+)", code.lower()))


async def find_target(session: AsyncSession, text: str) -> tuple[Facility, Desk | None]:
    """Read `cork-rubicon`, `cork` (a council with one facility), `cork-rubicon/R2` or `R2`."""
    wanted = text.strip()
    name, sep, code = wanted.replace(":", "/").partition("/")
    facilities = await list_facilities(session)
    if not facilities:
        raise NotFound(
            N_(
                "There are no facilities yet: whoever runs the bot loads them with "
                "<code>councilbot seed</code>."
            )
        )
    key = council_key(name)
    facility = next((f for f in facilities if council_key(f.slug) == key), None)
    if facility is None:
        of_council = [f for f in facilities if council_key(f.council.slug) == key]
        if len(of_council) == 1:
            facility = of_council[0]
        elif of_council:
            raise NotFound(
                N_("{council} has several facilities: {slugs}. Name one."),
                council=of_council[0].council.name,
                slugs=", ".join(f.slug for f in of_council),
            )
    if facility is None and not sep:
        # A desk's code alone, when one facility has it.
        rows = (
            (
                await session.execute(
                    select(Desk).where(
                        func.lower(Desk.code) == name.lower(), Desk.retired_at.is_(None)
                    )
                )
            )
            .scalars()
            .all()
        )
        open_ids = {f.id for f in facilities}
        rows = [d for d in rows if d.facility_id in open_ids]
        if len(rows) == 1:
            return rows[0].facility, rows[0]
        if len(rows) > 1:
            raise NotFound(
                N_("Several facilities have a desk {desk}: write it as {example}."),
                desk=name,
                example=f"{rows[0].facility.slug}/{rows[0].code}",
            )
    if facility is None:
        slugs = [f.slug for f in facilities]
        close = difflib.get_close_matches(key, slugs, n=1, cutoff=0.5)
        if close:
            raise NotFound(
                N_("There is no facility “{name}”. Did you mean {suggestion}?"),
                name=name,
                suggestion=close[0],
            )
        raise NotFound(N_("There is no facility “{name}”. /facilities lists them."), name=name)
    if not sep:
        return facility, None
    desk = next(
        (d for d in await desks_of(session, facility) if d.code.lower() == code.strip().lower()),
        None,
    )
    if desk is None:
        raise NotFound(
            N_("{facility} has no desk {desk}. Its desks: {codes}."),
            facility=facility.name,
            desk=code,
            codes=", ".join(d.code for d in await desks_of(session, facility)),
        )
    return facility, desk


# Availability -------------------------------------------------------------------------------


async def taken_halves(
    session: AsyncSession, desk_ids: Sequence[int], days: Sequence[date]
) -> dict[tuple[int, date], set[str]]:
    """Return the halves already held, by (desk, date)."""
    taken: dict[tuple[int, date], set[str]] = {}
    if not desk_ids or not days:
        return taken
    rows = await session.execute(
        select(BookingSlot.desk_id, BookingSlot.day, BookingSlot.half).where(
            BookingSlot.desk_id.in_(list(desk_ids)), BookingSlot.day.in_(list(days))
        )
    )
    for desk_id, day, half in rows:
        taken.setdefault((desk_id, day), set()).add(half)
    return taken


def free_slot(taken: set[str]) -> Slot | None:
    """Return the largest slot still free on a desk that day (day, else am or pm)."""
    if not taken:
        return Slot.DAY
    if taken == {"am"}:
        return Slot.PM
    if taken == {"pm"}:
        return Slot.AM
    return None


def fits(slot: Slot, taken: set[str]) -> bool:
    """Tell whether a slot is free on a desk, given the halves taken."""
    return not (set(slot.halves) & taken)


def bookable_until(facility: Facility, day: date, slot: Slot, now: datetime) -> bool:
    """Tell whether the slot can still be booked: not past, not after its check-in deadline."""
    return now < deadline_of(facility, day, slot)


@dataclass(frozen=True, slots=True)
class Offer:
    """A free slot somewhere: what a refusal proposes instead."""

    facility: Facility
    day: date
    slot: Slot

    @property
    def command(self) -> str:
        return f"/book {self.facility.slug} {self.day.isoformat()} {self.slot.value}"


class DeskConflict(Conflict):
    """A desk request that clashes with the state, its dates shown in the reader's words."""

    def render(self, t: Translator) -> Markup:
        """Return the reason in the reader's language, dates and slots in their words."""
        raw = self.values
        self.values = {key: localise(t, value) for key, value in raw.items()}
        try:
            return super().render(t)
        finally:
            self.values = raw


class Refused(DeskConflict):
    """A booking refused, with what is possible instead (when `looked` for it)."""

    def __init__(
        self, message: str, /, offers: Sequence[Offer] | None = None, **values: Any
    ) -> None:
        super().__init__(message, **values)
        self.looked = offers is not None
        self.offers = tuple(offers or ())


class OpenDays(tuple[str, ...]):
    """A facility's open days (`mon`, `tue`...), shown as the reader's language names them."""

    __slots__ = ()

    def names(self, t: Translator) -> str:
        """Return `Mon, Tue, Wed` in the reader's language."""
        from babel.dates import get_day_names

        names = get_day_names("abbreviated", locale=t.lang)
        return ", ".join(str(names[WEEKDAYS.index(day)]) for day in self)


def localise(t: Translator, value: Any) -> Any:
    """Show a date, a slot, open days or an aware moment (in its zone, named) in the reader's words."""
    if isinstance(value, OpenDays):
        return value.names(t)
    if isinstance(value, datetime):
        from councilbot.core.formatting import format_when

        return format_when(value, value.tzinfo, t.lang)  # type: ignore[arg-type]
    if isinstance(value, date):
        return format_day(t, value)
    if isinstance(value, Slot):
        return slot_label(t, value)
    return value


@dataclass(frozen=True, slots=True)
class Holder:
    """A member's live bookings: which alternatives they could still take."""

    held: tuple[tuple[int, date, Slot], ...] = ()  # (facility id, day, slot)

    def can_take(self, facility: Facility, day: date, slot: Slot) -> bool:
        """Tell whether the member may book the slot: no overlap, within the weekly limit."""
        monday, sunday = week_of(day)
        used = 0
        for facility_id, held_day, held_slot in self.held:
            if held_day == day and set(held_slot.halves) & set(slot.halves):
                return False
            if facility_id == facility.id and monday <= held_day <= sunday:
                used += 1
        return used < rules_of(facility).per_week


async def holder(session: AsyncSession, member_id: int | None, *, now: datetime) -> Holder:
    """Read the member's live bookings from last week on (none for no member)."""
    if member_id is None:
        return Holder()
    since = (now - timedelta(days=8)).date()
    rows = await session.execute(
        select(Desk.facility_id, Booking.day, Booking.slot)
        .join(Desk, Booking.desk_id == Desk.id)
        .where(
            Booking.member_id == member_id,
            Booking.status.in_(LIVE),
            Booking.day >= since,
        )
    )
    return Holder(tuple((f, d, s) for f, d, s in rows.tuples()))


async def nearest_free(
    session: AsyncSession,
    facility: Facility,
    day: date,
    slot: Slot,
    *,
    now: datetime,
    same_too: bool = False,
    member: Holder | None = None,
) -> Offer | None:
    """Return the free slot nearest to a date at the facility (same slot, or a half of it)
    that the member (when given) may book: no overlap with theirs, within the weekly limit."""
    member = member or Holder()
    rules = rules_of(facility)
    today = local_today(facility, now)
    last = today + timedelta(days=rules.horizon_days)
    desks = await desks_of(session, facility)
    candidates = []
    for distance in range(SEARCH_DAYS):
        for sign in (1, -1) if distance else (1,):
            candidate = day + timedelta(days=sign * distance)
            if today <= candidate <= last and rules.is_open(candidate):
                candidates.append(candidate)
    if not desks or not candidates:
        return None
    taken = await taken_halves(session, [d.id for d in desks], candidates)
    wanted = [slot] if slot is not Slot.DAY else [Slot.DAY]
    others = [s for s in (Slot.AM, Slot.PM) if s is not slot]
    for candidate in candidates:
        for option in (*wanted, *others):
            if (candidate, option) == (day, slot) and not same_too:
                continue
            if not bookable_until(facility, candidate, option, now):
                continue
            if not member.can_take(facility, candidate, option):
                continue
            if any(fits(option, taken.get((d.id, candidate), set())) for d in desks):
                return Offer(facility, candidate, option)
    return None


async def elsewhere(
    session: AsyncSession,
    facility: Facility,
    day: date,
    slot: Slot,
    *,
    now: datetime,
    member: Holder | None = None,
) -> Offer | None:
    """Return another facility of the same council with room for the slot that day (one the
    member, when given, may book)."""
    member = member or Holder()
    for other in await list_facilities(session, facility.council):
        if other.id == facility.id:
            continue
        rules = rules_of(other)
        today = local_today(other, now)
        if not (today <= day <= today + timedelta(days=rules.horizon_days)):
            continue
        if not rules.is_open(day) or not bookable_until(other, day, slot, now):
            continue
        if not member.can_take(other, day, slot):
            continue
        desks = await desks_of(session, other)
        taken = await taken_halves(session, [d.id for d in desks], [day])
        if any(fits(slot, taken.get((d.id, day), set())) for d in desks):
            return Offer(other, day, slot)
    return None


async def offers(
    session: AsyncSession,
    facility: Facility,
    day: date,
    slot: Slot,
    *,
    now: datetime,
    same_too: bool = False,
    member_id: int | None = None,
) -> list[Offer]:
    """Return what a refusal proposes: the nearest free slot here, another facility's room,
    each one the member (when given) may book.

    `same_too`: the slot asked for counts (one desk was taken, another may be free).
    """
    member = await holder(session, member_id, now=now)
    found = [
        await nearest_free(session, facility, day, slot, now=now, same_too=same_too, member=member),
        await elsewhere(session, facility, day, slot, now=now, member=member),
    ]
    return [offer for offer in found if offer is not None]


# Booking ------------------------------------------------------------------------------------


def check_rules(facility: Facility, day: date, slot: Slot, *, now: datetime) -> str | None:
    """Return why the facility takes no booking for this slot (a msgid), or None."""
    rules = rules_of(facility)
    today = local_today(facility, now)
    if day < today:
        return N_("{day} has passed at {facility}.")
    if day > today + timedelta(days=rules.horizon_days):
        return N_("{facility} takes bookings up to {horizon} days ahead, until {last}.")
    if day in rules.holidays:
        return N_("{facility} is closed on {day}: it is a holiday there.")
    if not rules.is_open(day):
        return N_("{facility} is closed on {day}: it opens on {open_days}.")
    if not bookable_until(facility, day, slot, now):
        return N_("It is too late to book the {slot} of {day}: check-in closed at {deadline}.")
    return None


def closed_reasons(facility: Facility, day: date, *, now: datetime) -> list[str]:
    """Return why no half of the day can be booked (msgids, most useful first), or []."""
    if check_rules(facility, day, Slot.AM, now=now) is None:
        return []
    if check_rules(facility, day, Slot.PM, now=now) is None:
        return []
    rules = rules_of(facility)
    today = local_today(facility, now)
    reasons = []
    if day in rules.holidays:
        reasons.append(N_("{facility} is closed on {day}: it is a holiday there."))
    elif not rules.is_open(day):
        reasons.append(N_("{facility} is closed on {day}: it opens on {open_days}."))
    if day < today:
        reasons.append(N_("{day} has passed at {facility}."))
    elif day > today + timedelta(days=rules.horizon_days):
        reasons.append(N_("{facility} takes bookings up to {horizon} days ahead, until {last}."))
    if not reasons:
        reasons.append(check_rules(facility, day, Slot.PM, now=now) or "")
    return reasons


def nearest_open_day(facility: Facility, day: date, *, now: datetime) -> date | None:
    """Return the open day nearest to `day` with a half still bookable: the next one, else
    (past the horizon) the last one that can be booked."""
    today = local_today(facility, now)
    last = today + timedelta(days=rules_of(facility).horizon_days)

    def bookable(candidate: date) -> bool:
        return any(check_rules(facility, candidate, s, now=now) is None for s in (Slot.AM, Slot.PM))

    candidate = max(day, today)
    while candidate <= last:
        if bookable(candidate):
            return candidate
        candidate += timedelta(days=1)
    candidate = min(day, last)
    while candidate >= today:
        if bookable(candidate):
            return candidate
        candidate -= timedelta(days=1)
    return None


@dataclass(slots=True)
class Booked:
    """A booking made, and what the caller should tell."""

    booking: Booking
    preferred_missing: list[str] = field(default_factory=list)  # features asked, not found
    features_here: list[str] = field(default_factory=list)  # what the facility's desks have


async def lock_member(session: AsyncSession, member_id: int) -> None:
    """Hold the member's row until commit, so that two bookings count the quota one by one."""
    if session.get_bind().dialect.name == "sqlite":
        return  # one writer at a time already: every transaction begins IMMEDIATE
    await session.execute(select(Member.id).where(Member.id == member_id).with_for_update())


async def week_count(session: AsyncSession, member_id: int, facility: Facility, day: date) -> int:
    """Count the member's live bookings at the facility in the week of `day`."""
    monday, sunday = week_of(day)
    return int(
        await session.scalar(
            select(func.count())
            .select_from(Booking)
            .join(Desk)
            .where(
                Booking.member_id == member_id,
                Desk.facility_id == facility.id,
                Booking.day.between(monday, sunday),
                Booking.status.in_(LIVE),
            )
        )
        or 0
    )


async def overlapping(
    session: AsyncSession, member_id: int, day: date, slot: Slot
) -> Booking | None:
    """Return the member's live booking anywhere that overlaps the slot, if any."""
    halves = {Slot.DAY: (Slot.AM, Slot.PM, Slot.DAY), Slot.AM: (Slot.AM, Slot.DAY)}
    overlaps = halves.get(slot, (Slot.PM, Slot.DAY))
    return await session.scalar(
        select(Booking).where(
            Booking.member_id == member_id,
            Booking.day == day,
            Booking.slot.in_(overlaps),
            Booking.status.in_(LIVE),
        )
    )


async def book(
    session: AsyncSession,
    *,
    member_id: int,
    facility: Facility,
    desk: Desk | None,
    day: date,
    slot: Slot,
    now: datetime,
    features: Sequence[str] = (),
    booked_by_id: int | None = None,
    series_id: int | None = None,
    member_name: str | None = None,
) -> Booked:
    """Book a desk (or any free desk of the facility) for a slot, or raise Refused saying why.

    The refusal carries what is possible instead (`Refused.offers`): only slots the member
    could book. `member_name`: the member is someone else (`--for`), named in refusals.
    """
    values = _values(facility, day, slot, now)
    reason = check_rules(facility, day, slot, now=now)
    if reason is not None:
        raise Refused(
            reason,
            await offers(session, facility, day, slot, now=now, member_id=member_id),
            **values,
        )
    await lock_member(session, member_id)
    clash = await overlapping(session, member_id, day, slot)
    if clash is not None:
        alternatives = await offers(session, facility, day, slot, now=now, member_id=member_id)
        clashing = {
            "desk": clash.desk.code,
            "other": clash.desk.facility.name,
            "id": clash.id,
            **values,
        }
        if member_name is not None:
            raise Refused(
                N_("{name} already has desk {desk} at {other} then (B{id})."),
                alternatives,
                name=member_name,
                **clashing,
            )
        raise Refused(
            N_("You already have desk {desk} at {other} then (B{id})."), alternatives, **clashing
        )
    rules = rules_of(facility)
    used = await week_count(session, member_id, facility, day)
    if used >= rules.per_week:
        monday, _ = week_of(day)
        if member_name is not None:
            refusal = Refused.plural(
                "{name} has {count} booking at {facility} in the week of {monday}, its weekly "
                "limit.",
                "{name} has {count} bookings at {facility} in the week of {monday}, its weekly "
                "limit.",
                used,
                name=member_name,
                monday=monday,
                **values,
            )
        else:
            refusal = Refused.plural(
                "You have {count} booking at {facility} in the week of {monday}, its weekly limit.",
                "You have {count} bookings at {facility} in the week of {monday}, its weekly limit.",
                used,
                monday=monday,
                **values,
            )
        refusal.looked = True
        # Next week's limit is a new one: the nearest free slot from its Monday, and another
        # facility of the council (whose limit is its own) that day.
        member = await holder(session, member_id, now=now)
        found = [
            await nearest_free(
                session,
                facility,
                monday + timedelta(days=7),
                slot,
                now=now,
                same_too=True,
                member=member,
            ),
            await elsewhere(session, facility, day, slot, now=now, member=member),
        ]
        refusal.offers = tuple(offer for offer in found if offer is not None)
        raise refusal
    desks = [desk] if desk is not None else await desks_of(session, facility)
    taken = await taken_halves(session, [d.id for d in desks], [day])
    wanted = [f.lower() for f in features]
    candidates = sorted(
        (d for d in desks if fits(slot, taken.get((d.id, day), set()))),
        key=lambda d: (
            -sum(f in [x.lower() for x in d.features] for f in wanted),
            _natural(d.code),
        ),
    )
    for candidate in candidates:
        booking = await _insert(
            session, candidate, member_id, day, slot, now, booked_by_id, series_id
        )
        if booking is None:
            continue  # taken meanwhile by another transaction: try the next desk
        missing = [f for f in wanted if f not in [x.lower() for x in candidate.features]]
        await _schedule_jobs(session, booking, now=now)
        session.info.setdefault(FEATURE_EVENTS, []).append("booking")  # counted once committed
        booked = Booked(booking, missing)
        if missing:
            every = await desks_of(session, facility)
            booked.features_here = sorted({f.lower() for d in every for f in d.features})
        return booked
    alternatives = await offers(
        session, facility, day, slot, now=now, same_too=desk is not None, member_id=member_id
    )
    if desk is not None:
        raise Refused(
            N_("Desk {desk} at {facility} is already booked for the {slot} of {day}."),
            alternatives,
            desk=desk.code,
            **values,
        )
    raise Refused(
        N_("Every desk at {facility} is booked for the {slot} of {day}."), alternatives, **values
    )


async def free_desk_with(
    session: AsyncSession, facility: Facility, day: date, slot: Slot, features: Sequence[str]
) -> Desk | None:
    """Return the first desk of the facility free for the slot that has every feature."""
    wanted = [f.lower() for f in features]
    every = await desks_of(session, facility)
    held = await taken_halves(session, [d.id for d in every], [day])
    for desk in every:
        has = [x.lower() for x in desk.features]
        if all(f in has for f in wanted) and fits(slot, held.get((desk.id, day), set())):
            return desk
    return None


def _values(facility: Facility, day: date, slot: Slot, now: datetime) -> dict[str, Any]:
    rules = rules_of(facility)
    return {
        "facility": facility.name,
        "day": day,
        "slot": slot,
        "horizon": rules.horizon_days,
        "last": local_today(facility, now) + timedelta(days=rules.horizon_days),
        "open_days": OpenDays(rules.open_days),
        "deadline": deadline_of(facility, day, slot),
    }


async def _insert(
    session: AsyncSession,
    desk: Desk,
    member_id: int,
    day: date,
    slot: Slot,
    now: datetime,
    booked_by_id: int | None,
    series_id: int | None,
) -> Booking | None:
    """Insert a booking and its half-day rows in a savepoint; None when the desk is taken."""
    try:
        async with session.begin_nested():
            booking = Booking(
                desk_id=desk.id,
                desk=desk,
                member_id=member_id,
                booked_by_id=booked_by_id,
                day=day,
                slot=slot,
                status=BookingStatus.BOOKED,
                series_id=series_id,
                created_at=now,
            )
            session.add(booking)
            await session.flush()
            await session.execute(
                insert(_SLOT_TABLE),
                [
                    {"desk_id": desk.id, "day": day, "half": half, "booking_id": booking.id}
                    for half in slot.halves
                ],
            )
    except IntegrityError:
        return None
    await home.home_changed(session, member_id, now)  # their Slack Home tab shows it
    return booking


def _job_name(kind: str, booking_id: int) -> str:
    return f"{kind}:{booking_id}"


async def _schedule_jobs(session: AsyncSession, booking: Booking, *, now: datetime) -> None:
    """Schedule the booking's morning reminder and its release at the check-in deadline."""
    facility = booking.desk.facility
    payload = {"booking_id": booking.id}
    remind_at = at_facility(facility, booking.day, REMIND_AT)
    if remind_at > now:
        await jobs.schedule(
            session, _job_name(REMIND_JOB, booking.id), REMIND_JOB, remind_at, payload, now=now
        )
    await jobs.schedule(
        session,
        _job_name(RELEASE_JOB, booking.id),
        RELEASE_JOB,
        deadline_of(facility, booking.day, booking.slot),
        payload,
        now=now,
    )


async def _cancel_jobs(session: AsyncSession, booking_id: int) -> None:
    await jobs.cancel(session, _job_name(REMIND_JOB, booking_id))
    await jobs.cancel(session, _job_name(RELEASE_JOB, booking_id))


async def _end(
    session: AsyncSession, booking: Booking, status: BookingStatus, now: datetime
) -> bool:
    """End a live booking (cancelled or released) and free its half-days; False if it was not live."""
    ended = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status.in_(LIVE))
        .values(status=status, ended_at=now)
        .execution_options(synchronize_session=False)
    )
    if not ended.rowcount:
        return False
    await session.execute(delete(BookingSlot).where(BookingSlot.booking_id == booking.id))
    await home.home_changed(session, booking.member_id, now)
    booking.status, booking.ended_at = status, now
    return True


# Reading bookings ---------------------------------------------------------------------------


async def get_booking(session: AsyncSession, booking_id: int, *, lock: bool = False) -> Booking:
    """Return a booking by id, or raise NotFound."""
    query = select(Booking).where(Booking.id == booking_id)
    if lock:
        query = query.with_for_update(of=Booking)
    booking = await session.scalar(query) if booking_id <= MAX_ID else None
    if booking is None:
        raise NotFound(N_("There is no booking B{id}. /mybookings lists yours."), id=booking_id)
    return booking


async def holds_booking(session: AsyncSession, member_id: int, booking_id: int) -> bool:
    """Tell whether booking B<booking_id> is the member's and still to be used."""
    if booking_id > MAX_ID:
        return False
    found = await session.scalar(
        select(Booking.id).where(
            Booking.id == booking_id,
            Booking.member_id == member_id,
            Booking.status.in_((BookingStatus.BOOKED, BookingStatus.CHECKED_IN)),
        )
    )
    return found is not None


async def may_manage(session: AsyncSession, actor: Any, booking: Booking) -> bool:
    """Tell whether the actor may cancel the booking: its member, who booked it, a coordinator."""
    if actor.member_id in (booking.member_id, booking.booked_by_id):
        return True
    return await access.can_coordinate(session, actor, booking.desk.facility.council)


async def upcoming(session: AsyncSession, member_id: int, *, now: datetime) -> list[Booking]:
    """Return the member's live bookings from today on (each facility's today), soonest first."""
    earliest = (now - timedelta(days=1)).date()
    rows = await session.scalars(
        select(Booking)
        .where(
            Booking.member_id == member_id,
            Booking.status.in_(LIVE),
            Booking.day >= earliest,
        )
        .order_by(Booking.day, Booking.slot, Booking.id)
    )
    return [b for b in rows if b.day >= local_today(b.desk.facility, now)]


async def bookings_on(
    session: AsyncSession, facility: Facility, day: date
) -> list[tuple[Booking, Member]]:
    """Return the live bookings at a facility on a date, with their members."""
    rows = await session.execute(
        select(Booking, Member)
        .join(Desk, Booking.desk_id == Desk.id)
        .join(Member, Member.id == Booking.member_id)
        .where(Desk.facility_id == facility.id, Booking.day == day, Booking.status.in_(LIVE))
        .order_by(Booking.id)
    )
    return [(b, m) for b, m in rows.tuples()]


# Cancelling and checking in ---------------------------------------------------------------


async def to_cancel(
    session: AsyncSession, actor: Any, booking_id: int, *, now: datetime, series: bool = False
) -> list[Booking]:
    """Return what cancelling a booking (with `series`: the rest of its series) would end,
    or raise saying why it cannot be cancelled."""
    booking = await get_booking(session, booking_id, lock=True)
    if not await may_manage(session, actor, booking):
        raise Forbidden(N_("Booking B{id} is not yours to cancel."), id=booking.id)
    if booking.status not in LIVE:
        raise Conflict(
            N_("Booking B{id} is already {status}; there is nothing to cancel."),
            id=booking.id,
            status=booking.status,
        )
    facility = booking.desk.facility
    if booking.day < local_today(facility, now):
        raise Conflict(
            N_("Booking B{id} is in the past; there is nothing to cancel."), id=booking.id
        )
    if not series:
        return [booking]
    if booking.series_id is None:
        raise InvalidInput(
            N_("Booking B{id} is not part of a weekly series: /cancelbooking B{id} cancels it."),
            id=booking.id,
        )
    return list(
        await session.scalars(
            select(Booking)
            .where(
                Booking.series_id == booking.series_id,
                Booking.day >= booking.day,
                Booking.status.in_(LIVE),
            )
            .order_by(Booking.day)
        )
    )


async def cancel(
    session: AsyncSession, actor: Any, booking_id: int, *, now: datetime, series: bool = False
) -> list[Booking]:
    """Cancel a booking (with `series`: it and the rest of its series); return those cancelled."""
    return await end_all(
        session, await to_cancel(session, actor, booking_id, now=now, series=series), now=now
    )


async def end_all(
    session: AsyncSession, targets: Sequence[Booking], *, now: datetime
) -> list[Booking]:
    """Cancel the bookings still live among `targets`; return those cancelled."""
    done = []
    for target in targets:
        if await _end(session, target, BookingStatus.CANCELLED, now):
            await _cancel_jobs(session, target.id)
            done.append(target)
    return done


async def in_range(
    session: AsyncSession, member_id: int, first: date, last: date, *, now: datetime
) -> list[Booking]:
    """Return the member's live bookings from `first` to `last`, not those past."""
    if last < first:
        raise InvalidInput(N_("The range ends before it starts: give --from before --to."))
    rows = await session.scalars(
        select(Booking)
        .where(
            Booking.member_id == member_id,
            Booking.day.between(first, last),
            Booking.status.in_(LIVE),
        )
        .order_by(Booking.day, Booking.id)
    )
    return [b for b in rows if b.day >= local_today(b.desk.facility, now)]


async def cancel_range(
    session: AsyncSession, member_id: int, first: date, last: date, *, now: datetime
) -> list[Booking]:
    """Cancel every live booking of the member from `first` to `last` (not those past)."""
    return await end_all(session, await in_range(session, member_id, first, last, now=now), now=now)


async def check_in(session: AsyncSession, actor: Any, booking_id: int, *, now: datetime) -> Booking:
    """Check in to a booking: on its day, during the facility's opening hours, before release."""
    booking = await get_booking(session, booking_id, lock=True)
    if booking.member_id != actor.member_id:
        raise Forbidden(
            N_("Booking B{id} is someone else's: only they can check in."), id=booking.id
        )
    facility = booking.desk.facility
    zone = zone_of(facility)
    if booking.status is BookingStatus.CHECKED_IN:
        raise Conflict(
            N_("You already checked in to B{id} (desk {desk}) at {when}."),
            id=booking.id,
            desk=booking.desk.code,
            when=clock(facility, booking.day, booking.checked_in_at.astimezone(zone).time())
            if booking.checked_in_at
            else "",
        )
    if booking.status is BookingStatus.RELEASED:
        raise DeskConflict(
            N_(
                "Booking B{id} was released at {deadline}: nobody had checked in. /desks {facility} shows what is free now."
            ),
            id=booking.id,
            deadline=deadline_of(facility, booking.day, booking.slot),
            facility=facility.slug,
        )
    if booking.status is BookingStatus.CANCELLED:
        raise Conflict(N_("Booking B{id} was cancelled."), id=booking.id)
    today = local_today(facility, now)
    if booking.day != today:
        raise DeskConflict(
            N_("Check-in is on the day itself: booking B{id} is for {day}."),
            id=booking.id,
            day=booking.day,
        )
    rules = rules_of(facility)
    deadline = deadline_of(facility, booking.day, booking.slot)
    if now >= deadline:
        raise DeskConflict(
            N_(
                "Check-in for B{id} closed at {deadline}, so the desk is being released. "
                "/desks {facility} shows what is free now."
            ),
            id=booking.id,
            deadline=deadline,
            facility=facility.slug,
        )
    local = now.astimezone(zone).time()
    if not rules.opens <= local < rules.closes:
        raise Conflict(
            N_("{facility} is open from {opens} to {closes}: check in then."),
            facility=facility.name,
            opens=rules.opens.strftime("%H:%M"),
            closes=clock(facility, booking.day, rules.closes),
        )
    checked = await session.execute(
        update(Booking)
        .where(Booking.id == booking.id, Booking.status == BookingStatus.BOOKED)
        .values(status=BookingStatus.CHECKED_IN, checked_in_at=now)
        .execution_options(synchronize_session=False)
    )
    if not checked.rowcount:  # released at this very moment
        raise Conflict(N_("Booking B{id} was just released."), id=booking.id)
    booking.status, booking.checked_in_at = BookingStatus.CHECKED_IN, now
    await _cancel_jobs(session, booking.id)
    return booking


# Visibility ---------------------------------------------------------------------------------


async def set_visibility(
    session: AsyncSession, member_id: int, visible: bool, organisation: str | None, *, now: datetime
) -> DeskProfile:
    """Choose whether /whosin shows the member (and the organisation it names them with)."""
    profile = await session.scalar(select(DeskProfile).where(DeskProfile.member_id == member_id))
    if profile is None:
        profile = DeskProfile(member_id=member_id, visible=visible, updated_at=now)
        session.add(profile)
    profile.visible = visible
    if organisation:
        profile.organisation = organisation
    profile.updated_at = now
    await session.flush()
    return profile


async def visibility_of(session: AsyncSession, member_id: int) -> tuple[bool, str | None]:
    """Return whether /whosin lists the member, and the organisation it names them with."""
    profile = await session.scalar(select(DeskProfile).where(DeskProfile.member_id == member_id))
    if profile is None:
        return False, None
    return profile.visible, profile.organisation


async def who_is_in(
    session: AsyncSession, facility: Facility, day: date
) -> tuple[list[tuple[Booking, Member, str]], int]:
    """Return the visible members booked there that day (with their organisation) and how many chose not to be seen."""
    rows = await bookings_on(session, facility, day)
    ids = {m.id for _, m in rows}
    profiles = (
        {
            p.member_id: p
            for p in await session.scalars(
                select(DeskProfile).where(DeskProfile.member_id.in_(ids))
            )
        }
        if ids
        else {}
    )
    homes = {c.id: c for c in await session.scalars(select(Council))}
    shown, hidden = [], set()
    for booking, member in rows:
        profile = profiles.get(member.id)
        if profile is None or not profile.visible:
            hidden.add(member.id)
            continue
        home = homes.get(member.home_council_id) if member.home_council_id else None
        organisation = profile.organisation or (home.name if home else "")
        shown.append((booking, member, organisation))
    return shown, len(hidden)


# Occupancy ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Occupancy:
    """A facility's use over one week: desks taken per day and half."""

    facility: Facility
    monday: date
    desks: int
    days: tuple[date, ...]  # its open days that week
    am: tuple[int, ...]
    pm: tuple[int, ...]
    checked_in: tuple[int, ...]  # bookings checked in, per day
    released: tuple[int, ...]  # bookings released (nobody came), per day
    holidays: tuple[date, ...] = ()  # its holidays that week, on days it would be open


async def occupancy(session: AsyncSession, facility: Facility, day: date) -> Occupancy:
    """Count the week's booked halves, check-ins and releases, day by day."""
    monday, sunday = week_of(day)
    rules = rules_of(facility)
    days = tuple(d for d in (monday + timedelta(days=n) for n in range(7)) if rules.is_open(d))
    desks = await desks_of(session, facility)
    rows = (
        await session.execute(
            select(Booking.day, Booking.slot, Booking.status)
            .join(Desk)
            .where(Desk.facility_id == facility.id, Booking.day.between(monday, sunday))
        )
    ).all()
    am = dict.fromkeys(days, 0)
    pm = dict.fromkeys(days, 0)
    checked = dict.fromkeys(days, 0)
    released = dict.fromkeys(days, 0)
    for booked_day, slot, status in rows:
        if booked_day not in am:
            continue
        if status in LIVE:
            if "am" in slot.halves:
                am[booked_day] += 1
            if "pm" in slot.halves:
                pm[booked_day] += 1
        if status is BookingStatus.CHECKED_IN:
            checked[booked_day] += 1
        if status is BookingStatus.RELEASED:
            released[booked_day] += 1
    return Occupancy(
        facility,
        monday,
        len(desks),
        days,
        tuple(am[d] for d in days),
        tuple(pm[d] for d in days),
        tuple(checked[d] for d in days),
        tuple(released[d] for d in days),
        tuple(
            d
            for d in (monday + timedelta(days=n) for n in range(7))
            if d in rules.holidays and WEEKDAYS[d.weekday()] in rules.open_days
        ),
    )


def occupancy_csv(report: Occupancy) -> bytes:
    """Return the week's occupancy as CSV: one row per day."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(
        ["facility", "date", "desks", "am_booked", "pm_booked", "checked_in", "released"]
    )
    for index, day in enumerate(report.days):
        writer.writerow(
            [
                report.facility.slug,
                day.isoformat(),
                report.desks,
                report.am[index],
                report.pm[index],
                report.checked_in[index],
                report.released[index],
            ]
        )
    return buffer.getvalue().encode("utf-8")


def occupancy_chart(report: Occupancy, labels: Sequence[str], legend: tuple[str, str], title: str):  # type: ignore[no-untyped-def]
    """Return a `draw` for charts.render_png: am and pm bars per day, out of the desks."""

    def draw(figure: Figure) -> None:
        axes = figure.add_subplot()
        positions = list(range(len(report.days)))
        width = 0.38
        axes.bar([p - width / 2 for p in positions], report.am, width, label=legend[0])
        axes.bar([p + width / 2 for p in positions], report.pm, width, label=legend[1])
        axes.set_xticks(positions, list(labels))
        axes.set_ylim(0, max(report.desks, 1))
        axes.set_title(title)
        axes.legend()

    return draw


# Jobs: reminders, releases, the weekly summary ------------------------------------------------


async def _tell(
    session: AsyncSession,
    booking: Booking,
    kind: str,
    render: Any,
    *,
    catalogs: Catalogs,
    default_language: str,
    now: datetime,
) -> int:
    """Queue a direct message about a booking to its member, in their language."""
    facility = booking.desk.facility
    recipients = await broadcast.direct(
        session,
        [booking.member_id],
        zone=zone_of(facility),
        catalogs=catalogs,
        default_language=default_language,
    )
    envelopes = []
    for recipient in recipients:
        text, buttons = render(recipient.t, recipient.tz)
        envelopes.append(
            Envelope(
                key=f"{SOURCE}:{kind}:{booking.id}:{recipient.chat}",
                message=recipient.message(text, buttons),
                source=SOURCE,
                source_id=booking.id,
                member_id=recipient.member_id,
            )
        )
    return await outbox.enqueue(session, envelopes, now=now)


def describe(t: Translator, booking: Booking) -> str:
    """Say which desk, where, when: `desk R2 at MTU Rubicon Centre, Thu 3 Dec, morning`."""
    return t(
        "desk {desk} at {facility}, {day}, {slot}",
        desk=booking.desk.code,
        facility=booking.desk.facility.name,
        day=format_day(t, booking.day),
        slot=slot_label(t, booking.slot),
    )


def format_day(t: Translator, day: date) -> str:
    """Show a date as people read it: `Thu 3 Dec 2026`."""
    from babel.dates import format_date

    return format_date(day, "EEE d MMM y", locale=t.lang)


SLOT_LABELS = {
    Slot.AM: N_("morning"),
    Slot.PM: N_("afternoon"),
    Slot.DAY: N_("whole day"),
}


def slot_label(t: Translator, slot: Slot) -> str:
    """Name a slot in the reader's language."""
    return t(SLOT_LABELS[slot])


async def remind(
    session: AsyncSession,
    payload: dict[str, Any],
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> None:
    """Send the morning reminder of a booking still waiting for its check-in."""
    booking = await session.get(Booking, int(payload["booking_id"]))
    if booking is None or booking.status is not BookingStatus.BOOKED:
        return
    deadline = deadline_of(booking.desk.facility, booking.day, booking.slot)

    def render(t: Translator, tz: ZoneInfo) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        from councilbot.core.formatting import format_when

        text = t(
            "🪑 Today: {booking} (B{id}). Check in by {deadline}, or the desk goes to someone else.",
            booking=describe(t, booking),
            id=booking.id,
            deadline=format_when(deadline, tz, t.lang, now=now),
        )
        buttons = (
            (
                Button(label=t("Check in"), command=f"/checkin B{booking.id}", expires_at=deadline),
                Button(
                    label=t("Cancel"), command=f"/cancelbooking B{booking.id}", expires_at=deadline
                ),
            ),
        )
        return text, buttons

    await _tell(
        session,
        booking,
        "remind",
        render,
        catalogs=catalogs,
        default_language=default_language,
        now=now,
    )


async def release(
    session: AsyncSession,
    payload: dict[str, Any],
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> None:
    """Release a booking nobody checked in to by its deadline: the desk is free again."""
    booking = await session.scalar(
        select(Booking).where(Booking.id == int(payload["booking_id"])).with_for_update(of=Booking)
    )
    if booking is None or booking.status is not BookingStatus.BOOKED:
        return
    if not await _end(session, booking, BookingStatus.RELEASED, now):
        return
    await jobs.cancel(session, _job_name(REMIND_JOB, booking.id))
    facility = booking.desk.facility
    log.info("booking %d released: no check-in by the deadline", booking.id)

    afternoon = booking.slot is not Slot.PM and bookable_until(facility, booking.day, Slot.PM, now)
    book_pm = f"/book {facility.slug}/{booking.desk.code} {booking.day.isoformat()} pm"

    def render(t: Translator, tz: ZoneInfo) -> tuple[str, tuple[tuple[Button, ...], ...]]:
        text = t(
            "Nobody checked in to {booking} (B{id}) by the deadline, so the desk was released "
            "and is offered to others again. If you are on your way, book again while it is free.",
            booking=describe(t, booking),
            id=booking.id,
        )
        if afternoon:
            again = Button(label=t("Book the afternoon"), command=book_pm)
        else:
            again = Button(label=t("Free desks"), command=f"/desks {facility.slug}")
        return text, ((again,),)

    await _tell(
        session,
        booking,
        "release",
        render,
        catalogs=catalogs,
        default_language=default_language,
        now=now,
    )
    if afternoon:
        await _offer_again(session, booking, book_pm, catalogs, default_language, now)


async def _offer_again(
    session: AsyncSession,
    booking: Booking,
    command: str,
    catalogs: Catalogs,
    default_language: str,
    now: datetime,
) -> int:
    """Offer a released desk's afternoon to the council's `desks` subscribers (DMs, Book button)."""
    facility = booking.desk.facility
    audience = await broadcast.audience(
        session,
        [facility.council],
        TOPIC,
        zone=zone_of(facility),
        catalogs=catalogs,
        default_language=default_language,
    )
    envelopes = []
    for recipient in audience.recipients:
        if not recipient.private or recipient.member_id == booking.member_id:
            continue
        t = recipient.t
        text = t(
            "🪑 Desk {desk} at {facility} is free again this afternoon ({day}).",
            desk=booking.desk.code,
            facility=facility.name,
            day=format_day(t, booking.day),
        )
        button = Button(
            label=t("Book {desk} ({slot})", desk=booking.desk.code, slot=slot_label(t, Slot.PM)),
            command=command,
            expires_at=deadline_of(facility, booking.day, Slot.PM),
        )
        envelopes.append(
            Envelope(
                key=f"{SOURCE}:free:{booking.id}:{recipient.chat}",
                message=recipient.message(text, ((button,),)),
                source=SOURCE,
                source_id=booking.id,
                member_id=recipient.member_id,
            )
        )
    return await outbox.enqueue(session, envelopes, now=now)


def next_monday(council: Council, now: datetime) -> datetime:
    """Return the next Monday 08:00 in the council's zone (the weekly summary's time)."""
    zone = ZoneInfo(council.timezone)
    local = now.astimezone(zone)
    monday = local.date() + timedelta(days=(7 - local.weekday()) % 7)
    due = datetime.combine(monday, WEEKLY_AT, tzinfo=zone)
    if due <= now:
        due = datetime.combine(monday + timedelta(days=7), WEEKLY_AT, tzinfo=zone)
    return due


async def schedule_weekly(session: AsyncSession, council: Council, *, now: datetime) -> None:
    """Schedule the council's next weekly occupancy summary (unless one is pending already)."""
    name = f"{WEEKLY_JOB}:{council.slug}"
    from councilbot.db.models import Job, JobState

    pending = await session.scalar(
        select(Job.id).where(Job.name == name, Job.state == JobState.PENDING)
    )
    if pending is None:
        await jobs.schedule(
            session, name, WEEKLY_JOB, next_monday(council, now), {"council": council.slug}, now=now
        )


async def weekly_summary(
    session: AsyncSession,
    payload: dict[str, Any],
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
    send: bool = True,
) -> int:
    """Send last week's occupancy of a council's facilities to members subscribed to `desks`."""
    council = await session.scalar(select(Council).where(Council.slug == payload["council"]))
    if council is None:
        return 0
    queued = 0
    if send and await list_facilities(session, council):
        zone = ZoneInfo(council.timezone)
        last_week = now.astimezone(zone).date() - timedelta(days=7)
        reports = [
            await occupancy(session, f, last_week) for f in await list_facilities(session, council)
        ]
        audience = await broadcast.audience(
            session,
            [council],
            TOPIC,
            zone=zone,
            catalogs=catalogs,
            default_language=default_language,
        )
        private = broadcast.Audience(
            audience.councils, tuple(r for r in audience.recipients if r.private)
        )

        def render(recipient: broadcast.Recipient) -> Any:
            t = recipient.t
            lines = [
                t(
                    "📊 Desks at {council}, week of {monday}",
                    council=council.name,
                    monday=format_day(t, reports[0].monday) if reports else "",
                )
            ]
            for report in reports:
                halves = sum(report.am) + sum(report.pm)
                capacity = 2 * report.desks * len(report.days)
                lines.append(
                    t(
                        "{facility}: {used} of {capacity} half-days booked ({percent}%), {released} released",
                        facility=report.facility.name,
                        used=halves,
                        capacity=capacity,
                        percent=round(100 * halves / capacity) if capacity else 0,
                        released=sum(report.released),
                    )
                )
            return recipient.message("\n".join(lines))

        monday = week_of(now.astimezone(zone).date())[0]
        envelopes = [
            Envelope(
                key=f"{SOURCE}:weekly:{council.slug}:{monday.isoformat()}:{recipient.chat}",
                message=render(recipient),
                source=SOURCE,
                member_id=recipient.member_id,
            )
            for recipient in private.recipients
        ]
        queued = await outbox.enqueue(session, envelopes, now=now)
    await jobs.schedule(
        session,
        f"{WEEKLY_JOB}:{council.slug}",
        WEEKLY_JOB,
        next_monday(council, now + timedelta(minutes=1)),
        {"council": council.slug},
        now=now,
    )
    return queued


# A member's data (core.features.MemberData of the desks feature; issue 17) -------------------


async def home_sections(view: MemberView) -> list[HomeSection]:
    """Show the member's coming bookings, each with Cancel (and Check in on its day)."""
    found = await upcoming(view.session, view.member_id, now=view.now)
    if not found:
        return []
    t = view.t
    lines, rows = [], []
    for booking in found:
        ident = f"B{booking.id}"
        lines.append(t("{booking} ({id})", booking=describe(t, booking), id=ident))
        row = [Button(label=t("Cancel {id}", id=ident), command=f"/cancelbooking {ident}")]
        today = local_today(booking.desk.facility, view.now)
        if booking.status is BookingStatus.BOOKED and booking.day == today:
            row.append(Button(label=t("Check in {id}", id=ident), command=f"/checkin {ident}"))
        rows.append(tuple(row))
    return [HomeSection(title=t("Your desk bookings"), lines=tuple(lines), buttons=tuple(rows))]


async def export_bookings(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the member's desk bookings, every one kept."""
    found = await session.scalars(
        select(Booking).where(Booking.member_id == member_id).order_by(Booking.day, Booking.id)
    )
    return {
        "bookings": [
            {
                "booking": f"B{b.id}",
                "desk": b.desk.code,
                "facility": b.desk.facility.name,
                "day": b.day.isoformat(),
                "slot": b.slot.value,
                "status": b.status.value,
                "checked_in_at": b.checked_in_at.isoformat() if b.checked_in_at else None,
                "booked_at": b.created_at.isoformat(),
            }
            for b in found
        ]
    }


async def forget_bookings(erasure: Erasure) -> None:
    """Free the member's coming desks; keep their bookings as anonymous counts (the stand-in's)."""
    session = erasure.session
    for booking in await upcoming(session, erasure.member_id, now=erasure.now):
        await _cancel_jobs(session, booking.id)
        await _end(session, booking, BookingStatus.CANCELLED, erasure.now)
    mine = Booking.member_id == erasure.member_id
    if erasure.stand_in_id is None:
        await session.execute(delete(Booking).where(mine))
    else:  # counted in the occupancy, no longer theirs
        await session.execute(update(Booking).where(mine).values(member_id=erasure.stand_in_id))


MIDDAY = time(13, 0)  # where a morning ends and an afternoon starts, in the private feed


async def member_calendar(
    session: AsyncSession, member_id: int, now: datetime
) -> list[CalendarEvent]:
    """Return the member's coming bookings as calendar entries, for their private feed."""
    entries = []
    for booking in await upcoming(session, member_id, now=now):
        facility = booking.desk.facility
        rules = rules_of(facility)
        start = rules.opens if booking.slot is not Slot.PM else MIDDAY
        end = rules.closes if booking.slot is not Slot.AM else MIDDAY
        entries.append(
            CalendarEvent(
                uid=f"booking-{booking.id}@councilbot",
                title=f"Desk {booking.desk.code}, {facility.name} (B{booking.id})",
                start=at_facility(facility, booking.day, start),
                end=at_facility(facility, booking.day, end),
                zone=str(zone_of(facility)),
                location=facility.name,
                alarm=None,
                updated=booking.created_at,
            )
        )
    return entries
