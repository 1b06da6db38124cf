"""Polls: a question to councils' chats (or to some members), one set of results everywhere.

A poll goes out through the broadcast engine: to the chats linked to its councils and to
members subscribed to polls, or (an event's feedback) by direct message to named members.
On Telegram, a non-anonymous single or multiple choice poll in a group is a native poll;
its `poll_answer` updates come back as votes (`vote_native`). Everywhere else, and for
anonymous polls, ratings, "Other…" answers and hidden results, voters press buttons or
type /vote. Every vote, wherever it comes from, lands in the same rows, so there is one
set of results.

Anonymity: an anonymous poll keeps only counts per option (`PollTally`, all platforms
together), how many voted from each platform (`PollTurnout`, whatever they chose) and,
apart from them, a keyed hash of member and poll (`PollBallot`): enough to refuse a second
vote and to remind those who have not voted, never what anyone chose. The hash's key comes
from the COUNCILBOT_POLL_SECRET setting, and is then nowhere in the database; unset, it is a
random per-install secret kept in `poll_keys` (`PollKey`). An anonymous vote therefore cannot
be changed or taken back.

Who takes part: `require_voter` and `require_reader` let those a poll asks (`_in_audience`,
or a direct poll's invitees) vote and read its results, and its managers.
"""

from __future__ import annotations

import calendar
import csv
import hashlib
import hmac
import io
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from sqlalchemy import case, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import Erasure, HomeSection, MemberView
from councilbot.core.formatting import format_when
from councilbot.core.i18n import N_, Catalogs, Translator
from councilbot.core.ids import parse_prefixed_id
from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.db.models import (
    Council,
    Delivery,
    DeliveryOperation,
    Member,
    Poll,
    PollBallot,
    PollKey,
    PollKind,
    PollOption,
    PollPost,
    PollReminder,
    PollStatus,
    PollTally,
    PollTurnout,
    PollVote,
    Subscription,
)
from councilbot.db.session import upsert
from councilbot.delivery import files
from councilbot.delivery.targets import FileRef, NativePoll, Outgoing
from councilbot.services import access, broadcast, charts, councils, home, jobs
from councilbot.services.access import Actor
from councilbot.settings import Settings

if TYPE_CHECKING:
    from matplotlib.figure import Figure

SOURCE = "poll"  # the poll's posts in the outbox
REMINDER_SOURCE = "poll_reminder"
RESULTS_SOURCE = "poll_results"  # the final results, posted where the poll was
TOPIC = "polls"
CLOSE_JOB = "poll.close"
REMIND_JOB = "poll.remind"
DEFAULT_LANGUAGE = "en"
REMIND_BEFORE = timedelta(hours=24)
LIVE_THROTTLE = timedelta(seconds=30)  # at most one edit of a post's counts this often
MAX_OPTIONS = 10  # Telegram's native polls take up to 10 (12 in newer clients)
MAX_WITH_OTHERS = 20  # options, voters' own answers included
MAX_QUESTION = 300  # Telegram's limit for a native poll's question
MAX_OPTION = 100  # ... and for an option
BAR = "▇"
BAR_WIDTH = 10
RATINGS = ("1", "2", "3", "4", "5")
EVERY = {"week": timedelta(weeks=1), "month": timedelta(days=31)}  # the longest round
NATIVE = "tg:"  # how a native Telegram poll's id is given to /vote and /unvote
TOGGLE = "toggle"  # `/vote 12 toggle 3`: a multiple-choice button ticks or unticks option 3

ANONYMOUS_NOTE = N_(
    "Anonymous: the bot keeps only the counts. Nobody, the poll's author, coordinators and "
    "the database's administrators included, can see what you chose, and so an anonymous "
    "vote cannot be changed or taken back."
)
PUBLIC_NOTE = N_("Not anonymous: coordinators can see who voted for what.")


def zone(poll: Poll) -> ZoneInfo:
    """Return the zone a poll's times are shown in."""
    return ZoneInfo(poll.timezone)


def close_job(poll_id: int) -> str:
    """Name the job that closes a poll."""
    return f"poll:{poll_id}:close"


def remind_job(poll_id: int) -> str:
    """Name the job that reminds a poll's non-voters."""
    return f"poll:{poll_id}:remind"


def parse_id(text: str | None) -> int:
    """Read a poll id as typed (`12`, `#12`, `P12`), or say what one looks like."""
    return parse_prefixed_id(
        text,
        "P",
        what=N_("“{value}” is not a poll number: polls have numbers, like 12."),
        missing=N_("Which poll? Give its number, e.g. 12."),
    )


# --- creating and sending ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PollSpec:
    """What a coordinator asks: the question, its options and how the poll works."""

    question: str
    options: tuple[str, ...] = ()
    kind: PollKind = PollKind.SINGLE
    anonymous: bool = False
    results_after_close: bool = False
    allow_other: bool = False
    remind: bool = True
    closes_at: datetime | None = None
    every: str | None = None


def check_spec(spec: PollSpec, now: datetime) -> PollSpec:
    """Refuse a poll that cannot work, saying what would."""
    question = spec.question.strip()
    if not question:
        raise InvalidInput(N_("Please write the poll's question, in quotes.")).about("words")
    if len(question) > MAX_QUESTION:
        raise InvalidInput(
            N_("The question is too long: at most {limit} characters."), limit=MAX_QUESTION
        ).about("words")
    options = tuple(o.strip() for o in spec.options if o.strip())
    if spec.kind is PollKind.RATING:
        if spec.allow_other:
            raise InvalidInput(N_("A rating poll takes marks only: --other does not go with it."))
        if options:
            raise InvalidInput(
                N_("A rating poll asks for a mark from 1 to 5: give it no options.")
            ).about("words")
        options = RATINGS
    elif len(options) < 2 and not (spec.allow_other and options):
        raise InvalidInput(
            N_('A poll needs at least two options, each in quotes: /poll "Question?" "Yes" "No".')
        ).about("words")
    if len(options) > MAX_OPTIONS:
        raise InvalidInput(N_("A poll can have at most {limit} options."), limit=MAX_OPTIONS)
    if any(len(o) > MAX_OPTION for o in options):
        raise InvalidInput(N_("Each option can have at most {limit} characters."), limit=MAX_OPTION)
    if len({o.casefold() for o in options}) != len(options):
        raise InvalidInput(N_("Two options are the same; give each once."))
    if spec.closes_at is not None and spec.closes_at <= now:
        raise InvalidInput(N_("The closing time has already passed.")).about("closes")
    if spec.every is not None and spec.closes_at is None:
        raise InvalidInput(
            N_("A recurring poll needs a closing time (--closes): each round closes at it.")
        ).about("every")
    if (
        spec.every is not None
        and spec.closes_at is not None
        and spec.closes_at - now > EVERY[spec.every]
    ):
        raise InvalidInput(
            N_("A round cannot last longer than its period: close it sooner.")
        ).about("closes")
    return PollSpec(
        question=question,
        options=options,
        kind=spec.kind,
        anonymous=spec.anonymous,
        results_after_close=spec.results_after_close,
        allow_other=spec.allow_other,
        remind=spec.remind,
        closes_at=spec.closes_at,
        every=spec.every,
    )


async def _not_coordinated(
    session: AsyncSession, actor: Actor, targets: Sequence[Council]
) -> list[str]:
    if await access.is_admin(session, actor):
        return []
    mine = await access.coordinated_council_ids(session, actor.member_id)
    return [c.name for c in targets if c.id not in mine]


async def resolve_targets(session: AsyncSession, actor: Actor, text: str) -> list[Council]:
    """Read the councils a poll goes to, checking the actor coordinates them all."""
    targets = await councils.get_councils(session, text)
    if not targets:
        raise InvalidInput(N_("Please name at least one council, or all.")).about("to")
    missing = await _not_coordinated(session, actor, targets)
    if missing:
        raise Forbidden(
            N_("You can only put polls to councils you coordinate; not to {councils}."),
            councils=", ".join(missing),
        )
    return targets


async def create_poll(
    session: AsyncSession,
    *,
    actor: Actor | None,
    targets: Sequence[Council],
    spec: PollSpec,
    now: datetime,
    timezone: ZoneInfo,
    all_councils: bool = False,
    previous: Poll | None = None,
) -> Poll:
    """Keep a draft poll for its preview (nothing is posted until it is sent)."""
    spec = check_spec(spec, now)
    poll = Poll(
        author_id=actor.member_id if actor else None,
        question=spec.question,
        kind=spec.kind,
        anonymous=spec.anonymous,
        results_after_close=spec.results_after_close,
        allow_other=spec.allow_other,
        remind=spec.remind,
        all_councils=all_councils,
        status=PollStatus.DRAFT,
        closes_at=spec.closes_at,
        timezone=str(timezone),
        every=spec.every,
        previous_round_id=previous.id if previous else None,
        created_at=now,
        councils=list(targets),
        options=[PollOption(position=n, label=label) for n, label in enumerate(spec.options, 1)],
    )
    session.add(poll)
    await session.flush()
    return poll


async def lock(session: AsyncSession, poll_id: int) -> Poll:
    """Read a poll afresh under its row lock (votes, closing and sending serialise on it)."""
    poll = await session.get(Poll, poll_id, with_for_update=True, populate_existing=True)
    if poll is None:
        raise NotFound(N_("There is no poll #{id}."), id=poll_id)
    await session.refresh(poll, ["options"])
    return poll


async def get_poll(session: AsyncSession, poll_id: int) -> Poll:
    """Return a poll, or say there is none."""
    poll = await session.get(Poll, poll_id)
    if poll is None or poll.status is PollStatus.CANCELLED:
        raise NotFound(N_("There is no poll #{id}."), id=poll_id)
    return poll


async def may_manage(session: AsyncSession, actor: Actor, poll: Poll) -> bool:
    """Tell whether the actor is the poll's author, an admin or coordinates its councils."""
    if poll.author_id == actor.member_id:
        return True
    if not poll.councils:
        return await access.is_admin(session, actor)
    return not await _not_coordinated(session, actor, poll.councils)


async def require_manager(session: AsyncSession, actor: Actor, poll: Poll) -> None:
    """Let only its author, an admin or a coordinator of its councils manage a poll."""
    if not await may_manage(session, actor, poll):
        raise Forbidden(
            N_(
                "Only the author of poll #{id}, an admin or a coordinator of its councils "
                "can do that."
            ),
            id=poll.id,
        )


async def _asked(session: AsyncSession, poll: Poll, member_id: int) -> bool:
    """Tell whether a direct poll (an event's feedback) was sent to this member."""
    return (
        await session.scalar(
            select(Delivery.id)
            .where(
                Delivery.source == SOURCE,
                Delivery.source_id == poll.id,
                Delivery.member_id == member_id,
            )
            .limit(1)
        )
        is not None
    )


async def _in_audience(
    session: AsyncSession, poll: Poll, member_id: int, chat_council_id: int | None
) -> bool:
    """Tell whether a member is among those a council poll asks.

    They are: everyone for a poll to all councils; else members whose home council is one of
    its councils, subscribers to polls of those councils (or of all), and anyone speaking in
    a chat linked to one of them (a vote by button in the Cork group counts, whatever the
    voter's home: the group is where the poll was put to them).
    """
    if poll.all_councils:
        return True
    targets = {c.id for c in poll.councils}
    if chat_council_id is not None and chat_council_id in targets:
        return True
    member = await session.get(Member, member_id)
    if member is not None and member.home_council_id in targets:
        return True
    return (
        await session.scalar(
            select(Subscription.member_id)
            .where(
                Subscription.member_id == member_id,
                Subscription.topic == TOPIC,
                Subscription.active.is_(True),
                Subscription.council_id.in_(targets) | Subscription.council_id.is_(None),
            )
            .limit(1)
        )
        is not None
    )


async def require_voter(
    session: AsyncSession, actor: Actor, poll: Poll, *, chat_council_id: int | None
) -> None:
    """Let only those a poll asks vote in it.

    A direct poll (an event's feedback) takes the votes of the members it was sent to, and
    nobody else's: not even its organiser's, whose mark would skew their own event's rating.
    A council poll takes those `_in_audience` names; its author, admins and coordinators of
    its councils may vote too.
    """
    if poll.direct:
        if await _asked(session, poll, actor.member_id):
            return
        raise Forbidden(
            N_("Poll #{id} asks only the people it was sent to; you were not among them."),
            id=poll.id,
        )
    if await _in_audience(session, poll, actor.member_id, chat_council_id):
        return
    if await may_manage(session, actor, poll):
        return
    raise Forbidden(
        N_(
            "Poll #{id} is for members of {councils}: vote from one of their chats, or make "
            "one of them your home council with /start."
        ),
        id=poll.id,
        councils=", ".join(c.name for c in poll.councils),
    )


async def require_reader(
    session: AsyncSession, actor: Actor, poll: Poll, *, chat_council_id: int | None
) -> None:
    """Let only those a poll asks, and those who manage it, see its results.

    A direct poll's results are its organiser's (and its managers'); the members it asked
    see them too once it has closed. A council poll's are for those who may vote in it.
    """
    if poll.report_to_id == actor.member_id or await may_manage(session, actor, poll):
        return
    if poll.direct:
        if poll.status is PollStatus.CLOSED and await _asked(session, poll, actor.member_id):
            return
        if await _asked(session, poll, actor.member_id):
            raise Forbidden(
                N_(
                    "The results of poll #{id} go to its organiser; you can see them here "
                    "once it closes."
                ),
                id=poll.id,
            )
        raise Forbidden(N_("The results of poll #{id} are not for you."), id=poll.id)
    if await _in_audience(session, poll, actor.member_id, chat_council_id):
        return
    raise Forbidden(
        N_(
            "The results of poll #{id} are for members of {councils}: ask there, or make "
            "one of them your home council with /start."
        ),
        id=poll.id,
        councils=", ".join(c.name for c in poll.councils),
    )


async def audience(
    session: AsyncSession, poll: Poll, *, catalogs: Catalogs, default_language: str
) -> broadcast.Audience:
    """Find who a poll reaches: its councils' chats and subscribers to polls."""
    return await broadcast.audience(
        session,
        poll.councils,
        TOPIC,
        zone=zone(poll),
        catalogs=catalogs,
        default_language=default_language,
    )


async def send_draft(
    session: AsyncSession,
    actor: Actor,
    poll_id: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> tuple[Poll, broadcast.Audience]:
    """Open a previewed poll: post it and schedule its closing and reminder."""
    poll = await lock(session, poll_id)
    if poll.status is not PollStatus.DRAFT:
        raise NotADraft(poll)
    if poll.author_id != actor.member_id:
        raise Forbidden(N_("Only the coordinator who wrote poll #{id} can send it."), id=poll.id)
    if poll.created_at <= now - broadcast.DRAFT_LIFETIME:
        raise Conflict(
            N_("The preview of poll #{id} is too old to send: put the poll again."), id=poll.id
        )
    if poll.closes_at is not None and poll.closes_at <= now:
        raise Conflict(
            N_("Poll #{id} was to close at a time that is now past: put it again."), id=poll.id
        )
    missing = await _not_coordinated(session, actor, poll.councils)
    if missing:
        raise Forbidden(
            N_("You can only put polls to councils you coordinate; not to {councils}."),
            councils=", ".join(missing),
        )
    reached = await audience(session, poll, catalogs=catalogs, default_language=default_language)
    await open_poll(session, poll, reached, now=now)
    return poll, reached


async def open_poll(
    session: AsyncSession, poll: Poll, reached: broadcast.Audience, *, now: datetime
) -> None:
    """Post a poll to everyone it reaches and schedule its closing and its reminder."""
    poll.status = PollStatus.OPEN
    poll.opened_at = now
    if poll.anonymous:
        await _tally_rows(session, poll)
    if poll.closes_at is not None:
        await jobs.schedule(
            session, close_job(poll.id), CLOSE_JOB, poll.closes_at, {"id": poll.id}, now=now
        )
        remind_at = poll.closes_at - REMIND_BEFORE
        if poll.remind and remind_at > now:
            await jobs.schedule(
                session, remind_job(poll.id), REMIND_JOB, remind_at, {"id": poll.id}, now=now
            )
    results = await tally(session, poll)
    await broadcast.enqueue(
        session, reached, renderer(poll, results), source=SOURCE, source_id=poll.id, now=now
    )


class NotADraft(Exception):
    """Signal that a poll's Send or Cancel came after it was sent or cancelled."""

    def __init__(self, poll: Poll) -> None:
        super().__init__(poll.id)
        self.poll = poll


async def cancel_draft(session: AsyncSession, actor: Actor, poll_id: int) -> Poll:
    """Drop a draft poll from its preview."""
    poll = await lock(session, poll_id)
    if poll.status is not PollStatus.DRAFT:
        raise NotADraft(poll)
    if poll.author_id != actor.member_id:
        raise Forbidden(N_("Only the coordinator who wrote poll #{id} can cancel it."), id=poll.id)
    poll.status = PollStatus.CANCELLED
    return poll


# --- results -----------------------------------------------------------------------------


@dataclass(slots=True)
class Results:
    """A poll's counts, all platforms added up."""

    poll: Poll
    counts: dict[int, int] = field(default_factory=dict)  # by option id
    voters: int = 0
    by_platform: dict[Platform, int] = field(default_factory=dict)  # votes from each

    def count(self, option: PollOption) -> int:
        """Return an option's votes."""
        return self.counts.get(option.id, 0)

    @property
    def votes(self) -> int:
        """Count every vote (several per voter in a multiple-choice poll)."""
        return sum(self.counts.values())

    @property
    def average(self) -> float | None:
        """Return a rating poll's average mark (None without votes)."""
        if not self.votes:
            return None
        total = sum(int(o.label) * self.count(o) for o in self.poll.options if not o.other)
        return total / self.votes


async def tally(session: AsyncSession, poll: Poll) -> Results:
    """Add up a poll's votes from every platform."""
    results = Results(poll)
    if not poll.options:
        return results
    if poll.anonymous:
        counts = await session.execute(
            select(PollTally.option_id, PollTally.count).where(
                PollTally.option_id.in_([o.id for o in poll.options])
            )
        )
        results.counts = {option_id: count for option_id, count in counts.all()}
        turnout = await session.execute(
            select(PollTurnout.platform, PollTurnout.voters).where(
                PollTurnout.poll_id == poll.id, PollTurnout.voters > 0
            )
        )
        results.by_platform = {platform: voters for platform, voters in turnout.all()}
        results.voters = (
            await session.scalar(
                select(func.count()).select_from(PollBallot).where(PollBallot.poll_id == poll.id)
            )
            or 0
        )
        return results
    rows = await session.execute(
        select(PollVote.option_id, PollVote.platform, func.count())
        .where(PollVote.poll_id == poll.id)
        .group_by(PollVote.option_id, PollVote.platform)
    )
    for option_id, platform, count in rows.all():
        results.counts[option_id] = results.counts.get(option_id, 0) + count
        results.by_platform[platform] = results.by_platform.get(platform, 0) + count
    # The votes of members erased since (/forgetme): still counted, no longer anyone's.
    kept = await session.execute(
        select(PollTally.option_id, PollTally.count).where(
            PollTally.option_id.in_([o.id for o in poll.options])
        )
    )
    for option_id, count in kept.all():
        results.counts[option_id] = results.counts.get(option_id, 0) + count
    erased = await session.execute(
        select(PollTurnout.platform, PollTurnout.voters).where(PollTurnout.poll_id == poll.id)
    )
    for platform, voters in erased.all():
        results.by_platform[platform] = results.by_platform.get(platform, 0) + voters
    results.voters = (
        await session.scalar(
            select(func.count(func.distinct(PollVote.member_id))).where(PollVote.poll_id == poll.id)
        )
        or 0
    )
    return results


def counts_visible(poll: Poll) -> bool:
    """Tell whether anyone may see a poll's counts now (`--results after-close`: not yet)."""
    return not poll.results_after_close or poll.status is PollStatus.CLOSED


def bar_lines(t: Translator, results: Results) -> list[Markup]:
    """Write each option's count as a bar: `Lean ▇▇▇▇▇ 12 (48%)`."""
    poll = results.poll
    base = results.voters if poll.kind is PollKind.MULTIPLE else results.votes
    lines = []
    for option in poll.options:
        count = results.count(option)
        share = count / base if base else 0.0
        blocks = round(share * BAR_WIDTH)
        bar = BAR * blocks + " " if blocks else ""
        if poll.kind is PollKind.RATING:
            line = t(
                "★{mark} {bar}{count} ({percent}%)",
                mark=option.label,
                bar=bar,
                count=count,
                percent=round(share * 100),
            )
        else:
            line = t(
                "{number}. {option} {bar}{count} ({percent}%)",
                number=option.position,
                option=option.label,
                bar=bar,
                count=count,
                percent=round(share * 100),
            )
        lines.append(line)
    return lines


def option_name(poll: Poll, option: PollOption) -> str:
    """Name an option as voters see it: its text, or a rating's mark as ★3."""
    return f"★{option.label}" if poll.kind is PollKind.RATING else option.label


PLATFORM_NAMES = {
    Platform.TELEGRAM: "Telegram",
    Platform.SLACK: "Slack",
    Platform.CONSOLE: "Console",
}


def summary_lines(t: Translator, results: Results) -> list[Markup]:
    """Say how many voted, the average of a rating, and the votes from each platform."""
    lines = [t.plural("{count} voter", "{count} voters", results.voters)]
    average = results.average if results.poll.kind is PollKind.RATING else None
    if average is not None:
        lines.append(t("Average: {average} out of 5", average=f"{average:.1f}"))
    if results.by_platform:
        parts = ", ".join(
            f"{PLATFORM_NAMES[p]} {n}"
            for p, n in sorted(results.by_platform.items(), key=lambda item: item[0].value)
        )
        lines.append(t("Votes by platform: {platforms}", platforms=parts))
    return lines


def render(
    t: Translator,
    poll: Poll,
    results: Results,
    *,
    place: str,
    tz: ZoneInfo,
    now: datetime | None = None,
    in_group: bool = True,
) -> str:
    """Write a poll as its readers see it: question, options (with counts if shown), how to vote.

    In a group, an anonymous poll points to its buttons only: a typed /vote would show the
    voter's choice to the whole group.
    """
    closed = poll.status is PollStatus.CLOSED
    header = (
        t("📊 <b>Poll #{id} — {place}</b> (closed)", id=poll.id, place=place)
        if closed
        else t("📊 <b>Poll #{id} — {place}</b>", id=poll.id, place=place)
    )
    lines: list[Markup] = [header, Markup("<b>%s</b>") % poll.question]
    if counts_visible(poll):
        lines += bar_lines(t, results)
        lines.append(Markup(" · ").join(summary_lines(t, results)))
    else:
        lines += [
            Markup("%s") % option_name(poll, o)
            if poll.kind is PollKind.RATING
            else Markup("%d. %s") % (o.position, o.label)
            for o in poll.options
        ]
        lines.append(t("Results are shown when the poll closes."))
    if not closed:
        if poll.kind is PollKind.MULTIPLE:
            lines.append(t("Choose one or more options."))
        elif poll.kind is PollKind.RATING:
            lines.append(t("Give a mark from 1 (poor) to 5 (excellent)."))
        if poll.closes_at is not None:
            lang = t.lang
            lines.append(t("Closes {when}.", when=format_when(poll.closes_at, tz, lang, now=now)))
        lines.append(t(ANONYMOUS_NOTE) if poll.anonymous else t(PUBLIC_NOTE))
        if poll.anonymous and in_group:
            lines.append(t("Vote with the buttons: only the bot sees what you press."))
        else:
            lines.append(
                t("Vote with the buttons, or type /vote {id} and your choice.", id=poll.id)
            )
    return str(Markup("\n").join(lines))


def vote_buttons(t: Translator, poll: Poll) -> tuple[tuple[Button, ...], ...]:
    """Offer one button per option (one row of marks for a rating), and "Other…"."""
    if poll.status is not PollStatus.OPEN:
        return ()
    expires = poll.closes_at
    if poll.kind is PollKind.RATING:
        rows: list[tuple[Button, ...]] = [
            tuple(
                Button(label=o.label, command=f"/vote {poll.id} {o.position}", expires_at=expires)
                for o in poll.options
                if not o.other
            )
        ]
    else:
        # An anonymous vote is cast once, so several choices are gathered on a ballot first;
        # otherwise a multiple-choice button ticks or unticks its option.
        word = ""
        if poll.kind is PollKind.MULTIPLE:
            word = "ballot " if poll.anonymous else f"{TOGGLE} "
        # Voters' own answers are options like the others, for everyone to pick.
        rows = [
            (
                Button(
                    label=o.label,
                    command=f"/vote {poll.id} {word}{o.position}",
                    expires_at=expires,
                ),
            )
            for o in poll.options
        ]
    if poll.allow_other:
        rows.append(
            (Button(label=t("Other…"), command=f"/vote {poll.id} other", expires_at=expires),)
        )
    return tuple(rows)


def ballot_buttons(t: Translator, poll: Poll, picked: set[int]) -> tuple[tuple[Button, ...], ...]:
    """Offer an anonymous multiple-choice ballot: each option ticks or unticks, then Cast.

    What is ticked travels in the buttons' commands: nothing is stored until the vote is cast.
    """
    expires = poll.closes_at

    def ballot(positions: set[int]) -> str:
        return ",".join(str(p) for p in sorted(positions)) or "-"

    rows = [
        (
            Button(
                label=("☑ " if o.position in picked else "☐ ") + o.label,
                command=f"/vote {poll.id} ballot {ballot(picked ^ {o.position})}",
                expires_at=expires,
            ),
        )
        for o in poll.options
    ]
    if picked:
        cast = Button(
            label=t("Cast my vote"),
            command=f"/vote {poll.id} {' '.join(str(p) for p in sorted(picked))}",
            expires_at=expires,
        )
        rows.append((cast,))
    return tuple(rows)


def native_allowed(poll: Poll) -> bool:
    """Tell whether a poll can be a native Telegram poll (who voted is known, counts shown)."""
    return (
        not poll.anonymous
        and poll.kind in (PollKind.SINGLE, PollKind.MULTIPLE)
        and not poll.allow_other
        and not poll.results_after_close
        and not poll.direct
    )


def renderer(poll: Poll, results: Results) -> broadcast.Renderer:
    """Render a poll for each recipient: a native poll in a Telegram group, else text and buttons."""
    label = ", ".join(c.name for c in poll.councils)

    def for_recipient(recipient: broadcast.Recipient) -> Outgoing:
        place = recipient.council.name if recipient.council is not None else label
        t = recipient.t
        text = render(
            t,
            poll,
            results,
            place=place or "CouncilBot",
            tz=recipient.tz,
            in_group=not recipient.private,
        )
        native = None
        if (
            recipient.platform is Platform.TELEGRAM
            and recipient.chat_kind is ChatKind.GROUP
            and native_allowed(poll)
        ):
            # Shown under the native poll's question: who can see the votes, and the closing.
            about = [t("Poll #{id} — {place}", id=poll.id, place=place or "CouncilBot")]
            about.append(t(PUBLIC_NOTE))
            if poll.closes_at is not None:
                about.append(
                    t("Closes {when}.", when=format_when(poll.closes_at, recipient.tz, t.lang))
                )
            native = NativePoll(
                question=poll.question,
                options=tuple(o.label for o in poll.options),
                multiple=poll.kind is PollKind.MULTIPLE,
                closed=poll.status is PollStatus.CLOSED,
                description=Markup("\n").join(about).unescape(),
                closes_at=poll.closes_at,
            )
        return recipient.message(text, vote_buttons(recipient.t, poll), poll=native)

    return for_recipient


async def refresh_posts(
    session: AsyncSession,
    poll: Poll,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
    throttle: timedelta = LIVE_THROTTLE,
) -> int:
    """Edit the poll's posts to show its counts (throttled) or that it closed."""
    results = await tally(session, poll)
    return await broadcast.rerender(
        session,
        poll.councils,
        renderer(poll, results),
        zone=zone(poll),
        catalogs=catalogs,
        default_language=default_language,
        source=SOURCE,
        source_id=poll.id,
        now=now,
        throttle=throttle,
    )


# --- voting ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Voted:
    """What a vote did."""

    poll: Poll
    chosen: tuple[PollOption, ...]
    changed: bool = True  # False: the member had already voted so


async def ballot_key(session: AsyncSession, secret: str | None = None) -> bytes:
    """Return the key of anonymous ballots: from COUNCILBOT_POLL_SECRET, else the install's.

    With the setting, the key is nowhere in the database, so its readers cannot tell whose
    a ballot is; without it, a random key is made on first use and kept in `poll_keys`.
    """
    if secret:
        return hashlib.sha256(b"councilbot poll ballots\0" + secret.encode()).digest()
    await session.execute(
        upsert(session, PollKey.__table__)
        .values(id=1, secret=secrets.token_hex(32))
        .on_conflict_do_nothing(index_elements=["id"])
    )
    kept = await session.scalar(select(PollKey.secret).where(PollKey.id == 1))
    assert kept is not None
    return bytes.fromhex(kept)


def secret_of(settings: Settings | None) -> str | None:
    """Return COUNCILBOT_POLL_SECRET, if the operator set one."""
    if settings is None or settings.poll_secret is None:
        return None
    return settings.poll_secret.get_secret_value()


def ballot(key: bytes, poll_id: int, member_id: int) -> str:
    """Mark that a member voted in a poll, readable only with the key: never what they chose."""
    return hmac.new(key, f"{poll_id}:{member_id}".encode(), hashlib.sha256).hexdigest()


def check_open(poll: Poll, now: datetime) -> None:
    """Refuse a vote in a poll not sent yet, or closed (a cancelled one is no poll)."""
    if poll.status is PollStatus.CANCELLED:
        raise NotFound(N_("There is no poll #{id}."), id=poll.id)
    if poll.status is PollStatus.DRAFT:
        raise Conflict(N_("Poll #{id} has not been sent yet."), id=poll.id)
    if poll.status is PollStatus.CLOSED or (poll.closes_at is not None and poll.closes_at <= now):
        raise Conflict(N_("Poll #{id} is closed; /results {id} shows how it went."), id=poll.id)


def find_option(poll: Poll, text: str) -> PollOption:
    """Find an option by its number or its text (case and spaces aside)."""
    wanted = " ".join(text.split()).casefold()
    for option in poll.options:
        if wanted == str(option.position) or wanted == option.label.casefold():
            return option
    if poll.kind is PollKind.RATING:
        if wanted.lstrip("★") in RATINGS:
            return next(o for o in poll.options if o.label == wanted.lstrip("★"))
        raise InvalidInput(
            N_("Give a mark from 1 to 5 in poll #{id}, e.g. /vote {id} 4."), id=poll.id
        ).about("choice")
    starts = [o for o in poll.options if o.label.casefold().startswith(wanted)] if wanted else []
    if len(starts) == 1:
        return starts[0]
    if len(starts) > 1:
        raise InvalidInput(
            N_("“{value}” fits more than one option: {options}. Type more of it, or its number."),
            value=text,
            options=", ".join(f"{o.position}. {o.label}" for o in starts),
        ).about("choice")
    raise InvalidInput(
        N_("Poll #{id} has no option “{value}”. Its options: {options}."),
        id=poll.id,
        value=text,
        options=", ".join(f"{o.position}. {o.label}" for o in poll.options),
    ).about("choice")


async def add_other(session: AsyncSession, poll: Poll, text: str) -> PollOption:
    """Add a voter's own answer as an option (or find the same one already added)."""
    if not poll.allow_other:
        raise Conflict(N_("Poll #{id} takes only its own options."), id=poll.id)
    label = " ".join(text.split())
    if not label:
        raise InvalidInput(
            N_("Type your answer after the word other: /vote {id} other Your answer."), id=poll.id
        )
    if len(label) > MAX_OPTION:
        raise InvalidInput(N_("Each option can have at most {limit} characters."), limit=MAX_OPTION)
    for option in poll.options:
        if option.label.casefold() == label.casefold():
            return option
    if len(poll.options) >= MAX_WITH_OTHERS:
        raise InvalidInput(N_("A poll can have at most {limit} options."), limit=MAX_WITH_OTHERS)
    option = PollOption(
        poll_id=poll.id,
        position=max((o.position for o in poll.options), default=0) + 1,
        label=label,
        other=True,
    )
    session.add(option)
    await session.flush()
    await session.refresh(poll, ["options"])
    return option


async def vote(
    session: AsyncSession,
    poll_id: int,
    member_id: int,
    platform: Platform,
    chosen: Sequence[PollOption | str],
    *,
    actor: Actor | None,
    chat_council_id: int | None = None,
    now: datetime,
    replace: bool = False,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
    secret: str | None = None,
) -> Voted:
    """Record a member's vote, wherever it came from: one vote per member (per option).

    `chosen` are options or what was typed for them. In a single-choice or rating poll a new
    vote replaces the member's vote; in a multiple-choice one it adds the options (or, with
    `replace`, a native poll's answer, sets exactly the options voted from Telegram).
    `actor` is checked against the poll's audience (`require_voter`, speaking in the chat of
    `chat_council_id`); None only for an answer to one of our native Telegram polls, which
    Telegram shows to the members of the target council's chat alone.
    """
    poll = await lock(session, poll_id)
    if actor is not None:
        await require_voter(session, actor, poll, chat_council_id=chat_council_id)
    check_open(poll, now)
    await home.home_changed(session, member_id, now)  # their Slack Home tab drops the poll
    options = [c if isinstance(c, PollOption) else find_option(poll, c) for c in chosen]
    options = list({o.id: o for o in options}.values())
    if not options:
        raise InvalidInput(N_("Which option? /vote {id} shows them."), id=poll.id)
    if poll.kind is not PollKind.MULTIPLE and len(options) > 1:
        raise InvalidInput(N_("Poll #{id} takes one choice; give one option."), id=poll.id).about(
            "choice"
        )
    if poll.anonymous:
        changed = await _vote_anonymously(session, poll, member_id, platform, options, secret)
    else:
        changed = await _vote_openly(session, poll, member_id, platform, options, now, replace)
    if changed and counts_visible(poll):
        await refresh_posts(
            session, poll, now=now, catalogs=catalogs, default_language=default_language
        )
    return Voted(poll, tuple(options), changed)


async def toggle(
    session: AsyncSession,
    poll_id: int,
    member_id: int,
    platform: Platform,
    choice: str,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> list[PollOption]:
    """Tick or untick one option of a member's multiple-choice vote (a button press).

    Return the member's choices afterwards (none: the vote is taken back).
    """
    poll = await lock(session, poll_id)
    check_open(poll, now)
    option = find_option(poll, choice)
    gone = await session.execute(
        delete(PollVote).where(
            PollVote.poll_id == poll.id,
            PollVote.member_id == member_id,
            PollVote.option_id == option.id,
        )
    )
    if not gone.rowcount:
        await session.execute(
            upsert(session, PollVote.__table__)
            .values(
                poll_id=poll.id,
                member_id=member_id,
                slot=option.id,
                option_id=option.id,
                platform=platform,
                voted_at=now,
            )
            .on_conflict_do_nothing(index_elements=["poll_id", "member_id", "slot"])
        )
    if counts_visible(poll):
        await refresh_posts(
            session, poll, now=now, catalogs=catalogs, default_language=default_language
        )
    return await my_choices(session, poll, member_id)


async def open_for(
    session: AsyncSession, member_id: int, council_id: int | None, *, now: datetime
) -> list[Poll]:
    """Return the open polls a member is asked to vote in (or that this chat's council has)."""
    found = []
    for poll in await session.scalars(
        select(Poll).where(Poll.status == PollStatus.OPEN).order_by(Poll.id)
    ):
        if poll.closes_at is not None and poll.closes_at <= now:
            continue
        here = (
            council_id is not None
            and not poll.direct
            and any(c.id == council_id for c in poll.councils)
        )
        if here or member_id in await invitees(session, poll):
            found.append(poll)
    return found


async def _vote_openly(
    session: AsyncSession,
    poll: Poll,
    member_id: int,
    platform: Platform,
    options: list[PollOption],
    now: datetime,
    replace: bool,
) -> bool:
    table = PollVote.__table__
    before = set(
        await session.scalars(
            select(PollVote.option_id).where(
                PollVote.poll_id == poll.id, PollVote.member_id == member_id
            )
        )
    )
    wanted = {o.id for o in options}
    removed = False
    if poll.kind is PollKind.MULTIPLE:
        if replace and before - wanted:
            # A native poll's answer is what the member chose in Telegram: it replaces the
            # options they voted there, not those they added from Slack or the console.
            gone = await session.execute(
                delete(PollVote).where(
                    PollVote.poll_id == poll.id,
                    PollVote.member_id == member_id,
                    PollVote.platform == platform,
                    PollVote.option_id.not_in(wanted),
                )
            )
            removed = bool(gone.rowcount)
        rows = [
            {
                "poll_id": poll.id,
                "member_id": member_id,
                "slot": o.id,
                "option_id": o.id,
                "platform": platform,
                "voted_at": now,
            }
            for o in options
        ]
        statement = upsert(session, table).values(rows)
        if replace:  # chosen in Telegram now: a later retraction there takes them back
            statement = statement.on_conflict_do_update(
                index_elements=["poll_id", "member_id", "slot"],
                set_={"platform": statement.excluded.platform},
            )
        else:
            statement = statement.on_conflict_do_nothing(
                index_elements=["poll_id", "member_id", "slot"]
            )
        await session.execute(statement)
    else:
        statement = upsert(session, table).values(
            poll_id=poll.id,
            member_id=member_id,
            slot=0,
            option_id=options[0].id,
            platform=platform,
            voted_at=now,
        )
        await session.execute(
            statement.on_conflict_do_update(
                index_elements=["poll_id", "member_id", "slot"],
                set_={
                    "option_id": statement.excluded.option_id,
                    "platform": statement.excluded.platform,
                    "voted_at": statement.excluded.voted_at,
                },
            )
        )
        return before != {options[0].id}
    return removed or not wanted <= before


async def _vote_anonymously(
    session: AsyncSession,
    poll: Poll,
    member_id: int,
    platform: Platform,
    options: list[PollOption],
    secret: str | None,
) -> bool:
    key = await ballot_key(session, secret)
    cast = await session.execute(
        upsert(session, PollBallot.__table__)
        .values(poll_id=poll.id, voter=ballot(key, poll.id, member_id))
        .on_conflict_do_nothing(index_elements=["poll_id", "voter"])
    )
    if not cast.rowcount:
        raise Conflict(
            N_(
                "You have already voted in anonymous poll #{id}. Since nobody knows what you "
                "chose, not even the bot, an anonymous vote cannot be changed or taken back."
            ),
            id=poll.id,
        )
    await _tally_rows(session, poll)
    # Every count row of the poll is written, the chosen ones +1 and the others +0, so that
    # no row's version (PostgreSQL's xmin) tells which options this transaction chose. The
    # counts are per option only; the platform is counted apart, per voter (`PollTurnout`).
    chosen = [o.id for o in options]
    await session.execute(
        update(PollTally)
        .where(PollTally.option_id.in_([o.id for o in poll.options]))
        .values(count=PollTally.count + case((PollTally.option_id.in_(chosen), 1), else_=0))
        .execution_options(synchronize_session=False)
    )
    await session.execute(
        update(PollTurnout)
        .where(PollTurnout.poll_id == poll.id)
        .values(voters=PollTurnout.voters + case((PollTurnout.platform == platform, 1), else_=0))
        .execution_options(synchronize_session=False)
    )
    # Likewise the options: one a voter just added ("Other…") is rewritten with the rest.
    await session.execute(
        update(PollOption)
        .where(PollOption.poll_id == poll.id)
        .values(other=PollOption.other)
        .execution_options(synchronize_session=False)
    )
    return True


async def _tally_rows(session: AsyncSession, poll: Poll) -> None:
    """Make sure an anonymous poll has a count row for every option and a turnout row for
    every platform, at 0."""
    rows = [{"option_id": o.id, "count": 0} for o in poll.options]
    if rows:
        await session.execute(
            upsert(session, PollTally.__table__)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["option_id"])
        )
    await session.execute(
        upsert(session, PollTurnout.__table__)
        .values([{"poll_id": poll.id, "platform": p, "voters": 0} for p in Platform])
        .on_conflict_do_nothing(index_elements=["poll_id", "platform"])
    )


async def unvote(
    session: AsyncSession,
    poll_id: int,
    member_id: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
    platform: Platform | None = None,
) -> int:
    """Take a member's vote back; return how many choices went.

    With `platform` (a native Telegram poll's retraction), only the choices cast from it go:
    a member has one vote, and if it now comes from Slack, withdrawing the Telegram answer it
    replaced must not take it.
    """
    poll = await lock(session, poll_id)
    check_open(poll, now)
    await home.home_changed(session, member_id, now)
    if poll.anonymous:
        raise Conflict(
            N_(
                "Poll #{id} is anonymous: nobody knows what you chose, not even the bot, so an "
                "anonymous vote cannot be taken back."
            ),
            id=poll.id,
        )
    mine = [PollVote.poll_id == poll.id, PollVote.member_id == member_id]
    if platform is not None:
        mine.append(PollVote.platform == platform)
    gone = await session.execute(delete(PollVote).where(*mine))
    if gone.rowcount and counts_visible(poll):
        await refresh_posts(
            session, poll, now=now, catalogs=catalogs, default_language=default_language
        )
    return gone.rowcount or 0


async def my_choices(session: AsyncSession, poll: Poll, member_id: int) -> list[PollOption]:
    """Return what a member chose in a poll that is not anonymous."""
    if poll.anonymous:
        return []
    ids = set(
        await session.scalars(
            select(PollVote.option_id).where(
                PollVote.poll_id == poll.id, PollVote.member_id == member_id
            )
        )
    )
    return [o for o in poll.options if o.id in ids]


async def has_voted(
    session: AsyncSession, poll: Poll, member_id: int, secret: str | None = None
) -> bool:
    """Tell whether a member voted (for an anonymous poll, by their ballot's hash)."""
    if poll.anonymous:
        key = await ballot_key(session, secret)
        return (
            await session.scalar(
                select(PollBallot.voter).where(
                    PollBallot.poll_id == poll.id,
                    PollBallot.voter == ballot(key, poll.id, member_id),
                )
            )
            is not None
        )
    return bool(await my_choices(session, poll, member_id))


async def poll_for_native(session: AsyncSession, native_id: str) -> int | None:
    """Find our poll behind a native Telegram poll's id (what `poll_answer` names).

    One primary-key lookup: the outbox records the id in `poll_posts` when the post is sent.
    """
    return await session.scalar(select(PollPost.poll_id).where(PollPost.native_id == native_id))


# --- closing, reminding ------------------------------------------------------------------


async def close_poll(
    session: AsyncSession,
    poll_id: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
    actor: Actor | None = None,
) -> Poll:
    """Close a poll: stop its posts' voting, post the final results, start the next round."""
    poll = await lock(session, poll_id)
    if actor is not None:
        await require_manager(session, actor, poll)
    if poll.status is PollStatus.CLOSED:
        raise Conflict(
            N_("Poll #{id} is already closed; /results {id} shows how it went."), id=poll.id
        )
    if poll.status is PollStatus.CANCELLED:
        raise NotFound(N_("There is no poll #{id}."), id=poll.id)
    if poll.status is not PollStatus.OPEN:
        raise Conflict(N_("Poll #{id} has not been sent yet."), id=poll.id)
    poll.status = PollStatus.CLOSED
    poll.closed_at = now
    await jobs.cancel(session, close_job(poll.id))
    for member_id in await invitees(session, poll):  # their Slack Home tabs drop it
        await home.home_changed(session, member_id, now)
    await jobs.cancel(session, remind_job(poll.id))
    results = await tally(session, poll)
    await refresh_posts(
        session,
        poll,
        now=now,
        catalogs=catalogs,
        default_language=default_language,
        throttle=timedelta(0),
    )
    await _post_final_results(
        session, poll, results, now=now, catalogs=catalogs, default_language=default_language
    )
    if poll.every is not None:
        await _next_round(
            session, poll, now=now, catalogs=catalogs, default_language=default_language
        )
    return poll


async def chart_file(session: AsyncSession, results: Results, *, now: datetime) -> FileRef | None:
    """Draw a poll's results as a PNG and store it for the outbox (None: no votes)."""
    if not results.votes:
        return None
    data = await chart(results)
    return await files.store(
        session,
        filename=f"poll-{results.poll.id}.png",
        content_type="image/png",
        data=data,
        now=now,
    )


async def _post_final_results(
    session: AsyncSession,
    poll: Poll,
    results: Results,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> None:
    """Post the final results (text and chart) where the poll was, and to who asked for them."""
    posted = set(
        (
            await session.execute(
                select(Delivery.platform, Delivery.workspace, Delivery.chat_id).where(
                    Delivery.source == SOURCE,
                    Delivery.source_id == poll.id,
                    Delivery.operation == DeliveryOperation.SEND,
                    Delivery.chat_kind != ChatKind.PRIVATE,
                )
            )
        ).all()
    )
    reached = await audience(session, poll, catalogs=catalogs, default_language=default_language)
    chats = [
        r
        for r in reached.recipients
        if not r.private and (r.platform, r.workspace, r.chat_id) in posted
    ]
    if poll.report_to_id is not None:
        chats += await broadcast.direct(
            session,
            [poll.report_to_id],
            zone=zone(poll),
            catalogs=catalogs,
            default_language=default_language,
        )
    if not chats:
        return
    picture = await chart_file(session, results, now=now)
    label = ", ".join(c.name for c in poll.councils)

    def final(recipient: broadcast.Recipient) -> Outgoing:
        t = recipient.t
        place = recipient.council.name if recipient.council is not None else label
        lines = [
            t(
                "📊 <b>Final results of poll #{id} — {place}</b>",
                id=poll.id,
                place=place or "CouncilBot",
            ),
            Markup("<b>%s</b>") % poll.question,
            *bar_lines(t, results),
            Markup(" · ").join(summary_lines(t, results)),
        ]
        return recipient.message(str(Markup("\n").join(lines)), file=picture)

    await broadcast.enqueue(
        session,
        broadcast.Audience(reached.councils, tuple(chats)),
        final,
        source=RESULTS_SOURCE,
        source_id=poll.id,
        now=now,
    )


def next_period(moment: datetime, every: str, tz: ZoneInfo) -> datetime:
    """Return the same wall-clock time a week or a calendar month later, in the poll's zone.

    A monthly round closing on the 31st closes on the last day of shorter months.
    """
    local = moment.astimezone(tz)
    if every == "week":
        later = local.replace(tzinfo=None) + timedelta(weeks=1)
    else:
        year, month = (local.year + 1, 1) if local.month == 12 else (local.year, local.month + 1)
        day = min(local.day, calendar.monthrange(year, month)[1])
        later = local.replace(tzinfo=None, year=year, month=month, day=day)
    return later.replace(tzinfo=tz).astimezone(moment.tzinfo)


async def _next_round(
    session: AsyncSession, poll: Poll, *, now: datetime, catalogs: Catalogs, default_language: str
) -> Poll:
    """Open the next round of a recurring poll: the same question, a new poll, a period later."""
    assert poll.every is not None and poll.closes_at is not None and poll.opened_at is not None
    closes = next_period(poll.closes_at, poll.every, zone(poll))
    while closes <= now:
        closes = next_period(closes, poll.every, zone(poll))
    spec = PollSpec(
        question=poll.question,
        options=tuple(o.label for o in poll.options if not o.other)
        if poll.kind is not PollKind.RATING
        else (),
        kind=poll.kind,
        anonymous=poll.anonymous,
        results_after_close=poll.results_after_close,
        allow_other=poll.allow_other,
        remind=poll.remind,
        closes_at=closes,
        every=poll.every,
    )
    nxt = Poll(
        author_id=poll.author_id,
        question=spec.question,
        kind=spec.kind,
        anonymous=spec.anonymous,
        results_after_close=spec.results_after_close,
        allow_other=spec.allow_other,
        remind=spec.remind,
        all_councils=poll.all_councils,
        status=PollStatus.DRAFT,
        closes_at=closes,
        timezone=poll.timezone,
        every=poll.every,
        previous_round_id=poll.id,
        created_at=now,
        councils=list(poll.councils),
        options=[
            PollOption(position=n, label=label)
            for n, label in enumerate(spec.options or RATINGS, 1)
        ],
    )
    session.add(nxt)
    await session.flush()
    reached = await audience(session, nxt, catalogs=catalogs, default_language=default_language)
    await open_poll(session, nxt, reached, now=now)
    return nxt


async def previous_round(session: AsyncSession, poll: Poll) -> Poll | None:
    """Return the round before this one of a recurring poll."""
    if poll.previous_round_id is None:
        return None
    return await session.get(Poll, poll.previous_round_id)


async def next_round_of(session: AsyncSession, poll: Poll) -> Poll | None:
    """Return the round that followed this one, if any."""
    return await session.scalar(select(Poll).where(Poll.previous_round_id == poll.id))


async def invitees(session: AsyncSession, poll: Poll) -> list[int]:
    """Return the members a poll asks: its councils' members and subscribers, or its DMs."""
    if poll.direct:
        return sorted(
            {
                m
                for m in await session.scalars(
                    select(Delivery.member_id).where(
                        Delivery.source == SOURCE,
                        Delivery.source_id == poll.id,
                        Delivery.member_id.is_not(None),
                    )
                )
                if m is not None
            }
        )
    council_ids = [c.id for c in poll.councils]
    homes = set(
        await session.scalars(select(Member.id).where(Member.home_council_id.in_(council_ids)))
    )
    subscribed = set(
        await session.scalars(
            select(Subscription.member_id).where(
                Subscription.topic == TOPIC,
                Subscription.active.is_(True),
                (Subscription.council_id.in_(council_ids)) | Subscription.council_id.is_(None),
            )
        )
    )
    return sorted(homes | subscribed)


async def remind(
    session: AsyncSession,
    poll_id: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
    actor: Actor | None = None,
    secret: str | None = None,
) -> int:
    """Remind by direct message those asked who have not voted yet, once each; return how many."""
    poll = await lock(session, poll_id)
    if actor is not None:
        await require_manager(session, actor, poll)
    check_open(poll, now)
    asked = await invitees(session, poll)
    if not asked:
        return 0
    if poll.anonymous:
        key = await ballot_key(session, secret)
        cast = set(
            await session.scalars(select(PollBallot.voter).where(PollBallot.poll_id == poll.id))
        )
        voted = {m for m in asked if ballot(key, poll.id, m) in cast}
    else:
        voted = set(
            await session.scalars(select(PollVote.member_id).where(PollVote.poll_id == poll.id))
        )
    already = set(
        await session.scalars(select(PollReminder.member_id).where(PollReminder.poll_id == poll.id))
    )
    due = [m for m in asked if m not in voted and m not in already]
    if not due:
        return 0
    reached = await broadcast.direct(
        session, due, zone=zone(poll), catalogs=catalogs, default_language=default_language
    )
    sent = []
    for recipient in reached:
        assert recipient.member_id is not None
        claimed = await session.execute(
            upsert(session, PollReminder.__table__)
            .values(poll_id=poll.id, member_id=recipient.member_id)
            .on_conflict_do_nothing(index_elements=["poll_id", "member_id"])
        )
        if claimed.rowcount:
            sent.append(recipient)
    if not sent:
        return 0

    def reminder(recipient: broadcast.Recipient) -> Outgoing:
        t = recipient.t
        when = (
            Markup("\n")
            + t(
                "It closes {when}.", when=format_when(poll.closes_at, recipient.tz, t.lang, now=now)
            )
            if poll.closes_at is not None
            else Markup("")
        )
        text = t(
            "🔔 You have not voted yet in poll #{id}:\n<b>{question}</b>{closes}",
            id=poll.id,
            question=poll.question,
            closes=when,
        )
        return recipient.message(str(text), vote_buttons(t, poll))

    await broadcast.enqueue(
        session,
        broadcast.Audience((), tuple(sent)),
        reminder,
        source=REMINDER_SOURCE,
        source_id=poll.id,
        now=now,
    )
    return len(sent)


# --- export and chart --------------------------------------------------------------------


async def csv_export(session: AsyncSession, poll: Poll) -> bytes:
    """Write a poll's counts as CSV and, unless it is anonymous, who voted what."""
    results = await tally(session, poll)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["option", "label", "other", "votes"])
    for option in poll.options:
        writer.writerow(
            [option.position, option.label, "yes" if option.other else "", results.count(option)]
        )
    if not poll.anonymous:
        writer.writerow([])
        writer.writerow(["member", "option", "label", "platform", "voted_at"])
        rows = await session.execute(
            select(
                Member.display_name,
                PollOption.position,
                PollOption.label,
                PollVote.platform,
                PollVote.voted_at,
            )
            .join(Member, Member.id == PollVote.member_id)
            .join(PollOption, PollOption.id == PollVote.option_id)
            .where(PollVote.poll_id == poll.id)
            .order_by(PollVote.voted_at, PollVote.id)
        )
        for name, position, label, platform, voted_at in rows.all():
            writer.writerow([name, position, label, platform.value, voted_at.isoformat()])
    return out.getvalue().encode("utf-8")


def draw_results(figure: Figure, labels: Sequence[str], counts: Sequence[int], title: str) -> None:
    """Draw horizontal bars, one per option, its count written at its end."""
    axes = figure.add_subplot()
    positions = list(range(len(labels)))[::-1]  # the first option on top
    bars = axes.barh(positions, counts, color="#3b7dd8")
    axes.set_yticks(positions, labels=[label[:40] for label in labels])
    axes.bar_label(bars, labels=[str(c) for c in counts], padding=3)
    axes.set_xlim(0, max([*counts, 1]) * 1.15)
    axes.set_title(title[:80])
    axes.xaxis.set_visible(False)
    for side in ("top", "right", "bottom"):
        axes.spines[side].set_visible(False)


async def chart(results: Results) -> bytes:
    """Return a PNG bar chart of a poll's results (drawn off the event loop)."""
    poll = results.poll
    labels = [o.label for o in poll.options]
    counts = [results.count(o) for o in poll.options]

    def draw(figure: Figure) -> None:
        draw_results(figure, labels, counts, poll.question)

    return await charts.render_png(draw, width=6.4, height=1.2 + 0.45 * len(labels))


# --- event feedback ----------------------------------------------------------------------

NEXT_QUESTION = N_("What should we do next?")
NEXT_OPTIONS = (
    N_("The same again"),
    N_("A workshop"),
    N_("A networking evening"),
    N_("A site visit"),
)


async def create_feedback_poll(
    session: AsyncSession,
    *,
    title: str,
    council_id: int,
    organiser_member_id: int | None,
    member_ids: list[int],
    zone: str,
    closes_at: datetime,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
    next_options: Sequence[str] | None = None,
) -> Poll:
    """Ask those who came to an event for a rating and what to do next, by direct message.

    Two polls go out together: an anonymous rating from 1 to 5 ("How was <title>?") and a
    multiple-choice "What should we do next?" that takes voters' own answers. Both close at
    `closes_at`; nobody sees their counts before (a few attendees' marks would show, and
    every vote would re-edit every attendee's message); the organiser then gets both results
    by direct message. Return the rating.
    """
    council = await session.get(Council, council_id)
    if council is None:
        raise NotFound(N_("There is no council #{id}."), id=council_id)
    t = catalogs.translator(council.language)
    tz = ZoneInfo(zone)
    rating = Poll(
        question=str(t("How was {title}?", title=Markup(title))),  # kept as plain text
        kind=PollKind.RATING,
        anonymous=True,
        results_after_close=True,
        remind=False,
        status=PollStatus.OPEN,
        closes_at=closes_at,
        timezone=zone,
        direct=True,
        report_to_id=organiser_member_id,
        author_id=organiser_member_id,
        created_at=now,
        councils=[council],
        options=[PollOption(position=n, label=label) for n, label in enumerate(RATINGS, 1)],
    )
    session.add(rating)
    await session.flush()
    labels = list(next_options) if next_options else [str(t(o)) for o in NEXT_OPTIONS]
    follow = Poll(
        question=str(t(NEXT_QUESTION)),
        kind=PollKind.MULTIPLE,
        anonymous=True,
        results_after_close=True,
        allow_other=True,
        remind=False,
        status=PollStatus.OPEN,
        closes_at=closes_at,
        timezone=zone,
        direct=True,
        report_to_id=organiser_member_id,
        author_id=organiser_member_id,
        follow_up_of_id=rating.id,
        created_at=now,
        councils=[council],
        options=[PollOption(position=n, label=label) for n, label in enumerate(labels, 1)],
    )
    session.add(follow)
    await session.flush()
    reached = broadcast.Audience(
        (),
        tuple(
            await broadcast.direct(
                session, member_ids, zone=tz, catalogs=catalogs, default_language=default_language
            )
        ),
    )
    for poll in (rating, follow):
        await open_poll(session, poll, reached, now=now)
    return rating


async def feedback_follow_up(session: AsyncSession, poll: Poll) -> Poll | None:
    """Return the "what next?" poll that goes with an event's rating poll."""
    return await session.scalar(select(Poll).where(Poll.follow_up_of_id == poll.id))


def job_payload_id(payload: dict[str, Any]) -> int:
    """Read the poll id a job's payload names."""
    return int(payload["id"])


# --- A member's data (core.features.MemberData of the polls feature; issue 17) ------------


async def _waiting_for(view: MemberView) -> list[Poll]:
    """Return the open polls that ask the member and that they have not answered."""
    found = await view.session.scalars(
        select(Poll).where(Poll.status == PollStatus.OPEN).order_by(Poll.closes_at, Poll.id)
    )
    secret = secret_of(view.settings)
    waiting = []
    for poll in found.unique():
        if view.member_id not in await invitees(view.session, poll):
            continue
        if not await has_voted(view.session, poll, view.member_id, secret):
            waiting.append(poll)
    return waiting


def _waiting_line(t: Translator, poll: Poll, now: datetime) -> Markup:
    if poll.closes_at is None:
        return t("{question} (poll #{id})", question=poll.question, id=poll.id)
    return t(
        "{question} (poll #{id}), closes {when}",
        question=poll.question,
        id=poll.id,
        when=format_when(poll.closes_at, zone(poll), t.lang, now=now),
    )


async def home_sections(view: MemberView) -> list[HomeSection]:
    """Show the open polls waiting for the member's vote, each with its vote buttons."""
    waiting = await _waiting_for(view)
    if not waiting:
        return []
    t = view.t
    lines = tuple(_waiting_line(t, poll, view.now) for poll in waiting)
    buttons = tuple(row for poll in waiting for row in vote_buttons(t, poll))
    return [HomeSection(title=t("Polls waiting for your vote"), lines=lines, buttons=buttons)]


async def digest_sections(view: MemberView) -> list[HomeSection]:
    """List the open polls waiting for the member's vote (they vote from /me or the post)."""
    waiting = await _waiting_for(view)
    if not waiting:
        return []
    t = view.t
    lines = tuple(_waiting_line(t, poll, view.now) for poll in waiting)
    return [HomeSection(title=t("Polls waiting for your vote"), lines=lines)]


async def export_votes(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the member's votes in polls that are not anonymous, and the polls they wrote.

    An anonymous poll keeps nothing that says how (or whether, without the key) they voted.
    """
    votes = await session.execute(
        select(PollVote, Poll.question, PollOption.label)
        .join(Poll, Poll.id == PollVote.poll_id)
        .join(PollOption, PollOption.id == PollVote.option_id)
        .where(PollVote.member_id == member_id)
        .order_by(PollVote.poll_id, PollVote.slot)
    )
    written = await session.scalars(
        select(Poll).where(Poll.author_id == member_id).order_by(Poll.id)
    )
    return {
        "votes": [
            {
                "poll": vote.poll_id,
                "question": question,
                "choice": label,
                "platform": vote.platform.value,
                "voted_at": vote.voted_at.isoformat(),
            }
            for vote, question, label in votes.all()
        ],
        "written": [{"poll": p.id, "question": p.question} for p in written.unique()],
    }


async def forget_votes(erasure: Erasure) -> None:
    """Keep the member's votes in the totals, no longer linked to them.

    Each vote in a poll that is not anonymous becomes one more in its option's count of
    votes from nobody in particular (`PollTally`, which `tally` adds in), and is deleted.
    """
    session = erasure.session
    votes = (
        await session.execute(
            select(PollVote.poll_id, PollVote.option_id, PollVote.platform).where(
                PollVote.member_id == erasure.member_id
            )
        )
    ).all()
    for _poll_id, option_id, _platform in votes:
        await session.execute(
            upsert(session, PollTally.__table__)
            .values(option_id=option_id, count=1)
            .on_conflict_do_update(
                index_elements=["option_id"], set_={"count": PollTally.__table__.c.count + 1}
            )
        )
    # One voter more from the platform each of their votes came from, poll by poll.
    for poll_id, platform in {(poll_id, platform) for poll_id, _option, platform in votes}:
        await session.execute(
            upsert(session, PollTurnout.__table__)
            .values(poll_id=poll_id, platform=platform, voters=1)
            .on_conflict_do_update(
                index_elements=["poll_id", "platform"],
                set_={"voters": PollTurnout.__table__.c.voters + 1},
            )
        )
    await session.execute(delete(PollVote).where(PollVote.member_id == erasure.member_id))
