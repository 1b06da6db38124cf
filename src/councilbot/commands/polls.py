"""Polls: /poll (preview, send, edit, cancel), /vote, /unvote, /results, /closepoll, /remindpoll.

`/poll "Question?" "Option" "Option" ...` answers with the poll as its readers will see it,
who it reaches and Send / Edit / Cancel; nothing is posted until Send. Votes come from
buttons (Telegram inline keyboards, Slack Block Kit, numbers on the console), from typed
/vote, and from Telegram's native polls (the adapter turns a `poll_answer` into
`/vote tg:<poll id> <option ids>`); they all add up to one set of results.
"""

from __future__ import annotations

import contextlib
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from markupsafe import Markup
from pydantic import Field

from councilbot.commands import broadcasts
from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import Feature, JobKind, JobRun, MemberData, Topic
from councilbot.core.formatting import format_when
from councilbot.core.grammar import ArgModel, CommaList, Councils, Flag, Rest, When
from councilbot.core.i18n import N_
from councilbot.core.messages import Attachment, FormRequest, Platform, Reply
from councilbot.core.router import CommandSpec, Context, Role, SubCommand
from councilbot.db.models import Council, Poll, PollKind, PollOption, PollStatus
from councilbot.services import councils as council_service
from councilbot.services import polls

POLLS = N_("Polls")


class PollArgs(ArgModel):
    # Typed: the question and each option in quotes; in a form: one per line.
    words: Annotated[list[str], Field(title=N_("question, then one option per line"))] = []
    multi: Annotated[bool, Field(title=N_("several choices")), Flag()] = False
    rating: Annotated[bool, Field(title=N_("a rating from 1 to 5")), Flag()] = False
    anonymous: Annotated[bool, Field(title=N_("anonymous")), Flag()] = False
    closes: Annotated[When | None, Field(title=N_("when")), Flag()] = None
    to: Annotated[str | None, Field(title=N_("councils")), Flag(), CommaList(), Councils()] = None
    results: Annotated[
        Literal["after-close", "live"] | None, Field(title=N_("results")), Flag()
    ] = None
    every: Annotated[Literal["week", "month"] | None, Field(title=N_("period")), Flag()] = None
    other: Annotated[bool, Field(title=N_("voters add answers")), Flag()] = False
    no_reminder: Annotated[bool, Field(title=N_("no reminder")), Flag()] = False
    yes: Annotated[bool, Field(title=N_("send without a preview")), Flag()] = False


class IdArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("poll"))] = None


class VoteArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("poll"))] = None
    choice: Annotated[str | None, Field(title=N_("option")), Rest()] = None
    other: Annotated[str | None, Field(title=N_("your answer")), Flag()] = None


class ResultsArgs(ArgModel):
    id: Annotated[str | None, Field(title=N_("poll"))] = None
    format: Annotated[Literal["csv", "chart"] | None, Field(title=N_("format"))] = None


def _place(poll: Poll) -> str:
    return ", ".join(c.name for c in poll.councils) or "CouncilBot"


async def _targets(ctx: Context, args: PollArgs) -> tuple[list[Council], bool]:
    """Read where a poll goes: --to, else this chat's council."""
    if args.to is not None:
        targets = await polls.resolve_targets(ctx.session, ctx.actor, args.to)
        return targets, council_service.council_key(args.to) == "all"
    if ctx.channel is None or ctx.council is None:
        raise InvalidInput(
            N_("Which councils is the poll for? Add --to and their names, e.g. --to cork,malaga.")
        ).about("to")
    council = await council_service.get_council(ctx.session, ctx.council.slug)
    return await polls.resolve_targets(ctx.session, ctx.actor, council.slug), False


async def poll_new(ctx: Context, args: PollArgs) -> Reply:
    """Preview a poll to councils (`--yes`: send it at once)."""
    if not args.words:
        raise InvalidInput(
            N_('Write the question and the options, each in quotes: /poll "Lunch?" "Yes" "No".')
        ).about("words")
    if args.multi and args.rating:
        raise InvalidInput(N_("A poll is either --multi or --rating, not both."))
    targets, everyone = await _targets(ctx, args)
    here = ctx.council if ctx.channel is not None else None
    zone = (
        ctx.tz if here and any(c.id == here.id for c in targets) else ZoneInfo(targets[0].timezone)
    )
    kind = PollKind.RATING if args.rating else PollKind.MULTIPLE if args.multi else PollKind.SINGLE
    spec = polls.PollSpec(
        question=args.words[0],
        options=tuple(args.words[1:]),
        kind=kind,
        anonymous=args.anonymous,
        results_after_close=args.results == "after-close",
        allow_other=args.other,
        remind=not args.no_reminder,
        closes_at=args.closes,
        every=args.every,
    )
    poll = await polls.create_poll(
        ctx.session,
        actor=ctx.actor,
        targets=targets,
        spec=spec,
        now=ctx.now,
        timezone=zone,
        all_councils=everyone,
    )
    if args.yes:
        poll, reached = await polls.send_draft(
            ctx.session,
            ctx.actor,
            poll.id,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
        return _sent(ctx, poll, reached)
    return await _preview(ctx, poll, list(args.notes(ctx.t)))


async def _preview(ctx: Context, poll: Poll, notes: list[Markup]) -> Reply:
    reached = await polls.audience(
        ctx.session,
        poll,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    rendered = polls.render(
        ctx.t, poll, polls.Results(poll), place=_place(poll), tz=polls.zone(poll), now=ctx.now
    )
    return broadcasts.preview(
        ctx,
        command="poll",
        item_id=poll.id,
        summary=N_(
            "Preview of poll #{id}: it goes to {chats} and {subscribers} in {places}, {when}. "
            "Nothing is sent until you press Send."
        ),
        rendered=rendered,
        reached=reached,
        councils=poll.councils,
        at=None,
        zone=polls.zone(poll),
        notes=notes,
    )


def _sent(ctx: Context, poll: Poll, reached: polls.broadcast.Audience) -> Reply:
    t = ctx.t
    lines = [
        t(
            "Poll #{id} is open: it went to {chats} and {subscribers}.",
            id=poll.id,
            chats=t.plural("{count} chat", "{count} chats", reached.chats),
            subscribers=t.plural("{count} subscriber", "{count} subscribers", reached.subscribers),
        )
    ]
    if poll.closes_at is not None:
        lines.append(
            t(
                "It closes by itself {when}; /closepoll {id} closes it sooner.",
                id=poll.id,
                when=format_when(poll.closes_at, polls.zone(poll), ctx.lang, now=ctx.now),
            )
        )
    else:
        lines.append(t("/closepoll {id} closes it.", id=poll.id))
    lines.append(t("/results {id} shows the results.", id=poll.id))
    return Reply(text=Markup("\n").join(lines))


def _not_a_draft(poll: Poll) -> Conflict:
    if poll.status is PollStatus.CANCELLED:
        return Conflict(
            N_("Poll #{id} was cancelled; put it again if you still want it."), id=poll.id
        )
    return Conflict(N_("Poll #{id} was already sent; /results {id} shows how it goes."), id=poll.id)


async def poll_send(ctx: Context, args: IdArgs) -> Reply:
    """Send a previewed poll (the preview's Send button)."""
    try:
        poll, reached = await polls.send_draft(
            ctx.session,
            ctx.actor,
            polls.parse_id(args.id),
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
    except polls.NotADraft as gone:
        raise _not_a_draft(gone.poll) from None
    return _sent(ctx, poll, reached)


async def poll_cancel(ctx: Context, args: IdArgs) -> Reply:
    """Drop a previewed poll (the preview's Cancel button)."""
    try:
        poll = await polls.cancel_draft(ctx.session, ctx.actor, polls.parse_id(args.id))
    except polls.NotADraft as gone:
        if gone.poll.status is PollStatus.OPEN:
            raise Conflict(
                N_("Poll #{id} is already open; /closepoll {id} closes it."), id=gone.poll.id
            ) from None
        raise _not_a_draft(gone.poll) from None
    return ctx.reply("Poll #{id} is cancelled; it will not be sent.", id=poll.id)


async def poll_edit(ctx: Context, args: IdArgs) -> Reply:
    """Drop a previewed poll and say how to put it again, changed (the preview's Edit button)."""
    try:
        poll = await polls.cancel_draft(ctx.session, ctx.actor, polls.parse_id(args.id))
    except polls.NotADraft as gone:
        raise _not_a_draft(gone.poll) from None
    typed = " ".join(
        [f'/poll "{poll.question}"']
        + [f'"{o.label}"' for o in poll.options if poll.kind is not PollKind.RATING]
        + (["--rating"] if poll.kind is PollKind.RATING else [])
        + (["--multi"] if poll.kind is PollKind.MULTIPLE else [])
        + (["--anonymous"] if poll.anonymous else [])
        + (["--other"] if poll.allow_other else [])
        + (["--results after-close"] if poll.results_after_close else [])
    )
    return Reply(
        text=ctx.t(
            "Poll #{id} is set aside. Send /poll again with your changes; it was:", id=poll.id
        )
        + Markup("\n<pre>%s</pre>") % typed
    )


def _poll_id(ctx: Context, text: str | None) -> int | str:
    """Read a poll id, or a native Telegram poll's (`tg:<id>`, from the adapter)."""
    if text is not None and text.startswith(polls.NATIVE):
        if ctx.command.sender.platform is not Platform.TELEGRAM:
            raise InvalidInput(
                N_("“{value}” is not a poll number: polls have numbers, like 12."), value=text
            )
        return text[len(polls.NATIVE) :]
    return polls.parse_id(text)


async def vote(ctx: Context, args: VoteArgs) -> Reply:
    """Vote in a poll, by the option's number or its text."""
    which = _poll_id(ctx, args.id)
    if isinstance(which, str):
        return await _native_vote(ctx, which, args.choice or "")
    poll = await polls.get_poll(ctx.session, which)
    other = args.other
    choice = args.choice
    if choice is not None and poll.allow_other:
        word, _, rest = choice.partition(" ")
        if word.lower().rstrip(":") in ("other", ctx.t("other").lower()) and not any(
            o.label.casefold() == choice.casefold() for o in poll.options
        ):
            other = rest.strip() or ""
            choice = None
    if other is not None:
        if not other:
            return _ask_other(ctx, poll)
        added = await polls.add_other(ctx.session, await polls.lock(ctx.session, poll.id), other)
        return await _cast(ctx, poll.id, [added])
    if choice is None:
        return await _ballot(ctx, poll)
    word, _, rest = choice.partition(" ")
    if word.lower() == "ballot" and poll.anonymous and poll.kind is PollKind.MULTIPLE:
        return await _anonymous_ballot(ctx, poll, rest)
    several = poll.kind is PollKind.MULTIPLE and _numbers(choice)
    return await _cast(ctx, poll.id, choice.replace(",", " ").split() if several else [choice])


async def _anonymous_ballot(ctx: Context, poll: Poll, ticked: str) -> Reply:
    """Show an anonymous multiple-choice ballot with what is ticked so far, to cast at once."""
    polls.check_open(poll, ctx.now)
    if await polls.has_voted(ctx.session, poll, ctx.member.id, polls.secret_of(ctx.settings)):
        raise Conflict(
            N_(
                "You have already voted in anonymous poll #{id}. Since nobody knows what you "
                "chose, not even the bot, an anonymous vote cannot be changed or taken back."
            ),
            id=poll.id,
        )
    known = {o.position for o in poll.options}
    picked = {int(p) for p in ticked.replace(",", " ").split() if p.isdecimal()} & known
    t = ctx.t
    text = t(
        "Poll #{id}: <b>{question}</b>\nTick every option you choose, then press Cast my vote. "
        "An anonymous vote cannot be changed once cast.",
        id=poll.id,
        question=poll.question,
    )
    return Reply(text=text, buttons=polls.ballot_buttons(t, poll, picked), private=True)


def _numbers(text: str) -> bool:
    return all(part.isdecimal() for part in text.replace(",", " ").split())


def _ask_other(ctx: Context, poll: Poll) -> Reply:
    t = ctx.t
    return Reply(
        text=t("Type your own answer: /vote {id} other Your answer", id=poll.id),
        form=FormRequest(
            command="vote",
            field="other",
            fixed={"id": str(poll.id)},
            title=f"/vote {poll.id}",
            label=str(t("Your answer")),
            submit=str(t("Vote")),
            close=str(t(broadcasts.CANCEL)),
        ),
    )


async def _ballot(ctx: Context, poll: Poll) -> Reply:
    """Show a poll's options as buttons, and what the member chose so far."""
    t = ctx.t
    if poll.status is not PollStatus.OPEN:
        polls.check_open(poll, ctx.now)
    lines = [t("Poll #{id}: <b>{question}</b>", id=poll.id, question=poll.question)]
    mine = await polls.my_choices(ctx.session, poll, ctx.member.id)
    if mine:
        lines.append(t("You chose: {options}.", options=", ".join(o.label for o in mine)))
    elif poll.anonymous and await polls.has_voted(
        ctx.session, poll, ctx.member.id, polls.secret_of(ctx.settings)
    ):
        lines.append(t("You have voted; anonymous votes cannot be changed."))
    else:
        lines.append(t("Pick an option:"))
    return Reply(text=Markup("\n").join(lines), buttons=polls.vote_buttons(t, poll))


async def _cast(ctx: Context, poll_id: int, chosen: list[PollOption] | list[str]) -> Reply:
    voted = await polls.vote(
        ctx.session,
        poll_id,
        ctx.member.id,
        ctx.command.sender.platform,
        chosen,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
        secret=polls.secret_of(ctx.settings),
    )
    poll = voted.poll
    t = ctx.t
    if poll.anonymous:
        text = t(
            "Your anonymous vote in poll #{id} is counted. Nobody can see what you chose.",
            id=poll.id,
        )
        return Reply(text=text, private=True, notice=True)
    if poll.kind is PollKind.MULTIPLE:
        mine = await polls.my_choices(ctx.session, poll, ctx.member.id)
        text = t(
            "Your choices in poll #{id}: {options}. /unvote {id} takes them back.",
            id=poll.id,
            options=", ".join(o.label for o in mine),
        )
    elif not voted.changed:
        text = t(
            "You had already voted {option} in poll #{id}.",
            id=poll.id,
            option=voted.chosen[0].label,
        )
    else:
        text = t(
            "Your vote in poll #{id}: {option}. Vote again to change it; /unvote {id} takes it back.",
            id=poll.id,
            option=voted.chosen[0].label,
        )
    # For the voter alone: the post they pressed a button on stays the poll.
    return Reply(text=text, private=True, notice=True)


async def _native_vote(ctx: Context, native_id: str, choice: str) -> Reply:
    """Record a Telegram native poll's answer: exactly the options chosen (none: taken back)."""
    poll_id = await polls.poll_for_native(ctx.session, native_id)
    if poll_id is None:
        raise InvalidInput(N_("That poll is not one of mine."))
    poll = await polls.lock(ctx.session, poll_id)
    picks = [int(p) for p in choice.split() if p.isdecimal()]
    options = [o for o in poll.options if o.position - 1 in picks]
    if not options:
        await polls.unvote(
            ctx.session,
            poll.id,
            ctx.member.id,
            now=ctx.now,
            catalogs=ctx.router.catalogs,
            default_language=ctx.settings.default_language,
        )
        return ctx.reply("Your vote in poll #{id} is taken back.", id=poll.id)
    await polls.vote(
        ctx.session,
        poll.id,
        ctx.member.id,
        Platform.TELEGRAM,
        options,
        now=ctx.now,
        replace=True,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
        secret=polls.secret_of(ctx.settings),
    )
    return ctx.reply("Your vote in poll #{id} is counted.", id=poll.id)


async def unvote(ctx: Context, args: IdArgs) -> Reply:
    """Take your vote in a poll back."""
    which = _poll_id(ctx, args.id)
    if isinstance(which, str):
        return await _native_vote(ctx, which, "")
    gone = await polls.unvote(
        ctx.session,
        which,
        ctx.member.id,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
    )
    if not gone:
        return ctx.reply("You have not voted in poll #{id}; nothing to take back.", id=which)
    return ctx.reply("Your vote in poll #{id} is taken back.", id=which)


async def results(ctx: Context, args: ResultsArgs) -> Reply:
    """Show a poll's results as text with bars and a chart (`csv`: a CSV for coordinators)."""
    poll = await polls.get_poll(ctx.session, polls.parse_id(args.id))
    t = ctx.t
    if poll.status is PollStatus.DRAFT:
        return ctx.reply("Poll #{id} has not been sent yet.", id=poll.id)
    if not polls.counts_visible(poll):
        if poll.closes_at is not None:
            return ctx.reply(
                "Nobody sees the results of poll #{id}, its author included, until it closes "
                "{when}.",
                id=poll.id,
                when=format_when(poll.closes_at, polls.zone(poll), ctx.lang, now=ctx.now),
            )
        return ctx.reply(
            "Nobody sees the results of poll #{id}, its author included, until it closes.",
            id=poll.id,
        )
    if args.format == "csv":
        if not await polls.may_manage(ctx.session, ctx.actor, poll):
            raise Forbidden(
                N_(
                    "Only the author of poll #{id}, an admin or a coordinator of its councils "
                    "can do that."
                ),
                id=poll.id,
            )
        data = await polls.csv_export(ctx.session, poll)
        return Reply(
            text=t("The results of poll #{id} as CSV.", id=poll.id),
            file=Attachment(filename=f"poll-{poll.id}.csv", content_type="text/csv", data=data),
            private=True,
        )
    found = await polls.tally(ctx.session, poll)
    state = t("closed") if poll.status is PollStatus.CLOSED else t("open")
    lines = [
        t("📊 <b>Results of poll #{id}</b> ({state})", id=poll.id, state=state),
        Markup("<b>%s</b>") % poll.question,
        *polls.bar_lines(t, found),
        Markup(" · ").join(polls.summary_lines(t, found)),
    ]
    previous = await polls.previous_round(ctx.session, poll)
    if previous is not None and polls.counts_visible(previous):
        before = await polls.tally(ctx.session, previous)
        lines.append(t("Compared with the previous round (poll #{id}):", id=previous.id))
        for option in poll.options:
            old = next((o for o in previous.options if o.label == option.label), None)
            was = before.count(old) if old else 0
            change = found.count(option) - was
            lines.append(
                t(
                    "{option}: {now} (was {was}, {change})",
                    option=option.label,
                    now=found.count(option),
                    was=was,
                    change=f"{change:+d}",
                )
            )
        if poll.kind is PollKind.RATING and before.average is not None:
            lines.append(t("Average before: {average}", average=f"{before.average:.1f}"))
    follow = await polls.feedback_follow_up(ctx.session, poll)
    if follow is not None and polls.counts_visible(follow):
        more = await polls.tally(ctx.session, follow)
        lines += [Markup("<b>%s</b>") % follow.question, *polls.bar_lines(t, more)]
    picture = None
    if found.votes and args.format != "csv":
        picture = Attachment(
            filename=f"poll-{poll.id}.png", content_type="image/png", data=await polls.chart(found)
        )
    return Reply(text=Markup("\n").join(lines), file=picture)


async def closepoll(ctx: Context, args: IdArgs) -> Reply:
    """Close a poll now: voting stops and the final results are posted where it was."""
    poll = await polls.close_poll(
        ctx.session,
        polls.parse_id(args.id),
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
        actor=ctx.actor,
    )
    return ctx.reply(
        "Poll #{id} is closed; its final results are posted where it was. /results {id} shows "
        "them.",
        id=poll.id,
    )


async def remindpoll(ctx: Context, args: IdArgs) -> Reply:
    """Remind those who have not voted yet, by direct message, once each."""
    number = polls.parse_id(args.id)
    sent = await polls.remind(
        ctx.session,
        number,
        now=ctx.now,
        catalogs=ctx.router.catalogs,
        default_language=ctx.settings.default_language,
        actor=ctx.actor,
        secret=polls.secret_of(ctx.settings),
    )
    if not sent:
        return ctx.reply(
            "Nobody to remind in poll #{id}: everyone asked has voted or was reminded already.",
            id=number,
        )
    return Reply(
        text=ctx.t.plural(
            "I reminded {count} member who had not voted in poll #{id}.",
            "I reminded {count} members who had not voted in poll #{id}.",
            sent,
            id=number,
        )
    )


async def close_due(job: JobRun) -> None:
    """Close a poll at its closing time (also one found overdue after a restart)."""
    with contextlib.suppress(Conflict, NotFound):  # closed by hand meanwhile, or gone
        await polls.close_poll(
            job.session,
            polls.job_payload_id(job.payload),
            now=job.now,
            catalogs=job.catalogs,
            default_language=job.default_language,
        )


async def remind_due(job: JobRun) -> None:
    """Remind a poll's non-voters 24 hours before it closes."""
    with contextlib.suppress(Conflict, NotFound):
        await polls.remind(
            job.session,
            polls.job_payload_id(job.payload),
            now=job.now,
            catalogs=job.catalogs,
            default_language=job.default_language,
            secret=polls.secret_of(job.settings),
        )


POLL_DETAILS = N_(
    "Put the question and then each option in quotes. --multi lets voters choose several "
    "options, --rating asks for a mark from 1 to 5, --other lets voters add their own answer. "
    "--closes tomorrow 17:00 closes it by itself (members who have not voted are reminded 24 "
    "hours before, unless --no-reminder). --results after-close hides the counts from "
    "everyone, you included, until it closes. --every week|month starts a new round at each "
    "closing. --anonymous: the bot keeps only the counts, never who chose what, so nobody, "
    "you, coordinators and the database's administrators included, can see anyone's choice; "
    "for the same reason an anonymous vote cannot be changed or taken back. Without "
    "--anonymous, coordinators can see who voted for what (/results with csv). You see a "
    "preview first, with Send, Edit and Cancel; --yes sends at once."
)

COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "poll",
        poll_new,
        N_("Put a poll to one, several or all councils."),
        POLLS,
        PollArgs,
        role=Role.COORDINATOR,
        form=True,
        usage_text=(
            '/poll "<{question}>" "<{option}>" "<{option}>" ... [--multi] [--rating] '
            "[--anonymous] [--closes <{when}>] [--to <{councils}|all>] [--results after-close] "
            "[--every week|month] [--other] [--no-reminder]"
        ),
        details=POLL_DETAILS,
        subcommands=(
            SubCommand(
                "send",
                poll_send,
                N_("Send a previewed poll."),
                IdArgs,
                usage_text="/poll send <{id}>",
            ),
            SubCommand(
                "edit",
                poll_edit,
                N_("Set a previewed poll aside to put it again, changed."),
                IdArgs,
                usage_text="/poll edit <{id}>",
            ),
            SubCommand(
                "cancel",
                poll_cancel,
                N_("Drop a previewed poll."),
                IdArgs,
                usage_text="/poll cancel <{id}>",
            ),
        ),
    ),
    CommandSpec(
        "vote",
        vote,
        N_("Vote in a poll, by the option's number or its text."),
        POLLS,
        VoteArgs,
        usage_text="/vote <{poll}> [<{option}>]",
        details=N_(
            "Without an option, shows the poll's options as buttons. In a multiple-choice poll, "
            "give several numbers: /vote 12 1 3. In a poll that takes your own answer: "
            "/vote 12 other Your answer."
        ),
    ),
    CommandSpec(
        "unvote",
        unvote,
        N_("Take your vote in a poll back."),
        POLLS,
        IdArgs,
        usage_text="/unvote <{poll}>",
    ),
    CommandSpec(
        "results",
        results,
        N_("Show a poll's results, as text and as a chart."),
        POLLS,
        ResultsArgs,
        usage_text="/results <{poll}> [csv]",
        details=N_(
            "All platforms' votes are added up. csv gives coordinators a CSV file of the counts "
            "and, for polls that are not anonymous, of who voted what."
        ),
    ),
    CommandSpec(
        "closepoll",
        closepoll,
        N_("Close a poll now and post its final results."),
        POLLS,
        IdArgs,
        role=Role.COORDINATOR,
        usage_text="/closepoll <{poll}>",
    ),
    CommandSpec(
        "remindpoll",
        remindpoll,
        N_("Remind those who have not voted in a poll yet, by direct message."),
        POLLS,
        IdArgs,
        role=Role.COORDINATOR,
        usage_text="/remindpoll <{poll}>",
    ),
)

FEATURE = Feature(
    "polls",
    commands=COMMANDS,
    jobs=(
        JobKind(polls.CLOSE_JOB, run=close_due, missed=close_due),
        JobKind(polls.REMIND_JOB, run=remind_due),
    ),
    topic=Topic(polls.TOPIC, N_("polls")),
    # What /me, the weekly digest, /mydata and /forgetme show and erase of it.
    member=MemberData(
        export=polls.export_votes,
        forget=polls.forget_votes,
        home=polls.home_sections,
        digest=polls.digest_sections,
    ),
)
