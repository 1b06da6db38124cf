"""The EMPOWER magazine: its issues, published by command or from its feed, and the archive.

An issue is posted to every council's linked chats and, by direct message, to members
subscribed to `magazine`, with a Read button that opens it and its cover as a picture.
Its number, its link and its feed GUID are unique in the database: whoever inserts an
issue first decides it exists, so a number is never published twice, by two coordinators
or by two processes reading the feed at once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import HomeSection, MemberView
from councilbot.core.i18n import N_, Catalogs, Translator
from councilbot.core.messages import Button
from councilbot.db.base import MAX_ID
from councilbot.db.models import IssueSource, IssueStatus, MagazineIssue, Member
from councilbot.db.session import upsert
from councilbot.delivery.targets import Outgoing
from councilbot.services import access, broadcast, councils, jobs
from councilbot.services.access import Actor

log = logging.getLogger(__name__)

SOURCE = "magazine"  # the outbox's source of the posts
TOPIC = "magazine"  # the subscription topic commands/magazine.py declares
NOTE_SOURCE = "magazine-note"  # direct messages to an issue's author about a change by another
SEND_JOB = "magazine.publish"
PAGE_SIZE = 5  # issues on one page of /magazine archive
MAX_TITLE = 300
MAX_SUMMARY = 2000  # with the title, within a Telegram caption's room once cut
MAX_LINK = 1000
ZONE = ZoneInfo("UTC")  # a post shows no time: any zone will do for the broadcast engine
# Shown to readers: issues in the archive (published, or archived without a post).
READABLE = (IssueStatus.PUBLISHED, IssueStatus.ARCHIVED)
READ = N_("Read")

SEED_ISSUE = {
    "number": 4,
    "title": "The fourth edition",
    "summary": (
        "Welcome to the fourth edition of EMPOWER, the SME Cluster Growth project magazine. "
        "Throughout this issue, we will show you the latest activities and programmes "
        "developed within the framework of the SME Cluster Growth project, as well as some "
        "examples of business growth in which we analyse the keys to their success."
    ),
    "link": "https://www.interregeurope.eu/smeclustergrowth",
    "language": "en",
}


def job_name(issue_id: int) -> str:
    """Name the scheduler job that publishes an issue."""
    return f"magazine:{issue_id}"


def check_url(url: str, field: str) -> str:
    """Return a web address as given, or refuse one that is not http(s)."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or " " in url:
        raise InvalidInput(
            N_("“{value}” is not a web address: give one starting with https://."), value=url
        ).about(field)
    if len(url) > MAX_LINK:
        raise InvalidInput(
            N_("That address is too long (at most {limit} characters)."), limit=MAX_LINK
        ).about(field)
    return url


def check_number(text: str | int, field: str = "number") -> int:
    """Read an issue number as typed (`5`, `#5`), or refuse it."""
    number = str(text).strip().lstrip("#")
    if not number.isdecimal() or int(number) < 1:
        raise InvalidInput(
            N_("“{value}” is not an issue number: numbers are like 5."), value=str(text)
        ).about(field)
    if int(number) > MAX_ID:
        raise NotFound(N_("There is no issue #{number}."), number=number)
    return int(number)


def check_title(title: str) -> str:
    """Return a title as given, or refuse an empty or overlong one."""
    title = " ".join(title.split())
    if not title:
        raise InvalidInput(N_("Please give the issue's title.")).about("title")
    if len(title) > MAX_TITLE:
        raise InvalidInput(
            N_("The title is too long (at most {limit} characters)."), limit=MAX_TITLE
        ).about("title")
    return title


def check_summary(summary: str | None) -> str:
    """Return a summary as given (may be empty), or refuse an overlong one."""
    summary = (summary or "").strip()
    if len(summary) > MAX_SUMMARY:
        raise InvalidInput(
            N_("The summary is too long (at most {limit} characters)."), limit=MAX_SUMMARY
        ).about("summary")
    return summary


class Taken(Exception):
    """Signal that an issue number (or link) is already in the archive, or being published."""

    def __init__(self, issue: MagazineIssue, field: str) -> None:
        super().__init__(issue.number, field)
        self.issue = issue
        self.field = field  # "number" or "link"


@dataclass(frozen=True, slots=True)
class Published:
    """An issue sent (or scheduled), and how many chats and subscribers it went to."""

    issue: MagazineIssue
    chats: int = 0
    subscribers: int = 0


# --- reading --------------------------------------------------------------------------


async def find(session: AsyncSession, number: int) -> MagazineIssue | None:
    """Return the issue with this number, whatever its status."""
    return await session.scalar(select(MagazineIssue).where(MagazineIssue.number == number))


async def latest(session: AsyncSession) -> MagazineIssue | None:
    """Return the latest issue in the archive (the highest number)."""
    return await session.scalar(
        select(MagazineIssue)
        .where(MagazineIssue.status.in_(READABLE))
        .order_by(MagazineIssue.number.desc())
        .limit(1)
    )


async def readable(session: AsyncSession, number: int) -> MagazineIssue:
    """Return an issue of the archive, or say there is none with that number."""
    issue = await find(session, number)
    if issue is None or issue.status not in READABLE:
        raise NotFound(N_("There is no issue #{number} in the archive."), number=number)
    return issue


async def archive_page(
    session: AsyncSession, page: int, size: int = PAGE_SIZE
) -> tuple[list[MagazineIssue], int]:
    """Return one page of the archive, newest first, and how many issues it holds in all."""
    total = await session.scalar(
        select(func.count()).select_from(MagazineIssue).where(MagazineIssue.status.in_(READABLE))
    )
    issues = await session.scalars(
        select(MagazineIssue)
        .where(MagazineIssue.status.in_(READABLE))
        .order_by(MagazineIssue.number.desc())
        .offset((page - 1) * size)
        .limit(size)
    )
    return list(issues), int(total or 0)


# --- rendering ------------------------------------------------------------------------


def render(t: Translator, issue: MagazineIssue) -> str:
    """Write an issue as its readers see it: its number and title, then its summary."""
    head = t("📰 <b>EMPOWER #{number}: {title}</b>", number=issue.number, title=issue.title)
    if not issue.summary:
        return str(head)
    return str(head + Markup("\n") + escape(issue.summary))


def read_button(t: Translator, issue: MagazineIssue) -> Button:
    """Offer the button that opens the issue."""
    return Button(label=str(t(READ)), url=issue.link)


def renderer(issue: MagazineIssue) -> broadcast.Renderer:
    """Render an issue for each recipient: its text, a Read button and its cover."""

    def for_recipient(recipient: broadcast.Recipient) -> Outgoing:
        return recipient.message(
            render(recipient.t, issue),
            ((read_button(recipient.t, issue),),),
            image_url=issue.cover_url,
        )

    return for_recipient


async def audience(
    session: AsyncSession, *, catalogs: Catalogs, default_language: str
) -> broadcast.Audience:
    """Find who an issue reaches: every council's linked chats, and magazine subscribers."""
    return await broadcast.audience(
        session,
        await councils.list_councils(session),
        TOPIC,
        zone=ZONE,
        catalogs=catalogs,
        default_language=default_language,
    )


async def _post(
    session: AsyncSession,
    issue: MagazineIssue,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> Published:
    """Mark an issue published and queue its posts, in the caller's transaction."""
    issue.status = IssueStatus.PUBLISHED
    issue.published_at = now
    issue.updated_at = now
    reached = await audience(session, catalogs=catalogs, default_language=default_language)
    await broadcast.enqueue(
        session, reached, renderer(issue), source=SOURCE, source_id=issue.id, now=now
    )
    return Published(issue, reached.chats, reached.subscribers)


# --- publishing by command --------------------------------------------------------------


async def _lock(session: AsyncSession, number: int) -> MagazineIssue | None:
    """Read an issue afresh by number and lock its row until the transaction ends."""
    return await session.scalar(
        select(MagazineIssue)
        .where(MagazineIssue.number == number)
        .with_for_update()
        .execution_options(populate_existing=True)
    )


def _stale_draft(issue: MagazineIssue, actor: Actor, now: datetime) -> bool:
    """Tell a draft that may give way to a new /publish: the same author's, or an old one."""
    return issue.status is IssueStatus.DRAFT and (
        issue.published_by_id == actor.member_id
        or issue.created_at <= now - broadcast.DRAFT_LIFETIME
    )


async def create_draft(
    session: AsyncSession,
    actor: Actor,
    *,
    number: int,
    title: str,
    link: str,
    summary: str | None,
    cover_url: str | None,
    at: datetime | None,
    language: str,
    now: datetime,
) -> MagazineIssue:
    """Keep a draft issue for its preview; raise Taken if its number or link is in use.

    A draft of the same author (or one whose preview is a day old) gives way: publishing
    again after a typo replaces it.
    """
    title = check_title(title)
    link = check_url(link, "url")
    summary = check_summary(summary)
    cover = check_url(cover_url, "cover") if cover_url else None
    if at is not None and at <= now:
        raise InvalidInput(N_("That time is already past.")).about("at")
    clashes = [
        (clash, field)
        for clash, field in (
            (await find(session, number), "number"),
            (
                await session.scalar(select(MagazineIssue).where(MagazineIssue.link == link)),
                "url",
            ),
        )
        if clash is not None
    ]
    for clash, field in clashes:
        if not _stale_draft(clash, actor, now):
            raise Taken(clash, field)
    for clash, _field in clashes:  # the author's own earlier draft, or a forgotten one
        await jobs.cancel(session, job_name(clash.id))
        await session.execute(delete(MagazineIssue).where(MagazineIssue.id == clash.id))
    values = {
        "number": number,
        "title": title,
        "summary": summary,
        "link": link,
        "cover_url": cover,
        "language": language,
        "status": IssueStatus.DRAFT,
        "source": IssueSource.COMMAND,
        "published_by_id": actor.member_id,
        "scheduled_at": at,
        "created_at": now,
        "updated_at": now,
    }
    issue_id = await _insert(session, values)
    if issue_id is None:  # another coordinator's /publish of that number won just now
        clash = await session.scalar(
            select(MagazineIssue)
            .where(or_(MagazineIssue.number == number, MagazineIssue.link == link))
            .execution_options(populate_existing=True)
        )
        assert clash is not None
        raise Taken(clash, "number" if clash.number == number else "url")
    issue = await session.get(MagazineIssue, issue_id)
    assert issue is not None
    return issue


async def _insert(session: AsyncSession, values: dict[str, Any]) -> int | None:
    """Insert an issue unless its number, link or GUID is taken; return its id, else None.

    One statement (INSERT ... ON CONFLICT DO NOTHING): on PostgreSQL a concurrent insert of
    the same key waits for the first to commit and then inserts nothing; the one whose
    insert returned an id is the one that posts.
    """
    statement = (
        upsert(session, MagazineIssue.__table__)
        .values(**values)
        .on_conflict_do_nothing()
        .returning(MagazineIssue.id)
    )
    return await session.scalar(statement)


async def may_change(session: AsyncSession, actor: Actor, issue: MagazineIssue) -> bool:
    """Tell whether someone may cancel or correct an issue: its author, or an admin.

    The magazine goes to every council, so "a coordinator of every council it reaches"
    (the announcements' rule) comes down to the admins.
    """
    return issue.published_by_id == actor.member_id or await access.is_admin(session, actor)


async def author_name(session: AsyncSession, issue: MagazineIssue) -> str | None:
    """Name who published an issue by command (None: the feed, the seed, or a member gone)."""
    if issue.published_by_id is None:
        return None
    author = await session.get(Member, issue.published_by_id)
    return author.display_name if author is not None else None


# What someone other than its author (or an admin) is told, by what they tried.
CANCEL_REFUSAL = N_(
    "Only {author}, who published issue #{number}, or an admin can cancel it; ask them, "
    "or /magazine {number} shows it."
)
EDIT_REFUSAL = N_(
    "Only {author}, who published issue #{number}, or an admin can correct it; ask them, "
    "or /magazine {number} shows it."
)
SEND_REFUSAL = N_(
    "Only {author}, who published issue #{number}, or an admin can send it; ask them, "
    "or /magazine {number} shows it."
)
ADMIN_ONLY = N_(
    "Issue #{number} came from the magazine's feed: only an admin can change it. "
    "/magazine {number} shows it."
)


# /publish send or cancel of a number with no issue: never previewed, or cancelled (a
# cancelled issue leaves no row, so that its number is free again).
NOT_PENDING = N_(
    "There is no issue #{number} waiting to go out: it was never previewed, or it was "
    "cancelled and nothing was sent. /magazine archive lists the published issues."
)


async def _editable(
    session: AsyncSession,
    actor: Actor,
    number: int,
    refusal: str = EDIT_REFUSAL,
    missing: str = N_("There is no issue #{number}."),
) -> MagazineIssue:
    """Return an issue locked for a change, refusing someone else's draft, and anyone but
    its author or an admin."""
    issue = await _lock(session, number)
    if issue is None:
        raise NotFound(missing, number=number)
    if issue.published_by_id == actor.member_id:
        return issue
    if issue.status is IssueStatus.DRAFT:
        raise Forbidden(
            N_("Issue #{number} is another coordinator's draft: only they can send or change it."),
            number=number,
        )
    if not await may_change(session, actor, issue):
        author = await author_name(session, issue)
        if author is None:
            raise Forbidden(ADMIN_ONLY, number=number)
        raise Forbidden(refusal, number=number, author=author)
    return issue


async def send_draft(
    session: AsyncSession,
    actor: Actor,
    number: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> Published:
    """Send a previewed issue: post it now, or schedule it for its time."""
    issue = await _editable(session, actor, number, SEND_REFUSAL, NOT_PENDING)
    if issue.status is IssueStatus.MISSED:  # due while the bot was down: Send sends it late
        issue.scheduled_at = None
    elif issue.status is not IssueStatus.DRAFT:
        raise NotADraft(issue)
    elif issue.created_at <= now - broadcast.DRAFT_LIFETIME:
        raise Conflict(
            N_(
                "The preview of issue #{number} is too old to send: publish it again to see "
                "who it reaches today."
            ),
            number=number,
        )
    if issue.scheduled_at is not None:
        if issue.scheduled_at <= now:
            raise Conflict(
                N_(
                    "Issue #{number} was to go out at a time that is now past: publish it "
                    "again with a new time, or without --at to send it now."
                ),
                number=number,
            )
        issue.status = IssueStatus.SCHEDULED
        issue.updated_at = now
        await jobs.schedule(
            session, job_name(issue.id), SEND_JOB, issue.scheduled_at, {"id": issue.id}, now=now
        )
        return Published(issue)
    return await _post(
        session, issue, now=now, catalogs=catalogs, default_language=default_language
    )


class NotADraft(Exception):
    """Signal that Send was pressed on an issue that is no longer a draft."""

    def __init__(self, issue: MagazineIssue) -> None:
        super().__init__(issue.number)
        self.issue = issue


async def cancel(session: AsyncSession, actor: Actor, number: int) -> MagazineIssue:
    """Drop a draft, scheduled or missed issue (its number is free again)."""
    issue = await _editable(session, actor, number, CANCEL_REFUSAL, NOT_PENDING)
    if issue.status in READABLE:
        raise Conflict(
            N_("Issue #{number} is already published; /publish edit {number} corrects its text."),
            number=number,
        )
    await jobs.cancel(session, job_name(issue.id))
    await session.delete(issue)
    await session.flush()
    return issue


async def publish_scheduled(
    session: AsyncSession,
    payload: dict[str, Any],
    now: datetime,
    *,
    catalogs: Catalogs,
    default_language: str,
) -> None:
    """Post a scheduled issue when it is due (the scheduler's job handler)."""
    issue = await session.get(
        MagazineIssue, payload["id"], with_for_update=True, populate_existing=True
    )
    if issue is None or issue.status is not IssueStatus.SCHEDULED:
        return
    await _post(session, issue, now=now, catalogs=catalogs, default_language=default_language)


async def mark_missed(session: AsyncSession, payload: dict[str, Any], now: datetime) -> None:
    """Keep an issue that was due while the bot was down as missed: its author sends it late."""
    issue = await session.get(
        MagazineIssue, payload["id"], with_for_update=True, populate_existing=True
    )
    if issue is not None and issue.status is IssueStatus.SCHEDULED:
        issue.status = IssueStatus.MISSED
        issue.updated_at = now


@dataclass(frozen=True, slots=True)
class Edited:
    """An issue with its corrected text, and how many posts will be edited to match."""

    issue: MagazineIssue
    edits: int
    unchanged: bool


async def edit_issue(
    session: AsyncSession,
    actor: Actor,
    number: int,
    *,
    title: str | None,
    link: str | None,
    summary: str | None,
    cover_url: str | None,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> Edited:
    """Correct an issue's text (title, link, summary, cover); edit its posts in place."""
    issue = await _editable(session, actor, number)
    changes: dict[str, Any] = {}
    if title is not None:
        changes["title"] = check_title(title)
    if link is not None:
        changes["link"] = check_url(link, "url")
        clash = await session.scalar(
            select(MagazineIssue).where(
                MagazineIssue.link == changes["link"], MagazineIssue.id != issue.id
            )
        )
        if clash is not None:
            raise Taken(clash, "url")
    if summary is not None:
        changes["summary"] = check_summary(summary)
    if cover_url is not None:
        # `--cover none` takes the cover away.
        changes["cover_url"] = (
            None if cover_url.strip().lower() in ("none", "-") else check_url(cover_url, "cover")
        )
    if not changes:
        raise InvalidInput(
            N_(
                "Say what to correct: a new title in quotes, --url, --summary or --cover, "
                'e.g. /publish edit {number} "New title".'
            ),
            number=number,
        )
    unchanged = all(getattr(issue, key) == value for key, value in changes.items())
    for key, value in changes.items():
        setattr(issue, key, value)
    issue.updated_at = now
    await session.flush()
    if issue.status is not IssueStatus.PUBLISHED:
        return Edited(issue, 0, unchanged)
    edits = await broadcast.rerender(
        session,
        await councils.list_councils(session),
        renderer(issue),
        zone=ZONE,
        catalogs=catalogs,
        default_language=default_language,
        source=SOURCE,
        source_id=issue.id,
        now=now,
    )
    return Edited(issue, edits, unchanged)


# --- the seed -------------------------------------------------------------------------


async def seed_archive(session: AsyncSession, *, now: datetime) -> bool:
    """Put issue #4 in the archive (without posting it) unless it is there; return whether added."""
    values = {
        **SEED_ISSUE,
        "status": IssueStatus.ARCHIVED,
        "source": IssueSource.SEED,
        "published_at": now,
        "created_at": now,
        "updated_at": now,
    }
    return await _insert(session, values) is not None


# --- the feed's entries -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One entry of the magazine's feed, as the feed reader found it."""

    guid: str | None
    link: str
    title: str
    summary: str
    number: int | None  # the issue number its title names ("#5", "issue 5"), if any
    cover_url: str | None = None
    language: str = "en"


async def _known(session: AsyncSession, entry: Entry) -> MagazineIssue | None:
    """Return the issue an entry is, by its GUID, its link or the number its title names."""
    conditions = [MagazineIssue.link == entry.link]
    if entry.guid:
        conditions.append(MagazineIssue.feed_guid == entry.guid)
    if entry.number is not None:
        conditions.append(MagazineIssue.number == entry.number)
    return await session.scalar(select(MagazineIssue).where(or_(*conditions)).limit(1))


async def take_entry(
    session: AsyncSession,
    entry: Entry,
    *,
    post: bool,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> MagazineIssue | None:
    """Add a feed entry to the archive unless it is there; post it if `post`.

    Return the new issue, or None for an entry already known (its GUID is then kept on the
    issue, so that a feed that rewrites its GUIDs is still recognised next time).
    The insert decides: of two processes taking the same entry, only the one whose insert
    went through posts it.
    """
    for _attempt in range(5):
        known = await _known(session, entry)
        if known is not None and known.status in (IssueStatus.DRAFT, IssueStatus.MISSED):
            # A preview nobody sent, or an issue due while the bot was down: the feed says
            # it is out, so it goes out now (or joins the archive on a first read).
            adopted = await _adopt(session, known, entry, post=post, now=now)
            if adopted and post:
                await _post(
                    session, known, now=now, catalogs=catalogs, default_language=default_language
                )
            return known if adopted else None
        if known is not None:
            log.info("feed entry %s is issue #%s already", entry.link, known.number)
            if entry.guid and known.feed_guid != entry.guid:
                taken = await session.scalar(
                    select(MagazineIssue.id).where(MagazineIssue.feed_guid == entry.guid)
                )
                if taken is None:
                    known.feed_guid = entry.guid
                    await session.flush()
            return None
        number = entry.number
        if number is None:
            highest = await session.scalar(select(func.max(MagazineIssue.number)))
            number = (highest or 0) + 1
        issue_id = await _insert(
            session,
            {
                "number": number,
                "title": check_title(entry.title or f"EMPOWER #{number}"),
                "summary": entry.summary[:MAX_SUMMARY],
                "link": entry.link,
                "cover_url": entry.cover_url,
                "language": entry.language,
                "status": IssueStatus.PUBLISHED if post else IssueStatus.ARCHIVED,
                "source": IssueSource.FEED,
                "feed_guid": entry.guid,
                "published_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
        if issue_id is None:
            # Taken meanwhile: by this entry (another process), or its number by another.
            continue
        issue = await session.get(MagazineIssue, issue_id)
        assert issue is not None
        if post:
            await _post(
                session, issue, now=now, catalogs=catalogs, default_language=default_language
            )
        return issue
    return None


async def _adopt(
    session: AsyncSession, issue: MagazineIssue, entry: Entry, *, post: bool, now: datetime
) -> bool:
    """Publish (or archive) an unsent issue the feed lists; return whether this call did."""
    guid_free = not entry.guid or (
        await session.scalar(select(MagazineIssue.id).where(MagazineIssue.feed_guid == entry.guid))
    ) in (None, issue.id)
    claimed = await session.execute(
        update(MagazineIssue)
        .where(MagazineIssue.id == issue.id, MagazineIssue.status == issue.status)
        .values(
            status=IssueStatus.PUBLISHED if post else IssueStatus.ARCHIVED,
            feed_guid=entry.guid if guid_free and entry.guid else issue.feed_guid,
            scheduled_at=None,
            published_at=now,
            updated_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if not claimed.rowcount:
        return False
    await session.refresh(issue)
    log.info("feed entry %s published draft issue #%s", entry.link, issue.number)
    return True


def numbers(issues: Sequence[MagazineIssue]) -> str:
    """Name issues by number: #4, #5."""
    return ", ".join(f"#{issue.number}" for issue in issues)


# --- A member's data (core.features.MemberData of the magazine feature; issue 17) ---------


async def digest_sections(view: MemberView) -> list[HomeSection]:
    """Offer the week's new issue, if one was published since the last digest."""
    since = view.since or view.now - timedelta(days=7)
    issue = await view.session.scalar(
        select(MagazineIssue)
        .where(
            MagazineIssue.status == IssueStatus.PUBLISHED,
            MagazineIssue.published_at >= since,
            MagazineIssue.published_at < view.now,
        )
        .order_by(MagazineIssue.number.desc())
        .limit(1)
    )
    if issue is None:
        return []
    t = view.t
    return [
        HomeSection(
            title=t("New in the magazine"),
            lines=(Markup(render(t, issue)),),  # safe markup already
            buttons=((read_button(t, issue),),),
        )
    ]


async def export_published(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the issues the member published (they stay published, unlinked, when erased)."""
    issues = await session.scalars(
        select(MagazineIssue)
        .where(MagazineIssue.published_by_id == member_id)
        .order_by(MagazineIssue.number)
    )
    return {"published": [{"number": i.number, "title": i.title} for i in issues]}
