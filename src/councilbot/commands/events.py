"""Events: /events, /event, /newevent (preview, send), /rsvp, /unrsvp, /attendees, /cancelevent,
/editevent, /ical and /checkin.

`/newevent "<title>" <date> <start>-<end> [@ "<venue>"] [cap <n>] [--to ...]` answers with
the broadcast preview (Send / Edit / Cancel); Send posts it to its councils' chats and to
members subscribed to events, with Going / Not going / Add to calendar buttons. Ids name
their kind: `E12` (a plain number works too); `B34` is a desk booking.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Annotated, Any, Literal

from babel.dates import format_date, format_time
from markupsafe import Markup, escape
from pydantic import Field, model_validator

from councilbot.commands import broadcasts, desks
from councilbot.core import dates
from councilbot.core.errors import Forbidden, InvalidInput, NotFound
from councilbot.core.features import Feature, JobKind, JobRun, MemberData, Topic
from councilbot.core.formatting import format_when
from councilbot.core.grammar import (
    ArgModel,
    CommaList,
    Councils,
    Flag,
    LocalDate,
    LocalTime,
    TypedOnly,
)
from councilbot.core.i18n import N_
from councilbot.core.ids import parse_prefixed_id
from councilbot.core.messages import Attachment, Button, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.models import Council, Event, EventStatus, Member, RsvpStatus
from councilbot.services import access, councils, events
from councilbot.services import desks as desk_service
from councilbot.services.calendar import ics

EVENTS = N_("Events")
PAGE_SIZE = 5
# The magazine's paging labels: one look, one translation.
PREVIOUS = N_("◀ Previous")
NEXT = N_("Next ▶")
ONLY_THIS = N_("Only {id}")
THE_REST = N_("{id} and the rest of its series")
CANCEL_EVENT = N_("Cancel event")
KEEP_EVENT = N_("Keep")
COME_ALONE = N_("Come alone")
WAIT_FOR_ALL = N_("Wait with my guests")


def _speech(ctx: Context) -> events.Speech:
    return events.Speech(ctx.router.catalogs, ctx.settings.default_language)


def _id(text: str | None, which: str) -> int:
    return events.parse_id(text, which)


# --- Reading the words after the required ones: `@ "venue"`, `cap 20` -------------------


def _details(words: list[str]) -> tuple[str | None, int | None, list[str]]:
    """Take `@ "venue"` (or `@venue`) and `cap <n>` out of the words; return what is left."""
    venue: str | None = None
    cap: int | None = None
    rest: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word == "@" and i + 1 < len(words):
            venue, i = words[i + 1], i + 2
            continue
        if word.startswith("@") and len(word) > 1:
            venue, i = word[1:], i + 1
            continue
        if word.lower() in ("cap", "capacity") and i + 1 < len(words):
            if not words[i + 1].isdecimal():
                raise InvalidInput(
                    N_("“{value}” is not a number of places."), value=words[i + 1]
                ).about("cap")
            cap, i = int(words[i + 1]), i + 2
            continue
        rest.append(word)
        i += 1
    return venue, cap, rest


def _dashed(word: Any) -> Any:
    """Write a phone's dashes (`–`, `—`) as `-`."""
    return word.replace("–", "-").replace("—", "-") if isinstance(word, str) else word


def _split_range(values: Any) -> Any:
    """Read `14:00-16:00` (or `14:00 - 16:00`, `14:00–16:00`) given as the start into the
    start and the end; what followed goes back to the words after them."""
    if not isinstance(values, dict):
        return values
    start, end = _dashed(values.get("start")), _dashed(values.get("end"))
    more = list(values.get("more") or [])
    if isinstance(start, str) and "-" in start.strip("-"):  # `14:00-16:00`
        if isinstance(end, str):
            more.insert(0, end)
        start, _, end = start.partition("-")
    elif isinstance(start, str) and start.endswith("-") and isinstance(end, str):  # `14:00- 16:00`
        start = start[:-1]
    elif end == "-" and more:  # `14:00 - 16:00`
        end = more.pop(0)
    elif isinstance(end, str) and end.startswith("-"):  # `14:00 -16:00`
        end = end[1:]
    else:
        return values
    return {**values, "start": start.strip(), "end": end.strip(), "more": more}


class NewEventArgs(ArgModel):
    title: Annotated[str, Field(title=N_("title"), max_length=events.MAX_TITLE)]
    day: Annotated[LocalDate, Field(title=N_("date"))]
    start: Annotated[LocalTime, Field(title=N_("start"))]
    end: Annotated[LocalTime | None, Field(title=N_("end"))] = None
    more: Annotated[list[str], Field(title=N_("venue and places")), TypedOnly()] = []
    venue: Annotated[str | None, Field(title=N_("venue"), max_length=events.MAX_VENUE), Flag()] = (
        None
    )
    cap: Annotated[
        int | None, Field(title=N_("capacity"), ge=1, le=events.MAX_CAPACITY), Flag()
    ] = None
    to: Annotated[str | None, Field(title=N_("councils")), CommaList(), Councils(), Flag()] = None
    guests: Annotated[int | None, Field(title=N_("guests"), ge=0, le=10), Flag()] = None
    approval: Annotated[bool, Field(title=N_("approve each answer")), Flag()] = False
    every: Annotated[Literal["week", "month"] | None, Field(title=N_("repeat every")), Flag()] = (
        None
    )
    until: Annotated[LocalDate | None, Field(title=N_("until")), Flag()] = None
    yes: Annotated[bool, Field(title=N_("send without a preview")), Flag()] = False

    _split = model_validator(mode="before")(_split_range)


class IdArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None


class EventsArgs(ArgModel):
    council: Annotated[str | None, Field(title=N_("council"))] = None
    page: Annotated[int, Field(title=N_("page"), ge=1, le=10_000), Flag()] = 1


class RsvpArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None
    guests: Annotated[str | None, Field(title=N_("guests"))] = None
    wait: Annotated[bool, Field(title=N_("wait for places for all")), Flag()] = False


class DecideArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None
    member: Annotated[list[str], Field(title=N_("member"))] = []


class AttendeesArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None
    format: Annotated[Literal["csv"] | None, Field(title=N_("format"))] = None


class CancelArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None
    one: Annotated[bool, Field(title=N_("only this date")), Flag()] = False
    rest: Annotated[bool, Field(title=N_("this date and the rest of the series")), Flag()] = False
    yes: Annotated[bool, Field(title=N_("cancel without asking")), Flag()] = False
    keep: Annotated[bool, Field(title=N_("keep the event")), Flag()] = False


class EditArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None
    more: Annotated[list[str], Field(title=N_("changes"))] = []
    venue: Annotated[str | None, Field(title=N_("venue")), Flag()] = None
    cap: Annotated[
        int | None, Field(title=N_("capacity"), ge=1, le=events.MAX_CAPACITY), Flag()
    ] = None
    title: Annotated[str | None, Field(title=N_("title")), Flag()] = None
    one: Annotated[bool, Field(title=N_("only this date")), Flag()] = False
    rest: Annotated[bool, Field(title=N_("this date and the rest of the series")), Flag()] = False


# --- /events and /event --------------------------------------------------------------


async def list_events(ctx: Context, args: EventsArgs) -> Reply:
    """List upcoming events, soonest first, with the places left, a page at a time."""
    council: Council | None = None
    if args.council is None:
        council = ctx.council
    elif councils.council_key(args.council) != "all":
        council = await councils.get_council(ctx.session, args.council)
    offset = (args.page - 1) * PAGE_SIZE
    found, total = await events.upcoming(
        ctx.session, council, now=ctx.now, offset=offset, limit=PAGE_SIZE
    )
    t = ctx.t
    where = council.name if council is not None else t("all councils")
    if total == 0:
        return ctx.reply("No upcoming events for {where}.", where=where)
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    page = args.page
    if not found:  # a page past the last (events ended since the list was shown): the last
        page = pages
        found, total = await events.upcoming(
            ctx.session, council, now=ctx.now, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    lines = [t("<b>Upcoming events — {where}</b>", where=where)]
    tallies = await events.counts_of(ctx.session, found)
    for event in found:
        going = tallies[event.id]
        lines.append(
            t(
                "{id} · {when} · {title} · {places}",
                id=events.code(event.id),
                when=events.when_text(event, t, ctx.now),
                title=event.title,
                places=events.places_text(t, going),
            )
        )
    if pages > 1:
        lines.append(
            t(
                "Page {page} of {pages}. /event {id} shows one, with its buttons.",
                page=page,
                pages=pages,
                id=events.code(found[0].id),
            )
        )
    else:
        lines.append(t("/event {id} shows one, with its buttons.", id=events.code(found[0].id)))
    word = council.slug if council is not None else "all"
    row = []
    if page > 1:
        row.append(Button(label=t(PREVIOUS), command=f"/events {word} --page {page - 1}"))
    if page < pages:
        row.append(Button(label=t(NEXT), command=f"/events {word} --page {page + 1}"))
    return Reply(text=Markup("\n").join(lines), buttons=(tuple(row),) if row else ())


async def _status_line(ctx: Context, event: Event) -> Markup:
    row = await events.answer_of(ctx.session, event.id, ctx.member.id)
    t = ctx.t
    if row is None or row.status is RsvpStatus.LEFT:
        return t("You have not answered yet.")
    if row.status is RsvpStatus.GOING:
        line = (
            t.plural(
                "You are going, with {count} guest.",
                "You are going, with {count} guests.",
                row.guests,
            )
            if row.guests
            else t("You are going.")
        )
        if row.checked_in_at is not None:
            line += Markup(" ") + t("You checked in.")
        return line
    if row.status is RsvpStatus.WAITING:
        return t(
            "You are number {position} on the waitlist.",
            position=await events.position(ctx.session, row),
        )
    if row.status is RsvpStatus.REQUESTED:
        return t("You asked to come; the organiser has not answered yet.")
    return t("The organiser declined your request.")


async def show_event(ctx: Context, args: IdArgs) -> Reply:
    """Show an event: when and where, how many are going, your answer, and its buttons."""
    number = _id(args.id, N_("Which event? Give its id, e.g. /event E12; /events lists them."))
    event = await events.get_event(ctx.session, number)
    if event.status is EventStatus.DRAFT and event.organiser_id != ctx.member.id:
        raise events_not_found(number)
    t = ctx.t
    going = await events.counts(ctx.session, event)
    lines = [Markup(events.render(t, event, going, now=ctx.now))]
    if event.organiser_id is not None:
        organiser = await ctx.session.get(Member, event.organiser_id)
        if organiser is not None:
            lines.append(t("Organised by {name}.", name=organiser.display_name))
    over = event.status is EventStatus.DONE or (
        event.status is EventStatus.SCHEDULED and event.end_at <= ctx.now
    )
    if over:
        lines.append(t("{id} has ended.", id=events.code(event.id)))
    if event.guests_allowed and event.status is EventStatus.SCHEDULED and not over:
        lines.append(
            t.plural(
                "You may bring {count} guest: /rsvp {id} +1.",
                "You may bring up to {count} guests: /rsvp {id} +1.",
                event.guests_allowed,
                id=events.code(event.id),
            )
        )
    lines.append(await _status_line(ctx, event))
    shown: tuple[tuple[Button, ...], ...] = ()
    if event.status is EventStatus.SCHEDULED and event.end_at > ctx.now:
        row = await events.answer_of(ctx.session, event.id, ctx.member.id)
        to_check_in = (
            row is not None and row.status is RsvpStatus.GOING and row.checked_in_at is None
        )
        shown = events.buttons(
            t, event, check_in=to_check_in and events.is_event_day(event, ctx.now)
        )
    return Reply(text=Markup("\n").join(lines), buttons=shown)


def events_not_found(number: int) -> NotFound:
    return NotFound(N_("There is no event {id}."), id=events.code(number))


# --- /newevent -----------------------------------------------------------------------


async def _home_and_targets(ctx: Context, to: str | None) -> tuple[Council, list[Council], bool]:
    """Pick the event's own council (this chat's, else the one you coordinate) and its reach."""
    targets = await councils.get_councils(ctx.session, to) if to else []
    all_councils = to is not None and councils.council_key(to) == "all"
    admin = await access.is_admin(ctx.session, ctx.actor)
    mine = await access.coordinated_council_ids(ctx.session, ctx.member.id)
    home: Council | None = None
    if ctx.council is not None and (admin or ctx.council.id in mine):
        home = await ctx.session.get(Council, ctx.council.id)
    if home is None:
        candidates = (
            [c for c in targets if admin or c.id in mine] if targets and not all_councils else []
        )
        if not candidates:
            candidates = [c for c in await councils.list_councils(ctx.session) if c.id in mine]
        if len(candidates) == 1 or (candidates and not admin):
            home = candidates[0]
    if home is None:
        raise InvalidInput(
            N_(
                "Which council's event is it? Write it in that council's chat, or add --to and the council, e.g. --to cork."
            )
        ).about("to")
    await access.require_coordinator(ctx.session, ctx.actor, home)
    if all_councils:
        targets = await councils.list_councils(ctx.session)
    if not any(c.id == home.id for c in targets):
        targets.insert(0, home)
    return home, targets, all_councils


async def new_event(ctx: Context, args: NewEventArgs) -> Reply:
    """Preview a new event (or series) of your council; Send posts it with its RSVP buttons."""
    if args.end is None:
        raise InvalidInput(
            N_("Please give when it ends too, e.g. {start}-{example}."),
            start=args.start.strftime("%H:%M"),
            example=time((args.start.hour + 2) % 24, args.start.minute).strftime("%H:%M"),
        ).about("end")
    venue, cap, left = _details(list(args.more))
    if left:
        raise InvalidInput(
            N_('I didn\'t expect {words}. Put the venue after @ and in quotes: @ "Room 2".'),
            words=" ".join(left),
        )
    home, targets, all_councils = await _home_and_targets(ctx, args.to)
    plan = events.Plan(
        title=args.title,
        day=args.day,
        start=args.start,
        end=args.end,
        venue=args.venue or venue or "",
        capacity=args.cap if args.cap is not None else cap,
        guests=1 if args.guests is None else args.guests,
        approval=args.approval,
        every=args.every,
        until=args.until,
    )
    created = await events.create_drafts(
        ctx.session,
        actor=ctx.actor,
        home=home,
        targets=targets,
        all_councils=all_councils,
        plan=plan,
        now=ctx.now,
        lang=ctx.lang,
    )
    skipped = events.skipped_starts(events.occurrences(plan), plan.start, events.zone(home))
    shifted = _shift_notes(ctx, created, skipped)
    if plan.until is not None and len(created) == events.MAX_OCCURRENCES:
        following = (
            plan.day + timedelta(weeks=len(created))
            if plan.every == "week"
            else events._add_months(plan.day, len(created))
        )
        if following <= plan.until:  # the series was cut
            shifted.append(
                ctx.t(
                    "A series has at most {most} dates: this one stops on {last}, before "
                    "--until {until}.",
                    most=events.MAX_OCCURRENCES,
                    last=events.when_text(created[-1], ctx.t, ctx.now),
                    until=format_date(plan.until, "d MMM y", locale=ctx.lang),
                )
            )
    if args.yes:
        sent = await _send(ctx, created[0].id)
        return Reply(text=Markup("\n").join([sent.text, *shifted]), buttons=sent.buttons)
    return await _preview(ctx, created, shifted)


def _shift_notes(ctx: Context, created: list[Event], shifts: list[dates.Shift]) -> list[Markup]:
    """Say which dates' start a daylight-saving change skipped, and the hours they keep."""
    t = ctx.t
    by_day = {e.start_at.astimezone(events.zone(e)).date(): e for e in created}
    notes = []
    for shift in shifts:
        text = t(
            "{time} does not exist on {day} in {zone} (clocks go forward); I used {used}.",
            time=shift.wall.strftime("%H:%M"),
            day=format_date(shift.wall.date(), "d MMM", locale=t.lang),
            zone=str(shift.used.tzinfo),
            used=format_time(shift.used, "HH:mm '(UTC'xxx')'", locale=t.lang),
        )
        event = by_day.get(shift.used.date())
        if event is not None:
            text += Markup(" ") + t(
                "{id} keeps its length: {when}.",
                id=events.code(event.id),
                when=events.when_text(event, t, ctx.now),
            )
        notes.append(text)
    return notes


async def _preview(ctx: Context, created: list[Event], shifted: Sequence[Markup] = ()) -> Reply:
    event = created[0]
    reached = await events.audience(ctx.session, event, _speech(ctx))
    going = await events.counts(ctx.session, event)
    notes: list[Markup] = list(shifted)
    if len(created) > 1:
        t = ctx.t
        dates_shown = ", ".join(
            format_when(e.start_at, events.zone(e), ctx.lang, now=ctx.now) for e in created
        )
        notes.append(
            t.plural(
                "A series of {count} date: {dates}.",
                "A series of {count} dates: {dates}.",
                len(created),
                dates=dates_shown,
            )
        )
    return broadcasts.preview(
        ctx,
        command="newevent",
        item_id=event.id,
        summary=N_(
            "Preview of event E{id}: it goes to {chats} and {subscribers} in {places}, {when}. "
            "Nothing is sent until you press Send."
        ),
        # As the post will read (its dates carry their year), so that the preview matches it.
        rendered=events.render(ctx.t, event, going, now=None, occurrences=len(created)),
        reached=reached,
        councils=event.councils,
        at=None,
        zone=events.zone(event),
        notes=notes,
    )


async def _send(ctx: Context, number: int) -> Reply:
    published, reached = await events.send(
        ctx.session,
        ctx.actor,
        number,
        now=ctx.now,
        speech=_speech(ctx),
        reminders=ctx.settings.reminder_offsets,
    )
    t = ctx.t
    ident = events.code(published[0].id)
    head = t(
        "{id} is posted to {chats} and {subscribers}. /attendees {id} shows who is coming.",
        id=ident,
        chats=t.plural("{count} chat", "{count} chats", reached.chats),
        subscribers=t.plural("{count} subscriber", "{count} subscribers", reached.subscribers),
    )
    if len(published) > 1:
        head += Markup(" ") + t.plural(
            "The series has {count} date; each has its own answers.",
            "The series has {count} dates; each has its own answers.",
            len(published),
        )
    return Reply(text=head)


class SendArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("event"))] = None


async def newevent_send(ctx: Context, args: SendArgs) -> Reply:
    """Send a previewed event."""
    return await _send(ctx, _id(args.id, N_("Which event should I send? Give its id.")))


async def newevent_edit(ctx: Context, args: SendArgs) -> Reply:
    """Say how to change a previewed event before it is sent."""
    number = _id(args.id, N_("Which event? Give its id."))
    return ctx.reply(
        "Change the draft with /editevent {id} followed by what changes (a date, a time like "
        '18:00-20:00, @ "venue", cap 30): you get a new preview.',
        id=events.code(number),
    )


async def newevent_cancel(ctx: Context, args: SendArgs) -> Reply:
    """Drop a previewed event: nothing is sent."""
    number = _id(args.id, N_("Which event? Give its id."))
    event = await events.discard_draft(ctx.session, ctx.actor, number)
    return ctx.reply("{id} is dropped; nothing was sent.", id=events.code(event.id))


# --- /rsvp and /unrsvp ---------------------------------------------------------------


def _guests(text: str | None) -> int | None:
    if text is None:
        return None
    raw = text.strip()
    if raw.startswith("+") and raw[1:].isdecimal():
        return int(raw[1:])
    raise InvalidInput(
        N_("“{value}” is not a number of guests: write +1 to bring one colleague."), value=text
    ).about("guests")


async def rsvp(ctx: Context, args: RsvpArgs) -> Reply:
    """Answer Going (with +n guests): a place, or the waitlist; its organiser may approve it."""
    number = _id(args.id, N_("Which event? Give its id, e.g. /rsvp E12; /events lists them."))
    answer = await events.rsvp(
        ctx.session,
        number,
        ctx.member,
        guests=_guests(args.guests),
        now=ctx.now,
        speech=_speech(ctx),
        wait=args.wait,
    )
    t = ctx.t
    event, row = answer.event, answer.rsvp
    values = {
        "title": event.title,
        "id": events.code(event.id),
        "when": events.when_text(event, t, ctx.now),
    }
    if row is None:  # the guests do not fit, the member alone would: ask
        return _alone_offer(ctx, event, answer.alone, args.guests or "")
    if row.status is RsvpStatus.REQUESTED:
        text = t(
            "You asked to come to {title} ({id}); the organiser approves each answer. I will "
            "tell you theirs.",
            **values,
        )
    elif row.status is RsvpStatus.WAITING:
        text = t(
            "There is no place left for you at {title} ({id}): you are number {position} on the "
            "waitlist. I will tell you if a place opens up.",
            position=answer.position,
            **values,
        )
    elif row.guests:
        text = t.plural(
            "You are going to {title} ({id}), {when}, with {count} guest.",
            "You are going to {title} ({id}), {when}, with {count} guests.",
            row.guests,
            **values,
        )
    else:
        text = t("You are going to {title} ({id}), {when}.", **values)
    if not answer.changed:
        text = t("Already noted.") + Markup(" ") + text
    text += Markup(" ") + t("/unrsvp {id} if you can't come.", id=events.code(event.id))
    return Reply(text=text, private=True)


def _alone_offer(ctx: Context, event: Event, left: int, guests: str) -> Reply:
    """Offer the places left to a member whose guests do not fit: alone, or wait for all."""
    t = ctx.t
    ident = events.code(event.id)
    return Reply(
        text=t.plural(
            "{count} place left at {title} ({id}): not enough for your guests too. Come alone, "
            "or wait until there are places for all of you?",
            "{count} places left at {title} ({id}): not enough for your guests too. Come alone, "
            "or wait until there are places for all of you?",
            left,
            title=event.title,
            id=ident,
        ),
        buttons=(
            (
                Button(label=t(COME_ALONE), command=f"/rsvp {ident} +0", expires_at=event.end_at),
                Button(
                    label=t(WAIT_FOR_ALL),
                    command=f"/rsvp {ident} {guests} --wait",
                    expires_at=event.end_at,
                ),
            ),
        ),
        private=True,
    )


async def rsvp_decide(ctx: Context, args: DecideArgs, *, approve: bool) -> Reply:
    number = _id(args.id, N_("Which event? Give its id."))
    if not args.member:
        raise InvalidInput(
            N_("Whose request? Give their name as /attendees {id} shows it, @user or #n."),
            id=events.code(number),
        )
    member_id = await events.requester(
        ctx.session, number, " ".join(args.member), prefer=ctx.command.sender.platform
    )
    event, row = await events.decide(
        ctx.session,
        ctx.actor,
        number,
        member_id,
        approve=approve,
        now=ctx.now,
        speech=_speech(ctx),
    )
    name = row.member.display_name
    if not approve:
        return ctx.reply(
            "Declined: {name} will not come to {id}; they are told.",
            name=name,
            id=events.code(event.id),
        )
    if row.status is RsvpStatus.WAITING:
        return ctx.reply(
            "Approved: {name} is on the waitlist of {id} (it is full); they are told.",
            name=name,
            id=events.code(event.id),
        )
    return ctx.reply(
        "Approved: {name} is going to {id}; they are told.", name=name, id=events.code(event.id)
    )


async def rsvp_approve(ctx: Context, args: DecideArgs) -> Reply:
    """Approve a request to come (the organiser's and coordinators' button)."""
    return await rsvp_decide(ctx, args, approve=True)


async def rsvp_decline(ctx: Context, args: DecideArgs) -> Reply:
    """Decline a request to come."""
    return await rsvp_decide(ctx, args, approve=False)


async def unrsvp(ctx: Context, args: IdArgs) -> Reply:
    """Withdraw your answer (your guests too); the first on the waitlist gets the place."""
    number = _id(args.id, N_("Which event? Give its id, e.g. /unrsvp E12."))
    event, was = await events.unrsvp(
        ctx.session, number, ctx.member, now=ctx.now, speech=_speech(ctx)
    )
    ident = events.code(event.id)
    if was is None:
        return Reply(
            text=ctx.t("You were not going to {id}; nothing changed.", id=ident), private=True
        )
    if was is RsvpStatus.WAITING:
        return Reply(text=ctx.t("You left the waitlist of {id}.", id=ident), private=True)
    if was is RsvpStatus.REQUESTED:
        return Reply(text=ctx.t("Your request for {id} is withdrawn.", id=ident), private=True)
    return Reply(
        text=ctx.t(
            "You are no longer going to {id}. /rsvp {id} if you change your mind.", id=ident
        ),
        private=True,
    )


# --- /attendees ----------------------------------------------------------------------


async def attendees(ctx: Context, args: AttendeesArgs) -> Reply:
    """Show who is going (and who came), the waitlist and open requests; csv: as a file."""
    number = _id(args.id, N_("Which event? Give its id, e.g. /attendees E12."))
    event, rows = await events.answers(ctx.session, ctx.actor, number)
    t = ctx.t
    ident = events.code(event.id)
    if args.format == "csv":
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(["event", "name", "status", "guests", "waitlist", "checked_in_at"])
        place = 0
        for row in rows:
            place += row.status is RsvpStatus.WAITING
            writer.writerow(
                [
                    ident,
                    row.member.display_name,
                    row.status.value,
                    row.guests,
                    place if row.status is RsvpStatus.WAITING else "",
                    row.checked_in_at.isoformat() if row.checked_in_at else "",
                ]
            )
        data = out.getvalue().encode("utf-8")
        return Reply(
            text=t("Answers to {title} ({id}), as a CSV file.", title=event.title, id=ident),
            file=Attachment(filename=f"{ident}-attendees.csv", content_type="text/csv", data=data),
            private=True,
        )
    going = [r for r in rows if r.status is RsvpStatus.GOING]
    waiting = [r for r in rows if r.status is RsvpStatus.WAITING]
    asking = [r for r in rows if r.status is RsvpStatus.REQUESTED]
    came = sum(1 for r in going if r.checked_in_at is not None)
    lines = [
        t(
            "<b>{title} ({id})</b> — {when}",
            title=event.title,
            id=ident,
            when=events.when_text(event, t, ctx.now),
        )
    ]
    people = sum(r.places for r in going)
    head = t.plural("Going ({count}):", "Going ({count}):", people) + Markup(" ")
    if people != len(going):
        tally = events.Counts(len(going), people, 0, 0, event.capacity)
        head += events.breakdown(t, tally) + Markup(", ")
    lines.append(head + t.plural("{count} checked in.", "{count} checked in.", came))
    for row in going:
        line = Markup("• ") + escape(row.member.display_name)
        if row.guests:
            line += Markup(" ") + t.plural("(+{count} guest)", "(+{count} guests)", row.guests)
        if row.checked_in_at is not None:
            line += Markup(" ✅")
        lines.append(line)
    if waiting:
        lines.append(t.plural("Waitlist ({count}):", "Waitlist ({count}):", len(waiting)))
        for n, row in enumerate(waiting, 1):
            line = Markup(f"{n}. ") + escape(row.member.display_name)
            if row.guests:
                line += Markup(" ") + t.plural("(+{count} guest)", "(+{count} guests)", row.guests)
            lines.append(line)
    if asking:
        lines.append(
            t.plural("Asking to come ({count}):", "Asking to come ({count}):", len(asking))
        )
        for row in asking:
            lines.append(Markup("• ") + escape(row.member.display_name))
    shown = [
        b for r in asking for b in _decision_buttons(ctx, event, r.member_id, r.member.display_name)
    ]
    return Reply(
        text=Markup("\n").join(lines),
        buttons=tuple(tuple(shown[i : i + 2]) for i in range(0, len(shown), 2)),
        private=True,
    )


def _decision_buttons(ctx: Context, event: Event, member_id: int, name: str) -> list[Button]:
    ident = events.code(event.id)
    return [
        Button(
            label=f"{ctx.t(events.APPROVE)}: {name}",
            command=f"/rsvp approve {ident} {member_id}",
            expires_at=event.end_at,
        ),
        Button(
            label=f"{ctx.t(events.DECLINE)}: {name}",
            command=f"/rsvp decline {ident} {member_id}",
            expires_at=event.end_at,
        ),
    ]


# --- /cancelevent and /editevent -----------------------------------------------------


async def _which_dates(ctx: Context, event: Event, command: str) -> Reply:
    """Ask whether a change applies to one date of a series or to the rest of it."""
    ident = events.code(event.id)
    t = ctx.t
    typed = ctx.command.args.strip()
    return Reply(
        text=t(
            "{id} is one date of a series. Only this date, or this one and the rest of the series?",
            id=ident,
        ),
        buttons=(
            (
                Button(label=t(ONLY_THIS, id=ident), command=f"/{command} {typed} --one"),
                Button(label=t(THE_REST, id=ident), command=f"/{command} {typed} --rest"),
            ),
        ),
        private=True,
    )


async def cancel_event(ctx: Context, args: CancelArgs) -> Reply:
    """Cancel an event (a date of a series, or the rest of it); those going and waiting are told."""
    number = _id(args.id, N_("Which event should I cancel? Give its id, e.g. /cancelevent E12."))
    event = await events.get_event(ctx.session, number)
    if event.series_id is not None and not (args.one or args.rest):
        await events.require_may_change(ctx.session, ctx.actor, event)
        return await _which_dates(ctx, event, "cancelevent")
    if event.series_id is None and not args.yes:  # one event: ask first (--keep: the answer No)
        return await _ask_to_cancel(ctx, event, keep=args.keep)
    cancelled = await events.cancel(
        ctx.session,
        ctx.actor,
        number,
        rest=args.rest,
        now=ctx.now,
        speech=_speech(ctx),
        reminders=ctx.settings.reminder_offsets,
    )
    if len(cancelled) == 1:
        return ctx.reply(
            "{id} is cancelled; everyone going or waiting is told.", id=events.code(number)
        )
    return Reply(
        text=ctx.t.plural(
            "{id} is cancelled ({count} date); everyone going or waiting is told.",
            "{id} is cancelled ({count} dates); everyone going or waiting is told.",
            len(cancelled),
            id=events.code(number),
        )
    )


async def _ask_to_cancel(ctx: Context, event: Event, *, keep: bool) -> Reply:
    """Ask before cancelling an event, saying who will be told; or answer Keep."""
    await events.require_may_change(ctx.session, ctx.actor, event)
    t = ctx.t
    ident = events.code(event.id)
    events._require_open(event, ctx.now)
    if keep:
        return Reply(text=t("{id} stays on; nobody was told anything.", id=ident), private=True)
    tally = await events.counts(ctx.session, event)
    if tally.going or tally.waiting or tally.requested:
        told = t(
            "{going} and {waiting} will be told.",
            going=t.plural("{count} going", "{count} going", tally.going),
            waiting=t.plural("{count} waiting", "{count} waiting", tally.waiting + tally.requested),
        )
    else:
        told = t("Nobody has answered yet.")
    return Reply(
        text=t(
            "Cancel {title} ({id}), {when}? {told}",
            title=event.title,
            id=ident,
            when=events.when_text(event, t, ctx.now),
            told=told,
        ),
        buttons=(
            (
                Button(label=t(CANCEL_EVENT), command=f"/cancelevent {ident} --yes"),
                Button(label=t(KEEP_EVENT), command=f"/cancelevent {ident} --keep"),
            ),
        ),
        private=True,
    )


def _changes(ctx: Context, args: EditArgs) -> events.Changes:
    venue, cap, left = _details(list(args.more))
    day: date | None = None
    start: time | None = None
    end: time | None = None
    for word in left:
        try:
            start, end = dates.parse_time_range(word)
            continue
        except dates.DateParseError:
            pass
        try:
            day = dates.parse_date(word, today=ctx.today)
            continue
        except dates.DateParseError:
            pass
        try:  # a lone time: the new start, the same length
            start, end = dates.parse_time(word), None
            continue
        except dates.DateParseError:
            pass
        raise InvalidInput(
            N_('I can\'t read “{value}” as a date, a time like 18:00-20:00, @ "venue" or cap 30.'),
            value=word,
        )
    return events.Changes(
        day=day,
        start=start,
        end=end,
        venue=args.venue if args.venue is not None else venue,
        capacity=args.cap if args.cap is not None else cap,
        title=args.title,
    )


async def edit_event(ctx: Context, args: EditArgs) -> Reply:
    """Change an event's date, time, venue, title or capacity; those going and waiting are told."""
    number = _id(
        args.id, N_("Which event should I change? Give its id, e.g. /editevent E12 18:00-20:00.")
    )
    changes = _changes(ctx, args)
    event = await events.get_event(ctx.session, number)
    if event.status is EventStatus.DRAFT:
        return await _edit_draft(ctx, event, changes)
    if event.series_id is not None and not (args.one or args.rest):
        await events.require_may_change(ctx.session, ctx.actor, event)
        return await _which_dates(ctx, event, "editevent")
    t = ctx.t
    before = (event.title, event.venue, event.capacity, events.when_text(event, t, ctx.now))
    edited = await events.edit(
        ctx.session,
        ctx.actor,
        number,
        changes,
        rest=args.rest,
        now=ctx.now,
        speech=_speech(ctx),
        reminders=ctx.settings.reminder_offsets,
        lang=ctx.lang,
    )
    what, told = _what_changed(ctx, before, edited[0] if edited else event)
    ident = events.code(number)
    if len(edited) > 1:
        text = t.plural(
            "{id} is changed ({count} date): {what}.",
            "{id} is changed ({count} dates): {what}.",
            len(edited),
            id=ident,
            what=what,
        )
    else:
        text = t("{id} is changed: {what}.", id=ident, what=what)
    if told:
        text += Markup(" ") + t("Those going and waiting are told, with the updated calendar file.")
    return Reply(text=text)


def _what_changed(
    ctx: Context, before: tuple[str, str, int | None, str], event: Event
) -> tuple[Markup, bool]:
    """Say what an edit changed (`capacity 3 → 1; title: A → B`) and whether members are told."""
    t = ctx.t
    title, venue, capacity, when = before
    parts: list[Markup] = []
    now_when = events.when_text(event, t, ctx.now)
    if now_when != when:
        parts.append(t("time: {old} → {new}", old=when, new=now_when))
    if event.title != title:
        parts.append(t("title: {old} → {new}", old=title, new=event.title))
    if event.venue != venue:
        parts.append(
            t("venue: {old} → {new}", old=venue, new=event.venue)
            if venue
            else t("venue: {new}", new=event.venue)
        )
    told = bool(parts)  # a new time, title or venue is told; a capacity is not
    if event.capacity != capacity:
        parts.append(
            t("capacity {old} → {new}", old=capacity, new=event.capacity)
            if capacity is not None
            else t("capacity: no limit → {new}", new=event.capacity)
        )
    if not parts:
        return t("nothing is different"), False
    return Markup("; ").join(parts), told


async def _edit_draft(ctx: Context, event: Event, changes: events.Changes) -> Reply:
    """Change a draft and show its preview again."""
    if event.organiser_id != ctx.member.id:
        raise Forbidden(
            N_("Only the coordinator who wrote {id} can change it."), id=events.code(event.id)
        )
    drafts = [
        e for e in await events.series_of(ctx.session, event) if e.status is EventStatus.DRAFT
    ]
    tz = events.zone(event)
    shift = (changes.day - event.start_at.astimezone(tz).date()) if changes.day else None
    for item in drafts:
        local_start, local_end = item.start_at.astimezone(tz), item.end_at.astimezone(tz)
        day = local_start.date() + shift if shift is not None else local_start.date()
        end = changes.end
        if changes.start is not None and end is None:  # a new start keeps the length
            end = (datetime.combine(day, changes.start) + (item.end_at - item.start_at)).time()
        plan = events.Plan(
            title=changes.title or item.title,
            day=day,
            start=changes.start or local_start.time().replace(tzinfo=None),
            end=end or local_end.time().replace(tzinfo=None),
            venue=item.venue if changes.venue is None else changes.venue,
            capacity=changes.capacity if changes.capacity is not None else item.capacity,
        )
        events.check_plan(plan, tz, ctx.now, ctx.lang)
        item.title, item.venue, item.capacity = plan.title, plan.venue, plan.capacity
        item.start_at, item.end_at = events.span(plan.day, plan.start, plan.end, tz)
        item.updated_at = ctx.now
    return await _preview(ctx, drafts)


# --- /ical and /checkin --------------------------------------------------------------


async def ical(ctx: Context, args: IdArgs) -> Reply:
    """Send an event's calendar file (a series: every date), for any calendar app."""
    number = _id(args.id, N_("Which event? Give its id, e.g. /ical E12."))
    event = await events.get_event(ctx.session, number)
    if event.status is EventStatus.DRAFT and event.organiser_id != ctx.member.id:
        raise events_not_found(number)
    shown = await events.calendar_dates(ctx.session, event)
    data = ics([events.calendar_event(e) for e in shown], name=event.title)
    ident = events.code(event.id)
    return Reply(
        text=ctx.t(
            "The calendar file of {title} ({id}): open it to add it to your calendar.",
            title=event.title,
            id=ident,
        ),
        file=Attachment(filename=f"{ident}.ics", content_type=events.ICS_TYPE, data=data),
        private=True,
    )


async def checkin(ctx: Context, args: IdArgs) -> Reply:
    """Check in at an event on its day (E12) or at a booked desk (B34)."""
    raw = (args.id or "").strip().lstrip("#")
    if raw[:1] in "Bb" and raw[1:].isdecimal():  # a desk booking: the desks feature's
        booking = parse_prefixed_id(raw, "B", what=events.NOT_AN_ID)
        return await desks.check_in_booking(ctx, booking)
    number = _id(
        args.id, N_("Which event? Give its id, e.g. /checkin E12 (B34 for a desk booking).")
    )
    if raw.isdecimal():  # a plain number: whichever of the member's it names, or ask
        booked = await desk_service.holds_booking(ctx.session, ctx.member.id, number)
        answer = await events.answer_of(ctx.session, number, ctx.member.id) if booked else None
        if booked and (answer is None or answer.status is not RsvpStatus.GOING):
            return await desks.check_in_booking(ctx, number)
        if booked:
            return Reply(
                text=ctx.t(
                    "You are going to event E{id} and you booked desk B{id}: which one?", id=number
                ),
                buttons=(
                    (
                        Button(label=f"E{number}", command=f"/checkin E{number}"),
                        Button(label=f"B{number}", command=f"/checkin B{number}"),
                    ),
                ),
                private=True,
            )
    event, already = await events.check_in(
        ctx.session, number, ctx.member, now=ctx.now, lang=ctx.lang
    )
    ident = events.code(event.id)
    if already:
        return Reply(text=ctx.t("You had already checked in at {id}.", id=ident), private=True)
    return Reply(
        text=ctx.t("Welcome! You are checked in at {title} ({id}).", title=event.title, id=ident),
        private=True,
    )


# --- Jobs ----------------------------------------------------------------------------


async def remind_due(job: JobRun) -> None:
    """Remind those going to an event (24 hours and 1 hour before, by default)."""
    await events.remind(
        job.session, job.payload, job.now, events.Speech(job.catalogs, job.default_language)
    )


async def finish_due(job: JobRun) -> None:
    """Close an event that ended and ask those who came for feedback."""
    await events.finish(
        job.session, job.payload, job.now, events.Speech(job.catalogs, job.default_language)
    )


ID_USAGE = "<{event}>"

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "events",
        list_events,
        N_("List upcoming events with the places left."),
        EVENTS,
        EventsArgs,
        usage_text="/events [{council}|all]",
        personal=True,
    ),
    CommandSpec(
        "event",
        show_event,
        N_("Show an event, who is going and your answer, with its buttons."),
        EVENTS,
        IdArgs,
        usage_text="/event <{event}>",
        personal=True,
    ),
    CommandSpec(
        "newevent",
        new_event,
        N_("Create an event (or a series) and post it to its councils with RSVP buttons."),
        EVENTS,
        NewEventArgs,
        role=Role.COORDINATOR,
        form=True,
        usage_text=(
            '/newevent "<{title}>" <{date}> <{start}>-<{end}> [@ "<{venue}>"] [cap <{capacity}>] '
            "[--to <{councils}>|all] [--guests <n>] [--approval] [--every week|month] "
            "[--until <{date}>]"
        ),
        details=N_(
            "Times are in the council's time zone. First you see a preview with Send, Edit and "
            "Cancel. cap limits the places (a waitlist takes the rest); --to posts it to other "
            "councils too (partner meetings); --guests lets each member bring that many "
            "colleagues (default 1); --approval makes each answer a request you approve; --every "
            "week|month makes a series (10 dates, or until --until)."
        ),
        subcommands=(
            SubCommand(
                "send",
                newevent_send,
                N_("Send a previewed event."),
                SendArgs,
                usage_text="/newevent send <{event}>",
            ),
            SubCommand(
                "edit",
                newevent_edit,
                N_("Change a previewed event."),
                SendArgs,
                usage_text="/newevent edit <{event}>",
            ),
            SubCommand(
                "cancel",
                newevent_cancel,
                N_("Drop a previewed event."),
                SendArgs,
                usage_text="/newevent cancel <{event}>",
            ),
        ),
    ),
    CommandSpec(
        "rsvp",
        rsvp,
        N_("Say you are going to an event (+1: with a guest)."),
        EVENTS,
        RsvpArgs,
        usage_text="/rsvp <{event}> [+<n>]",
        personal=True,
        subcommands=(
            SubCommand(
                "approve",
                rsvp_approve,
                N_("Approve a request to come."),
                DecideArgs,
                role=Role.COORDINATOR,
                usage_text="/rsvp approve <{event}> <{member}>",
            ),
            SubCommand(
                "decline",
                rsvp_decline,
                N_("Decline a request to come."),
                DecideArgs,
                role=Role.COORDINATOR,
                usage_text="/rsvp decline <{event}> <{member}>",
            ),
        ),
    ),
    CommandSpec(
        "unrsvp",
        unrsvp,
        N_("Say you are not going after all (your guests too)."),
        EVENTS,
        IdArgs,
        usage_text="/unrsvp <{event}>",
        personal=True,
    ),
    CommandSpec(
        "attendees",
        attendees,
        N_("Show who is going, who came, the waitlist and requests (csv: as a file)."),
        EVENTS,
        AttendeesArgs,
        role=Role.COORDINATOR,
        usage_text="/attendees <{event}> [csv]",
        personal=True,
    ),
    CommandSpec(
        "cancelevent",
        cancel_event,
        N_("Cancel an event; everyone going and waiting is told."),
        EVENTS,
        CancelArgs,
        role=Role.COORDINATOR,
        usage_text="/cancelevent <{event}> [--one|--rest] [--yes]",
    ),
    CommandSpec(
        "editevent",
        edit_event,
        N_("Change an event's date, time, venue or capacity."),
        EVENTS,
        EditArgs,
        role=Role.COORDINATOR,
        usage_text='/editevent <{event}> [<{date}>] [<{start}>-<{end}>] [@ "<{venue}>"] [cap <{capacity}>] [--one|--rest]',
        details=N_(
            "Those going and waiting are told what changed, with the updated calendar file; a "
            "larger capacity gives places to the waitlist. For a date of a series, --one changes "
            "it alone and --rest it and the dates after it."
        ),
    ),
    CommandSpec(
        "ical",
        ical,
        N_("Get an event's calendar file."),
        EVENTS,
        IdArgs,
        usage_text="/ical <{event}>",
        personal=True,
    ),
    CommandSpec(
        "checkin",
        checkin,
        N_("Check in at an event on its day (E12); B34 names a desk booking."),
        EVENTS,
        IdArgs,
        usage_text="/checkin <{id}>",
        details=N_(
            "E12 is an event, B34 a desk booking; a plain number (12) checks in whichever of "
            "yours it names, and asks which when it could be both."
        ),
        personal=True,
    ),
)

FEATURE = Feature(
    "events",
    commands=COMMANDS,
    jobs=(
        JobKind(events.REMIND_JOB, run=remind_due),
        JobKind(events.FEEDBACK_JOB, run=finish_due, missed=finish_due),
    ),
    topic=Topic(events.TOPIC, N_("events")),
    # What /me, /mycalendar, /mydata, /forgetme and the weekly digest show and erase of it.
    member=MemberData(
        export=events.export_answers,
        forget=events.forget_answers,
        home=events.home_sections,
        digest=events.digest_sections,
        calendar=events.member_calendar,
    ),
)
