"""A member's home: what every feature keeps about them, shows them, exports and erases.

Each feature declares a `MemberData` (core.features): its `home` and `digest` sections,
its `calendar` entries, its `export` and `forget`. This module asks every feature in turn,
so that /me, the Slack Home tab, the weekly digest, /mydata and /forgetme cover features
added later without a change here. It also keeps the private calendar feed's secret (only
its hash is stored) and asks for a member's Slack Home tab to be refreshed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from babel.dates import format_date
from markupsafe import Markup
from sqlalchemy import ForeignKey, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.features import (
    Erasure,
    HomeSection,
    JobRun,
    MemberHooks,
    MemberView,
    SectionHook,
)
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.base import Base
from councilbot.db.models import (
    CalendarToken,
    Council,
    DigestSent,
    Identity,
    Job,
    JobState,
    Member,
)
from councilbot.db.session import upsert
from councilbot.delivery import outbox
from councilbot.delivery.targets import Outgoing
from councilbot.services import broadcast, jobs
from councilbot.services.calendar import ics

log = logging.getLogger(__name__)
UTC_ZONE = ZoneInfo("UTC")
# A member's Slack Home tab is published at most once in this long, however busy they are.
HOME_THROTTLE = timedelta(seconds=5)
HOME_SOURCE = "home"  # the outbox source of Home tab refreshes
HOME_VIEW = "home"  # Outgoing.view: publish the member's home instead of posting a message
FEED_REFRESH = timedelta(hours=1)  # how often calendar apps are asked to fetch the feed
EXPORT_FORMAT = 1  # bumped when the layout of /mydata's file changes


async def member_zone(session: AsyncSession, member: Member) -> ZoneInfo:
    """Return the zone a member's home is shown in: their home council's, else UTC."""
    if member.home_council_id is None:
        return UTC_ZONE
    council = await session.get(Council, member.home_council_id)
    return ZoneInfo(council.timezone) if council is not None else UTC_ZONE


async def home_sections(hooks: MemberHooks, view: MemberView) -> list[HomeSection]:
    """Return every feature's section of the member's home, in the features' order."""
    return await _sections([data.home for _name, data in hooks], view)


async def digest_sections(hooks: MemberHooks, view: MemberView) -> list[HomeSection]:
    """Return every feature's section of the member's weekly digest, in the features' order."""
    return await _sections([data.digest for _name, data in hooks], view)


async def _sections(declared: list[SectionHook | None], view: MemberView) -> list[HomeSection]:
    found: list[HomeSection] = []
    for sections in declared:
        if sections is not None:
            found.extend(await sections(view))
    return found


async def calendar_entries(
    session: AsyncSession, hooks: MemberHooks, member_id: int, now: datetime
) -> list[Any]:
    """Return the member's entries of every feature's calendar (services.calendar.CalendarEvent)."""
    entries: list[Any] = []
    for _name, data in hooks:
        if data.calendar is not None:
            entries.extend(await data.calendar(session, member_id, now))
    return entries


async def export(
    session: AsyncSession, hooks: MemberHooks, member_id: int, now: datetime
) -> dict[str, Any]:
    """Return everything stored about a member, by feature, as JSON-able data."""
    data: dict[str, Any] = {"format": EXPORT_FORMAT, "exported_at": now.isoformat()}
    for name, declared in hooks:
        if declared.export is not None:
            data[name] = await declared.export(session, member_id)
    return data


# What lists show in place of someone erased at their request: their past RSVPs and
# bookings stay counted, under a member row of this name with no accounts.
ERASED_NAME = "—"


async def forget(hooks: MemberHooks, erasure: Erasure) -> None:
    """Erase a member: every feature's personal data, then the member and their accounts.

    Features run in reverse order, so that general (first declared, owner of the member
    row) runs last. Whatever still points at the member afterwards (a table whose feature
    forgot to declare `forget`) is unlinked where the column allows, else deleted.
    """
    session, member_id = erasure.session, erasure.member_id
    if await session.scalar(select(Member.id).where(Member.id == member_id)) is None:
        return  # erased already (the same request twice at once)
    stand_in = Member(display_name=ERASED_NAME, created_at=erasure.now)
    session.add(stand_in)
    await session.flush()
    erasure = dataclasses.replace(erasure, stand_in_id=stand_in.id)
    for _name, declared in reversed(hooks):
        if declared.forget is not None:
            await declared.forget(erasure)
    await _unlink_everywhere(session, member_id)
    await session.execute(delete(Member).where(Member.id == member_id))
    if not await _referenced(session, stand_in.id):  # nothing was kept as a count
        await session.execute(delete(Member).where(Member.id == stand_in.id))
    log.info("member %s erased at their request", member_id)


async def _referenced(session: AsyncSession, member_id: int) -> bool:
    """Tell whether any row of any table points at the member."""
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if table.name != "members" and _refers_to_members(column.foreign_keys):
                found = await session.scalar(select(column).where(column == member_id).limit(1))
                if found is not None:
                    return True
    return False


async def _unlink_everywhere(session: AsyncSession, member_id: int) -> None:
    """Unlink (or, where a member is required, delete) every row still naming the member."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name == "members":
            continue
        for column in table.columns:
            if not _refers_to_members(column.foreign_keys):
                continue
            if column.nullable:
                await session.execute(
                    update(table).where(column == member_id).values({column: None})
                )
            else:
                await session.execute(delete(table).where(column == member_id))


def _refers_to_members(foreign_keys: set[ForeignKey]) -> bool:
    return any(fk.column.table.name == "members" for fk in foreign_keys)


# --- The private calendar feed -----------------------------------------------------------


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def calendar_token(
    session: AsyncSession, member_id: int, *, now: datetime, reset: bool = False
) -> str | None:
    """Give the member a new calendar secret (on first use or reset); None: they have one.

    Only its hash is kept, so an existing secret cannot be shown again: without `reset`
    the caller says that the URL given before still works.
    """
    token = secrets.token_urlsafe(32)
    # First use: one row per member, whoever else asks at the same moment (unique member_id).
    created = await session.execute(
        upsert(session, CalendarToken.__table__)
        .values(member_id=member_id, token_hash=_digest(token), created_at=now)
        .on_conflict_do_nothing(index_elements=["member_id"])
        .returning(CalendarToken.__table__.c.id)
    )
    if created.first() is not None:
        return token
    if not reset:
        return None
    # A reset replaces the hash in place: the old secret stops working in the same commit.
    await session.execute(
        update(CalendarToken)
        .where(CalendarToken.member_id == member_id)
        .values(token_hash=_digest(token), created_at=now)
    )
    return token


async def member_of_token(session: AsyncSession, token: str) -> int | None:
    """Return the member whose calendar secret this is, else None (compared in constant time)."""
    if not token or len(token) > 128:
        return None
    wanted = _digest(token)
    row = await session.scalar(select(CalendarToken).where(CalendarToken.token_hash == wanted))
    # The lookup is by hash, which leaks nothing of the secret; the comparison says so again.
    if row is None or not hmac.compare_digest(row.token_hash, wanted):
        return None
    return row.member_id


# --- The Slack Home tab ------------------------------------------------------------------


async def home_changed(session: AsyncSession, member_id: int, now: datetime) -> int:
    """Ask for the member's Slack Home tab to be published again; return the requests queued.

    Features call this after a change the Home tab shows (an RSVP, a promotion from a
    waitlist, a booking released, a poll closed), in the transaction of the change. The
    request goes through the outbox to the Slack target, which renders the Home tab when it
    sends, so the newest state is shown. Requests of one member within HOME_THROTTLE share
    one outbox row due at the end of that window: at most one publish per window.
    """
    identities = await session.scalars(
        select(Identity).where(Identity.member_id == member_id, Identity.platform == Platform.SLACK)
    )
    window = int(now.timestamp() // HOME_THROTTLE.total_seconds())
    due = datetime.fromtimestamp((window + 1) * HOME_THROTTLE.total_seconds(), UTC)
    envelopes = [
        outbox.Envelope(
            key=f"home:{identity.workspace}:{identity.user_id}:{window}",
            message=Outgoing(
                platform=Platform.SLACK,
                workspace=identity.workspace,
                chat_id=identity.user_id,
                chat_kind=ChatKind.PRIVATE,
                text="",
                view=HOME_VIEW,
            ),
            source=HOME_SOURCE,
            source_id=member_id,
            member_id=member_id,
            due_at=due,
        )
        for identity in identities
    ]
    return await outbox.enqueue(session, envelopes, now=now)


# --- The weekly digest -------------------------------------------------------------------

DIGEST_TOPIC = "digest"
DIGEST_JOB = "me.digest"  # the job kind, and the name of its one job
DIGEST_SOURCE = "digest"
DIGEST_WEEKDAY = 0  # Monday
DIGEST_HOUR = 8  # 08:00 in the member's zone


def next_hour(now: datetime) -> datetime:
    """Return the next full hour after `now` (UTC)."""
    return now.astimezone(UTC).replace(minute=0, second=0, microsecond=0) + timedelta(hours=1)


async def ensure_digest_job(session: AsyncSession, now: datetime) -> None:
    """Make sure the hourly digest job is pending (a subscription to `digest` calls this)."""
    job = await session.scalar(select(Job).where(Job.name == DIGEST_JOB))
    if job is None or job.state is not JobState.PENDING:
        await jobs.schedule(session, DIGEST_JOB, DIGEST_JOB, next_hour(now), now=now)


def digest_week(now: datetime, zone: ZoneInfo) -> str | None:
    """Return the ISO week whose digest is due now in a zone: Monday from 08:00, else None."""
    local = now.astimezone(zone)
    if local.weekday() != DIGEST_WEEKDAY or local.hour < DIGEST_HOUR:
        return None
    year, week, _ = local.isocalendar()
    return f"{year}-W{week:02d}"


async def send_digests(run: JobRun) -> None:
    """Send each subscriber whose Monday 08:00 has come their digest, once per week; go on.

    Runs every hour (and when it was missed: late is better than never on the same Monday).
    Each member's zone is their home council's; the unique (member, week) row is written
    first, so a second run, another worker or a restart never sends a week twice.
    """
    session, now = run.session, run.now
    council_ids = list(await session.scalars(select(Council.id)))
    subscribers = await broadcast.subscribers(session, council_ids, DIGEST_TOPIC)
    languages = await broadcast.Languages.of(
        session, [m for m, _ in subscribers], run.default_language
    )
    envelopes = []
    for member, identity in subscribers:
        zone = await member_zone(session, member)
        week = digest_week(now, zone)
        if week is None:
            continue
        claimed = await session.execute(
            upsert(session, DigestSent.__table__)
            .values(member_id=member.id, week=week, sent_at=now)
            .on_conflict_do_nothing(index_elements=["member_id", "week"])
            .returning(DigestSent.__table__.c.id)
        )
        if claimed.first() is None:
            continue
        t = run.catalogs.translator(languages(member))
        view = MemberView(
            session, member.id, now, t, zone, since=now - timedelta(days=7), settings=run.settings
        )
        found = await digest_sections(run.members, view)
        if not found:  # a quiet week: nothing to say, and nothing sent
            continue
        text = render_sections(
            t("<b>Your week</b> — {date}", date=format_day(now, zone, t.lang)), found
        )
        envelopes.append(
            outbox.Envelope(
                key=f"digest:{member.id}:{week}",
                message=Outgoing(
                    platform=identity.platform,
                    workspace=identity.workspace,
                    chat_id=identity.user_id,
                    chat_kind=ChatKind.PRIVATE,
                    text=text,
                    buttons=tuple(row for section in found for row in section.buttons),
                ),
                source=DIGEST_SOURCE,
                member_id=member.id,
            )
        )
    await outbox.enqueue(session, envelopes, now=now)
    if subscribers:  # nobody subscribed: the job stops until someone subscribes again
        await jobs.schedule(session, DIGEST_JOB, DIGEST_JOB, next_hour(now), now=now)


def format_day(now: datetime, zone: ZoneInfo, lang: str) -> str:
    """Show a day as people read it: `Mon 7 Dec`."""
    return format_date(now.astimezone(zone).date(), "EEE d MMM", locale=lang)


def render_sections(heading: str, sections: list[HomeSection]) -> str:
    """Write sections as one message: the heading, then each title and its lines."""
    parts = [heading]
    for section in sections:
        parts.append("")
        parts.append(Markup("<b>{}</b>").format(section.title))
        parts.extend(Markup("• {}").format(line) for line in section.lines)
    return Markup("\n").join(parts)


async def member_feed(
    session: AsyncSession, hooks: MemberHooks, token: str, *, now: datetime
) -> bytes | None:
    """Return the .ics of the member whose calendar secret this is (None: no such secret)."""
    member_id = await member_of_token(session, token)
    if member_id is None:
        return None
    entries = await calendar_entries(session, hooks, member_id, now)
    issued = await session.scalar(
        select(CalendarToken.created_at).where(CalendarToken.member_id == member_id)
    )
    # A fixed DTSTAMP for entries that carry no `updated`: the same content, the same bytes,
    # so a calendar app asking again with If-None-Match gets 304.
    return ics(entries, name="CouncilBot", stamp=issued, refresh=FEED_REFRESH)
