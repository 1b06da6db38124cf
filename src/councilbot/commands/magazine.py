"""The EMPOWER magazine: /magazine (latest, archive, one issue) and /publish.

`/publish <number> "<title>" <url> ["<summary>"] [--cover <url>] [--at <when>]` answers
with the one broadcast preview (commands/broadcasts.py): the post as readers get it, who
it reaches and when, and Send / Edit / Cancel. Send posts it to every council's linked
chats and to members subscribed to `magazine`, with a Read button and the cover; or
schedules it for `--at`. A number already in the archive is refused, the issue shown.
`/publish edit <number> ...` corrects an issue and edits its posts in place.
"""

from __future__ import annotations

from typing import Annotated, Any

from babel.dates import format_date
from markupsafe import Markup
from pydantic import Field

from councilbot.commands import broadcasts
from councilbot.core.errors import Conflict, InvalidInput
from councilbot.core.features import (
    Feature,
    JobKind,
    JobRun,
    MemberData,
    Periodic,
    PeriodicRun,
    Topic,
)
from councilbot.core.formatting import format_when
from councilbot.core.grammar import ArgModel, Flag, When
from councilbot.core.i18n import N_
from councilbot.core.messages import Button, FormRequest, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.base import MAX_ID
from councilbot.db.models import IssueStatus, MagazineIssue
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.services import broadcast, magazine, magazine_feed

MAGAZINE = N_("Magazine")
PREVIOUS = N_("◀ Previous")
NEXT = N_("Next ▶")
ARCHIVE = N_("Archive")


class MagazineArgs(ArgModel):
    """Name an issue by number, or nothing for the latest (/magazine)."""

    number: Annotated[str | None, Field(title=N_("number"))] = None


class ArchiveArgs(ArgModel):
    """Name a page of the archive (/magazine archive)."""

    page: Annotated[int | None, Field(title=N_("page"), ge=1, le=MAX_ID)] = None


class PublishArgs(ArgModel):
    """Give a new issue (/publish)."""

    number: Annotated[str, Field(title=N_("number"))]
    title: Annotated[str, Field(title=N_("title"))]
    url: Annotated[str, Field(title=N_("url"))]
    summary: Annotated[str | None, Field(title=N_("summary"))] = None
    cover: Annotated[str | None, Field(title=N_("cover url")), Flag()] = None
    at: Annotated[When | None, Field(title=N_("when")), Flag()] = None
    yes: Annotated[bool, Field(title=N_("send without a preview")), Flag()] = False


class NumberArgs(ArgModel):
    """Name one issue (/publish send, cancel)."""

    number: Annotated[str | None, Field(title=N_("number"))] = None


class EditArgs(ArgModel):
    """Name one issue and give what to correct (/publish edit)."""

    number: Annotated[str | None, Field(title=N_("number"))] = None
    title: Annotated[str | None, Field(title=N_("title"))] = None
    summary: Annotated[str | None, Field(title=N_("summary")), Flag()] = None
    url: Annotated[str | None, Field(title=N_("url")), Flag()] = None
    cover: Annotated[str | None, Field(title=N_("cover url")), Flag()] = None


def _number(text: str | None, which: str) -> int:
    if text is None:
        raise InvalidInput(which).about("number")
    return magazine.check_number(text)


def _day(ctx: Context, issue: MagazineIssue) -> str:
    """Show the day an issue came out, in the reader's council's zone."""
    moment = issue.published_at or issue.created_at
    return format_date(moment.astimezone(ctx.tz).date(), "d MMM y", locale=ctx.lang)


def _show(ctx: Context, issue: MagazineIssue, *, note: Markup | None = None) -> Reply:
    """Show one issue with its Read button, and the way to the archive."""
    lines = [] if note is None else [note]
    lines.append(Markup(magazine.render(ctx.t, issue)))
    if issue.status in magazine.READABLE:
        lines.append(ctx.t("<i>Published on {day}.</i>", day=_day(ctx, issue)))
    buttons = (
        (
            magazine.read_button(ctx.t, issue),
            Button(label=ctx.t(ARCHIVE), command="/magazine archive"),
        ),
    )
    return Reply(text=Markup("\n").join(lines), buttons=buttons)


async def magazine_show(ctx: Context, args: MagazineArgs) -> Reply:
    """Show the latest issue of EMPOWER, or the one with this number."""
    if args.number is None or args.number.lower() == "latest":
        return await magazine_latest(ctx, ArchiveArgs())
    if not args.number.lstrip("#").isdecimal():
        raise InvalidInput(
            N_(
                "“{value}” is not an issue number: numbers are like 5. /magazine archive lists them."
            ),
            value=args.number,
        ).about("number")
    number = magazine.check_number(args.number)
    issue = await magazine.find(ctx.session, number)
    if issue is not None and issue.status not in magazine.READABLE:
        return await _not_out_yet(ctx, issue)
    return _show(ctx, await magazine.readable(ctx.session, number))


async def _not_out_yet(ctx: Context, issue: MagazineIssue) -> Reply:
    """Say what became of an issue not in the archive: to its author (and admins) when it
    goes out and how to stop it; to others, that it is not out yet (a preview not sent is
    its author's secret)."""
    number = issue.number
    if not await magazine.may_change(ctx.session, ctx.actor, issue):
        if issue.status is IssueStatus.DRAFT:
            return ctx.reply("There is no issue #{number} in the archive.", number=number)
        return ctx.reply("Issue #{number} is not out yet.", number=number)
    if issue.status is IssueStatus.SCHEDULED and issue.scheduled_at is not None:
        return ctx.reply(
            "Issue #{number} is scheduled for {when}; it is not in the archive yet. "
            "/publish cancel {number} cancels it.",
            number=number,
            when=format_when(issue.scheduled_at, ctx.tz, ctx.lang, now=ctx.now),
        )
    if issue.status is IssueStatus.MISSED:
        return ctx.reply(
            "Issue #{number} was due while the bot was down and was not sent: /publish send "
            "{number} sends it now, /publish cancel {number} drops it.",
            number=number,
        )
    if issue.published_by_id == ctx.actor.member_id:
        return ctx.reply(
            "Issue #{number} is your preview, not sent yet: /publish send {number} sends it, "
            "/publish cancel {number} drops it.",
            number=number,
        )
    return ctx.reply("There is no issue #{number} in the archive.", number=number)


async def magazine_latest(ctx: Context, _args: ArchiveArgs) -> Reply:
    """Show the latest issue of EMPOWER."""
    issue = await magazine.latest(ctx.session)
    if issue is None:
        return ctx.reply("No issue of EMPOWER is in the archive yet.")
    return _show(ctx, issue)


async def magazine_archive(ctx: Context, args: ArchiveArgs) -> Reply:
    """List every issue, newest first, a page at a time."""
    page = args.page or 1
    issues, total = await magazine.archive_page(ctx.session, page)
    if total == 0:
        return ctx.reply("No issue of EMPOWER is in the archive yet.")
    pages = -(-total // magazine.PAGE_SIZE)
    if not issues:
        return Reply(
            text=ctx.t.plural(
                "The archive has {count} page; there is no page {page}.",
                "The archive has {count} pages; there is no page {page}.",
                pages,
                page=page,
            )
        )
    t = ctx.t
    lines = [
        t(
            "<b>EMPOWER archive</b> (page {page} of {pages}, newest first)",
            page=page,
            pages=pages,
        )
    ]
    for issue in issues:
        lines.append(
            t(
                '#{number} · <a href="{link}">{title}</a> · {day}',
                number=issue.number,
                link=issue.link,
                title=issue.title,
                day=_day(ctx, issue),
            )
        )
    lines.append(t("<i>/magazine &lt;number&gt; shows one issue.</i>"))
    row = []
    if page > 1:
        row.append(Button(label=t(PREVIOUS), command=f"/magazine archive {page - 1}"))
    if page < pages:
        row.append(Button(label=t(NEXT), command=f"/magazine archive {page + 1}"))
    return Reply(text=Markup("\n").join(lines), buttons=(tuple(row),) if row else ())


def _taken(ctx: Context, taken: magazine.Taken) -> Conflict | Reply:
    """Refuse a number (or link) already used, showing the issue that has it."""
    issue, t = taken.issue, ctx.t
    if issue.status in magazine.READABLE:
        if taken.field == "number":
            note = t(
                "Issue #{number} is already published, so I did not publish it again. "
                "/publish edit {number} corrects it; here it is:",
                number=issue.number,
            )
        else:
            note = t(
                "That link is already issue #{number}, so I did not publish it again. Here it is:",
                number=issue.number,
            )
        shown = _show(ctx, issue, note=note)
        return Reply(text=shown.text, buttons=shown.buttons, error=note, error_field=taken.field)
    if issue.status is IssueStatus.SCHEDULED and issue.scheduled_at is not None:
        return Conflict(
            N_(
                "Issue #{number} is already scheduled for {when}. /publish cancel {number} "
                "cancels it."
            ),
            number=issue.number,
            when=format_when(issue.scheduled_at, ctx.tz, ctx.lang, now=ctx.now),
        ).about(taken.field)
    return Conflict(
        N_(
            "Issue #{number} is being prepared by another coordinator (a preview not sent "
            "yet); choose another number, or ask them to cancel theirs."
        ),
        number=issue.number,
    ).about(taken.field)


def _refuse_unquoted_title(number: int, args: PublishArgs) -> None:
    """Say how to quote a title of several words typed without quotes (`/publish 5 Growth
    stories https://...`), instead of refusing its second word as an address."""
    words = [args.url, *(args.summary or "").split()]
    at = next((i for i, word in enumerate(words) if word.startswith(("http://", "https://"))), 0)
    if at == 0:
        return
    title = " ".join([args.title, *words[:at]])
    raise InvalidInput(
        N_('Put a title of several words in quotes: /publish {number} "{title}" {url}'),
        number=number,
        title=title,
        url=words[at],
    ).about("title")


async def publish_new(ctx: Context, args: PublishArgs) -> Reply:
    """Preview a new issue of EMPOWER for every council and subscriber (`--yes`: send it)."""
    number = magazine.check_number(args.number)
    _refuse_unquoted_title(number, args)
    if args.at is not None and args.at <= ctx.now:
        raise InvalidInput(
            N_("{when} has already passed: it is {now} there. Give a later time."),
            when=format_when(args.at, ctx.tz, ctx.lang, now=ctx.now),
            now=format_when(ctx.now, ctx.tz, ctx.lang, now=ctx.now),
        ).about("at")
    try:
        issue = await magazine.create_draft(
            ctx.session,
            ctx.actor,
            number=number,
            title=args.title,
            link=args.url,
            summary=args.summary,
            cover_url=args.cover,
            at=args.at,
            language=ctx.lang,
            now=ctx.now,
        )
    except magazine.Taken as taken:
        refusal = _taken(ctx, taken)
        if isinstance(refusal, Reply):
            return refusal
        raise refusal from None
    if args.yes:
        published = await magazine.send_draft(
            ctx.session,
            ctx.actor,
            issue.number,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
        return _sent_reply(ctx, published)
    return await _preview(ctx, issue, list(args.notes(ctx.t)))


async def _preview(ctx: Context, issue: MagazineIssue, notes: list[Markup] | None = None) -> Reply:
    """Show a draft issue as its readers get it, who it reaches and when, with its buttons."""
    reached = await magazine.audience(
        ctx.session, catalogs=ctx.router.catalogs, default_language=ctx.settings.default_language
    )
    if issue.cover_url:
        notes = [*(notes or []), ctx.t("Cover: {url}", url=issue.cover_url)]
    reply = broadcasts.preview(
        ctx,
        command="publish",
        item_id=issue.number,
        summary=N_(
            "Preview of EMPOWER #{id}: it goes to {chats} and {subscribers} in {places}, "
            "{when}, with a Read button. Nothing is sent until you press Send."
        ),
        rendered=magazine.render(ctx.t, issue),
        reached=reached,
        councils=reached.councils,
        at=issue.scheduled_at,
        zone=ctx.tz,
        notes=notes or (),
    )
    # Let the author open the link before sending it to everyone.
    return reply.model_copy(
        update={"buttons": (*reply.buttons, (magazine.read_button(ctx.t, issue),))}
    )


def _sent_reply(ctx: Context, published: magazine.Published) -> Reply:
    """Confirm that an issue is on its way, or when it will go out."""
    issue, t = published.issue, ctx.t
    if issue.status is IssueStatus.SCHEDULED and issue.scheduled_at is not None:
        return ctx.reply(
            "EMPOWER #{number} will go out on {when} to every council and subscriber. "
            "/publish cancel {number} cancels it.",
            number=issue.number,
            when=format_when(issue.scheduled_at, ctx.tz, ctx.lang, now=ctx.now),
        )
    if published.chats + published.subscribers == 0:
        return ctx.reply(
            "EMPOWER #{number} is in the archive, but no chat is linked and nobody "
            "subscribed, so nobody got a message.",
            number=issue.number,
        )
    return ctx.reply(
        "EMPOWER #{number} is on its way to {chats} and {subscribers}.",
        number=issue.number,
        chats=t.plural("{count} chat", "{count} chats", published.chats),
        subscribers=t.plural("{count} subscriber", "{count} subscribers", published.subscribers),
    )


async def publish_send(ctx: Context, args: NumberArgs) -> Reply:
    """Send a previewed issue (the preview's Send button)."""
    number = _number(
        args.number, N_("Which issue should I send? Give its number, e.g. /publish send 5.")
    )
    try:
        published = await magazine.send_draft(
            ctx.session,
            ctx.actor,
            number,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
    except magazine.NotADraft as gone:
        issue = gone.issue
        if issue.status is IssueStatus.SCHEDULED and issue.scheduled_at is not None:
            raise Conflict(
                N_(
                    "Issue #{number} is already scheduled for {when}. /publish cancel "
                    "{number} cancels it."
                ),
                number=number,
                when=format_when(issue.scheduled_at, ctx.tz, ctx.lang, now=ctx.now),
            ) from None
        raise Conflict(
            N_("EMPOWER #{number} is already published. /magazine {number} shows it."),
            number=number,
        ) from None
    return _sent_reply(ctx, published)


async def publish_cancel(ctx: Context, args: NumberArgs) -> Reply:
    """Drop a previewed or scheduled issue; its number is free again."""
    number = _number(
        args.number, N_("Which issue should I cancel? Give its number, e.g. /publish cancel 5.")
    )
    issue = await magazine.cancel(ctx.session, ctx.actor, number)
    await _tell_author(
        ctx,
        issue,
        N_("{name} cancelled EMPOWER #{number}, which you had scheduled; nothing was sent."),
        key="cancelled",
    )
    return ctx.reply("Issue #{number} is cancelled; nothing was sent.", number=number)


async def _tell_author(ctx: Context, issue: MagazineIssue, message: str, *, key: str) -> None:
    """Tell an issue's author, by direct message, that an admin changed it."""
    author = issue.published_by_id
    if author is None or author == ctx.actor.member_id:
        return
    recipients = await broadcast.direct(
        ctx.session,
        [author],
        zone=magazine.ZONE,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    envelopes = [
        Envelope(
            key=f"{magazine.NOTE_SOURCE}:{key}:{issue.id}:{ctx.now.isoformat()}:{r.chat}",
            message=r.message(r.t(message, name=ctx.member.display_name, number=issue.number)),
            source=magazine.NOTE_SOURCE,
            source_id=issue.id,
            member_id=r.member_id,
        )
        for r in recipients
    ]
    await outbox.enqueue(ctx.session, envelopes, now=ctx.now)


async def publish_edit(ctx: Context, args: EditArgs) -> Reply:
    """Correct an issue's title, summary, link or cover; its posts are edited to match."""
    number = _number(
        args.number,
        N_(
            "Which issue should I correct? Give its number and the correction, e.g. /publish "
            'edit 5 "New title" --summary "New summary".'
        ),
    )
    if args.title is None and args.summary is None and args.url is None and args.cover is None:
        return await _ask_for_correction(ctx, number)
    try:
        edited = await magazine.edit_issue(
            ctx.session,
            ctx.actor,
            number,
            title=args.title,
            link=args.url,
            summary=args.summary,
            cover_url=args.cover,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
    except magazine.Taken as taken:
        refusal = _taken(ctx, taken)
        if isinstance(refusal, Reply):
            return refusal
        raise refusal from None
    issue = edited.issue
    if not (edited.unchanged and edited.edits == 0):
        await _tell_author(
            ctx,
            issue,
            N_(
                "{name} corrected EMPOWER #{number}, which you published. /magazine {number} shows it."
            ),
            key="corrected",
        )
    if issue.status is IssueStatus.DRAFT:
        return await _preview(ctx, issue)
    if edited.unchanged and edited.edits == 0:
        return ctx.reply("Issue #{number} already says that; nothing changed.", number=number)
    if issue.status is not IssueStatus.PUBLISHED:
        return ctx.reply("Issue #{number} is corrected.", number=number)
    return Reply(
        text=ctx.t.plural(
            "Issue #{number} is corrected; {count} post will be edited to match.",
            "Issue #{number} is corrected; {count} posts will be edited to match.",
            edited.edits,
            number=number,
        )
    )


async def _ask_for_correction(ctx: Context, number: int) -> Reply:
    """Say how to correct an issue; platforms with forms ask for its summary in one."""
    issue = await magazine.find(ctx.session, number)
    if issue is None:
        issue = await magazine.readable(ctx.session, number)  # says there is none
    t = ctx.t
    text = t(
        'Correct it with /publish edit {number} "&lt;new title&gt;" and/or --summary '
        '"&lt;text&gt;", --url &lt;link&gt;, --cover &lt;link&gt; (or --cover none). It reads '
        "now:",
        number=number,
    )
    return Reply(
        text=text + Markup("\n") + Markup(magazine.render(t, issue)),
        form=FormRequest(
            command="publish",
            args="edit",
            fixed={"number": str(number)},
            field="summary",
            title=f"/publish edit {number}",
            label=str(t("Summary")),
            submit=str(t("Save")),
            close=str(t(broadcasts.CANCEL)),
            value=issue.summary,
        ),
    )


async def publish_due(job: JobRun) -> None:
    """Post a scheduled issue when it is due."""
    await magazine.publish_scheduled(
        job.session,
        job.payload,
        job.now,
        catalogs=job.catalogs,
        default_language=job.default_language,
    )


async def note_missed(job: JobRun) -> None:
    """Keep an issue that was due while the bot was down as missed: /publish send sends it."""
    await magazine.mark_missed(job.session, job.payload, job.now)


async def read_the_feed(run: PeriodicRun) -> None:
    """Read the magazine's feed: archive it the first time, post its new entries after."""
    settings = run.settings
    if not settings.magazine_feed_url:
        return
    await magazine_feed.read_feed(
        run.sessionmaker,
        settings.magazine_feed_url,
        get=run.get,
        now=run.now,
        catalogs=run.catalogs,
        default_language=run.default_language,
        admins=settings.admin_identities,
        every_minutes=settings.magazine_feed_minutes,
    )


def feed_interval(settings: Any) -> float | None:
    """Return how often the feed is read, in seconds (None: no feed is configured)."""
    if not settings.magazine_feed_url:
        return None
    return float(settings.magazine_feed_minutes) * 60


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "magazine",
        magazine_show,
        N_("Read EMPOWER, the project's magazine: the latest issue, the archive or one issue."),
        MAGAZINE,
        MagazineArgs,
        usage_text="/magazine [latest|archive|<{number}>]",
        details=N_(
            "/magazine shows the latest issue with a Read button, /magazine archive lists "
            "every issue (newest first, with Next and Previous), /magazine 4 shows issue #4. "
            "/subscribe magazine sends you new issues by direct message."
        ),
        subcommands=(
            SubCommand("latest", magazine_latest, N_("Show the latest issue of EMPOWER.")),
            SubCommand(
                "archive",
                magazine_archive,
                N_("List every issue of EMPOWER, newest first."),
                ArchiveArgs,
                usage_text="/magazine archive [{page}]",
                form=False,
            ),
        ),
    ),
    CommandSpec(
        "publish",
        publish_new,
        N_("Publish an issue of EMPOWER to every council and its subscribers."),
        MAGAZINE,
        PublishArgs,
        role=Role.COORDINATOR,
        form=True,
        usage_text=(
            '/publish <{number}> "<{title}>" <{url}> ["<{summary}>"] [--cover <{cover url}>] '
            "[--at <{when}>] [--yes]"
        ),
        details=N_(
            "Every council's linked chats get it, and members subscribed to the magazine by "
            "direct message, with a Read button and the cover as a picture. First you see a "
            "preview with Send, Edit and Cancel; --yes sends at once, --at tomorrow 09:00 "
            "schedules it. A number already published is refused. After sending, /publish "
            "edit corrects the posts in place. Only its author or an admin can cancel or "
            "correct an issue."
        ),
        subcommands=(
            SubCommand(
                "send",
                publish_send,
                N_("Send a previewed issue."),
                NumberArgs,
                usage_text="/publish send <{number}>",
            ),
            SubCommand(
                "cancel",
                publish_cancel,
                N_("Cancel a previewed or scheduled issue."),
                NumberArgs,
                usage_text="/publish cancel <{number}>",
            ),
            SubCommand(
                "edit",
                publish_edit,
                N_("Correct an issue's title, summary, link or cover, also after it went out."),
                EditArgs,
                usage_text=(
                    '/publish edit <{number}> ["<{title}>"] [--summary "<{summary}>"] '
                    "[--url <{url}>] [--cover <{cover url}>|none]"
                ),
            ),
        ),
    ),
)

FEATURE = Feature(
    "magazine",
    commands=COMMANDS,
    jobs=(JobKind(magazine.SEND_JOB, run=publish_due, missed=note_missed),),
    topic=Topic(magazine.TOPIC, N_("magazine issues"), per_council=False),
    periodic=(Periodic("magazine.feed", read_the_feed, feed_interval),),
    # The weekly digest offers a new issue; /mydata lists the issues a member published.
    member=MemberData(export=magazine.export_published, digest=magazine.digest_sections),
)
