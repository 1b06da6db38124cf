"""Announcements: /announce (now, later, list, cancel) and /deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from markupsafe import Markup
from pydantic import Field

from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.features import Feature, JobKind, JobRun, Topic
from councilbot.core.formatting import format_when
from councilbot.core.grammar import ArgModel, CommaList, Councils, Flag, Rest, When
from councilbot.core.i18n import N_
from councilbot.core.messages import Reply
from councilbot.core.router import CommandSpec, Context, Role
from councilbot.db.base import MAX_ID
from councilbot.db.models import AnnouncementStatus, DeliveryStatus
from councilbot.services import announcements

ANNOUNCEMENTS = N_("Announcements")


class AnnounceArgs(ArgModel):
    target: Annotated[str, Field(title=N_("councils")), CommaList(), Councils()]
    text: Annotated[str | None, Field(title=N_("text")), Rest()] = None
    at: Annotated[When | None, Field(title=N_("when")), Flag()] = None


def _preview(text: str, length: int = 60) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


async def announce(ctx: Context, args: AnnounceArgs) -> Reply:
    """Announce to councils now or at a set time; list or cancel scheduled announcements."""
    action = args.target.lower()
    if action == "list":
        if args.text is not None or args.at is not None:
            raise InvalidInput(
                N_("/announce list takes nothing after it: it shows every scheduled announcement.")
            )
        return await _list(ctx)
    if action == "cancel" and args.at is None:
        return await _cancel(ctx, args.text)
    if args.text is None:
        raise InvalidInput(N_("Please write the announcement's text.")).about("text")
    created = await announcements.create_announcement(
        ctx.session,
        actor=ctx.actor,
        councils_text=args.target,
        text=args.text,
        at=args.at,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
    )
    item = created.announcement
    if item.scheduled_at is not None:
        confirmation = ctx.t(
            "Announcement #{id} will go out on {when} ({zone}) to {councils}. "
            "/announce cancel {id} cancels it.",
            id=item.id,
            when=format_when(item.scheduled_at, ctx.tz, ctx.lang),
            zone=str(ctx.tz),
            councils=", ".join(c.name for c in item.councils),
        )
        return Reply(text=Markup("\n").join([*args.notes(ctx.t), confirmation]))
    if created.queued == 0:
        return ctx.reply(
            "Announcement #{id} is saved, but no chat is linked to {councils} and nobody "
            "subscribed, so nobody will get it.",
            id=item.id,
            councils=", ".join(c.name for c in item.councils),
        )
    return Reply(
        text=ctx.t.plural(
            "Announcement #{id} is on its way to {count} chat. /deliveries {id} shows how it goes.",
            "Announcement #{id} is on its way to {count} chats. /deliveries {id} shows how it goes.",
            created.queued,
            id=item.id,
        )
    )


async def _list(ctx: Context) -> Reply:
    found = await announcements.list_scheduled(ctx.session, ctx.actor)
    if not found:
        return ctx.reply("No announcement is scheduled.")
    lines = [ctx.t("<b>Scheduled announcements</b>")]
    for item in found:
        assert item.scheduled_at is not None
        # In its first council's zone, named: not the zone of the chat that asks.
        zone = ZoneInfo(item.councils[0].timezone)
        line = ctx.t(
            "#{id} · {when} ({zone}) · {councils} · {text}",
            id=item.id,
            when=format_when(item.scheduled_at, zone, ctx.lang),
            zone=str(zone),
            councils=", ".join(c.slug for c in item.councils),
            text=_preview(item.text),
        )
        if item.status is AnnouncementStatus.MISSED:
            line += Markup(" ") + ctx.t("(missed: the bot was down at that time)")
        lines.append(line)
    return Reply(text="\n".join(lines))


async def _cancel(ctx: Context, text: str | None) -> Reply:
    number = _announcement_id(
        text,
        "text",
        N_(
            "Which announcement should I cancel? Give its id, e.g. /announce cancel 12; "
            "/announce list shows the scheduled announcements with their ids."
        ),
    )
    try:
        item = await announcements.cancel_announcement(ctx.session, ctx.actor, number, now=ctx.now)
    except announcements.SentBefore as sent:
        raise Conflict(
            N_(
                "Announcement #{id} was already sent on {when} ({zone}), so it can no longer be "
                "cancelled. /deliveries {id} shows how it went."
            ),
            id=sent.announcement_id,
            when=format_when(sent.sent_at, ctx.tz, ctx.lang),
            zone=str(ctx.tz),
        ) from None
    return ctx.reply("Announcement #{id} is cancelled; it will not be sent.", id=item.id)


def _announcement_id(text: str | None, field: str, which: str) -> int:
    """Read an announcement id as typed (`12`, `#12`), or say which one is wanted and how."""
    if text is None:
        raise InvalidInput(which).about(field)
    number = text.strip().lstrip("#")
    if not number.isdecimal():
        raise InvalidInput(
            N_(
                "“{value}” is not an announcement id: ids are numbers, like 12. "
                "/announce list shows the scheduled announcements with their ids."
            ),
            value=text,
        ).about(field)
    if int(number) > MAX_ID:  # names nothing, and no id column could hold it
        raise NotFound(N_("There is no announcement #{id}."), id=number)
    return int(number)


class DeliveriesArgs(ArgModel):
    # Optional, so that a bare /deliveries is told where ids are shown.
    id: Annotated[str | None, Field(title=N_("id"))] = None


STATUS_LABELS = {
    DeliveryStatus.PENDING: N_("pending"),
    DeliveryStatus.SENDING: N_("sending"),
    DeliveryStatus.SENT: N_("sent"),
    DeliveryStatus.FAILED: N_("failed"),
    DeliveryStatus.DEAD: N_("dead"),
}


async def deliveries(ctx: Context, args: DeliveriesArgs) -> Reply:
    """Show how an announcement's deliveries are doing."""
    number = _announcement_id(
        args.id,
        "id",
        N_(
            "Which announcement should I report on? Give its id, e.g. /deliveries 12: my answer "
            "to /announce gave it, and /announce list shows the scheduled ones with theirs."
        ),
    )
    item, report = await announcements.delivery_report(ctx.session, ctx.actor, number)

    def when(moment: datetime | None) -> str:
        assert moment is not None  # each status below comes with its time
        return format_when(moment, ctx.tz, ctx.lang)

    zone = str(ctx.tz)
    if item.status is AnnouncementStatus.SCHEDULED:
        return ctx.reply(
            "Announcement #{id} is scheduled for {when} ({zone}); nothing was sent yet.",
            id=item.id,
            when=when(item.scheduled_at),
            zone=zone,
        )
    if item.status is AnnouncementStatus.CANCELLED:
        if item.cancelled_at is None:  # cancelled before the bot kept the time
            return ctx.reply("Announcement #{id} was cancelled; nothing was sent.", id=item.id)
        return ctx.reply(
            "Announcement #{id} was cancelled on {when} ({zone}); nothing was sent.",
            id=item.id,
            when=when(item.cancelled_at),
            zone=zone,
        )
    if item.status is AnnouncementStatus.MISSED:
        return ctx.reply(
            "Announcement #{id} was not sent: it was due on {when} ({zone}) and the bot was "
            "down at that time. /announce list shows it until you cancel it.",
            id=item.id,
            when=when(item.scheduled_at),
            zone=zone,
        )
    if report.total == 0:
        return ctx.reply(
            "Announcement #{id} went out on {when} ({zone}) but reached nobody: no chat was "
            "linked to {councils} and nobody had subscribed.",
            id=item.id,
            when=when(item.sent_at),
            zone=zone,
            councils=", ".join(c.name for c in item.councils),
        )
    counts = report.counts
    t = ctx.t
    lines = [
        t(
            "<b>Announcement #{id}</b>: {sent}, {pending}, {failed}, {dead} (of {total}).",
            id=item.id,
            sent=t.plural("{count} sent", "{count} sent", counts.get(DeliveryStatus.SENT, 0)),
            pending=t.plural(
                "{count} pending",
                "{count} pending",
                counts.get(DeliveryStatus.PENDING, 0) + counts.get(DeliveryStatus.SENDING, 0),
            ),
            failed=t.plural(
                "{count} failed", "{count} failed", counts.get(DeliveryStatus.FAILED, 0)
            ),
            dead=t.plural("{count} dead", "{count} dead", counts.get(DeliveryStatus.DEAD, 0)),
            total=report.total,
        )
    ]
    for problem in report.problems:
        line = (
            N_(
                "• {chat}: {error} ({status}): the platform refuses the bot's credentials for "
                "this workspace; its messages wait until they work again."
            )
            if problem.held
            else N_("• {chat}: {error} ({status})")
        )
        lines.append(
            ctx.t(
                line,
                chat=problem.chat,
                error=problem.error,
                status=ctx.t(STATUS_LABELS[problem.status]),
            )
        )
    return Reply(text="\n".join(lines))


async def send_due(job: JobRun) -> None:
    """Queue a scheduled announcement's deliveries when it is due."""
    await announcements.send_scheduled(job.session, job.payload, job.now, catalogs=job.catalogs)


async def note_missed(job: JobRun) -> None:
    """Keep an announcement that was due while the bot was down, marked missed, for /announce list."""
    await announcements.mark_missed(job.session, job.payload, job.now)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "announce",
        announce,
        N_("Announce to one, several or all councils, now or at a set time."),
        ANNOUNCEMENTS,
        AnnounceArgs,
        role=Role.COORDINATOR,
        form=True,
        usage_text=(
            "/announce <{councils}|all> <{text}> [--at <{when}>]"
            " · /announce list · /announce cancel <{id}>"
        ),
        details=N_(
            "Every linked chat of those councils gets it, and members subscribed to announcements "
            "by direct message. Coordinators announce to the councils they coordinate; “all” "
            "needs an admin or a coordinator of every council. Times are in this chat's council "
            "time zone, e.g. --at tomorrow 09:00."
        ),
    ),
    CommandSpec(
        "deliveries",
        deliveries,
        N_("Show how an announcement's deliveries are doing."),
        ANNOUNCEMENTS,
        DeliveriesArgs,
        role=Role.COORDINATOR,
        usage_text="/deliveries <{id}>",
    ),
)

FEATURE = Feature(
    "announcements",
    commands=COMMANDS,
    jobs=(JobKind(announcements.SEND_JOB, run=send_due, missed=note_missed),),
    topic=Topic(announcements.TOPIC, N_("announcements")),
)
