"""Announcements: /announce (preview, send, list, cancel, edit, delete) and /deliveries.

`/announce <councils> <text>` answers with a preview (the text as readers get it, who it
reaches and when) and Send, Edit and Cancel buttons; nothing is queued until Send.
`--yes` sends at once, for scripts. Each form of the command (`list`, `send`, `cancel`,
`edit`, `delete`) is a sub-command of its `CommandSpec`, with its own function and argument
model: the router reads the first word and dispatches to it.

An announcement's times are read in one zone, kept on it (`announcements.zone`), and shown
in that zone, named, wherever one asks: preview, confirmation, list, cancel, deliveries.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from markupsafe import Markup
from pydantic import Field

from councilbot.commands import broadcasts
from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.features import Feature, JobKind, JobRun, MemberData, Topic
from councilbot.core.formatting import format_when
from councilbot.core.grammar import (
    ArgModel,
    CommaList,
    Councils,
    Flag,
    NoArgs,
    Rest,
    When,
    parse_args,
    parse_fields,
)
from councilbot.core.i18n import N_
from councilbot.core.messages import FormRequest, Platform, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.base import MAX_ID
from councilbot.db.models import (
    Announcement,
    AnnouncementStatus,
    Council,
    DeliveryOperation,
    DeliveryStatus,
)
from councilbot.delivery.outbox import Problem, Report
from councilbot.services import announcements

ANNOUNCEMENTS = N_("Announcements")
SAVE = N_("Save")


class AnnounceArgs(ArgModel):
    target: Annotated[str, Field(title=N_("councils")), CommaList(), Councils()]
    text: Annotated[str | None, Field(title=N_("text")), Rest()] = None
    at: Annotated[When | None, Field(title=N_("when")), Flag()] = None
    yes: Annotated[bool, Field(title=N_("send without a preview")), Flag()] = False


class IdArgs(ArgModel):
    """Name one announcement (/announce send, cancel, delete)."""

    # Optional, so that a bare `/announce cancel` is told where ids are shown.
    id: Annotated[str | None, Field(title=N_("id"))] = None


class EditArgs(ArgModel):
    """Name one announcement and give its new text (/announce edit)."""

    id: Annotated[str | None, Field(title=N_("id"))] = None
    text: Annotated[str | None, Field(title=N_("text")), Rest()] = None


def _preview(text: str, length: int = 60) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _when(ctx: Context, moment: datetime | None, item: Announcement) -> str:
    """Show a time of an announcement in its own zone, named, whoever asks from wherever."""
    assert moment is not None  # each status that shows a time comes with it
    return format_when(moment, announcements.zone(item), ctx.lang, now=ctx.now)


def _read_in_zone(ctx: Context, zone: ZoneInfo) -> AnnounceArgs:
    """Read the command again (as typed, or as a form filled it) with its times in another zone."""
    context = {"today": ctx.now.astimezone(zone).date(), "now": ctx.now, "tz": zone}
    if ctx.command.fields is not None:
        parsed = parse_fields(AnnounceArgs, ctx.command.fields, context)
    else:
        parsed = parse_args(AnnounceArgs, ctx.command.args, context)
    assert isinstance(parsed, AnnounceArgs)
    return parsed


def _mistyped_form(ctx: Context, word: str) -> str | None:
    """Return the form of /announce a lone word was probably meant to be (`lisst`: list)."""
    spec = ctx.router.lookup("announce")
    forms = [sub.name for sub in spec.subcommands] if spec else []
    close = difflib.get_close_matches(word.strip().lower(), forms, n=1, cutoff=0.6)
    return close[0] if close else None


def _depends_on_zone(ctx: Context) -> bool:
    """Tell whether the command's --at is a wall-clock time, read in some zone.

    A time counted from now (`in 2h`) or written with its offset names one moment wherever
    it is read: it needs no word about the zone it was read in.
    """
    far_apart = (ZoneInfo("Etc/GMT+12"), ZoneInfo("Etc/GMT-14"))
    return len({_read_in_zone(ctx, zone).at for zone in far_apart}) > 1


def _zone_for(ctx: Context, targets: list[Council]) -> ZoneInfo:
    """Pick an announcement's zone: this chat's council's if it is a target, else the first
    target's (a private chat, or a chat of another council). Its times are shown in it."""
    here = ctx.council if ctx.channel is not None else None
    if here is not None and any(c.id == here.id for c in targets):
        return ctx.tz
    return ZoneInfo(targets[0].timezone)


async def announce_new(ctx: Context, args: AnnounceArgs) -> Reply:
    """Preview an announcement to councils, now or at a set time (`--yes`: send it at once)."""
    try:
        targets = await announcements.resolve_targets(ctx.session, ctx.actor, args.target)
    except NotFound:
        # `/announce lisst`, `/announce delet 3`: a form mistyped, not a council.
        if form := _mistyped_form(ctx, args.target):
            raise InvalidInput(
                N_("/announce has no form “{word}”. Did you mean /announce {form}?"),
                word=args.target,
                form=form,
            ) from None
        raise
    if args.text is None:
        raise InvalidInput(N_("Please write the announcement's text.")).about("text")
    notes = list(args.notes(ctx.t))
    zone = _zone_for(ctx, targets)  # the announcement's: its times are shown in it
    if args.at is not None:
        # A typed --at is read in the announcement's zone; a Slack form's time in the zone
        # its label named (this chat's), as the router read it.
        read_in = ctx.tz if ctx.command.fields is not None else zone
        if read_in != ctx.tz:
            args = _read_in_zone(ctx, read_in)
            notes = list(args.notes(ctx.t))
        zones = {c.timezone for c in targets} | {str(zone)}
        if (len(zones) > 1 or read_in != ctx.tz or read_in != zone) and _depends_on_zone(ctx):
            here = [ctx.council] if ctx.council is not None and ctx.channel is not None else []
            council = next((c for c in [*here, *targets] if c.timezone == str(read_in)), None)
            if council is not None:
                notes.append(
                    ctx.t(
                        "I read the time in {zone}, the time zone of {council}.",
                        zone=str(read_in),
                        council=council.name,
                    )
                )
            else:
                notes.append(ctx.t("I read the time in {zone}.", zone=str(read_in)))
    if args.at is not None and args.at <= ctx.now:
        raise InvalidInput(
            N_("{when} has already passed: it is {now} there. Give a later time."),
            when=format_when(args.at, zone, ctx.lang, now=ctx.now),
            now=format_when(ctx.now, zone, ctx.lang, now=ctx.now),
        ).about("at")
    created = await announcements.create_announcement(
        ctx.session,
        actor=ctx.actor,
        councils_text=args.target,
        text=args.text or "",
        at=args.at,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        timezone=zone,
        default_language=ctx.settings.default_language,
        send=args.yes,
        targets=targets,
    )
    if not args.yes:
        return await _preview_reply(ctx, created.announcement, notes)
    return _sent_reply(ctx, created, notes)


async def _preview_reply(
    ctx: Context, item: Announcement, notes: list[Markup] | None = None
) -> Reply:
    """Show a draft as its readers will get it, who it reaches and when, with its buttons."""
    reached = await announcements.audience(
        ctx.session,
        item,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    label = ", ".join(c.name for c in item.councils)
    return broadcasts.preview(
        ctx,
        command="announce",
        item_id=item.id,
        summary=N_(
            "Preview of announcement #{id}: it goes to {chats} and {subscribers} in {places}, "
            "{when}. Nothing is sent until you press Send."
        ),
        rendered=announcements.render(ctx.t, label, item.text),
        reached=reached,
        councils=item.councils,
        at=item.scheduled_at,
        zone=announcements.zone(item),
        notes=notes or (),
    )


def _sent_reply(
    ctx: Context, created: announcements.Created, notes: list[Markup] | None = None
) -> Reply:
    """Confirm that an announcement is on its way, or when it will go out."""
    item = created.announcement
    if item.status is AnnouncementStatus.SCHEDULED:
        confirmation = ctx.t(
            "Announcement #{id} will go out on {when} to {councils}. "
            "/announce cancel {id} cancels it.",
            id=item.id,
            when=_when(ctx, item.scheduled_at, item),
            councils=", ".join(c.name for c in item.councils),
        )
    elif created.queued == 0:
        confirmation = ctx.t(
            "Announcement #{id} is saved, but no chat is linked to {councils} and nobody "
            "subscribed, so nobody will get it.",
            id=item.id,
            councils=", ".join(c.name for c in item.councils),
        )
    else:
        t = ctx.t
        if created.subscribers == 0:
            confirmation = t.plural(
                "Announcement #{id} is on its way to {count} chat. /deliveries {id} shows how it "
                "goes.",
                "Announcement #{id} is on its way to {count} chats. /deliveries {id} shows how it "
                "goes.",
                created.chats,
                id=item.id,
            )
        else:
            confirmation = t(
                "Announcement #{id} is on its way to {chats} and {subscribers}. /deliveries {id} "
                "shows how it goes.",
                id=item.id,
                chats=t.plural("{count} chat", "{count} chats", created.chats),
                subscribers=t.plural(
                    "{count} subscriber", "{count} subscribers", created.subscribers
                ),
            )
    return Reply(text=Markup("\n").join([*(notes or []), confirmation]))


async def announce_send(ctx: Context, args: IdArgs) -> Reply:
    """Send a previewed announcement (the preview's Send button)."""
    number = _announcement_id(
        args.id,
        "id",
        N_(
            "Which announcement should I send? Give its id, e.g. /announce send 12: "
            "the preview gave it."
        ),
    )
    try:
        created = await announcements.send_draft(
            ctx.session,
            ctx.actor,
            number,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
    except announcements.NotADraft as gone:
        if gone.announcement.status is AnnouncementStatus.MISSED:
            return await _revive(ctx, gone.announcement)
        raise _not_a_draft(ctx, gone.announcement) from None
    return _sent_reply(ctx, created)


async def _revive(ctx: Context, item: Announcement) -> Reply:
    """Preview a missed announcement again, to send it late (who it reaches may have changed)."""
    due = item.scheduled_at
    item = await announcements.revive_missed(ctx.session, ctx.actor, item.id, now=ctx.now)
    late = ctx.t(
        "Announcement #{id} was due on {when}, while the bot was down. Here it is again: "
        "Send sends it now, late.",
        id=item.id,
        when=_when(ctx, due, item),
    )
    return await _preview_reply(ctx, item, [late])


def _not_a_draft(ctx: Context, item: Announcement) -> Conflict:
    """Say what became of an announcement whose preview is pressed again."""
    if item.status in (AnnouncementStatus.SENT, AnnouncementStatus.DELETED):
        return Conflict(
            N_(
                "Announcement #{id} was already sent on {when}. /deliveries {id} shows how it went."
            ),
            id=item.id,
            when=_when(ctx, item.sent_at, item),
        )
    if item.status is AnnouncementStatus.SCHEDULED:
        return Conflict(
            N_(
                "Announcement #{id} is already scheduled for {when}. "
                "/announce cancel {id} cancels it."
            ),
            id=item.id,
            when=_when(ctx, item.scheduled_at, item),
        )
    return Conflict(
        N_(
            "Announcement #{id} was cancelled, so it will not be sent; announce it again if you "
            "still want it out."
        ),
        id=item.id,
    )


async def announce_list(ctx: Context, _args: NoArgs) -> Reply:
    """List scheduled announcements, then your drafts, each time in its announcement's zone."""
    found = await announcements.list_scheduled(ctx.session, ctx.actor, now=ctx.now)
    if not found:
        return ctx.reply("No announcement is scheduled.")
    t = ctx.t
    scheduled = [item for item in found if item.status is not AnnouncementStatus.DRAFT]
    drafts = sorted(
        (item for item in found if item.status is AnnouncementStatus.DRAFT), key=lambda i: i.id
    )
    lines: list[str] = []
    if scheduled:
        lines.append(t("<b>Scheduled announcements</b>"))
    for item in scheduled:
        # In its own zone, named: not the zone of the chat that asks.
        line = t(
            "#{id} · {when} · {councils} · {text}",
            id=item.id,
            when=_when(ctx, item.scheduled_at, item),
            councils=", ".join(c.slug for c in item.councils),
            text=_preview(item.text),
        )
        if item.status is AnnouncementStatus.MISSED:
            line += Markup(" ") + t(
                "(missed: the bot was down at that time; /announce send {id} to send it late)",
                id=item.id,
            )
        lines.append(line)
    if drafts:
        if lines:
            lines.append("")
        lines.append(t("<b>Your drafts</b> (nothing is sent until you send them)"))
    for item in drafts:
        if item.scheduled_at is None:
            when = t("on Send")
        elif item.scheduled_at <= ctx.now:  # Send would refuse it: no Send offered
            past = t(
                "{when}, now past: announce it again", when=_when(ctx, item.scheduled_at, item)
            )
            lines.append(
                t(
                    "#{id} · {when} · {councils} · {text}",
                    id=item.id,
                    when=past,
                    councils=", ".join(c.slug for c in item.councils),
                    text=_preview(item.text),
                )
            )
            continue
        else:
            when = _when(ctx, item.scheduled_at, item)
        lines.append(
            t(
                "#{id} · {when} · {councils} · {text} · /announce send {id}",
                id=item.id,
                when=when,
                councils=", ".join(c.slug for c in item.councils),
                text=_preview(item.text),
            )
        )
    return Reply(text="\n".join(lines))


async def announce_cancel(ctx: Context, args: IdArgs) -> Reply:
    """Cancel a draft or a scheduled announcement."""
    number = _announcement_id(
        args.id,
        "id",
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
                "Announcement #{id} was already sent on {when}, so it can no longer be "
                "cancelled. /deliveries {id} shows how it went."
            ),
            id=sent.announcement_id,
            when=format_when(sent.sent_at, ZoneInfo(sent.timezone), ctx.lang, now=ctx.now),
        ) from None
    return ctx.reply("Announcement #{id} is cancelled; it will not be sent.", id=item.id)


async def announce_edit(ctx: Context, args: EditArgs) -> Reply:
    """Change an announcement's text: a draft's (with a fresh preview), or its posts'."""
    number = _announcement_id(
        args.id,
        "id",
        N_(
            "Which announcement should I edit? Give its id and then the new text, e.g. "
            "/announce edit 12 Desks are free today."
        ),
    )
    if args.text is None:
        return await _ask_for_text(ctx, number)
    edited = await announcements.edit_announcement(
        ctx.session,
        ctx.actor,
        number,
        args.text,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    item = edited.announcement
    if item.status is AnnouncementStatus.DRAFT:
        return await _preview_reply(ctx, item)
    if edited.unchanged and edited.edits == 0:
        return ctx.reply("Announcement #{id} already says that; nothing changed.", id=item.id)
    if item.status is AnnouncementStatus.MISSED:
        return ctx.reply(
            "Announcement #{id} is changed. It was due while the bot was down: "
            "/announce send {id} to send it late, with the new text.",
            id=item.id,
        )
    if item.status is AnnouncementStatus.SCHEDULED:
        return ctx.reply(
            "Announcement #{id} is changed; it will go out on {when} with the new text.",
            id=item.id,
            when=_when(ctx, item.scheduled_at, item),
        )
    return Reply(
        text=ctx.t.plural(
            "Announcement #{id} is changed; {count} post will be edited to match. "
            "/deliveries {id} shows how it goes.",
            "Announcement #{id} is changed; {count} posts will be edited to match. "
            "/deliveries {id} shows how it goes.",
            edited.edits,
            id=item.id,
        )
    )


async def _ask_for_text(ctx: Context, number: int) -> Reply:
    """Say how to give the new text; platforms with forms ask for it in one, filled in."""
    item = await announcements.get_announcement(ctx.session, ctx.actor, number)
    announcements.check_editable(item, ctx.now)
    t = ctx.t
    text = t(
        "Send the new text with /announce edit {id} followed by it. It reads now:",
        id=item.id,
    )
    return Reply(
        text=text + Markup("\n<pre>%s</pre>") % item.text,
        form=FormRequest(
            command="announce",
            args="edit",
            fixed={"id": str(item.id)},
            field="text",
            title=f"/announce edit {item.id}",
            label=str(t("New text")),
            submit=str(t(SAVE)),
            close=str(t(broadcasts.CANCEL)),
            value=item.text,
        ),
    )


async def announce_delete(ctx: Context, args: IdArgs) -> Reply:
    """Delete a sent announcement from every chat it reached."""
    number = _announcement_id(
        args.id,
        "id",
        N_("Which announcement should I delete? Give its id, e.g. /announce delete 12."),
    )
    item, deletes = await announcements.delete_announcement(
        ctx.session, ctx.actor, number, now=ctx.now
    )
    return Reply(
        text=ctx.t.plural(
            "Announcement #{id} is deleted; {count} post will be removed. "
            "/deliveries {id} shows what each platform allowed.",
            "Announcement #{id} is deleted; {count} posts will be removed. "
            "/deliveries {id} shows what each platform allowed.",
            deletes,
            id=item.id,
        )
    )


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
        # In the announcement's zone, named, whoever asks from wherever.
        return _when(ctx, moment, item)

    if item.status is AnnouncementStatus.DRAFT:
        return ctx.reply(
            "Announcement #{id} is a draft: nothing is sent until its preview's Send is pressed.",
            id=item.id,
        )
    if item.status is AnnouncementStatus.SCHEDULED:
        return ctx.reply(
            "Announcement #{id} is scheduled for {when}; nothing was sent yet.",
            id=item.id,
            when=when(item.scheduled_at),
        )
    if item.status is AnnouncementStatus.CANCELLED:
        if item.cancelled_at is None:  # cancelled before the bot kept the time
            return ctx.reply("Announcement #{id} was cancelled; nothing was sent.", id=item.id)
        return ctx.reply(
            "Announcement #{id} was cancelled on {when}; nothing was sent.",
            id=item.id,
            when=when(item.cancelled_at),
        )
    if item.status is AnnouncementStatus.MISSED:
        return ctx.reply(
            "Announcement #{id} was not sent: it was due on {when} and the bot was "
            "down at that time. /announce send {id} to send it late; /announce cancel {id} drops "
            "it.",
            id=item.id,
            when=when(item.scheduled_at),
        )
    if report.total == 0:
        return ctx.reply(
            "Announcement #{id} went out on {when} but reached nobody: no chat was "
            "linked to {councils} and nobody had subscribed.",
            id=item.id,
            when=when(item.sent_at),
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


async def send_due(job: JobRun) -> None:
    """Queue a scheduled announcement's deliveries when it is due."""
    await announcements.send_scheduled(
        job.session,
        job.payload,
        job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
    )


async def note_missed(job: JobRun) -> None:
    """Keep an announcement that was due while the bot was down, marked missed, for /announce list."""
    await announcements.mark_missed(job.session, job.payload, job.now)


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "announce",
        announce_new,
        N_("Announce to one, several or all councils, now or at a set time."),
        ANNOUNCEMENTS,
        AnnounceArgs,
        role=Role.COORDINATOR,
        form=True,
        usage_text="/announce <{councils}|all> <{text}> [--at <{when}>] [--yes]",
        details=N_(
            "Every linked chat of those councils gets it, and members subscribed to announcements "
            "by direct message. First you see a preview: the text, who it reaches and when, with "
            "Send, Edit and Cancel; --yes sends at once. Coordinators announce to the councils "
            "they coordinate; “all” needs an admin or a coordinator of every council. Times are "
            "in the council's time zone, e.g. --at tomorrow 09:00. After sending, /announce edit "
            "changes the posts and /announce delete removes them."
        ),
        subcommands=(
            SubCommand(
                "list",
                announce_list,
                N_("List scheduled and missed announcements, and your drafts."),
                personal=True,
            ),
            SubCommand(
                "send",
                announce_send,
                N_("Send a previewed announcement."),
                IdArgs,
                usage_text="/announce send <{id}>",
            ),
            SubCommand(
                "cancel",
                announce_cancel,
                N_("Cancel a draft, or a scheduled or missed announcement."),
                IdArgs,
                usage_text="/announce cancel <{id}>",
            ),
            SubCommand(
                "edit",
                announce_edit,
                N_("Change an announcement's text, before or after it went out."),
                EditArgs,
                usage_text="/announce edit <{id}> <{text}>",
            ),
            SubCommand(
                "delete",
                announce_delete,
                N_("Take a sent announcement back from every chat it reached."),
                IdArgs,
                usage_text="/announce delete <{id}>",
            ),
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
    # Kept when their author is erased: they are the councils' published content.
    member=MemberData(
        export=announcements.export_authored,
        forget=announcements.forget_author,
        digest=announcements.digest_sections,
    ),
)
