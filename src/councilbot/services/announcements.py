"""Announcements: a coordinator's message to councils' chats and subscribers, now or later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup, escape
from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.features import Erasure, HomeSection, MemberView
from councilbot.core.formatting import format_when, truncate
from councilbot.core.i18n import N_, Catalogs, Translator
from councilbot.db.models import Announcement, AnnouncementStatus, Council, Member
from councilbot.delivery import outbox
from councilbot.delivery.targets import Outgoing
from councilbot.services import access, broadcast, councils, jobs
from councilbot.services.access import Actor

SOURCE = "announcement"
DEFAULT_LANGUAGE = "en"  # Settings.default_language's default, for callers that give none
SEND_JOB = "announcement.send"
TOPIC = "announcements"  # the subscription topic commands/announcements.py declares
MAX_LENGTH = 3500  # leaves room for the header below Telegram's 4,096 characters


def zone(announcement: Announcement) -> ZoneInfo:
    """Return the zone an announcement's times are read and shown in, wherever one asks.

    The one kept when it was written (the zone its --at was read in); rows from before
    it was kept use their first council's (by slug), and UTC once their councils are gone.
    """
    if announcement.timezone:
        return ZoneInfo(announcement.timezone)
    if announcement.councils:
        return ZoneInfo(min(announcement.councils, key=lambda c: c.slug).timezone)
    return ZoneInfo("UTC")


def job_name(announcement_id: int) -> str:
    """Name the scheduler job that sends an announcement."""
    return f"announcement:{announcement_id}"


@dataclass(frozen=True, slots=True)
class Created:
    """A new announcement and, when sent now, how many chats and subscribers it went to."""

    announcement: Announcement
    chats: int = 0
    subscribers: int = 0

    @property
    def queued(self) -> int:
        """Count the messages queued: one per chat and one per subscriber."""
        return self.chats + self.subscribers


def _check_text(text: str) -> str:
    if not text.strip():
        raise InvalidInput(N_("Please write the announcement's text.")).about("text")
    if len(text) > MAX_LENGTH:
        raise InvalidInput.plural(
            "The announcement is too long ({count} character; at most {limit}).",
            "The announcement is too long ({count} characters; at most {limit}).",
            len(text),
            limit=MAX_LENGTH,
        ).about("text")
    return text.strip()


async def resolve_targets(session: AsyncSession, actor: Actor, councils_text: str) -> list[Council]:
    """Read the councils an announcement goes to, checking the actor coordinates them all."""
    targets = await councils.get_councils(session, councils_text)
    if not targets:
        raise InvalidInput(N_("Please name at least one council, or all."))
    await access.require_coordinator_of_all(
        session, actor, targets, all_councils=councils.council_key(councils_text) == "all"
    )
    return targets


async def create_announcement(
    session: AsyncSession,
    *,
    actor: Actor,
    councils_text: str,
    text: str,
    at: datetime | None,
    now: datetime,
    catalogs: Catalogs,
    timezone: ZoneInfo | None = None,
    default_language: str = DEFAULT_LANGUAGE,
    send: bool = True,
    targets: list[Council] | None = None,
) -> Created:
    """Keep a draft for its preview, or (`send`) announce now or schedule it at `at`.

    `timezone` is the zone `at` was read in, kept with it: its times are shown in it
    everywhere (preview, confirmation, list, deliveries, direct messages). None: the first
    target's, in the order given.
    """
    text = _check_text(text)
    if at is not None and at <= now:
        raise InvalidInput(N_("That time is already past.")).about("at")
    if targets is None:
        targets = await resolve_targets(session, actor, councils_text)
    announcement = Announcement(
        author_id=actor.member_id,
        text=text,
        all_councils=councils_text.strip().lower() == "all",
        status=AnnouncementStatus.DRAFT,
        scheduled_at=at,
        created_at=now,
        councils=targets,
        timezone=str(timezone or ZoneInfo(targets[0].timezone)),
    )
    session.add(announcement)
    await session.flush()
    if not send:
        return Created(announcement)
    return await _release(
        session, announcement, now=now, catalogs=catalogs, default_language=default_language
    )


async def _release(
    session: AsyncSession,
    announcement: Announcement,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> Created:
    """Send a draft: schedule its job, or queue its deliveries now."""
    if announcement.scheduled_at is not None:
        announcement.status = AnnouncementStatus.SCHEDULED
        await jobs.schedule(
            session,
            job_name(announcement.id),
            SEND_JOB,
            announcement.scheduled_at,
            {"id": announcement.id},
            now=now,
        )
        return Created(announcement)
    announcement.status = AnnouncementStatus.SENT
    reached = await _enqueue(
        session, announcement, now=now, catalogs=catalogs, default_language=default_language
    )
    return Created(announcement, reached.chats, reached.subscribers)


async def _lock(session: AsyncSession, announcement_id: int) -> Announcement | None:
    """Read an announcement afresh and lock its row until the transaction ends.

    The scheduler's firing (claim the job, then send) and a cancel (cancel the job, then
    decide) take the job row first and this row second, in the same order, so on
    PostgreSQL the two serialise without a deadlock; on SQLite the write lock does it.
    """
    return await session.get(
        Announcement, announcement_id, with_for_update=True, populate_existing=True
    )


async def _relock(session: AsyncSession, announcement: Announcement) -> Announcement:
    """Read an announcement already found afresh, under its row lock (see _lock)."""
    locked = await _lock(session, announcement.id)
    assert locked is not None  # announcements are never deleted
    return locked


def _require_author(announcement: Announcement, actor: Actor) -> None:
    """Let only the coordinator who wrote an announcement send it (a draft, or a missed one)."""
    if announcement.author_id != actor.member_id:
        raise Forbidden(
            N_("Only the coordinator who wrote announcement #{id} can send it."),
            id=announcement.id,
        )


async def send_scheduled(
    session: AsyncSession,
    payload: dict[str, Any],
    now: datetime,
    *,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> None:
    """Queue a scheduled announcement's deliveries (the scheduler's job handler)."""
    announcement = await _lock(session, payload["id"])
    if announcement is None or announcement.status is not AnnouncementStatus.SCHEDULED:
        return
    announcement.status = AnnouncementStatus.SENT
    await _enqueue(
        session, announcement, now=now, catalogs=catalogs, default_language=default_language
    )


async def mark_missed(session: AsyncSession, payload: dict[str, Any], _now: datetime) -> None:
    """Record that a scheduled announcement was found too late to send."""
    announcement = await _lock(session, payload["id"])
    if announcement is not None and announcement.status is AnnouncementStatus.SCHEDULED:
        announcement.status = AnnouncementStatus.MISSED


def render(t: Translator, councils_label: str, text: str) -> str:
    """Write an announcement as its readers see it, header in their language."""
    return str(
        t("📣 <b>Announcement — {councils}</b>", councils=councils_label)
        + Markup("\n")
        + escape(text)
    )


def renderer(announcement: Announcement) -> broadcast.Renderer:
    """Render an announcement for each recipient: a chat names its council, a DM all of them."""
    label = ", ".join(c.name for c in announcement.councils)

    def for_recipient(recipient: broadcast.Recipient) -> Outgoing:
        named = recipient.council.name if recipient.council is not None else label
        return recipient.message(render(recipient.t, named, announcement.text))

    return for_recipient


async def audience(
    session: AsyncSession,
    announcement: Announcement,
    *,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> broadcast.Audience:
    """Find who an announcement reaches (for its preview, and when it goes out)."""
    return await broadcast.audience(
        session,
        announcement.councils,
        TOPIC,
        zone=zone(announcement),
        catalogs=catalogs,
        default_language=default_language,
    )


async def _enqueue(
    session: AsyncSession,
    announcement: Announcement,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str,
) -> broadcast.Audience:
    """Queue an announcement's posts; return who they go to."""
    announcement.sent_at = now
    reached = await audience(
        session, announcement, catalogs=catalogs, default_language=default_language
    )
    await broadcast.enqueue(
        session,
        reached,
        renderer(announcement),
        source=SOURCE,
        source_id=announcement.id,
        now=now,
    )
    return reached


async def _sees(session: AsyncSession, actor: Actor) -> Callable[[Announcement], bool]:
    """Tell which announcements the actor may see: their own, and those reaching their councils."""
    if await access.is_admin(session, actor):
        return lambda _announcement: True
    mine = await access.coordinated_council_ids(session, actor.member_id)
    return lambda a: (
        a.author_id == actor.member_id or bool(mine.intersection(c.id for c in a.councils))
    )


async def get_announcement(
    session: AsyncSession, actor: Actor, announcement_id: int
) -> Announcement:
    """Return an announcement the actor may see."""
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(N_("There is no announcement #{id}."), id=announcement_id)
    if not (await _sees(session, actor))(announcement):
        raise Forbidden(
            N_("Announcement #{id} is not for a council you coordinate."), id=announcement_id
        )
    return announcement


async def list_scheduled(
    session: AsyncSession, actor: Actor, *, now: datetime
) -> list[Announcement]:
    """Return the scheduled (and missed) announcements the actor may see, and their own drafts."""
    query = (
        select(Announcement)
        .where(
            Announcement.status.in_([AnnouncementStatus.SCHEDULED, AnnouncementStatus.MISSED])
            | (
                (Announcement.status == AnnouncementStatus.DRAFT)
                & (Announcement.author_id == actor.member_id)
                & (Announcement.created_at > now - broadcast.DRAFT_LIFETIME)
            )
        )
        .order_by(Announcement.scheduled_at, Announcement.id)
    )
    sees = await _sees(session, actor)
    return [a for a in await session.scalars(query) if sees(a)]


class SentBefore(Exception):
    """Signal that an announcement went out before the cancel was asked for, and when."""

    def __init__(self, announcement_id: int, sent_at: datetime, timezone: str) -> None:
        super().__init__(announcement_id, sent_at)
        self.announcement_id = announcement_id
        self.sent_at = sent_at
        self.timezone = timezone  # the announcement's, where its times are shown


async def _require_may_change(
    session: AsyncSession, actor: Actor, announcement: Announcement, refusal: str
) -> None:
    """Let its author, an admin or a coordinator of every council it goes to change it."""
    if announcement.author_id == actor.member_id:
        return
    # As to announce: one may change only what one could have sent.
    missing = await access.not_coordinated(session, actor, announcement.councils)
    if missing:
        raise Forbidden(refusal, id=announcement.id, councils=", ".join(missing))


def _refuse_expired(announcement: Announcement, now: datetime) -> None:
    """Refuse to send or edit a draft whose preview was long ago: who it reaches may have
    changed since (the one check for Send and for edit)."""
    if (
        announcement.status is AnnouncementStatus.DRAFT
        and announcement.created_at <= now - broadcast.DRAFT_LIFETIME
    ):
        raise Conflict(
            N_(
                "The preview of announcement #{id} is too old to send: announce it again to "
                "see who it reaches today."
            ),
            id=announcement.id,
        )


async def cancel_announcement(
    session: AsyncSession, actor: Actor, announcement_id: int, *, now: datetime
) -> Announcement:
    """Cancel a draft, a scheduled or a missed announcement; raise SentBefore if it went out."""
    announcement = await get_announcement(session, actor, announcement_id)
    await _require_may_change(
        session,
        actor,
        announcement,
        N_(
            "Only its author, an admin or a coordinator of every council it goes to "
            "can cancel announcement #{id}; you do not coordinate {councils}."
        ),
    )
    await jobs.cancel(session, job_name(announcement.id))
    # Read under the lock: a firing that claimed the job first has committed by now.
    announcement = await _relock(session, announcement)
    if announcement.status in (AnnouncementStatus.SENT, AnnouncementStatus.DELETED):
        assert announcement.sent_at is not None  # set with the status
        if announcement.sent_at < now:
            raise SentBefore(announcement.id, announcement.sent_at, str(zone(announcement)))
        # Sent as this cancel came in: the firing won the race for the job row.
        raise Conflict(
            N_(
                "Announcement #{id} is already on its way, so it can no longer be cancelled. "
                "/deliveries {id} shows how it goes."
            ),
            id=announcement_id,
        )
    if announcement.status is AnnouncementStatus.CANCELLED:
        raise Conflict(N_("Announcement #{id} is already cancelled."), id=announcement_id)
    announcement.status = AnnouncementStatus.CANCELLED
    announcement.cancelled_at = now
    return announcement


async def send_draft(
    session: AsyncSession,
    actor: Actor,
    announcement_id: int,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> Created:
    """Send a previewed draft: queue it now, or schedule it for its time."""
    announcement = await get_announcement(session, actor, announcement_id)
    # Two presses of Send (two devices, a double tap) queue it once: the second waits here.
    announcement = await _relock(session, announcement)
    if announcement.status is not AnnouncementStatus.DRAFT:
        raise NotADraft(announcement)
    _require_author(announcement, actor)
    _refuse_expired(announcement, now)
    if announcement.scheduled_at is not None and announcement.scheduled_at <= now:
        raise Conflict(
            N_(
                "Announcement #{id} was to go out at a time that is now past: announce it "
                "again with a new time, or without --at to send it now."
            ),
            id=announcement.id,
        )
    # Rights may have changed since the preview.
    await access.require_coordinator_of_all(session, actor, announcement.councils)
    return await _release(
        session, announcement, now=now, catalogs=catalogs, default_language=default_language
    )


async def revive_missed(
    session: AsyncSession, actor: Actor, announcement_id: int, *, now: datetime
) -> Announcement:
    """Make a missed announcement (due while the bot was down) a draft again, to send it late.

    Its author then sees a fresh preview (who it reaches today) and sends it with Send, as
    any draft: nothing goes out on the strength of a preview the bot never showed.
    """
    announcement = await get_announcement(session, actor, announcement_id)
    announcement = await _relock(session, announcement)
    if announcement.status is not AnnouncementStatus.MISSED:
        raise NotADraft(announcement)
    _require_author(announcement, actor)
    announcement.status = AnnouncementStatus.DRAFT
    announcement.scheduled_at = None  # late: it goes out on Send
    announcement.created_at = now  # its preview's day starts now
    return announcement


class NotADraft(Exception):
    """Signal that a draft's Send (or draft edit) came after it was sent, cancelled or missed."""

    def __init__(self, announcement: Announcement) -> None:
        super().__init__(announcement.id)
        self.announcement = announcement


@dataclass(frozen=True, slots=True)
class Edited:
    """An announcement with its new text, and how many posts will be edited."""

    announcement: Announcement
    edits: int
    unchanged: bool = False  # the new text is the old one


def check_editable(announcement: Announcement, now: datetime) -> None:
    """Refuse to edit what was cancelled or deleted, or previewed too long ago."""
    if announcement.status is AnnouncementStatus.CANCELLED:
        raise Conflict(
            N_("Announcement #{id} was cancelled; there is nothing to edit."), id=announcement.id
        )
    if announcement.status is AnnouncementStatus.DELETED:
        raise Conflict(
            N_("Announcement #{id} was deleted; there is nothing to edit."), id=announcement.id
        )
    _refuse_expired(announcement, now)


async def edit_announcement(
    session: AsyncSession,
    actor: Actor,
    announcement_id: int,
    text: str,
    *,
    now: datetime,
    catalogs: Catalogs,
    default_language: str = DEFAULT_LANGUAGE,
) -> Edited:
    """Change an announcement's text: a draft's or a scheduled one's, or re-render its posts."""
    text = _check_text(text)
    announcement = await get_announcement(session, actor, announcement_id)
    await _require_may_change(
        session,
        actor,
        announcement,
        N_(
            "Only its author, an admin or a coordinator of every council it goes to "
            "can edit announcement #{id}; you do not coordinate {councils}."
        ),
    )
    announcement = await _relock(session, announcement)
    check_editable(announcement, now)
    unchanged = announcement.text == text
    announcement.text = text
    if announcement.status is not AnnouncementStatus.SENT:
        return Edited(announcement, 0, unchanged)
    # Even with the same text: an edit that failed is queued again, so typing it again is
    # how a coordinator retries it (posts that already say it are left alone).
    edits = await broadcast.rerender(
        session,
        announcement.councils,
        renderer(announcement),
        zone=zone(announcement),
        catalogs=catalogs,
        default_language=default_language,
        source=SOURCE,
        source_id=announcement.id,
        now=now,
    )
    return Edited(announcement, edits, unchanged)


async def delete_announcement(
    session: AsyncSession, actor: Actor, announcement_id: int, *, now: datetime
) -> tuple[Announcement, int]:
    """Take a sent announcement back from every chat it reached; return how many posts go."""
    announcement = await get_announcement(session, actor, announcement_id)
    await _require_may_change(
        session,
        actor,
        announcement,
        N_(
            "Only its author, an admin or a coordinator of every council it goes to "
            "can delete announcement #{id}; you do not coordinate {councils}."
        ),
    )
    announcement = await _relock(session, announcement)
    if announcement.status is AnnouncementStatus.DELETED:
        raise Conflict(N_("Announcement #{id} is already deleted."), id=announcement.id)
    if announcement.status is AnnouncementStatus.CANCELLED:
        raise Conflict(
            N_(
                "Announcement #{id} was cancelled, so nothing was sent and there is nothing to delete."
            ),
            id=announcement.id,
        )
    if announcement.status is not AnnouncementStatus.SENT:
        raise Conflict(
            N_(
                "Announcement #{id} was not sent, so there is nothing to delete; "
                "/announce cancel {id} makes sure it never goes out."
            ),
            id=announcement.id,
        )
    announcement.status = AnnouncementStatus.DELETED
    announcement.deleted_at = now
    deletes = await outbox.enqueue_deletes(session, SOURCE, announcement.id, now=now)
    return announcement, deletes


async def delivery_report(
    session: AsyncSession, actor: Actor, announcement_id: int
) -> tuple[Announcement, outbox.Report]:
    """Return an announcement and how its deliveries are doing."""
    announcement = await get_announcement(session, actor, announcement_id)
    return announcement, await outbox.report(session, SOURCE, announcement.id)


# A member's data (core.features.MemberData of the announcements feature) -----------------


async def export_authored(session: AsyncSession, member_id: int) -> dict[str, Any]:
    """Return the announcements the member wrote."""
    authored = await session.scalars(
        select(Announcement).where(Announcement.author_id == member_id).order_by(Announcement.id)
    )
    return {
        "announcements": [
            {
                "id": a.id,
                "text": a.text,
                "status": a.status.value,
                "councils": "all" if a.all_councils else [c.slug for c in a.councils],
                "created_at": a.created_at.isoformat(),
                "sent_at": a.sent_at.isoformat() if a.sent_at else None,
            }
            for a in authored
        ]
    }


async def forget_author(erasure: Erasure) -> None:
    """Keep what the member published for the councils, no longer linked to them.

    An announcement is the council's published content: erasing the person leaves it in the
    chats and in /announce list, without an author. Their unsent drafts are deleted.
    """
    session, member_id = erasure.session, erasure.member_id
    await session.execute(
        delete(Announcement).where(
            Announcement.author_id == member_id, Announcement.status == AnnouncementStatus.DRAFT
        )
    )
    await session.execute(
        update(Announcement).where(Announcement.author_id == member_id).values(author_id=None)
    )


async def digest_sections(view: MemberView) -> list[HomeSection]:
    """List the past week's announcements to the member's home council or to every council."""
    member = await view.session.get(Member, view.member_id)
    since = view.since or view.now - timedelta(days=7)
    query = (
        select(Announcement)
        .where(
            Announcement.status == AnnouncementStatus.SENT,
            Announcement.sent_at >= since,
            Announcement.sent_at < view.now,
        )
        .order_by(Announcement.sent_at, Announcement.id)
    )
    found = [
        a
        for a in await view.session.scalars(query)
        if a.all_councils or any(c.id == (member and member.home_council_id) for c in a.councils)
    ]
    if not found:
        return []
    lines = tuple(
        view.t(
            "{when}: {text}",
            when=format_when(a.sent_at, view.tz, view.t.lang, now=view.now),
            text=truncate(a.text, 200),
        )
        for a in found
        if a.sent_at is not None
    )
    return [HomeSection(title=view.t("Announcements of the week"), lines=lines)]
