"""Announcements: /announce (now, later, list, cancel) and /deliveries."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from markupsafe import Markup
from pydantic import Field

from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.formatting import format_when
from councilbot.core.grammar import ArgModel, CommaList, Flag, Rest, When
from councilbot.core.i18n import N_
from councilbot.core.messages import Platform, Reply
from councilbot.core.router import CommandSpec, Context, Role
from councilbot.db.base import MAX_ID
from councilbot.db.models import AnnouncementStatus, DeliveryOperation, DeliveryStatus
from councilbot.delivery.outbox import Problem, Report
from councilbot.services import announcements

ANNOUNCEMENTS = N_("Announcements")


class AnnounceArgs(ArgModel):
    target: Annotated[str, Field(title=N_("councils")), CommaList()]
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
    DeliveryStatus.CANCELLED: N_("cancelled"),
}
PLATFORM_NAMES = {
    Platform.TELEGRAM: "Telegram",
    Platform.SLACK: "Slack",
    Platform.CONSOLE: "Console",
}
# A problem of an edit or deletion: (operation, refusal) -> its line.
CHANGE_PROBLEMS = {
    (DeliveryOperation.EDIT, "not_allowed"): N_(
        "• {chat}: not edited: {platform} does not let the bot edit this message ({error})."
    ),
    (DeliveryOperation.DELETE, "not_allowed"): N_(
        "• {chat}: not deleted: {platform} does not let the bot delete this message ({error})."
    ),
    (DeliveryOperation.DELETE, "too_old"): N_(
        "• {chat}: not deleted: {platform} does not let a bot delete a message this old ({error})."
    ),
    (DeliveryOperation.EDIT, None): N_("• {chat}: edit: {error} ({status})"),
    (DeliveryOperation.DELETE, None): N_("• {chat}: deletion: {error} ({status})"),
}


async def deliveries(ctx: Context, args: DeliveriesArgs) -> Reply:
    """Show how an announcement's deliveries, edits and deletions are doing."""
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
    withdrawn = counts.get(DeliveryStatus.CANCELLED, 0)  # deleted before they went out
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
            total=report.total - withdrawn,
        )
    ]
    lines += _changes(ctx, report, withdrawn)
    for problem in report.problems:
        lines.append(_problem(ctx, problem))
    return Reply(text="\n".join(lines))


def _changes(ctx: Context, report: Report, withdrawn: int) -> list[str]:
    """Say how the edits and deletions of the posts went, and what each platform refused."""
    t = ctx.t
    lines = []

    def tally(line: str, counts: dict[DeliveryStatus, int]) -> None:
        done = counts.get(DeliveryStatus.SENT, 0)
        waiting = counts.get(DeliveryStatus.PENDING, 0) + counts.get(DeliveryStatus.SENDING, 0)
        failed = counts.get(DeliveryStatus.FAILED, 0) + counts.get(DeliveryStatus.DEAD, 0)
        if done or waiting or failed:  # (cancelled ones: their post never went out, or went)
            lines.append(
                t(
                    line,
                    done=t.plural("{count} done", "{count} done", done),
                    pending=t.plural("{count} pending", "{count} pending", waiting),
                    failed=t.plural("{count} failed", "{count} failed", failed),
                )
            )

    tally(N_("Edits: {done}, {pending}, {failed}."), report.edits)
    tally(N_("Deletions: {done}, {pending}, {failed}."), report.deletes)
    if withdrawn:
        lines.append(
            t.plural(
                "{count} message was withdrawn before it went out.",
                "{count} messages were withdrawn before they went out.",
                withdrawn,
            )
        )
    for (operation, platform), n in sorted(report.refused.items()):
        if (operation, platform) == (DeliveryOperation.DELETE, Platform.TELEGRAM):
            line = t.plural(
                "Telegram does not let a bot delete a message more than 48 hours old: "
                "{count} message stays in its chat; delete it by hand if it must go.",
                "Telegram does not let a bot delete a message more than 48 hours old: "
                "{count} messages stay in their chats; delete them by hand if they must go.",
                n,
            )
        elif operation is DeliveryOperation.DELETE:
            line = t.plural(
                "{platform} did not let the bot delete {count} message.",
                "{platform} did not let the bot delete {count} messages.",
                n,
                platform=PLATFORM_NAMES[platform],
            )
        else:
            line = t.plural(
                "{platform} did not let the bot edit {count} message.",
                "{platform} did not let the bot edit {count} messages.",
                n,
                platform=PLATFORM_NAMES[platform],
            )
        lines.append(line)
    return lines


def _problem(ctx: Context, problem: Problem) -> str:
    """Describe one delivery, edit or deletion that has not gone through."""
    if problem.held:
        line = N_(
            "• {chat}: {error} ({status}): the platform refuses the bot's credentials for "
            "this workspace; its messages wait until they work again."
        )
    elif problem.operation is DeliveryOperation.SEND:
        line = N_("• {chat}: {error} ({status})")
    else:
        line = CHANGE_PROBLEMS[problem.operation, problem.refusal]
    platform = PLATFORM_NAMES.get(problem.platform) if problem.platform else None
    return ctx.t(
        line,
        chat=problem.chat,
        error=problem.error,
        status=ctx.t(STATUS_LABELS[problem.status]),
        platform=platform or "",
    )


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
