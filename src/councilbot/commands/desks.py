"""Hot desks: /facilities, /desks, /book, /mybookings, /cancelbooking, /checkin, /whosin,
/visibility and /occupancy.

Dates name the facility's own day: a date typed in a Cork chat about Istanbul's
facility is read in Istanbul ("tomorrow" is Istanbul's tomorrow), and every time shown
is the facility's, with its zone named. A refused booking says why and offers what is
possible instead, with buttons that book it. Booking ids name their kind: `B34`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from markupsafe import Markup
from pydantic import Field, create_model

from councilbot.core.errors import Forbidden, InvalidInput, NotFound
from councilbot.core.features import Choices, Feature, JobKind, JobRun, MemberData, Topic
from councilbot.core.formatting import format_when
from councilbot.core.grammar import (
    ArgModel,
    Councils,
    Flag,
    LocalDate,
    NoArgs,
    Picked,
    Rest,
    parse_args,
    parse_fields,
)
from councilbot.core.i18n import N_
from councilbot.core.messages import Attachment, Button, Reply
from councilbot.core.router import CommandSpec, Context, Role
from councilbot.db.models import Booking, BookingStatus, Facility, Member, Slot
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.services import access, broadcast, charts, councils, members
from councilbot.services import desks as service

DESKS = N_("Desks")
MAX_BUTTONS = 12  # Book buttons under /desks, Cancel/Check in pairs under /mybookings
KIND_LABELS = {
    "science_park": N_("science park"),
    "university": N_("university access point"),
    "coworking": N_("coworking space"),
}
STATUS_LABELS = {
    BookingStatus.BOOKED: N_("booked"),
    BookingStatus.CHECKED_IN: N_("checked in"),
    BookingStatus.CANCELLED: N_("cancelled"),
    BookingStatus.RELEASED: N_("released"),
}


class FacilitiesArgs(ArgModel):
    council: Annotated[str | None, Field(title=N_("council")), Councils()] = None


class FacilityDayArgs(ArgModel):
    facility: Annotated[str, Field(title=N_("facility")), Picked("facility")]
    date: Annotated[LocalDate | None, Field(title=N_("date"))] = None


# `--with` and `--for` are Python keywords: the model is built with them as field names.
BookArgs: type[ArgModel] = create_model(
    "BookArgs",
    __base__=ArgModel,
    target=(Annotated[str, Field(title=N_("facility or desk")), Picked("facility")], ...),
    date=(Annotated[LocalDate, Field(title=N_("date"))], ...),
    slot=(Annotated[Literal["am", "pm", "day"], Field(title=N_("slot"))], "day"),
    # 1 to 12, checked by /book itself so that the refusal says so.
    weekly=(Annotated[int | None, Field(title=N_("weeks")), Flag()], None),
    **{
        "with": (Annotated[str | None, Field(title=N_("feature"), max_length=40), Flag()], None),
        "for": (Annotated[str | None, Field(title=N_("user"), max_length=100), Flag()], None),
    },
)

CancelArgs: type[ArgModel] = create_model(
    "CancelArgs",
    __base__=ArgModel,
    id=(Annotated[str | None, Field(title=N_("id"))], None),
    series=(Annotated[bool, Field(title=N_("the rest of its series")), Flag()], False),
    yes=(Annotated[bool, Field(title=N_("without asking")), Flag()], False),
    **{
        "from": (Annotated[LocalDate | None, Field(title=N_("date")), Flag()], None),
        "to": (Annotated[LocalDate | None, Field(title=N_("date")), Flag()], None),
    },
)


MAX_WEEKS = 12  # the longest weekly series


class VisibilityArgs(ArgModel):
    state: Annotated[Literal["on", "off"] | None, Field(title=N_("on or off"))] = None
    organisation: Annotated[str | None, Field(title=N_("organisation"), max_length=200), Rest()] = (
        None
    )


class OccupancyArgs(ArgModel):
    facility: Annotated[str, Field(title=N_("facility")), Picked("facility")]
    week: Annotated[LocalDate | None, Field(title=N_("week"))] = None
    csv: Annotated[Literal["csv"] | None, Field(title=N_("csv"))] = None


# Helpers ------------------------------------------------------------------------------------


def _in_facility_zone(ctx: Context, model: type[ArgModel], facility: Facility) -> Any:
    """Read the command again with its dates in the facility's zone (its council's)."""
    zone = service.zone_of(facility)
    context = {"today": service.local_today(facility, ctx.now), "now": ctx.now, "tz": zone}
    if ctx.command.fields is not None:
        return parse_fields(model, ctx.command.fields, context)
    return parse_args(model, ctx.command.args, context)


def _day(ctx: Context, booking_day: date) -> str:
    return service.format_day(ctx.t, booking_day)


def _offer_label(ctx: Context, offer: service.Offer) -> str:
    return ctx.t(
        "{day}, {slot} at {facility}",
        day=_day(ctx, offer.day),
        slot=service.slot_label(ctx.t, offer.slot),
        facility=offer.facility.name,
    )


def _refusal(ctx: Context, refused: service.Refused, extra: str = "") -> Reply:
    """Say why a booking was refused and offer what is possible instead, with Book buttons.

    `extra`: options the offered commands keep (`--for @ann`), so that a button books for
    the same member.
    """
    reason = refused.render(ctx.t)
    lines = [reason]
    buttons = []
    for offer in refused.offers:
        command = offer.command + extra
        lines.append(
            ctx.t(
                "Free instead: {offer} (<code>{command}</code>)",
                offer=_offer_label(ctx, offer),
                command=command,
            )
        )
        buttons.append(
            (
                Button(
                    label=ctx.t("Book {offer}", offer=_offer_label(ctx, offer)),
                    command=command,
                ),
            )
        )
    if not refused.offers and refused.looked:
        lines.append(ctx.t("I found no free desk nearby in time; /facilities lists other places."))
    # The alternatives belong to the reason: a Slack form that stays open shows them too.
    text = Markup("\n").join(lines)
    return Reply(text=text, buttons=tuple(buttons), error=text)


def _deadline_text(ctx: Context, booking: Booking) -> str:
    facility = booking.desk.facility
    deadline = service.deadline_of(facility, booking.day, booking.slot)
    return format_when(deadline, service.zone_of(facility), ctx.lang, now=ctx.now)


def _booking_buttons(ctx: Context, booking: Booking) -> tuple[Button, ...]:
    """Return Cancel, and Check in when it is the booking's day."""
    facility = booking.desk.facility
    row = [
        Button(label=ctx.t("Cancel B{id}", id=booking.id), command=f"/cancelbooking B{booking.id}")
    ]
    if booking.status is BookingStatus.BOOKED and booking.day == service.local_today(
        facility, ctx.now
    ):
        row.append(
            Button(label=ctx.t("Check in B{id}", id=booking.id), command=f"/checkin B{booking.id}")
        )
    return tuple(row)


# /facilities ---------------------------------------------------------------------------------


async def facilities(ctx: Context, args: FacilitiesArgs) -> Reply:
    """List the facilities open to every council's members, with their desks."""
    council = await councils.get_council(ctx.session, args.council) if args.council else None
    found = await service.list_facilities(ctx.session, council)
    if not found:
        if council is not None:
            return ctx.reply(
                "{council} has no facility with hot desks yet; /facilities lists every council's.",
                council=council.name,
            )
        raise NotFound(
            N_(
                "There are no facilities yet: whoever runs the bot loads them with <code>councilbot seed</code>."
            )
        )
    lines = [ctx.t("<b>Hot desks</b>, open to members of every council:")]
    buttons = []
    for facility in found:
        count = len(await service.desks_of(ctx.session, facility))
        lines.append(
            ctx.t(
                "• <b>{name}</b> ({slug}), {kind} in {city} · {desks} · {address}",
                name=facility.name,
                slug=facility.slug,
                kind=ctx.t(KIND_LABELS[facility.kind.value]),
                city=facility.council.city,
                desks=ctx.t.plural("{count} desk", "{count} desks", count),
                address=facility.address,
            )
        )
        if len(buttons) < MAX_BUTTONS:
            # Today when it can be booked, else the nearest open day.
            today = service.local_today(facility, ctx.now)
            nearest = service.nearest_open_day(facility, today, now=ctx.now)
            command = f"/desks {facility.slug}"
            if nearest is not None and nearest != today:
                command += f" {nearest.isoformat()}"
            buttons.append(Button(label=facility.slug, command=command))
    lines.append(
        ctx.t(
            "/desks &lt;{facility}&gt; [{date}] shows what is free; /book books a desk.",
            facility=ctx.t("facility"),
            date=ctx.t("date"),
        )
    )
    rows = tuple(tuple(buttons[i : i + 2]) for i in range(0, len(buttons), 2))
    return Reply(text="\n".join(lines), buttons=rows)


# /desks --------------------------------------------------------------------------------------


async def desks(ctx: Context, args: FacilityDayArgs) -> Reply:
    """Show each desk's free slots on a day at a facility, with Book buttons.

    A day that cannot be booked (closed, a holiday, past, beyond the horizon) shows why,
    no free desk, and a button to the nearest open day.
    """
    facility, _desk = await service.find_target(ctx.session, args.facility)
    args = _in_facility_zone(ctx, FacilityDayArgs, facility)
    day = args.date or service.local_today(facility, ctx.now)
    rules = service.rules_of(facility)
    all_desks = await service.desks_of(ctx.session, facility)
    taken = await service.taken_halves(ctx.session, [d.id for d in all_desks], [day])
    coordinator = await access.can_coordinate(ctx.session, ctx.actor, facility.council)
    who: dict[int, list[tuple[Booking, Member]]] = {}
    if coordinator:
        for booking, member in await service.bookings_on(ctx.session, facility, day):
            who.setdefault(booking.desk_id, []).append((booking, member))
    lines = [ctx.t("<b>{facility}</b>, {day}:", facility=facility.name, day=_day(ctx, day))]
    closed = service.closed_reasons(facility, day, now=ctx.now)
    values = service._values(facility, day, Slot.DAY, ctx.now)
    for reason in closed:
        lines.append(service.Refused(reason, **values).render(ctx.t))
    buttons = []
    for desk in all_desks:
        held = taken.get((desk.id, day), set())
        free = None if closed else service.free_slot(held)
        if free is not None and not service.bookable_until(facility, day, free, ctx.now):
            # Today after the morning's check-in deadline: only an afternoon is left.
            late_pm = "pm" not in held and service.bookable_until(facility, day, Slot.PM, ctx.now)
            free = Slot.PM if late_pm else None
        bookings = who.get(desk.id, [])
        if closed and not bookings:
            continue
        features = f" ({', '.join(desk.features)})" if desk.features else ""
        parts = []
        if free is Slot.DAY:
            parts.append(ctx.t("free all day"))
        elif free is not None:
            parts.append(ctx.t("free in the {slot}", slot=service.slot_label(ctx.t, free)))
        elif not bookings:
            parts.append(ctx.t("booked"))
        for booking, member in bookings:
            if booking.status is BookingStatus.CHECKED_IN:
                parts.append(
                    ctx.t(
                        "{name}, {slot} (B{id}, checked in)",
                        name=member.display_name,
                        slot=service.slot_label(ctx.t, booking.slot),
                        id=booking.id,
                    )
                )
            else:
                parts.append(
                    ctx.t(
                        "{name}, {slot} (B{id})",
                        name=member.display_name,
                        slot=service.slot_label(ctx.t, booking.slot),
                        id=booking.id,
                    )
                )
        state = Markup(" · ").join(parts)
        lines.append(
            ctx.t("• {desk}{features}: {state}", desk=desk.code, features=features, state=state)
        )
        if (
            free is not None
            and len(buttons) < MAX_BUTTONS
            and service.bookable_until(facility, day, free, ctx.now)
        ):
            buttons.append(
                Button(
                    label=ctx.t(
                        "Book {desk} ({slot})",
                        desk=desk.code,
                        slot=service.slot_label(ctx.t, free),
                    ),
                    command=f"/book {facility.slug}/{desk.code} {day.isoformat()} {free.value}",
                )
            )
    rows = [tuple(buttons[i : i + 3]) for i in range(0, len(buttons), 3)]
    if closed:
        nearest = service.nearest_open_day(facility, day, now=ctx.now)
        if nearest is not None:
            lines.append(ctx.t("Nearest open day: {day}.", day=_day(ctx, nearest)))
            rows.append(
                (
                    Button(
                        label=ctx.t("Desks on {day}", day=_day(ctx, nearest)),
                        command=f"/desks {facility.slug} {nearest.isoformat()}",
                    ),
                )
            )

    lines.append(
        ctx.t(
            "Open {days}, {opens}–{closes}; check in by {am} (morning, whole day) or {pm} (afternoon).",
            days=service.OpenDays(rules.open_days).names(ctx.t),
            opens=rules.opens.strftime("%H:%M"),
            closes=service.clock(facility, day, rules.closes),
            am=service.clock(facility, day, rules.checkin_am),
            pm=service.clock(facility, day, rules.checkin_pm),
        )
    )
    return Reply(text="\n".join(lines), buttons=tuple(rows))


# /book ---------------------------------------------------------------------------------------


async def book(ctx: Context, args: Any) -> Reply:
    """Book a desk, or any free desk of a facility, for a morning, an afternoon or a day."""
    facility, desk = await service.find_target(ctx.session, args.target)
    args = _in_facility_zone(ctx, BookArgs, facility)
    slot = Slot(args.slot)
    features = [getattr(args, "with")] if getattr(args, "with") else []
    member_id, booked_by, for_member = ctx.member.id, None, None
    if getattr(args, "for"):
        for_member = await _for_whom(ctx, facility, getattr(args, "for"))
        if for_member is not None:
            member_id, booked_by = for_member.id, ctx.member.id
    extra = (
        f" --for {_for_reference(for_member, getattr(args, 'for'))}"
        if for_member is not None
        else ""
    )
    if desk is not None and features and not args.weekly:
        lacking = [f for f in features if f.lower() not in [x.lower() for x in desk.features]]
        other = (
            await service.free_desk_with(ctx.session, facility, args.date, slot, lacking)
            if lacking and service.check_rules(facility, args.date, slot, now=ctx.now) is None
            else None
        )
        if other is not None:
            # Which matters more, the desk named or the feature? Ask, booking nothing yet.
            day = args.date.isoformat()
            same = f"/book {facility.slug}/{desk.code} {day} {slot.value}{extra}"
            instead = f"/book {facility.slug}/{other.code} {day} {slot.value}{extra}"
            return Reply(
                text=ctx.t(
                    "Desk {desk} has no {feature}; {other} has and is free then. Which one?",
                    desk=desk.code,
                    feature=", ".join(lacking),
                    other=other.code,
                ),
                buttons=(
                    (
                        Button(label=ctx.t("Book {desk}", desk=other.code), command=instead),
                        Button(label=ctx.t("Book {desk}", desk=desk.code), command=same),
                    ),
                ),
            )
    if args.weekly is not None and not 1 <= args.weekly <= MAX_WEEKS:
        raise InvalidInput(
            N_("--weekly takes 1 to {most} weeks, e.g. /book {facility} monday --weekly 4."),
            most=MAX_WEEKS,
            facility=facility.slug,
        ).about("weekly")
    if args.weekly:
        return await _book_weekly(
            ctx, args, facility, desk, slot, features, member_id, booked_by, for_member
        )
    try:
        booked = await service.book(
            ctx.session,
            member_id=member_id,
            facility=facility,
            desk=desk,
            day=args.date,
            slot=slot,
            now=ctx.now,
            features=features,
            booked_by_id=booked_by,
            member_name=for_member.display_name if for_member is not None else None,
        )
    except service.Refused as refused:
        return _refusal(ctx, refused, extra)
    booking = booked.booking
    lines = []
    if for_member is not None:
        lines.append(
            ctx.t(
                "✅ Booked B{id} for {name}: {booking}. I told them; it counts in their weekly limit.",
                id=booking.id,
                name=for_member.display_name,
                booking=service.describe(ctx.t, booking),
            )
        )
        await _tell_booked_for(ctx, booking)
    else:
        lines.append(
            ctx.t(
                "✅ Booked B{id}: {booking}.",
                id=booking.id,
                booking=service.describe(ctx.t, booking),
            )
        )
    buttons = [_booking_buttons(ctx, booking)]
    if booked.preferred_missing:
        feature = ", ".join(booked.preferred_missing)
        if desk is not None:
            lines.append(
                ctx.t(
                    "Desk {desk} has no {feature}, and no free desk there has.",
                    desk=desk.code,
                    feature=feature,
                )
            )
        elif not set(booked.preferred_missing) & set(booked.features_here):
            lines.append(
                ctx.t(
                    "No desk at {facility} has {feature}; its desks have: {features}.",
                    facility=facility.name,
                    feature=feature,
                    features=", ".join(booked.features_here) or "—",
                )
            )
        else:
            lines.append(
                ctx.t(
                    "No free desk there has {feature}; this one was the best left.",
                    feature=feature,
                )
            )
    lines.append(
        ctx.t(
            "Check in there by {deadline} (/checkin B{id}), or the desk is released for others.",
            deadline=_deadline_text(ctx, booking),
            id=booking.id,
        )
    )
    return Reply(text="\n".join(lines), buttons=tuple(buttons))


async def _for_whom(ctx: Context, facility: Facility, reference: str) -> Member | None:
    """Read `--for`: the member booked for, or None when it names the one booking (a plain
    booking). Only coordinators of the facility's council book for someone else."""
    coordinator = await access.can_coordinate(ctx.session, ctx.actor, facility.council)
    refused = Forbidden(
        N_("Only coordinators of {council} can book {facility} for someone else."),
        council=facility.council.name,
        facility=facility.name,
    ).about("for")
    try:
        member = await members.find_member(
            ctx.session, reference, prefer=ctx.command.sender.platform
        )
    except NotFound:
        if not coordinator:
            raise refused from None
        raise
    if member.id == ctx.member.id:
        return None
    if not coordinator:
        raise refused
    return member


def _for_reference(member: Member, typed: str) -> str:
    """Name a member in a command the way /book --for reads it again: as typed, or `#12`."""
    typed = typed.strip()
    return typed if typed and not any(c.isspace() for c in typed) else f"#{member.id}"


async def _tell_booked_for(ctx: Context, booking: Booking) -> None:
    """Tell a member, by direct message, that a coordinator booked a desk for them."""
    facility = booking.desk.facility
    recipients = await broadcast.direct(
        ctx.session,
        [booking.member_id],
        zone=service.zone_of(facility),
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    envelopes = []
    for recipient in recipients:
        t = recipient.t
        deadline = service.deadline_of(facility, booking.day, booking.slot)
        text = t(
            "🪑 {name} booked {booking} for you (B{id}). Check in by {deadline}. It counts in "
            "your weekly limit; /cancelbooking B{id} cancels it if you cannot come.",
            name=ctx.member.display_name,
            booking=service.describe(t, booking),
            id=booking.id,
            deadline=format_when(deadline, recipient.tz, t.lang, now=ctx.now),
        )
        cancel = Button(
            label=t("Cancel B{id}", id=booking.id), command=f"/cancelbooking B{booking.id}"
        )
        envelopes.append(
            Envelope(
                key=f"{service.SOURCE}:for:{booking.id}:{recipient.chat}",
                message=recipient.message(text, ((cancel,),)),
                source=service.SOURCE,
                source_id=booking.id,
                member_id=recipient.member_id,
            )
        )
    await outbox.enqueue(ctx.session, envelopes, now=ctx.now)


async def _book_weekly(
    ctx: Context,
    args: Any,
    facility: Facility,
    desk: Any,
    slot: Slot,
    features: list[str],
    member_id: int,
    booked_by: int | None,
    for_member: Member | None,
) -> Reply:
    """Book the same slot for the next n weeks; say which dates succeeded and why others did not."""
    lines = [
        ctx.t(
            "Weekly booking at {facility}, {slot}, for {weeks}:",
            facility=facility.name,
            slot=service.slot_label(ctx.t, slot),
            weeks=ctx.t.plural("{count} week", "{count} weeks", args.weekly),
        )
    ]
    series: int | None = None
    made: list[Booking] = []
    from datetime import timedelta

    for week in range(args.weekly):
        day = args.date + timedelta(days=7 * week)
        try:
            booked = await service.book(
                ctx.session,
                member_id=member_id,
                facility=facility,
                desk=desk,
                day=day,
                slot=slot,
                now=ctx.now,
                features=features,
                booked_by_id=booked_by,
                series_id=series,
                member_name=for_member.display_name if for_member is not None else None,
            )
        except service.Refused as refused:
            lines.append(
                ctx.t("✗ {day}: {reason}", day=_day(ctx, day), reason=refused.render(ctx.t))
            )
            continue
        booking = booked.booking
        if series is None:
            series = booking.id
            booking.series_id = series
        made.append(booking)
        lines.append(
            ctx.t(
                "✓ {day}: desk {desk} (B{id})",
                day=_day(ctx, day),
                desk=booking.desk.code,
                id=booking.id,
            )
        )
    if made:
        lines.append(
            ctx.t(
                "/cancelbooking B{id} --series cancels a booking and the rest of its series.",
                id=made[0].id,
            )
        )
        if for_member is not None:
            for booking in made:
                await _tell_booked_for(ctx, booking)
    else:
        lines.append(ctx.t("Nothing was booked."))
    buttons = (
        (
            (
                Button(
                    label=ctx.t("Cancel the series"),
                    command=f"/cancelbooking B{made[0].id} --series",
                ),
            ),
        )
        if made
        else ()
    )
    return Reply(text="\n".join(lines), buttons=buttons)


# /mybookings ----------------------------------------------------------------------------------


async def mybookings(ctx: Context, _args: NoArgs) -> Reply:
    """List your upcoming bookings, with Cancel and Check in buttons."""
    found = await service.upcoming(ctx.session, ctx.member.id, now=ctx.now)
    if not found:
        return ctx.reply(
            "You have no upcoming desk booking. /facilities lists where you can book one."
        )
    lines = [ctx.t("<b>Your desk bookings</b>")]
    rows = []
    for booking in found:
        line = ctx.t(
            "B{id} · {booking} · {status}",
            id=booking.id,
            booking=service.describe(ctx.t, booking),
            status=ctx.t(STATUS_LABELS[booking.status]),
        )
        if booking.series_id is not None:
            line += Markup(" · ") + ctx.t("weekly")
        lines.append(line)
        if len(rows) < MAX_BUTTONS // 2:
            rows.append(_booking_buttons(ctx, booking))
    return Reply(text="\n".join(lines), buttons=tuple(rows), private=True)


# /cancelbooking --------------------------------------------------------------------------------


def _confirm_cancel(ctx: Context, targets: list[Booking], heading: str, command: str) -> Reply:
    """Ask before cancelling several bookings at once: Cancel N bookings / Keep them."""
    lines = [heading]
    lines += [
        ctx.t("• B{id}: {booking}", id=b.id, booking=service.describe(ctx.t, b)) for b in targets
    ]
    buttons = (
        (
            Button(
                label=ctx.t.plural(
                    "Cancel {count} booking", "Cancel {count} bookings", len(targets)
                ),
                command=f"{command} --yes",
            ),
            Button(label=ctx.t("Keep them"), command="/mybookings"),
        ),
    )
    return Reply(text="\n".join(lines), buttons=buttons)


async def cancelbooking(ctx: Context, args: Any) -> Reply:
    """Cancel a booking (--series: the rest of its series), or every one of yours in a range.

    Several bookings at once are listed first, with Cancel N bookings / Keep them buttons
    (`--yes` cancels without asking).
    """
    first, last = getattr(args, "from"), args.to
    if first is not None or last is not None:
        if args.id is not None or first is None or last is None:
            raise InvalidInput(
                N_(
                    "Give both --from and --to, and no booking id: /cancelbooking --from 2026-12-21 --to 2026-12-31."
                )
            )
        targets = await service.in_range(ctx.session, ctx.member.id, first, last, now=ctx.now)
        if not targets:
            return ctx.reply(
                "You have no booking from {first} to {last}; nothing was cancelled.",
                first=_day(ctx, first),
                last=_day(ctx, last),
            )
        if len(targets) > 1 and not args.yes:
            return _confirm_cancel(
                ctx,
                targets,
                ctx.t.plural(
                    "Cancel {count} booking from {first} to {last}?",
                    "Cancel these {count} bookings from {first} to {last}?",
                    len(targets),
                    first=_day(ctx, first),
                    last=_day(ctx, last),
                ),
                f"/cancelbooking --from {first.isoformat()} --to {last.isoformat()}",
            )
        done = await service.end_all(ctx.session, targets, now=ctx.now)
        lines = [
            ctx.t.plural(
                "Cancelled {count} booking from {first} to {last}:",
                "Cancelled {count} bookings from {first} to {last}:",
                len(done),
                first=_day(ctx, first),
                last=_day(ctx, last),
            )
        ]
        lines += [
            ctx.t("• B{id}: {booking}", id=b.id, booking=service.describe(ctx.t, b)) for b in done
        ]
        return Reply(text="\n".join(lines))
    if args.id is None:
        raise InvalidInput(
            N_(
                "Which booking should I cancel? Give its id, e.g. /cancelbooking B12; /mybookings lists yours."
            )
        ).about("id")
    number = service.parse_booking_id(args.id)
    targets = await service.to_cancel(
        ctx.session, ctx.actor, number, now=ctx.now, series=args.series
    )
    if len(targets) > 1 and not args.yes:
        return _confirm_cancel(
            ctx,
            targets,
            ctx.t.plural(
                "Cancel {count} booking of the series?",
                "Cancel these {count} bookings of the series?",
                len(targets),
            ),
            f"/cancelbooking B{number} --series",
        )
    done = await service.end_all(ctx.session, targets, now=ctx.now)
    for booking in done:
        if booking.member_id != ctx.member.id:
            await _tell_cancelled(ctx, booking)
    if len(done) == 1:
        booking = done[0]
        return ctx.reply(
            "Cancelled B{id}: {booking}. The desk is free for others.",
            id=booking.id,
            booking=service.describe(ctx.t, booking),
        )
    lines = [
        ctx.t.plural(
            "Cancelled {count} booking of the series:",
            "Cancelled {count} bookings of the series:",
            len(done),
        )
    ]
    lines += [
        ctx.t("• B{id}: {booking}", id=b.id, booking=service.describe(ctx.t, b)) for b in done
    ]
    return Reply(text="\n".join(lines))


async def _tell_cancelled(ctx: Context, booking: Booking) -> None:
    """Tell a member that someone else (a coordinator) cancelled their booking."""
    recipients = await broadcast.direct(
        ctx.session,
        [booking.member_id],
        zone=service.zone_of(booking.desk.facility),
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    envelopes = [
        Envelope(
            key=f"{service.SOURCE}:cancelled:{booking.id}:{r.chat}",
            message=r.message(
                r.t(
                    "{name} cancelled your booking B{id}: {booking}.",
                    name=ctx.member.display_name,
                    id=booking.id,
                    booking=service.describe(r.t, booking),
                )
            ),
            source=service.SOURCE,
            source_id=booking.id,
            member_id=r.member_id,
        )
        for r in recipients
    ]
    await outbox.enqueue(ctx.session, envelopes, now=ctx.now)


# /checkin -------------------------------------------------------------------------------------


async def check_in_booking(ctx: Context, booking_id: int) -> Reply:
    """Check in to desk booking B<id>: /checkin (the events feature's command) sends B-ids here."""
    booking = await service.check_in(ctx.session, ctx.actor, booking_id, now=ctx.now)
    return ctx.reply(
        "✅ Checked in to {booking} (B{id}). Have a good day there!",
        booking=service.describe(ctx.t, booking),
        id=booking.id,
    )


# /whosin and /visibility ----------------------------------------------------------------------


async def whosin(ctx: Context, args: FacilityDayArgs) -> Reply:
    """List who is booked at a facility on a day (those who chose to be visible)."""
    facility, _desk = await service.find_target(ctx.session, args.facility)
    args = _in_facility_zone(ctx, FacilityDayArgs, facility)
    day = args.date or service.local_today(facility, ctx.now)
    shown, hidden = await service.who_is_in(ctx.session, facility, day)
    lines = [
        ctx.t("<b>Who's in at {facility}</b>, {day}:", facility=facility.name, day=_day(ctx, day))
    ]
    for booking, member, organisation in shown:
        if organisation:
            lines.append(
                ctx.t(
                    "• {name}, {organisation} (desk {desk}, {slot})",
                    name=member.display_name,
                    organisation=organisation,
                    desk=booking.desk.code,
                    slot=service.slot_label(ctx.t, booking.slot),
                )
            )
        else:  # no organisation given and no home council
            lines.append(
                ctx.t(
                    "• {name} (desk {desk}, {slot})",
                    name=member.display_name,
                    desk=booking.desk.code,
                    slot=service.slot_label(ctx.t, booking.slot),
                )
            )
    if not shown and not hidden:
        lines.append(ctx.t("Nobody has booked yet."))
    if hidden:
        lines.append(
            ctx.t.plural(
                "{count} more person booked there keeps to themselves.",
                "{count} more people booked there keep to themselves.",
                hidden,
            )
        )
    visible, _organisation = await service.visibility_of(ctx.session, ctx.member.id)
    if not visible:
        lines.append(ctx.t("/visibility on lists you too when you book."))
    return Reply(text="\n".join(lines))


async def visibility(ctx: Context, args: VisibilityArgs) -> Reply:
    """Choose whether /whosin lists you at the facilities you book (off by default)."""
    if args.state is None:
        visible, _organisation = await service.visibility_of(ctx.session, ctx.member.id)
        if visible:
            current = ctx.t("/whosin lists you now.")
        else:
            current = ctx.t("/whosin does not list you now.")
        text = Markup(" ").join(
            [
                current,
                ctx.t(
                    "Say /visibility on or /visibility off (with your organisation: "
                    "/visibility on &lt;{organisation}&gt;).",
                    organisation=ctx.t("organisation"),
                ),
            ]
        )
        button = (
            Button(label=ctx.t("Hide me"), command="/visibility off")
            if visible
            else Button(label=ctx.t("Show me"), command="/visibility on")
        )
        return Reply(text=text, buttons=((button,),), private=True)
    profile = await service.set_visibility(
        ctx.session, ctx.member.id, args.state == "on", args.organisation, now=ctx.now
    )
    if not profile.visible:
        return ctx.reply("/whosin no longer lists you. /visibility on lists you again.")
    if profile.organisation:
        return ctx.reply(
            "/whosin now lists you, as {name} of {organisation}, wherever you book.",
            name=ctx.member.display_name,
            organisation=profile.organisation,
        )
    return ctx.reply(
        "/whosin now lists you, as {name}, wherever you book. Add your organisation: "
        "/visibility on &lt;{organisation}&gt;.",
        name=ctx.member.display_name,
        organisation=ctx.t("organisation"),
    )


# /occupancy -----------------------------------------------------------------------------------


async def occupancy(ctx: Context, args: OccupancyArgs) -> Reply:
    """Show a facility's use over a week, per day and half-day, as text and a chart (or CSV)."""
    facility, _desk = await service.find_target(ctx.session, args.facility)
    await access.require_coordinator(ctx.session, ctx.actor, facility.council)
    args = _in_facility_zone(ctx, OccupancyArgs, facility)
    day = args.week or service.local_today(facility, ctx.now)
    report = await service.occupancy(ctx.session, facility, day)
    name = f"occupancy-{facility.slug}-{report.monday.isoformat()}"
    title = ctx.t(
        "<b>{facility}</b>, week of {monday}: {desks}",
        facility=facility.name,
        monday=_day(ctx, report.monday),
        desks=ctx.t.plural("{count} desk", "{count} desks", report.desks),
    )
    lines = [title]
    dated: list[tuple[date, Any]] = [
        (holiday, ctx.t("{day}: holiday", day=_day(ctx, holiday))) for holiday in report.holidays
    ]
    for index, booked_day in enumerate(report.days):
        dated.append(
            (
                booked_day,
                ctx.t(
                    "{day}: morning {am}/{desks} · afternoon {pm}/{desks} · checked in {checked} · released {released}",
                    day=_day(ctx, booked_day),
                    am=report.am[index],
                    pm=report.pm[index],
                    desks=report.desks,
                    checked=report.checked_in[index],
                    released=report.released[index],
                ),
            )
        )
    lines += [line for _day_of, line in sorted(dated, key=lambda pair: pair[0])]
    if args.csv:
        data = service.occupancy_csv(report)
        file = Attachment(filename=f"{name}.csv", content_type="text/csv", data=data)
        return Reply(text="\n".join(lines), file=file)
    from babel.dates import format_date

    labels = [format_date(d, "EEE d", locale=ctx.lang) for d in report.days]
    legend = (str(service.slot_label(ctx.t, Slot.AM)), str(service.slot_label(ctx.t, Slot.PM)))
    from councilbot.core.formatting import plain_text

    png = await charts.render_png(
        service.occupancy_chart(report, labels, legend, plain_text(title))
    )
    lines.append(
        ctx.t(
            "/occupancy {facility} {week} csv gives the figures as CSV.",
            facility=facility.slug,
            week=report.monday.isoformat(),
        )
    )
    file = Attachment(filename=f"{name}.png", content_type="image/png", data=png)
    return Reply(text="\n".join(lines), file=file)


# Jobs -----------------------------------------------------------------------------------------


async def release_due(job: JobRun) -> None:
    """Release a booking nobody checked in to by its deadline (also when found late)."""
    await service.release(
        job.session,
        job.payload,
        now=job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
    )


async def remind_due(job: JobRun) -> None:
    """Send a booking's morning reminder with its Check in button."""
    await service.remind(
        job.session,
        job.payload,
        now=job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
    )


async def weekly_due(job: JobRun) -> None:
    """Send last week's occupancy to the council's `desks` subscribers, and schedule the next."""
    await service.weekly_summary(
        job.session,
        job.payload,
        now=job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
    )


async def weekly_missed(job: JobRun) -> None:
    """Schedule the next weekly summary when this one was missed (it is not sent late)."""
    await service.weekly_summary(
        job.session,
        job.payload,
        now=job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
        send=False,
    )


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "facilities",
        facilities,
        N_("List the facilities with hot desks (of one council, or all)."),
        DESKS,
        FacilitiesArgs,
    ),
    CommandSpec(
        "desks",
        desks,
        N_("Show each desk's free slots at a facility on a day, with Book buttons."),
        DESKS,
        FacilityDayArgs,
        usage_text="/desks <{facility}> [{date}]",
        details=N_(
            "The date is the facility's (its council's time zone); today by default. "
            "Coordinators of the facility's council also see who booked."
        ),
    ),
    CommandSpec(
        "book",
        book,
        N_("Book a desk for a morning (am), an afternoon (pm) or a whole day."),
        DESKS,
        BookArgs,
        form=True,
        usage_text=(
            "/book <{facility or desk}> <{date}> [am|pm|day] [--weekly <{weeks}>] "
            "[--with <{feature}>] [--for <{user}>]"
        ),
        details=N_(
            "Name a facility to get any free desk (--with monitor prefers desks with a "
            "monitor) or a desk as facility/code, e.g. cork-rubicon/R2. Dates are the "
            "facility's: tomorrow at Istanbul is Istanbul's tomorrow. --weekly 4 books the same "
            "slot for 4 weeks. Coordinators of the facility's council may book --for a member. "
            "Check in on the day by 10:00 (am, day) or 14:00 (pm), or the desk is released."
        ),
    ),
    CommandSpec(
        "mybookings",
        mybookings,
        N_("List your upcoming desk bookings, with Cancel and Check in buttons."),
        DESKS,
        personal=True,
    ),
    CommandSpec(
        "cancelbooking",
        cancelbooking,
        N_("Cancel a desk booking, the rest of its series, or all of yours in a range."),
        DESKS,
        CancelArgs,
        details=N_(
            "Cancelling several bookings at once lists them first and asks; --yes cancels "
            "without asking."
        ),
        usage_text=(
            "/cancelbooking <{id}> [--series] · /cancelbooking --from <{date}> --to <{date}> "
            "[--yes]"
        ),
    ),
    CommandSpec(
        "whosin",
        whosin,
        N_("List who is booked at a facility on a day (those who chose to be visible)."),
        DESKS,
        FacilityDayArgs,
        usage_text="/whosin <{facility}> [{date}]",
    ),
    CommandSpec(
        "visibility",
        visibility,
        N_("Choose whether /whosin lists you (off by default)."),
        DESKS,
        VisibilityArgs,
        usage_text="/visibility on|off [{organisation}]",
        personal=True,
    ),
    CommandSpec(
        "occupancy",
        occupancy,
        N_("Show a facility's use over a week, as text and a chart (csv: as CSV)."),
        DESKS,
        OccupancyArgs,
        role=Role.COORDINATOR,
        usage_text="/occupancy <{facility}> [{week}] [csv]",
        details=N_(
            "Any date of the week will do; this week by default. /subscribe desks &lt;council&gt; "
            "sends each Monday one line per facility on the week before's use, and desks freed "
            "in the morning."
        ),
    ),
)

FEATURE = Feature(
    "desks",
    commands=COMMANDS,
    jobs=(
        JobKind(service.RELEASE_JOB, run=release_due, missed=release_due),
        JobKind(service.REMIND_JOB, run=remind_due),
        JobKind(service.WEEKLY_JOB, run=weekly_due, missed=weekly_missed),
    ),
    topic=Topic(
        service.TOPIC,
        N_(
            "desks freed in the morning, and each Monday a line per facility on last week's "
            "use (half-days booked, released)"
        ),
    ),
    choices=(Choices("facility", service.facility_choices),),
    # What /me, /mydata and /forgetme show and erase of it.
    member=MemberData(
        export=service.export_bookings,
        forget=service.forget_bookings,
        home=service.home_sections,
        calendar=service.member_calendar,
    ),
)
