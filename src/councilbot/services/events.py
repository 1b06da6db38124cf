"""Events: a council's meetings, trainings and open days, with RSVPs, a waitlist and reminders.

An event belongs to a council and reaches it, several councils or all (`--to`): members of
every council it reaches see it and may join it. Its times are stored UTC and shown in its
own zone (its council's), named, whoever reads them.

Places are enforced by the database: an RSVP first locks the event's row (PostgreSQL:
`SELECT ... FOR UPDATE`; SQLite takes its write lock at BEGIN), takes an arrival number
from the row, then takes its places with one conditional UPDATE that never lets `taken`
pass the capacity. Whoever finds no place waits, and the waitlist is served in arrival
order. One member is one RSVP row, whichever platform they answer from.

What members are told (a waitlist promotion, reminders, changes) goes by direct message
through the outbox; the event's posts in the councils' chats keep "N going, M places left"
current through `broadcast.rerender`, throttled.
"""

from __future__ import annotations

import calendar as monthcal
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload
from sqlalchemy.orm.attributes import set_committed_value

from councilbot.core import dates
from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import Erasure, HomeSection, MemberView
from councilbot.core.formatting import format_when
from councilbot.core.i18n import N_, Catalogs, Translator
from councilbot.core.ids import parse_prefixed_id
from councilbot.core.messages import Button, Platform
from councilbot.db.models import (
    Council,
    Event,
    EventSeries,
    EventStatus,
    Member,
    Role,
    RoleName,
    Rsvp,
    RsvpStatus,
    event_councils,
)
from councilbot.delivery import files, outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import FileRef, Outgoing
from councilbot.services import access, broadcast, councils, home, jobs, members, polls
from councilbot.services.access import Actor
from councilbot.services.calendar import CalendarEvent, Recurrence, calendars_changed, ics

SOURCE = "event"  # an event's posts in chats and to subscribers (edited in place)
NOTE_SOURCE = "event_note"  # direct messages about an event: promotion, reminder, change
TOPIC = "events"
REMIND_JOB = "event.remind"
FEEDBACK_JOB = "event.feedback"
LIVE_THROTTLE = timedelta(seconds=30)  # one edit of a post's live count per post this often
DEFAULT_REMINDERS = (timedelta(hours=24), timedelta(hours=1))
FEEDBACK_OPEN = timedelta(days=3)  # how long the feedback polls after an event stay open
DEFAULT_OCCURRENCES = 10  # a series without --until
MAX_OCCURRENCES = 52
MAX_TITLE = 200
MAX_CAPACITY = 100_000
CAPACITY_RANGE = N_("The capacity must be a number from 1 to {most}.")
MAX_VENUE = 300
ICS_TYPE = "text/calendar"
UID_DOMAIN = "councilbot"

NOT_AN_ID = N_("“{value}” is not an event id: events are named like E12. /events lists them.")
GOING = N_("Going")
NOT_GOING = N_("Not going")
ADD_TO_CALENDAR = N_("Add to calendar")
CHECK_IN = N_("Check in")
APPROVE = N_("Approve")
DECLINE = N_("Decline")


@dataclass(frozen=True, slots=True)
class Speech:
    """How the bot speaks to members it writes to: the catalogs and the operator's language."""

    catalogs: Catalogs
    default_language: str = "en"


def code(event_id: int) -> str:
    """Name an event as ids that name their kind do: `E12`."""
    return f"E{event_id}"


def zone(event: Event) -> ZoneInfo:
    """Return the zone an event's times are shown in (its council's, kept with it)."""
    return ZoneInfo(event.timezone)


def parse_id(text: str | None, which: str) -> int:
    """Read an event id as typed (`E12`, `e12`, `#12`, `12`), or say which one is wanted."""
    raw = (text or "").strip().lstrip("#")
    if raw[:1] in "Bb" and raw[1:].isdecimal():
        raise InvalidInput(
            N_("{id} is a desk booking; events are named E12, or by their number."), id=raw.upper()
        ).about("id")
    return parse_prefixed_id(text, "E", what=NOT_AN_ID, missing=which)


# --- Reading -------------------------------------------------------------------------


async def get_event(session: AsyncSession, event_id: int, *, lock: bool = False) -> Event:
    """Return an event that was sent (drafts are their author's), or raise NotFound."""
    event = await session.get(Event, event_id, with_for_update=lock or None, populate_existing=lock)
    if event is None:
        raise NotFound(N_("There is no event {id}."), id=code(event_id))
    return event


def reaches(event: Event, council_id: int | None) -> bool:
    """Tell whether an event is for a council's members."""
    return event.all_councils or any(c.id == council_id for c in event.councils)


def _require_open_to(event: Event, member: Member) -> None:
    """Let a member join an event of their council, or one reaching every council."""
    if member.home_council_id is None or reaches(event, member.home_council_id):
        return
    raise Forbidden(
        N_("{id} is for members of {councils}."),
        id=code(event.id),
        councils=", ".join(c.name for c in event.councils),
    )


async def upcoming(
    session: AsyncSession, council: Council | None, *, now: datetime, offset: int, limit: int
) -> tuple[list[Event], int]:
    """Return one page of the events still to come (those reaching `council`, else all), soonest
    first, and how many there are in all."""
    query = select(Event).where(Event.status == EventStatus.SCHEDULED, Event.end_at > now)
    if council is not None:
        reaching = select(event_councils.c.event_id).where(
            event_councils.c.council_id == council.id
        )
        query = query.where(Event.all_councils.is_(True) | Event.id.in_(reaching))
    # A list shows no council or series: none is loaded (reading one would raise).
    page = list(
        await session.scalars(
            query.options(raiseload(Event.council), raiseload(Event.councils))
            .options(raiseload(Event.series))
            .order_by(Event.start_at, Event.id)
            .offset(offset)
            .limit(limit)
        )
    )
    if offset == 0 and len(page) < limit:  # all of them are on this page
        return page, len(page)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    return page, total


@dataclass(frozen=True, slots=True)
class Counts:
    """How an event's answers stand."""

    going: int  # members going
    places: int  # places they take with their guests
    waiting: int
    requested: int
    capacity: int | None

    @property
    def left(self) -> int | None:
        """Count the places still free (None: no limit)."""
        return None if self.capacity is None else max(self.capacity - self.places, 0)


async def counts(session: AsyncSession, event: Event) -> Counts:
    """Count who is going, waiting and asking."""
    return (await counts_of(session, [event]))[event.id]


async def counts_of(session: AsyncSession, events: Sequence[Event]) -> dict[int, Counts]:
    """Count who is going, waiting and asking, for several events at once (a list's page)."""
    rows = await session.execute(
        select(Rsvp.event_id, Rsvp.status, func.count(), func.coalesce(func.sum(Rsvp.guests), 0))
        .where(Rsvp.event_id.in_([e.id for e in events]))
        .group_by(Rsvp.event_id, Rsvp.status)
    )
    by: dict[tuple[int, RsvpStatus], tuple[int, int]] = {
        (event_id, status): (n, int(g)) for event_id, status, n, g in rows.all()
    }
    found = {}
    for event in events:
        going, guests = by.get((event.id, RsvpStatus.GOING), (0, 0))
        found[event.id] = Counts(
            going=going,
            places=going + guests,
            waiting=by.get((event.id, RsvpStatus.WAITING), (0, 0))[0],
            requested=by.get((event.id, RsvpStatus.REQUESTED), (0, 0))[0],
            capacity=event.capacity,
        )
    return found


async def answer_of(session: AsyncSession, event_id: int, member_id: int) -> Rsvp | None:
    """Return a member's answer to an event, if they gave one."""
    return await session.scalar(
        select(Rsvp).where(Rsvp.event_id == event_id, Rsvp.member_id == member_id)
    )


async def position(session: AsyncSession, rsvp: Rsvp) -> int:
    """Return a waiting member's place in the queue (1: next to get a place)."""
    ahead = await session.scalar(
        select(func.count()).where(
            Rsvp.event_id == rsvp.event_id,
            Rsvp.status == RsvpStatus.WAITING,
            Rsvp.turn < rsvp.turn,
        )
    )
    return int(ahead or 0) + 1


# --- Writing: creating and sending ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What a coordinator asked for in /newevent, read and checked."""

    title: str
    day: date
    start: time
    end: time
    venue: str = ""
    capacity: int | None = None
    guests: int = 1
    approval: bool = False
    every: str | None = None  # "week" or "month"
    until: date | None = None


def _local(day: date, at: time, tz: ZoneInfo) -> datetime:
    """Place a wall-clock time on a day in a zone (a skipped time moves forward, as clocks do)."""
    moment = datetime.combine(day, at, tzinfo=tz)
    # A time that does not exist that day (clocks go forward) normalises through UTC.
    return moment.astimezone(ZoneInfo("UTC")).astimezone(tz)


def span(day: date, start: time, end: time, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """Place an event's hours on a day in a zone. A start that a daylight-saving change skips
    moves forward by the gap, and the end keeps the length typed (01:30-02:30 on the night
    clocks go forward at 01:00 is 02:30-03:30, not an empty 02:30-02:30)."""
    begins = _local(day, start, tz)
    typed = datetime.combine(day, start)
    if begins.replace(tzinfo=None) != typed:  # skipped
        return begins, begins + (datetime.combine(day, end) - typed)
    return begins, _local(day, end, tz)


def skipped_starts(days: Sequence[date], start: time, tz: ZoneInfo) -> list[dates.Shift]:
    """Say which of these days' start a daylight-saving change skips, and what is used instead."""
    found = []
    for day in days:
        used = _local(day, start, tz)
        if used.replace(tzinfo=None) != datetime.combine(day, start):
            found.append(dates.Shift(datetime.combine(day, start), used, skipped=True))
    return found


def _add_months(day: date, months: int) -> date:
    month = day.month - 1 + months
    year, month = day.year + month // 12, month % 12 + 1
    return date(year, month, min(day.day, monthcal.monthrange(year, month)[1]))


def occurrences(plan: Plan) -> list[date]:
    """Return the days of a plan: one, or a series' (by the wall clock, so DST keeps the hour)."""
    if plan.every is None:
        return [plan.day]
    days: list[date] = []
    limit = MAX_OCCURRENCES if plan.until is not None else DEFAULT_OCCURRENCES
    for n in range(limit):
        day = plan.day + timedelta(weeks=n) if plan.every == "week" else _add_months(plan.day, n)
        if plan.until is not None and day > plan.until:
            break
        days.append(day)
    return days


def check_plan(plan: Plan, tz: ZoneInfo, now: datetime, lang: str = "en") -> None:
    """Refuse a plan that cannot happen: no title, an end before its start, a past start."""
    if not plan.title.strip():
        raise InvalidInput(N_("Please give the event's title.")).about("title")
    if len(plan.title) > MAX_TITLE or len(plan.venue) > MAX_VENUE:
        raise InvalidInput(N_("The title or the venue is too long.")).about("title")
    if plan.end <= plan.start:
        raise InvalidInput(
            N_("The event must end after it starts: {start}-{end} does not."),
            start=plan.start.strftime("%H:%M"),
            end=plan.end.strftime("%H:%M"),
        ).about("end")
    if _local(plan.day, plan.start, tz) <= now:
        raise InvalidInput(
            N_("{when} has already passed. Give a later day or time."),
            when=format_when(_local(plan.day, plan.start, tz), tz, lang, now=now),
        ).about("day")
    if plan.capacity is not None and not 1 <= plan.capacity <= MAX_CAPACITY:
        raise InvalidInput(CAPACITY_RANGE, most=MAX_CAPACITY).about("cap")
    if plan.until is not None and plan.every is None:
        raise InvalidInput(N_("--until goes with --every week or --every month.")).about("until")
    if plan.until is not None and plan.until < plan.day:
        raise InvalidInput(N_("--until must not be before the first day.")).about("until")


async def create_drafts(
    session: AsyncSession,
    *,
    actor: Actor,
    home: Council,
    targets: Sequence[Council],
    all_councils: bool,
    plan: Plan,
    now: datetime,
    lang: str = "en",
) -> list[Event]:
    """Keep an event (or each occurrence of a series) as a draft for its organiser's preview.

    As an announcement, it goes only to councils the organiser coordinates (admins: any).
    """
    await access.require_coordinator_of_all(
        session, actor, [home, *targets], all_councils=all_councils
    )
    tz = ZoneInfo(home.timezone)
    check_plan(plan, tz, now, lang)
    series = None
    if plan.every is not None:
        series = EventSeries(every=plan.every, until=plan.until, created_at=now)
        session.add(series)
    created = []
    for day in occurrences(plan):
        event = Event(
            council=home,
            all_councils=all_councils,
            title=plan.title.strip(),
            description="",
            venue=plan.venue.strip(),
            start_at=span(day, plan.start, plan.end, tz)[0],
            end_at=span(day, plan.start, plan.end, tz)[1],
            planned_start_at=_local(day, plan.start, tz),
            timezone=str(tz),
            capacity=plan.capacity,
            taken=0,
            turns=0,
            guests_allowed=plan.guests,
            approval=plan.approval,
            status=EventStatus.DRAFT,
            organiser_id=actor.member_id,
            series=series,
            sequence=0,
            full_told=False,
            created_at=now,
            updated_at=now,
            councils=list(targets),
        )
        session.add(event)
        created.append(event)
    await session.flush()
    return created


async def series_of(session: AsyncSession, event: Event, *, rest: bool = True) -> list[Event]:
    """Return an event's occurrences from it on (itself alone when it is not in a series)."""
    if event.series_id is None or not rest:
        return [event]
    found = await session.scalars(
        select(Event)
        .where(Event.series_id == event.series_id, Event.start_at >= event.start_at)
        .order_by(Event.start_at)
        .with_for_update()
    )
    return list(found.unique())


async def send(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    *,
    now: datetime,
    speech: Speech,
    reminders: Sequence[timedelta],
) -> tuple[list[Event], broadcast.Audience]:
    """Publish a draft (and its series): post it with its buttons and schedule its reminders."""
    event = await session.get(Event, event_id, with_for_update=True, populate_existing=True)
    if event is None:
        raise NotFound(N_("There is no event {id}."), id=code(event_id))
    if event.organiser_id != actor.member_id:
        raise Forbidden(N_("Only the coordinator who wrote {id} can send it."), id=code(event_id))
    if event.status is not EventStatus.DRAFT:
        raise Conflict(N_("{id} was already sent. /event {id} shows it."), id=code(event.id))
    if event.start_at <= now:
        raise Conflict(N_("{id} would start in the past now: create it again."), id=code(event.id))
    if event.created_at <= now - broadcast.DRAFT_LIFETIME:
        raise Conflict(
            N_(
                "The preview of {id} is too old to send: create the event again to see who it "
                "reaches today."
            ),
            id=code(event.id),
        )
    # Rights may have changed since the preview.
    await access.require_coordinator_of_all(
        session, actor, event.councils, all_councils=event.all_councils
    )
    published = [e for e in await series_of(session, event) if e.status is EventStatus.DRAFT]
    for item in published:
        item.status = EventStatus.SCHEDULED
        item.updated_at = now
        await schedule_jobs(session, item, reminders, now=now)
    calendars_changed(session)
    reached = await audience(session, event, speech)
    going = await counts(session, event)
    await broadcast.enqueue(
        session,
        reached,
        renderer(event, going, len(published)),
        source=SOURCE,
        source_id=event.id,
        now=now,
    )
    return published, reached


async def discard_draft(session: AsyncSession, actor: Actor, event_id: int) -> Event:
    """Drop a draft (the preview's Cancel): nothing was sent."""
    event = await get_event(session, event_id, lock=True)
    if event.status is not EventStatus.DRAFT:
        raise Conflict(
            N_("{id} was already sent; /cancelevent {id} cancels it."), id=code(event.id)
        )
    if event.organiser_id != actor.member_id:
        raise Forbidden(N_("Only the coordinator who wrote {id} can cancel it."), id=code(event_id))
    for item in await series_of(session, event):
        if item.status is EventStatus.DRAFT:
            item.status = EventStatus.CANCELLED
    return event


async def audience(session: AsyncSession, event: Event, speech: Speech) -> broadcast.Audience:
    """Find who an event's post reaches: its councils' chats and members subscribed to events."""
    return await broadcast.audience(
        session,
        event.councils,
        TOPIC,
        zone=zone(event),
        catalogs=speech.catalogs,
        default_language=speech.default_language,
    )


def reminder_job(event_id: int, before: timedelta) -> str:
    """Name the job that reminds those going, `before` the start."""
    return f"event:{event_id}:remind:{int(before.total_seconds() // 60)}"


def feedback_job(event_id: int) -> str:
    """Name the job that asks for feedback once the event is over."""
    return f"event:{event_id}:feedback"


async def schedule_jobs(
    session: AsyncSession, event: Event, reminders: Sequence[timedelta], *, now: datetime
) -> None:
    """Schedule (or move) an event's reminders and its feedback job to its current times."""
    for before in reminders:
        name = reminder_job(event.id, before)
        due = event.start_at - before
        if due > now:
            minutes = int(before.total_seconds() // 60)
            await jobs.schedule(
                session, name, REMIND_JOB, due, {"id": event.id, "before": minutes}, now=now
            )
        else:  # moved so close that this reminder would come after its time
            await jobs.cancel(session, name)
    await jobs.schedule(
        session, feedback_job(event.id), FEEDBACK_JOB, event.end_at, {"id": event.id}, now=now
    )


async def cancel_jobs(session: AsyncSession, event: Event, reminders: Sequence[timedelta]) -> None:
    """Cancel an event's reminders and feedback job."""
    for before in reminders:
        await jobs.cancel(session, reminder_job(event.id, before))
    await jobs.cancel(session, feedback_job(event.id))


# --- How an event reads --------------------------------------------------------------


def when_text(event: Event, t: Translator, now: datetime | None) -> str:
    """Show an event's time in its zone, named: `Thu 3 Dec, 18:00–20:00 CET`."""
    tz = zone(event)
    start, end = event.start_at.astimezone(tz), event.end_at.astimezone(tz)
    shown = format_when(event.start_at, tz, t.lang, now=now)
    if start.date() == end.date():
        head, _, name = shown.rpartition(" ")
        return f"{head}–{end:%H:%M} {name}"
    return f"{shown} – {format_when(event.end_at, tz, t.lang, now=now)}"


def places_text(t: Translator, going: Counts) -> Markup:
    """Say how many are going and how many places are left: `7 going, 3 places left`, counting
    people: `3 going (2 members + 1 guest)`."""
    text = t.plural("{count} going", "{count} going", going.places)
    if going.places != going.going:
        text += Markup(" (") + breakdown(t, going) + Markup(")")
    if going.left is not None:
        text += Markup(", ") + (
            t.plural("{count} place left", "{count} places left", going.left)
            if going.left
            else t("full")
        )
    if going.waiting:
        text += Markup(", ") + t.plural("{count} waiting", "{count} waiting", going.waiting)
    return text


def breakdown(t: Translator, going: Counts) -> Markup:
    """Say who the people going are: `2 members + 1 guest`."""
    return (
        t.plural("{count} member", "{count} members", going.going)
        + Markup(" + ")
        + t.plural("{count} guest", "{count} guests", going.places - going.going)
    )


def buttons(
    t: Translator, event: Event, *, check_in: bool = False
) -> tuple[tuple[Button, ...], ...]:
    """Offer Going, Not going and Add to calendar (and Check in), working until the event ends."""
    ident = code(event.id)
    row = (
        Button(label=t(GOING), command=f"/rsvp {ident}", expires_at=event.end_at),
        Button(label=t(NOT_GOING), command=f"/unrsvp {ident}", expires_at=event.end_at),
        Button(label=t(ADD_TO_CALENDAR), command=f"/ical {ident}", expires_at=event.end_at),
    )
    if check_in:
        return (
            row,
            (Button(label=t(CHECK_IN), command=f"/checkin {ident}", expires_at=event.end_at),),
        )
    return (row,)


def render(
    t: Translator, event: Event, going: Counts, *, now: datetime | None, occurrences: int = 1
) -> str:
    """Write an event's post as readers see it, in their language, times in the event's zone."""
    reach = t("all councils") if event.all_councils else ", ".join(c.name for c in event.councils)
    lines = [
        t(
            "📅 <b>{title}</b> ({id}) — {councils}",
            title=event.title,
            id=code(event.id),
            councils=reach,
        )
    ]
    lines.append(escape(when_text(event, t, now)))
    if event.venue:
        lines.append(t("📍 {venue}", venue=event.venue))
    if occurrences > 1 and event.series is not None:
        lines.append(
            t.plural(
                "Every {every}: {count} date. /events lists them.",
                "Every {every}: {count} dates. /events lists them.",
                occurrences,
                every=t(EVERY[event.series.every]),
            )
        )
    if event.status is EventStatus.CANCELLED:
        lines.append(t("<b>Cancelled.</b>"))
    else:
        lines.append(places_text(t, going))
        if event.approval:
            lines.append(t("The organiser approves each answer."))
    return str(Markup("\n").join(lines))


EVERY = {"week": N_("week"), "month": N_("month")}


def renderer(
    event: Event, going: Counts, occurrences: int = 1, *, now: datetime | None = None
) -> broadcast.Renderer:
    """Render an event's post for each recipient, with its RSVP buttons while it is on (and,
    rendered on the event's day, Check in)."""
    check_in = now is not None and is_event_day(event, now)

    def for_recipient(recipient: broadcast.Recipient) -> Outgoing:
        text = render(recipient.t, event, going, now=None, occurrences=occurrences)
        shown = (
            ()
            if event.status is EventStatus.CANCELLED
            else buttons(recipient.t, event, check_in=check_in)
        )
        return recipient.message(text, shown)

    return for_recipient


async def refresh_posts(
    session: AsyncSession, event: Event, speech: Speech, *, now: datetime, live: bool = True
) -> None:
    """Edit the event's posts to show its current places (`live`: throttled, for counts)."""
    dates = 1
    if event.series_id is not None:  # a series is posted once, as its first occurrence
        first = await session.scalar(
            select(Event.id)
            .where(Event.series_id == event.series_id)
            .order_by(Event.start_at)
            .limit(1)
        )
        if first != event.id:
            return  # only the first occurrence's counts are on the post
        dates = await session.scalar(
            select(func.count()).where(
                Event.series_id == event.series_id, Event.status != EventStatus.DRAFT
            )
        )
    going = await counts(session, event)
    await broadcast.rerender(
        session,
        event.councils,
        renderer(event, going, int(dates or 1), now=now),
        zone=zone(event),
        catalogs=speech.catalogs,
        default_language=speech.default_language,
        source=SOURCE,
        source_id=event.id,
        now=now,
        throttle=LIVE_THROTTLE if live else timedelta(0),
    )


# --- Telling members -----------------------------------------------------------------

Note = Callable[[Translator], tuple[Markup, tuple[tuple[Button, ...], ...]]]


async def tell(
    session: AsyncSession,
    event: Event,
    member_ids: Sequence[int],
    note: Note,
    *,
    what: str,
    now: datetime,
    speech: Speech,
    file: FileRef | None = None,
) -> int:
    """Write to members by direct message about an event, each in their language; count them.

    Each message's outbox key is made of what it tells: the event, its version (`sequence`),
    `what` (the kind of notice with whatever tells one such notice from another, e.g. the
    answer's turn) and the member. Telling the same thing again, as a retried transaction or
    a job run twice would, queues nothing new.
    """
    recipients = await broadcast.direct(
        session,
        sorted(set(member_ids)),
        zone=zone(event),
        catalogs=speech.catalogs,
        default_language=speech.default_language,
    )
    envelopes = []
    for recipient in recipients:
        text, shown = note(recipient.t)
        envelopes.append(
            Envelope(
                key=f"{NOTE_SOURCE}:{event.id}:{event.sequence}:{what}:{recipient.member_id}",
                message=recipient.message(str(text), shown, file=file),
                source=NOTE_SOURCE,
                source_id=event.id,
                member_id=recipient.member_id,
            )
        )
    return await outbox.enqueue(session, envelopes, now=now)


async def managers(session: AsyncSession, event: Event) -> list[int]:
    """Return who is told about an event's answers: its organiser and its council's coordinators."""
    found = set(
        await session.scalars(
            select(Role.member_id).where(
                Role.role == RoleName.COORDINATOR, Role.council_id == event.council_id
            )
        )
    )
    if event.organiser_id is not None:
        found.add(event.organiser_id)
    return sorted(found)


async def may_manage(session: AsyncSession, actor: Actor, event: Event) -> bool:
    """Tell whether the actor organises the event, coordinates its council or is an admin."""
    return event.organiser_id == actor.member_id or await access.can_coordinate(
        session, actor, event.council
    )


async def require_manager(session: AsyncSession, actor: Actor, event: Event) -> None:
    """Refuse anyone but the organiser, the council's coordinators and admins."""
    if not await may_manage(session, actor, event):
        raise Forbidden(
            N_("Only the organiser of {id} or coordinators of {council} can do that."),
            id=code(event.id),
            council=event.council.name,
        )


async def require_may_change(session: AsyncSession, actor: Actor, event: Event) -> None:
    """Refuse to edit or cancel an event for anyone who could not have posted it."""
    missing = await access.not_coordinated(session, actor, event.councils)
    if missing and event.organiser_id != actor.member_id:
        raise Forbidden(
            N_(
                "Only the organiser of {id}, an admin or a coordinator of every council it "
                "reaches can change or cancel it; you do not coordinate {councils}."
            ),
            id=code(event.id),
            councils=", ".join(missing),
        )


async def ics_file(session: AsyncSession, events: Sequence[Event], *, now: datetime) -> FileRef:
    """Store the calendar file of events (one, or a series) for messages to carry."""
    data = ics([calendar_event(e) for e in events], name=events[0].title)
    return await files.store(
        session, filename=f"{code(events[0].id)}.ics", content_type=ICS_TYPE, data=data, now=now
    )


# --- RSVPs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    """What an RSVP came to."""

    event: Event
    rsvp: Rsvp | None  # None: nothing was noted, `alone` places are offered instead
    changed: bool
    position: int = 0  # on the waitlist
    alone: int = 0  # the places left when the member would fit without their guests


async def _locked(session: AsyncSession, event_id: int) -> Event:
    """Lock an event's row and count its places afresh from the answers going.

    Under the lock the count is exact; recounting it heals what a change outside this module
    left behind (two linked accounts merged into one member keep one answer between them).
    """
    event = await get_event(session, event_id, lock=True)
    held = (
        select(func.coalesce(func.sum(1 + Rsvp.guests), 0))
        .where(Rsvp.event_id == event.id, Rsvp.status == RsvpStatus.GOING)
        .scalar_subquery()
    )
    taken = await session.scalar(
        update(Event)
        .where(Event.id == event.id)
        .values(taken=held)
        .returning(Event.taken)
        .execution_options(synchronize_session=False)
    )
    event.taken = int(taken or 0)
    return event


async def _next_turn(session: AsyncSession, event: Event) -> int:
    """Give out the next arrival number (under the event's row lock)."""
    turn = await session.scalar(
        update(Event)
        .where(Event.id == event.id)
        .values(turns=Event.turns + 1)
        .returning(Event.turns)
        .execution_options(synchronize_session=False)
    )
    assert turn is not None
    set_committed_value(event, "turns", int(turn))  # as the row now holds it
    return int(turn)


async def _take(session: AsyncSession, event: Event, places: int) -> bool:
    """Take places if they are free: one conditional UPDATE that never passes the capacity."""
    taken = await session.scalar(
        update(Event)
        .where(
            Event.id == event.id,
            Event.capacity.is_(None) | (Event.taken + places <= Event.capacity),
        )
        .values(taken=Event.taken + places)
        .returning(Event.taken)
        .execution_options(synchronize_session=False)
    )
    if taken is None:
        return False
    event.taken = int(taken)
    return True


async def _release(session: AsyncSession, event: Event, places: int) -> None:
    """Give places back."""
    taken = await session.scalar(
        update(Event)
        .where(Event.id == event.id)
        .values(taken=Event.taken - places)
        .returning(Event.taken)
        .execution_options(synchronize_session=False)
    )
    event.taken = int(taken or 0)


def _require_open(event: Event, now: datetime) -> None:
    if event.status is EventStatus.CANCELLED:
        raise Conflict(N_("{id} was cancelled."), id=code(event.id))
    if event.status is EventStatus.DRAFT:
        raise NotFound(N_("There is no event {id}."), id=code(event.id))
    if event.status is EventStatus.DONE or event.end_at <= now:
        raise Conflict(N_("{id} is over."), id=code(event.id))


async def rsvp(
    session: AsyncSession,
    event_id: int,
    member: Member,
    *,
    guests: int | None,
    now: datetime,
    speech: Speech,
    wait: bool = False,
) -> Answer:
    """Answer Going: a place if one is free (with guests), else the waitlist, else a request.

    A party larger than the capacity is refused (it could never get in). When the member's
    guests do not fit in the places left but the member alone would, nothing is noted and the
    answer offers those places (`alone`): come alone, or `wait` for places for the whole party.
    """
    event = await _locked(session, event_id)  # serialises every answer to it
    _require_open(event, now)
    _require_open_to(event, member)
    await home.home_changed(session, member.id, now)  # their Slack Home tab shows it
    if guests is not None and guests > event.guests_allowed:
        if not event.guests_allowed:
            raise InvalidInput(N_("{id} takes no guests."), id=code(event.id)).about("guests")
        raise InvalidInput.plural(
            "{id} allows at most {count} guest per member.",
            "{id} allows at most {count} guests per member.",
            event.guests_allowed,
            id=code(event.id),
        ).about("guests")
    row = await answer_of(session, event.id, member.id)
    if row is not None and row.status is RsvpStatus.DECLINED:
        raise Forbidden(N_("The organiser of {id} declined your request."), id=code(event.id))
    wanted = row.guests if guests is None and row is not None else (guests or 0)
    if event.capacity is not None and 1 + wanted > event.capacity:
        raise InvalidInput.plural(
            "{id} has only {count} place: you and your guests could never all get in. "
            "/rsvp {id} alone, or with fewer guests.",
            "{id} has only {count} places: you and your guests could never all get in. "
            "/rsvp {id} alone, or with fewer guests.",
            event.capacity,
            id=code(event.id),
        ).about("guests")
    if row is not None and row.status in (
        RsvpStatus.GOING,
        RsvpStatus.WAITING,
        RsvpStatus.REQUESTED,
    ):
        if wanted == row.guests:
            return Answer(event, row, False, await _position(session, row))
        if row.status is RsvpStatus.GOING:
            await _change_guests(session, event, row, wanted, now=now, speech=speech)
        else:
            row.guests = wanted
            if row.status is RsvpStatus.WAITING and not event.approval:
                # Fewer guests may fit now: the waitlist is served again (telling whoever moves).
                await session.flush()
                await promote(session, event, now=now, speech=speech)
                await refresh_posts(session, event, speech, now=now)
        row.updated_at = now
        return Answer(event, row, True, await _position(session, row))
    if wanted and not wait and not event.approval and event.capacity is not None:
        free = event.capacity - event.taken
        if 1 <= free < 1 + wanted and not await _fitting_ahead(session, event, None, free):
            return Answer(event, None, False, alone=free)
    turn = await _next_turn(session, event)
    if row is None:
        row = Rsvp(
            event_id=event.id,
            member_id=member.id,
            guests=wanted,
            turn=turn,
            created_at=now,
            updated_at=now,
            status=RsvpStatus.WAITING,
        )
        session.add(row)
    row.guests, row.turn, row.updated_at, row.checked_in_at = wanted, turn, now, None
    if event.approval:
        row.status = RsvpStatus.REQUESTED
        await session.flush()
        await _ask_managers(session, event, member, row, now=now, speech=speech)
        return Answer(event, row, True)
    await _seat(session, event, row, now=now, speech=speech)
    return Answer(event, row, True, await _position(session, row))


async def _position(session: AsyncSession, row: Rsvp) -> int:
    return await position(session, row) if row.status is RsvpStatus.WAITING else 0


async def _seat(
    session: AsyncSession, event: Event, row: Rsvp, *, now: datetime, speech: Speech
) -> None:
    """Give an answer its places if they are free, else a place on the waitlist."""
    # Nobody jumps the queue: a newcomer waits behind those waiting whom the free places fit
    # (a party too large for them does not hold back those behind it; see `promote`).
    free = None if event.capacity is None else event.capacity - event.taken
    ahead = await _fitting_ahead(session, event, row.turn, free)
    if not ahead and await _take(session, event, row.places):
        row.status = RsvpStatus.GOING
    else:
        row.status = RsvpStatus.WAITING
    await session.flush()
    await _tell_if_full(session, event, now=now, speech=speech)
    await refresh_posts(session, event, speech, now=now)


async def _fitting_ahead(
    session: AsyncSession, event: Event, turn: int | None, free: int | None
) -> int:
    """Count those waiting (before `turn`, if given) whom `free` places would fit (None: any)."""
    query = select(func.count()).where(Rsvp.event_id == event.id, Rsvp.status == RsvpStatus.WAITING)
    if turn is not None:
        query = query.where(Rsvp.turn < turn)
    if free is not None:
        query = query.where(1 + Rsvp.guests <= free)
    return int(await session.scalar(query) or 0)


async def _change_guests(
    session: AsyncSession, event: Event, row: Rsvp, wanted: int, *, now: datetime, speech: Speech
) -> None:
    """Bring more guests (if places are free) or fewer (giving their places to those waiting)."""
    delta = wanted - row.guests
    if delta > 0 and not await _take(session, event, delta):
        left = max((event.capacity or 0) - event.taken, 0)
        if not left:
            raise Conflict(
                N_("{id} is full: you keep your place with your guests as they were."),
                id=code(event.id),
            )
        raise Conflict.plural(
            "There is only {count} place left at {id}: you keep your place with your guests "
            "as they were.",
            "There are only {count} places left at {id}: you keep your place with your guests "
            "as they were.",
            left,
            id=code(event.id),
        )
    row.guests = wanted
    if delta < 0:
        await _release(session, event, -delta)
        await session.flush()
        await promote(session, event, now=now, speech=speech)
    await session.flush()
    await refresh_posts(session, event, speech, now=now)


async def _tell_if_full(
    session: AsyncSession, event: Event, *, now: datetime, speech: Speech
) -> None:
    """Tell the organiser once when the last place is taken."""
    if event.capacity is None or event.taken < event.capacity or event.full_told:
        return
    event.full_told = True
    if event.organiser_id is None:
        return

    def note(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
        return (
            t.plural(
                "{title} ({id}) is full: its {count} place is taken. New answers join the "
                "waitlist; /attendees {id} shows who is coming.",
                "{title} ({id}) is full: all {count} places are taken. New answers join the "
                "waitlist; /attendees {id} shows who is coming.",
                event.capacity or 0,
                title=event.title,
                id=code(event.id),
            ),
            (),
        )

    # A refill is news only after a new answer (a new turn) or another capacity.
    what = f"full{event.turns}.{event.capacity}"
    await tell(session, event, [event.organiser_id], note, what=what, now=now, speech=speech)


async def promote(
    session: AsyncSession, event: Event, *, now: datetime, speech: Speech
) -> list[Rsvp]:
    """Give free places to those waiting, first come first served, and tell each of them.

    The first waiting whose party fits the free places gets them: a party too large for them
    keeps its turn at the head of the queue (it goes as soon as enough places are free) but
    does not hold back those behind it who fit.
    """
    promoted: list[Rsvp] = []
    while True:
        free = None if event.capacity is None else event.capacity - event.taken
        if free is not None and free <= 0:
            break
        query = select(Rsvp).where(Rsvp.event_id == event.id, Rsvp.status == RsvpStatus.WAITING)
        if free is not None:
            query = query.where(1 + Rsvp.guests <= free)
        first = await session.scalar(query.order_by(Rsvp.turn).limit(1))
        if first is None or not await _take(session, event, first.places):
            break
        first.status = RsvpStatus.GOING
        first.updated_at = now
        promoted.append(first)
        await home.home_changed(session, first.member_id, now)
        await session.flush()
    if event.capacity is not None and event.taken < event.capacity:
        event.full_told = False  # a place is free again: the next fill is news
    if not promoted:
        return promoted

    def you(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
        return (
            t(
                "Good news: a place opened up and you are now going to {title} ({id}), {when}.",
                title=event.title,
                id=code(event.id),
                when=when_text(event, t, now),
            ),
            buttons(t, event),
        )

    for row in promoted:  # an answer is promoted once for each turn it takes
        await tell(
            session, event, [row.member_id], you, what=f"promoted{row.turn}", now=now, speech=speech
        )
    names = ", ".join(r.member.display_name for r in promoted)
    if event.organiser_id is not None:

        def organiser(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
            return (
                t.plural(
                    "The waitlist of {title} ({id}) moved: {names} got a place; {count} still "
                    "waiting.",
                    "The waitlist of {title} ({id}) moved: {names} got a place; {count} still "
                    "waiting.",
                    waiting,
                    title=event.title,
                    id=code(event.id),
                    names=names,
                ),
                (),
            )

        waiting = (await counts(session, event)).waiting
        await tell(
            session,
            event,
            [event.organiser_id],
            organiser,
            what=f"moved{promoted[-1].turn}",
            now=now,
            speech=speech,
        )
    await _tell_if_full(session, event, now=now, speech=speech)
    return promoted


async def unrsvp(
    session: AsyncSession, event_id: int, member: Member, *, now: datetime, speech: Speech
) -> tuple[Event, RsvpStatus | None]:
    """Withdraw an answer (guests leave with their host); the first waiting take the places."""
    event = await _locked(session, event_id)
    _require_open(event, now)
    await home.home_changed(session, member.id, now)
    row = await answer_of(session, event.id, member.id)
    was = row.status if row is not None else None
    if row is None or was in (RsvpStatus.LEFT, RsvpStatus.DECLINED):
        return event, None
    if was is RsvpStatus.GOING:
        await _release(session, event, row.places)
    row.status, row.guests, row.checked_in_at, row.updated_at = RsvpStatus.LEFT, 0, None, now
    await session.flush()
    await promote(session, event, now=now, speech=speech)
    await refresh_posts(session, event, speech, now=now)
    return event, was


async def _ask_managers(
    session: AsyncSession, event: Event, member: Member, row: Rsvp, *, now: datetime, speech: Speech
) -> None:
    """Ask the organiser and the council's coordinators to approve or decline a request."""

    def note(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
        ident = code(event.id)
        text = t.plural(
            "{name} asks to come to {title} ({id}) with {count} guest.",
            "{name} asks to come to {title} ({id}) with {count} guests.",
            row.guests,
            name=member.display_name,
            title=event.title,
            id=ident,
        )
        if not row.guests:
            text = t(
                "{name} asks to come to {title} ({id}).",
                name=member.display_name,
                title=event.title,
                id=ident,
            )
        choice = (
            Button(
                label=t(APPROVE),
                command=f"/rsvp approve {ident} {member.id}",
                expires_at=event.end_at,
            ),
            Button(
                label=t(DECLINE),
                command=f"/rsvp decline {ident} {member.id}",
                expires_at=event.end_at,
            ),
        )
        return text, (choice,)

    await tell(
        session,
        event,
        await managers(session, event),
        note,
        what=f"ask{member.id}.{row.turn}",
        now=now,
        speech=speech,
    )


async def requester(
    session: AsyncSession,
    event_id: int,
    who: str,
    *,
    prefer: Platform | None = None,
) -> int:
    """Find whose request `who` names: their name as /attendees shows it, `@user`, `#n`,
    `platform:user_id`, or the member number an Approve/Decline button carries."""
    text = who.strip()
    if not text:
        raise InvalidInput(N_("Whose request? Give their name as /attendees shows it."))
    asking = list(
        (
            await session.execute(
                select(Rsvp.member_id, Member.display_name)
                .join(Member, Member.id == Rsvp.member_id)
                .where(Rsvp.event_id == event_id)
                .order_by(Rsvp.status != RsvpStatus.REQUESTED, Rsvp.turn)
            )
        ).all()
    )
    if text.isdecimal() and any(m == int(text) for m, _ in asking):  # a button's number
        return int(text)
    if not text.startswith(("#", "@")) and ":" not in text:
        named = [m for m, name in asking if name.casefold() == text.casefold()]
        if len(set(named)) > 1:
            raise Conflict(
                N_("Several people answering {id} are called {name}: write @user or #n."),
                id=code(event_id),
                name=text,
            )
        if named:
            return named[0]
    return (await members.find_member(session, text, prefer=prefer)).id


async def decide(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    member_id: int,
    *,
    approve: bool,
    now: datetime,
    speech: Speech,
) -> tuple[Event, Rsvp]:
    """Approve a request (a place, or the waitlist) or decline it; the requester is told."""
    event = await _locked(session, event_id)
    _require_open(event, now)
    await require_manager(session, actor, event)
    row = await answer_of(session, event.id, member_id)
    if row is None or row.status is not RsvpStatus.REQUESTED:
        raise Conflict(N_("There is no request waiting for an answer there."))
    if approve:
        await _seat(session, event, row, now=now, speech=speech)
    else:
        row.status = RsvpStatus.DECLINED
    row.updated_at = now
    await session.flush()
    where = await _position(session, row)

    def note(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
        values = {"title": event.title, "id": code(event.id), "when": when_text(event, t, now)}
        if row.status is RsvpStatus.GOING:
            return t(
                "Your request was approved: you are going to {title} ({id}), {when}.", **values
            ), buttons(t, event)
        if row.status is RsvpStatus.WAITING:
            return t(
                "Your request for {title} ({id}) was approved, but it is full: you are number "
                "{position} on the waitlist.",
                position=where,
                **values,
            ), ()
        return t("Sorry: your request for {title} ({id}) was declined.", **values), ()

    await tell(session, event, [member_id], note, what=f"decided{row.turn}", now=now, speech=speech)
    return event, row


# --- Check-in ------------------------------------------------------------------------


def is_event_day(event: Event, now: datetime) -> bool:
    """Tell whether it is the event's day (in its zone) and it has not ended."""
    return (
        event.start_at.astimezone(zone(event)).date() <= now.astimezone(zone(event)).date()
        and now < event.end_at
    )


async def check_in(
    session: AsyncSession, event_id: int, member: Member, *, now: datetime, lang: str = "en"
) -> tuple[Event, bool]:
    """Mark a member going to an event as there; return whether they were already."""
    event = await get_event(session, event_id, lock=True)
    if event.status is not EventStatus.SCHEDULED:
        _require_open(event, now)
    if not is_event_day(event, now):
        if now >= event.end_at:
            raise Conflict(N_("{id} is over."), id=code(event.id))
        opens = datetime.combine(event.start_at.astimezone(zone(event)).date(), time(0))
        raise Conflict(
            N_("Check-in for {id} opens on the day of the event, from {opens}; it starts at {at}."),
            id=code(event.id),
            opens=format_when(opens.replace(tzinfo=zone(event)), zone(event), lang, now=now),
            at=event.start_at.astimezone(zone(event)).strftime("%H:%M"),
        )
    row = await answer_of(session, event.id, member.id)
    if row is None or row.status is not RsvpStatus.GOING:
        raise Conflict(
            N_("You are not on the list of those going to {id}: /rsvp {id} first."),
            id=code(event.id),
        )
    if row.checked_in_at is not None:
        return event, True
    row.checked_in_at = now
    return event, False


# --- Changes -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Changes:
    """What /editevent changes (None: unchanged)."""

    day: date | None = None
    start: time | None = None
    end: time | None = None
    venue: str | None = None
    capacity: int | None = None
    title: str | None = None

    @property
    def empty(self) -> bool:
        return all(
            v is None
            for v in (self.day, self.start, self.end, self.venue, self.capacity, self.title)
        )


def _concerned(session: AsyncSession, event: Event) -> Any:
    return session.scalars(
        select(Rsvp.member_id).where(
            Rsvp.event_id == event.id,
            Rsvp.status.in_((RsvpStatus.GOING, RsvpStatus.WAITING, RsvpStatus.REQUESTED)),
        )
    )


async def cancel(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    *,
    rest: bool,
    now: datetime,
    speech: Speech,
    reminders: Sequence[timedelta],
) -> list[Event]:
    """Cancel an event (or it and the rest of its series); everyone going or waiting is told."""
    event = await get_event(session, event_id, lock=True)
    _require_open(event, now)
    await require_may_change(session, actor, event)
    cancelled = [
        e for e in await series_of(session, event, rest=rest) if e.status is EventStatus.SCHEDULED
    ]
    calendars_changed(session)
    for item in cancelled:
        item.status = EventStatus.CANCELLED
        item.sequence += 1
        item.updated_at = now
        await cancel_jobs(session, item, reminders)
        concerned = list(await _concerned(session, item))
        for member_id in concerned:  # their Slack Home tabs drop it
            await home.home_changed(session, member_id, now)
        if concerned:
            file = await ics_file(session, [item], now=now)

            def note(
                t: Translator, item: Event = item
            ) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
                return (
                    t(
                        "{title} ({id}), {when}, is cancelled. The calendar file removes it from "
                        "your calendar.",
                        title=item.title,
                        id=code(item.id),
                        when=when_text(item, t, now),
                    ),
                    (),
                )

            await tell(
                session, item, concerned, note, what="cancelled", now=now, speech=speech, file=file
            )
        await refresh_posts(session, item, speech, now=now, live=False)
    return cancelled


async def edit(
    session: AsyncSession,
    actor: Actor,
    event_id: int,
    changes: Changes,
    *,
    rest: bool,
    now: datetime,
    speech: Speech,
    reminders: Sequence[timedelta],
    lang: str = "en",
) -> list[Event]:
    """Change an event's time, venue, title or capacity (or the rest of its series')."""
    event = await _locked(session, event_id)
    _require_open(event, now)
    await require_may_change(session, actor, event)
    if changes.empty:
        raise InvalidInput(
            N_('Say what changes: a date, a time like 18:00-20:00, @ "venue", cap 30.')
        )
    if changes.capacity is not None and not 1 <= changes.capacity <= MAX_CAPACITY:
        raise InvalidInput(CAPACITY_RANGE, most=MAX_CAPACITY).about("cap")
    tz = zone(event)
    shift = (changes.day - event.start_at.astimezone(tz).date()) if changes.day else timedelta(0)
    edited = [
        e for e in await series_of(session, event, rest=rest) if e.status is EventStatus.SCHEDULED
    ]
    for item in edited:  # a capacity below the places taken would put people out
        if changes.capacity is not None and changes.capacity < item.taken:
            raise Conflict.plural(
                "{id} already has {count} place taken (guests included), more than a capacity "
                "of {capacity}: give at least {count}. /attendees {id} lists who is going.",
                "{id} already has {count} places taken (guests included), more than a capacity "
                "of {capacity}: give at least {count}. /attendees {id} lists who is going.",
                item.taken,
                id=code(item.id),
                capacity=changes.capacity,
            ).about("cap")
    for item in edited:
        start_local, end_local = item.start_at.astimezone(tz), item.end_at.astimezone(tz)
        day = start_local.date() + shift
        start = changes.start or start_local.time().replace(tzinfo=None)
        end = changes.end or end_local.time().replace(tzinfo=None)
        new_start, new_end = span(day, start, end, tz)
        if changes.start is not None and changes.end is None:  # a new start keeps the length
            new_end = new_start + (item.end_at - item.start_at)
        if new_end <= new_start:
            raise InvalidInput(
                N_("The event must end after it starts: {start}-{end} does not."),
                start=start.strftime("%H:%M"),
                end=end.strftime("%H:%M"),
            )
        if new_start != item.start_at and new_start <= now:
            raise InvalidInput(
                N_("{when} has already passed. Give a later day or time."),
                when=format_when(new_start, tz, lang, now=now),
            )
        moved = new_start != item.start_at or new_end != item.end_at
        old_title = item.title
        item.start_at, item.end_at = new_start, new_end
        if changes.venue is not None and changes.venue != item.venue:
            item.venue = changes.venue
        if changes.title is not None:
            item.title = changes.title
        if changes.capacity is not None:
            item.capacity = changes.capacity
        item.sequence += 1
        item.updated_at = now
        calendars_changed(session)
        if moved:
            await schedule_jobs(session, item, reminders, now=now)
        await session.flush()
        await promote(session, item, now=now, speech=speech)
        concerned = list(await _concerned(session, item))
        if concerned and (moved or changes.venue is not None or changes.title is not None):
            file = await ics_file(session, [item], now=now)

            def note(
                t: Translator, item: Event = item, old_title: str = old_title
            ) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
                lines = [t("{title} ({id}) has changed:", title=item.title, id=code(item.id))]
                if old_title != item.title:
                    lines = [
                        t(
                            "{old} ({id}) is now called {title}:",
                            old=old_title,
                            title=item.title,
                            id=code(item.id),
                        )
                    ]
                lines.append(t("🕒 {when}", when=when_text(item, t, now)))
                if item.venue:
                    lines.append(t("📍 {venue}", venue=item.venue))
                lines.append(t("The calendar file updates your calendar."))
                return Markup("\n").join(lines), buttons(t, item)

            await tell(
                session, item, concerned, note, what="changed", now=now, speech=speech, file=file
            )
        await refresh_posts(session, item, speech, now=now, live=False)
    return edited


# --- Attendance ----------------------------------------------------------------------


async def answers(session: AsyncSession, actor: Actor, event_id: int) -> tuple[Event, list[Rsvp]]:
    """Return an event's answers for its organiser and coordinators: going, waiting, asking."""
    event = await get_event(session, event_id)
    if event.status is EventStatus.DRAFT:
        raise NotFound(N_("There is no event {id}."), id=code(event_id))
    await require_manager(session, actor, event)
    rows = await session.scalars(
        select(Rsvp)
        .where(
            Rsvp.event_id == event.id,
            Rsvp.status.in_((RsvpStatus.GOING, RsvpStatus.WAITING, RsvpStatus.REQUESTED)),
        )
        .order_by(Rsvp.turn)
    )
    return event, list(rows.unique())


# --- Jobs ----------------------------------------------------------------------------


async def remind(
    session: AsyncSession, payload: dict[str, Any], now: datetime, speech: Speech
) -> int:
    """Remind those going (the scheduler's job): in their language, the time in the event's zone."""
    event = await session.get(Event, payload["id"], with_for_update=True, populate_existing=True)
    if event is None or event.status is not EventStatus.SCHEDULED or event.start_at <= now:
        return 0
    going = list(
        await session.scalars(
            select(Rsvp.member_id).where(Rsvp.event_id == event.id, Rsvp.status == RsvpStatus.GOING)
        )
    )

    def note(t: Translator) -> tuple[Markup, tuple[tuple[Button, ...], ...]]:
        text = t(
            "⏰ Reminder: {title} ({id}) starts {when}.",
            title=event.title,
            id=code(event.id),
            when=when_text(event, t, now),
        )
        if event.venue:
            text += Markup("\n") + t("📍 {venue}", venue=event.venue)
        return text, buttons(t, event, check_in=is_event_day(event, now))

    if is_event_day(event, now):  # the post offers Check in from now on
        await refresh_posts(session, event, speech, now=now, live=False)
    return await tell(
        session,
        event,
        going,
        note,
        what=f"remind{payload.get('before', '')}",
        now=now,
        speech=speech,
    )


async def request_feedback(
    session: AsyncSession, event: Event, member_ids: Sequence[int], now: datetime, speech: Speech
) -> None:
    """Ask those who came to an event, by direct message, for a 1–5 rating and what to do next.

    Called once per event, when it ends, with those who checked in (or, if nobody did, those
    going). The polls close FEEDBACK_OPEN later and their results go to the organiser.
    """
    if not member_ids:
        return
    await polls.create_feedback_poll(
        session,
        title=event.title,
        council_id=event.council_id,
        organiser_member_id=event.organiser_id,
        member_ids=list(member_ids),
        zone=event.timezone,
        closes_at=now + FEEDBACK_OPEN,
        now=now,
        catalogs=speech.catalogs,
        default_language=speech.default_language,
    )


async def finish(
    session: AsyncSession, payload: dict[str, Any], now: datetime, speech: Speech
) -> list[int]:
    """Close an event that ended and ask for feedback (the scheduler's job); return who was asked."""
    event = await session.get(Event, payload["id"], with_for_update=True, populate_existing=True)
    if event is None or event.status is not EventStatus.SCHEDULED:
        return []
    event.status = EventStatus.DONE
    event.updated_at = now
    rows = list(
        await session.scalars(
            select(Rsvp).where(Rsvp.event_id == event.id, Rsvp.status == RsvpStatus.GOING)
        )
    )
    came = [r.member_id for r in rows if r.checked_in_at is not None]
    asked = came or [r.member_id for r in rows]
    await request_feedback(session, event, asked, now, speech)
    return asked


# --- Calendars -----------------------------------------------------------------------


def calendar_event(
    event: Event, *, url: str = "", alarm: timedelta | None = timedelta(hours=1)
) -> CalendarEvent:
    """Describe an event for calendar files: a stable UID, its zone, its series if any."""
    recurrence = None
    if event.series is not None:
        recurrence = Recurrence(
            uid=f"series-{event.series.id}@{UID_DOMAIN}",
            every="week" if event.series.every == "week" else "month",
            until=event.series.until,
            original_start=event.planned_start_at,
        )
    return CalendarEvent(
        uid=f"event-{event.id}@{UID_DOMAIN}",
        title=event.title,
        start=event.start_at,
        end=event.end_at,
        zone=event.timezone,
        description=event.description,
        location=event.venue,
        url=url,
        cancelled=event.status is EventStatus.CANCELLED,
        sequence=event.sequence,
        alarm=alarm,
        recurrence=recurrence,
        updated=event.updated_at,
    )


async def calendar_dates(session: AsyncSession, event: Event) -> list[Event]:
    """Return what an event's calendar file holds: it, or every sent date of its series."""
    if event.series_id is None:
        return [event]
    found = await session.scalars(
        select(Event)
        .where(Event.series_id == event.series_id, Event.status != EventStatus.DRAFT)
        .order_by(Event.start_at)
    )
    return list(found.unique()) or [event]


async def council_calendar_events(
    session: AsyncSession, council_slug: str, now: datetime
) -> list[CalendarEvent] | None:
    """Return a council's calendar feed: its upcoming events and cross-council ones (None: no
    such council). Cancelled ones stay in it, marked, so that subscribed calendars drop them."""
    wanted = councils.council_key(council_slug)
    council = await session.scalar(select(Council).where(Council.slug == wanted))
    if council is None:
        return None
    found = await session.scalars(
        select(Event)
        .where(
            Event.status.in_((EventStatus.SCHEDULED, EventStatus.CANCELLED, EventStatus.DONE)),
            Event.end_at > now - timedelta(days=30),
            Event.all_councils.is_(True) | Event.councils.any(Council.id == council.id),
        )
        .order_by(Event.start_at, Event.id)
    )
    return [calendar_event(e) for e in found.unique()]


# --- A member's data (core.features.MemberData of the events feature; issue 17) -----------

_ANSWERED = (RsvpStatus.GOING, RsvpStatus.WAITING, RsvpStatus.REQUESTED)


async def _answers_of(
    session: AsyncSession, member_id: int, *where: Any
) -> list[tuple[Event, Rsvp]]:
    rows = await session.execute(
        select(Event, Rsvp)
        .join(Rsvp, Rsvp.event_id == Event.id)
        .where(Rsvp.member_id == member_id, *where)
        .order_by(Event.start_at, Event.id)
    )
    return [(event, rsvp) for event, rsvp in rows.unique().all()]


async def home_sections(view: MemberView) -> list[HomeSection]:
    """Show the events the member goes to, waits for or asked to join, with their buttons."""
    t, now = view.t, view.now
    found = await _answers_of(
        view.session,
        view.member_id,
        Rsvp.status.in_(_ANSWERED),
        Event.status == EventStatus.SCHEDULED,
        Event.end_at > now,
    )
    if not found:
        return []
    lines, rows = [], []
    for event, rsvp in found:
        ident = code(event.id)
        if rsvp.status is RsvpStatus.GOING:
            state = t("going")
        elif rsvp.status is RsvpStatus.WAITING:
            state = t("waitlist, number {position}", position=await position(view.session, rsvp))
        else:
            state = t("asked the organiser")
        lines.append(
            t(
                "{title} ({id}), {when} — {state}",
                title=event.title,
                id=ident,
                when=when_text(event, t, now),
                state=state,
            )
        )
        row = [Button(label=t("Not going {id}", id=ident), command=f"/unrsvp {ident}")]
        here = rsvp.status is RsvpStatus.GOING and rsvp.checked_in_at is None
        if here and is_event_day(event, now):
            row.append(Button(label=t("Check in {id}", id=ident), command=f"/checkin {ident}"))
        rows.append(tuple(row))
    return [HomeSection(title=t("Your events"), lines=tuple(lines), buttons=tuple(rows))]


async def digest_sections(view: MemberView) -> list[HomeSection]:
    """List the coming week's events of the member's home council and cross-council ones."""
    member = await view.session.get(Member, view.member_id)
    home_id = member.home_council_id if member is not None else None
    reach = Event.all_councils.is_(True)
    if home_id is not None:
        reach = reach | Event.councils.any(Council.id == home_id) | (Event.council_id == home_id)
    found = await view.session.scalars(
        select(Event)
        .where(
            Event.status == EventStatus.SCHEDULED,
            Event.start_at >= view.now,
            Event.start_at < view.now + timedelta(days=7),
            reach,
        )
        .order_by(Event.start_at, Event.id)
    )
    events = list(found.unique())
    if not events:
        return []
    t = view.t
    lines = tuple(
        t("{title} ({id}), {when}", title=e.title, id=code(e.id), when=when_text(e, t, view.now))
        for e in events
    )
    return [HomeSection(title=t("Events this week"), lines=lines)]


async def member_calendar(
    session: AsyncSession, member_id: int, now: datetime
) -> list[CalendarEvent]:
    """Return the events the member answered Going (or waits for), for their private feed."""
    found = await _answers_of(
        session,
        member_id,
        Rsvp.status.in_(_ANSWERED),
        Event.status.in_((EventStatus.SCHEDULED, EventStatus.CANCELLED, EventStatus.DONE)),
        Event.end_at > now - timedelta(days=30),
    )
    return [calendar_event(event) for event, _rsvp in found]


async def export_answers(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the member's answers to events, and the events they organise."""
    answers = await _answers_of(session, member_id)
    organised = await session.scalars(
        select(Event).where(Event.organiser_id == member_id).order_by(Event.id)
    )
    return {
        "rsvps": [
            {
                "event": code(event.id),
                "title": event.title,
                "start": event.start_at.isoformat(),
                "status": rsvp.status.value,
                "guests": rsvp.guests,
                "checked_in_at": rsvp.checked_in_at.isoformat() if rsvp.checked_in_at else None,
                "answered_at": rsvp.created_at.isoformat(),
            }
            for event, rsvp in answers
        ],
        "organised": [
            {"event": code(e.id), "title": e.title, "start": e.start_at.isoformat()}
            for e in organised.unique()
        ],
    }


async def forget_answers(erasure: Erasure) -> None:
    """Erase the member's answers; a place they held at a coming event goes to the waitlist.

    Events they organise stay (without an organiser: coordinators of the council manage
    them); the lists of those going and the coordinators' CSVs no longer name them.
    """
    session, now = erasure.session, erasure.now
    speech = Speech(erasure.catalogs, erasure.default_language)
    answers = await _answers_of(session, erasure.member_id)
    for event, rsvp in answers:
        if event.status is EventStatus.SCHEDULED and event.end_at > now:
            locked = await _locked(session, event.id)
            held = rsvp.status is RsvpStatus.GOING
            if held:
                await _release(session, locked, rsvp.places)
            await session.delete(rsvp)
            await session.flush()
            if held:
                await promote(session, locked, now=now, speech=speech)
            await refresh_posts(session, locked, speech, now=now)
        elif erasure.stand_in_id is not None:
            rsvp.member_id = erasure.stand_in_id  # a past answer: counted, no longer theirs
        else:
            await session.delete(rsvp)
    await session.flush()
    calendars_changed(session)
