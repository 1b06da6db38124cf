"""Reading the EMPOWER magazine's RSS or Atom feed: new entries become posted issues.

One read: a conditional GET (ETag / Last-Modified, so an unchanged feed costs one 304)
with a bounded timeout, outside any transaction; feedparser reads the bytes; then, in one
transaction holding the feed's row lock, each entry not already in the archive (by GUID,
by link, or by the number its title names) is inserted and posted. The feed's first read
(a newly configured feed) only archives what it holds, so that configuring a feed does not
flood every chat with old issues. The insert decides who posts an entry: with several
processes, only the one whose insert went through.

An entry's issue number is the one its title names ("EMPOWER #5", "Issue 5", "Nº 5");
failing that, the next number after the highest in the archive.

A read that fails (network, timeout, HTTP error, not a feed) is logged and counted on the
feed's row; once the feed has failed for an hour the admins get one direct message, and one
more when it works again. The row keeps that state, so restarts and other processes do
not repeat it.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import feedparser
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from councilbot.core.formatting import format_when
from councilbot.core.http import HttpFailure, HttpGet
from councilbot.core.i18n import LANGUAGES, N_, Catalogs
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import Identity, MagazineFeed, Member, Role, RoleName
from councilbot.db.session import upsert
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing
from councilbot.services import magazine

log = logging.getLogger(__name__)
SOURCE = "magazine-feed"  # the outbox's source of the admins' alerts
TIMEOUT = 10.0  # seconds a read of the feed may take in all (a stopping bot waits as long)
MAX_BYTES = 5 * 1024 * 1024  # a magazine's feed is far smaller: more is not one
ALERT_AFTER = timedelta(hours=1)
USER_AGENT = "CouncilBot (EMPOWER magazine feed reader)"
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, */*;q=0.5"
# "#5", "Issue 5", "No. 5", "Nº 5", "n. 5", "número 5", "numéro 5", "sayı 5".
NUMBER = re.compile(
    r"(?:#|\b(?:issue|edition|no\.?|nº|n\.|n°|num(?:ber|ero|éro)?|número|sayı|sayi)\s*#?)\s*"
    r"(\d{1,6})\b",
    re.IGNORECASE,
)
TAGS = re.compile(r"<[^<>]*>")
# "EMPOWER #5: Growth stories" is shown as "EMPOWER #5: Growth stories", not twice numbered.
PREFIX = re.compile(r"^\s*EMPOWER\b[^:–—|]*?\d+\s*[:–—|-]\s*", re.IGNORECASE)

FAILING = N_(
    "⚠️ The EMPOWER magazine feed {url} cannot be read since {since}: {error}. I keep trying "
    "every {minutes} minutes; new issues are posted once it works again."
)
RECOVERED = N_(
    "✅ The EMPOWER magazine feed {url} works again (it could not be read from {since}). New "
    "issues are posted as usual."
)


class FeedError(Exception):
    """Say why the feed could not be read (logged, kept on the feed's row, told to admins)."""


@dataclass(frozen=True, slots=True)
class Fetched:
    """What a conditional GET of the feed brought: new bytes, or nothing new (304)."""

    body: bytes | None  # None: not modified
    etag: str | None
    last_modified: str | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one read of the feed did."""

    status: str  # "imported" (a first read), "read", "unchanged" (304) or "failed"
    posted: tuple[int, ...] = ()  # the numbers of the issues it posted
    archived: tuple[int, ...] = ()  # ... and of those it archived without posting
    error: str | None = None
    alerted: bool = False  # the admins were told, now, that it fails or works again


async def fetch(
    get: HttpGet,
    url: str,
    *,
    etag: str | None,
    last_modified: str | None,
    seconds: float = TIMEOUT,
) -> Fetched:
    """GET the feed unless it is unchanged since the validators given; raise FeedError."""
    headers = {"User-Agent": USER_AGENT, "Accept": ACCEPT}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        answer = await get(url, headers, seconds, MAX_BYTES)
    except HttpFailure as exc:
        raise FeedError(str(exc)) from None
    found = {name.lower(): value for name, value in answer.headers.items()}
    if answer.status == 304:
        return Fetched(None, found.get("etag") or etag, found.get("last-modified") or last_modified)
    if answer.status != 200:
        raise FeedError(f"HTTP {answer.status} {answer.reason}".strip())
    if answer.truncated:
        raise FeedError(f"more than {MAX_BYTES} bytes: not a magazine's feed")
    return Fetched(answer.body, found.get("etag"), found.get("last-modified"))


def number_in(title: str) -> int | None:
    """Return the issue number a title names ("EMPOWER #5", "Issue 5"), if it names one."""
    match = NUMBER.search(title or "")
    return int(match[1]) if match and int(match[1]) > 0 else None


def _text(markup: str) -> str:
    """Turn an entry's HTML summary into plain text."""
    return " ".join(html.unescape(TAGS.sub(" ", markup or "")).split())


def _cover(entry: Any) -> str | None:
    """Find an entry's picture: media:thumbnail, media:content or an image enclosure."""
    for thumbnail in entry.get("media_thumbnail") or []:
        if thumbnail.get("url"):
            return str(thumbnail["url"])
    for media in entry.get("media_content") or []:
        if media.get("url") and str(media.get("medium", media.get("type", ""))).startswith("image"):
            return str(media["url"])
    for link in entry.get("links") or []:
        if link.get("rel") == "enclosure" and str(link.get("type", "")).startswith("image/"):
            return str(link.get("href"))
    return None


def _language(feed: Any, default: str) -> str:
    code = str(feed.get("language") or "").split("-")[0].split("_")[0].lower()
    return code if code in LANGUAGES else default


def parse(body: bytes, *, default_language: str = "en") -> list[magazine.Entry]:
    """Read a feed's bytes into its entries, oldest first; raise FeedError if it is no feed."""
    parsed = feedparser.parse(body)
    if parsed.bozo and not parsed.entries:
        raise FeedError(f"not an RSS or Atom feed ({parsed.get('bozo_exception')!s:.200})")
    if not parsed.get("version") and not parsed.entries:
        raise FeedError("not an RSS or Atom feed")
    language = _language(parsed.feed, default_language)
    found = []
    for item in reversed(parsed.entries):  # feeds list the newest first
        link = str(item.get("link") or "").strip()
        if not link.startswith(("http://", "https://")) or len(link) > magazine.MAX_LINK:
            log.info("magazine feed: an entry without a usable link is left out")
            continue
        guid = str(item.get("id") or "").strip()[: magazine.MAX_LINK] or None
        title = " ".join(str(item.get("title") or "").split())[: magazine.MAX_TITLE]
        number = number_in(title)
        if number is not None and PREFIX.sub("", title, count=1).strip():
            title = PREFIX.sub("", title, count=1).strip()  # the post names the number itself
        found.append(
            magazine.Entry(
                guid=guid,
                link=link,
                title=title,
                summary=_text(str(item.get("summary") or ""))[: magazine.MAX_SUMMARY],
                number=number,
                cover_url=_cover(item),
                language=language,
            )
        )
    dates = {
        str(item.get("link") or "").strip(): item.get("published_parsed")
        or item.get("updated_parsed")
        for item in parsed.entries
    }
    if found and all(dates.get(entry.link) for entry in found):
        # Oldest first by date, so that numbers given in turn follow the issues' order.
        found.sort(key=lambda entry: tuple(dates[entry.link]))
    return found


async def _feed(session: AsyncSession, url: str, now: datetime) -> MagazineFeed:
    """Return the feed's row, locked until the transaction ends (created on the first read)."""
    await session.execute(
        upsert(session, MagazineFeed.__table__)
        .values(url=url, failures=0, created_at=now)
        .on_conflict_do_nothing()
    )
    feed = await session.scalar(
        select(MagazineFeed)
        .where(MagazineFeed.url == url)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert feed is not None
    return feed


async def read_feed(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: str,
    *,
    get: HttpGet,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = "en",
    admins: Iterable[tuple[str, str]] = (),
    every_minutes: float = 60.0,
    seconds: float = TIMEOUT,
) -> Outcome:
    """Read the feed once: archive (first read) or post its new entries; never raise for it."""
    async with sessionmaker() as session, session.begin():
        feed = await _feed(session, url, now)
        etag, modified = feed.etag, feed.last_modified
    try:
        fetched = await fetch(get, url, etag=etag, last_modified=modified, seconds=seconds)
        entries = (
            None if fetched.body is None else parse(fetched.body, default_language=default_language)
        )
    except FeedError as exc:
        return await _failed(
            sessionmaker,
            url,
            str(exc),
            now=now,
            catalogs=catalogs,
            default_language=default_language,
            admins=admins,
            every_minutes=every_minutes,
        )
    posted: list[int] = []
    archived: list[int] = []
    async with sessionmaker() as session, session.begin():
        feed = await _feed(session, url, now)
        first = feed.imported_at is None
        for entry in entries or []:
            issue = await magazine.take_entry(
                session,
                entry,
                post=not first,
                now=now,
                catalogs=catalogs,
                default_language=default_language,
            )
            if issue is not None:
                (archived if first else posted).append(issue.number)
        if first and entries is not None:
            feed.imported_at = now
        feed.etag, feed.last_modified = fetched.etag, fetched.last_modified
        feed.last_ok_at = now
        alerted = await _recovered(session, feed, catalogs, default_language, admins, now)
    status = "unchanged" if entries is None else "imported" if first else "read"
    if posted or archived:
        log.info(
            "magazine feed: %d new issue(s) posted, %d archived without a post",
            len(posted),
            len(archived),
        )
    return Outcome(status, tuple(posted), tuple(archived), alerted=alerted)


async def _failed(
    sessionmaker: async_sessionmaker[AsyncSession],
    url: str,
    reason: str,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
    admins: Iterable[tuple[str, str]],
    every_minutes: float,
) -> Outcome:
    """Count a failed read; tell the admins once when it has failed for an hour."""
    log.warning("magazine feed %s could not be read: %s; trying again later", url, reason)
    alerted = False
    async with sessionmaker() as session, session.begin():
        feed = await _feed(session, url, now)
        feed.failures += 1
        feed.last_error = reason[:1000]
        if feed.failing_since is None:
            feed.failing_since = now
        if feed.alerted_at is None and now - feed.failing_since >= ALERT_AFTER:
            feed.alerted_at = now  # under the row lock: one process, once
            await _tell_admins(
                session,
                feed,
                FAILING,
                {"error": reason, "minutes": f"{every_minutes:g}"},
                catalogs=catalogs,
                default_language=default_language,
                admins=admins,
                now=now,
                kind="down",
            )
            alerted = True
    return Outcome("failed", error=reason, alerted=alerted)


async def _recovered(
    session: AsyncSession,
    feed: MagazineFeed,
    catalogs: Catalogs,
    default_language: str,
    admins: Iterable[tuple[str, str]],
    now: datetime,
) -> bool:
    """Clear a failure; tell the admins it works again if they were told it failed."""
    told = feed.alerted_at is not None
    if told:
        await _tell_admins(
            session,
            feed,
            RECOVERED,
            {},
            catalogs=catalogs,
            default_language=default_language,
            admins=admins,
            now=now,
            kind="up",
        )
    feed.failing_since = None
    feed.alerted_at = None
    feed.failures = 0
    feed.last_error = None
    return told


async def admin_chats(
    session: AsyncSession, admins: Iterable[tuple[str, str]]
) -> list[tuple[Platform, str, str, str | None]]:
    """Return where to reach each admin: (platform, workspace, user id, their language).

    Admins are the operator's (COUNCILBOT_ADMINS: `platform:user_id`) and the members holding
    the admin role, each reached once, on the platform where we last saw them.
    """
    found: dict[object, tuple[Platform, str, str, str | None]] = {}
    role_holders = select(Role.member_id).where(Role.role == RoleName.ADMIN)
    rows = await session.execute(
        select(Identity, Member.locale)
        .join(Member, Member.id == Identity.member_id)
        .where(Identity.member_id.in_(role_holders))
        .order_by(Identity.last_seen_at, Identity.id)
    )
    for identity, locale in rows.all():  # the latest seen wins
        found[identity.member_id] = (
            identity.platform,
            identity.workspace,
            identity.user_id,
            locale,
        )
    for platform_name, user_id in sorted(admins):
        platform = Platform(platform_name)
        known = (
            await session.execute(
                select(Identity, Member.locale)
                .join(Member, Member.id == Identity.member_id)
                .where(Identity.platform == platform, Identity.user_id == user_id)
                .order_by(Identity.last_seen_at.desc())
                .limit(1)
            )
        ).first()
        if known is not None:
            identity, locale = known
            found[identity.member_id] = (platform, identity.workspace, user_id, locale)
        else:  # never seen: a Telegram or console id is its private chat's id all the same
            found[(platform, user_id)] = (platform, "", user_id, None)
    return sorted(set(found.values()), key=lambda chat: (chat[0].value, chat[1], chat[2]))


async def _tell_admins(
    session: AsyncSession,
    feed: MagazineFeed,
    message: str,
    values: dict[str, Any],
    *,
    catalogs: Catalogs,
    default_language: str,
    admins: Iterable[tuple[str, str]],
    now: datetime,
    kind: str,
) -> None:
    """Queue one direct message to every admin about the feed (keyed: once per episode)."""
    since = feed.failing_since or now
    episode = since.isoformat()
    envelopes = []
    for platform, workspace, user_id, language in await admin_chats(session, admins):
        t = catalogs.translator(language or default_language)
        text = t(
            message,
            url=feed.url,
            since=format_when(since, ZoneInfo("UTC"), t.lang, now=now),
            **values,
        )
        envelopes.append(
            Envelope(
                key=f"{SOURCE}:{feed.id}:{kind}:{episode}:{platform.value}:{workspace}:{user_id}",
                message=Outgoing(
                    platform=platform,
                    workspace=workspace,
                    chat_id=user_id,
                    chat_kind=ChatKind.PRIVATE,
                    text=str(text),
                ),
                source=SOURCE,
                source_id=feed.id,
            )
        )
    await outbox.enqueue(session, envelopes, now=now)
    log.warning("magazine feed %s: the admins are told it %s", feed.url, kind)
