"""Announcements: a coordinator's message to councils' chats and subscribers, now or later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from markupsafe import Markup, escape
from sqlalchemy import desc, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from councilbot.core.i18n import N_, Catalogs
from councilbot.core.messages import ChatKind
from councilbot.db.models import (
    Announcement,
    AnnouncementStatus,
    Channel,
    Council,
    Identity,
    Member,
    Subscription,
)
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing
from councilbot.services import access, councils, jobs
from councilbot.services.access import Actor

SOURCE = "announcement"
SEND_JOB = "announcement.send"
TOPIC = "announcements"  # the subscription topic commands/announcements.py declares
MAX_LENGTH = 3500  # leaves room for the header below Telegram's 4,096 characters


def job_name(announcement_id: int) -> str:
    """Name the scheduler job that sends an announcement."""
    return f"announcement:{announcement_id}"


@dataclass(frozen=True, slots=True)
class Created:
    """A new announcement and, when sent now, how many deliveries it queued."""

    announcement: Announcement
    queued: int


async def _not_coordinated(
    session: AsyncSession, actor: Actor, targets: list[Council]
) -> list[str]:
    """Name the councils among `targets` that the actor does not coordinate (none for admins)."""
    if await access.is_admin(session, actor):
        return []
    mine = await access.coordinated_council_ids(session, actor.member_id)
    return [c.name for c in targets if c.id not in mine]


async def _require_coordinator_of_all(
    session: AsyncSession, actor: Actor, targets: list[Council]
) -> None:
    missing = await _not_coordinated(session, actor, targets)
    if missing:
        raise Forbidden(
            N_("You can only announce to councils you coordinate; not to {councils}."),
            councils=", ".join(missing),
        )


async def create_announcement(
    session: AsyncSession,
    *,
    actor: Actor,
    councils_text: str,
    text: str,
    at: datetime | None,
    now: datetime,
    catalogs: Catalogs,
) -> Created:
    """Announce now (queue the deliveries) or at `at` (schedule a job)."""
    if not text.strip():
        raise InvalidInput(N_("Please write the announcement's text."))
    if len(text) > MAX_LENGTH:
        raise InvalidInput.plural(
            "The announcement is too long ({count} character; at most {limit}).",
            "The announcement is too long ({count} characters; at most {limit}).",
            len(text),
            limit=MAX_LENGTH,
        )
    if at is not None and at <= now:
        raise InvalidInput(N_("That time is already past."))
    targets = await councils.get_councils(session, councils_text)
    if not targets:
        raise InvalidInput(N_("Please name at least one council, or all."))
    await _require_coordinator_of_all(session, actor, targets)
    announcement = Announcement(
        author_id=actor.member_id,
        text=text.strip(),
        all_councils=councils_text.strip().lower() == "all",
        status=AnnouncementStatus.SCHEDULED if at else AnnouncementStatus.SENT,
        scheduled_at=at,
        created_at=now,
        councils=targets,
    )
    session.add(announcement)
    await session.flush()
    if at is not None:
        await jobs.schedule(
            session, job_name(announcement.id), SEND_JOB, at, {"id": announcement.id}, now=now
        )
        return Created(announcement, 0)
    queued = await _enqueue(session, announcement, now=now, catalogs=catalogs)
    return Created(announcement, queued)


async def _lock(session: AsyncSession, announcement_id: int) -> Announcement | None:
    """Read an announcement afresh and lock its row until the transaction ends.

    The scheduler's firing (claim the job, then send) and a cancel (cancel the job, then
    decide) take the job row first and this row second, in the same order, so on
    PostgreSQL the two serialise without a deadlock; on SQLite the write lock does it.
    """
    return await session.get(
        Announcement, announcement_id, with_for_update=True, populate_existing=True
    )


async def send_scheduled(
    session: AsyncSession, payload: dict[str, Any], now: datetime, *, catalogs: Catalogs
) -> None:
    """Queue a scheduled announcement's deliveries (the scheduler's job handler)."""
    announcement = await _lock(session, payload["id"])
    if announcement is None or announcement.status is not AnnouncementStatus.SCHEDULED:
        return
    announcement.status = AnnouncementStatus.SENT
    await _enqueue(session, announcement, now=now, catalogs=catalogs)


async def mark_missed(session: AsyncSession, payload: dict[str, Any], _now: datetime) -> None:
    """Record that a scheduled announcement was found too late to send."""
    announcement = await _lock(session, payload["id"])
    if announcement is not None and announcement.status is AnnouncementStatus.SCHEDULED:
        announcement.status = AnnouncementStatus.MISSED


def _render(catalogs: Catalogs, lang: str, councils_label: str, text: str) -> str:
    t = catalogs.translator(lang)
    return str(
        t("📣 <b>Announcement — {councils}</b>", councils=councils_label)
        + Markup("\n")
        + escape(text)
    )


async def _enqueue(
    session: AsyncSession, announcement: Announcement, *, now: datetime, catalogs: Catalogs
) -> int:
    council_ids = [c.id for c in announcement.councils]
    announcement.sent_at = now

    def envelope(
        message: Outgoing, *, channel_id: int | None = None, member_id: int | None = None
    ) -> Envelope:
        chat = f"{message.platform.value}:{message.workspace}:{message.chat_id}"
        return Envelope(
            key=f"{SOURCE}:{announcement.id}:{chat}",
            message=message,
            source=SOURCE,
            source_id=announcement.id,
            channel_id=channel_id,
            member_id=member_id,
        )

    channels = await session.scalars(
        select(Channel).where(Channel.council_id.in_(council_ids), Channel.active.is_(True))
    )
    envelopes = [
        envelope(
            Outgoing(
                platform=channel.platform,
                workspace=channel.workspace,
                chat_id=channel.external_id,
                chat_kind=ChatKind.GROUP,
                text=_render(
                    catalogs,
                    channel.language,
                    channel.council.name,
                    announcement.text,
                ),
            ),
            channel_id=channel.id,
        )
        for channel in channels
    ]
    label = ", ".join(c.name for c in announcement.councils)
    for member, identity in await _subscribers(session, council_ids):
        lang = member.locale or next(
            (c.language for c in announcement.councils if c.id == member.home_council_id),
            announcement.councils[0].language,
        )
        envelopes.append(
            envelope(
                Outgoing(
                    platform=identity.platform,
                    workspace=identity.workspace,
                    chat_id=identity.user_id,  # a private chat goes by the person's id
                    chat_kind=ChatKind.PRIVATE,
                    text=_render(catalogs, lang, label, announcement.text),
                ),
                member_id=member.id,
            )
        )
    return await outbox.enqueue(session, envelopes, now=now)


async def _subscribers(
    session: AsyncSession, council_ids: list[int]
) -> list[tuple[Member, Identity]]:
    """Members subscribed to announcements for these councils, each with one identity.

    A person is reached once, on the platform where we last saw them.
    """
    subscribed = (
        select(Subscription.member_id)
        .where(
            Subscription.topic == TOPIC,
            Subscription.active.is_(True),
            or_(Subscription.council_id.in_(council_ids), Subscription.council_id.is_(None)),
        )
        .distinct()
    )
    latest = (
        select(
            Identity.id,
            func.row_number()
            .over(
                partition_by=Identity.member_id,
                order_by=[desc(Identity.last_seen_at), desc(Identity.id)],
            )
            .label("rank"),
        )
        .where(Identity.member_id.in_(subscribed))
        .subquery()
    )
    rows = await session.execute(
        select(Member, Identity)
        .join(Identity, Identity.member_id == Member.id)
        .join(latest, (latest.c.id == Identity.id) & (latest.c.rank == 1))
        .order_by(Member.id)
    )
    return [(member, identity) for member, identity in rows.all()]


async def _sees(session: AsyncSession, actor: Actor) -> Callable[[Announcement], bool]:
    """Tell which announcements the actor may see: their own, and those reaching their councils."""
    if await access.is_admin(session, actor):
        return lambda _announcement: True
    mine = await access.coordinated_council_ids(session, actor.member_id)
    return lambda a: (
        a.author_id == actor.member_id or bool(mine.intersection(c.id for c in a.councils))
    )


async def _get_visible(session: AsyncSession, actor: Actor, announcement_id: int) -> Announcement:
    announcement = await session.get(Announcement, announcement_id)
    if announcement is None:
        raise NotFound(N_("There is no announcement #{id}."), id=announcement_id)
    if not (await _sees(session, actor))(announcement):
        raise Forbidden(
            N_("Announcement #{id} is not for a council you coordinate."), id=announcement_id
        )
    return announcement


async def list_scheduled(session: AsyncSession, actor: Actor) -> list[Announcement]:
    """Return the scheduled (and missed) announcements the actor may see."""
    query = (
        select(Announcement)
        .where(Announcement.status.in_([AnnouncementStatus.SCHEDULED, AnnouncementStatus.MISSED]))
        .order_by(Announcement.scheduled_at, Announcement.id)
    )
    sees = await _sees(session, actor)
    return [a for a in await session.scalars(query) if sees(a)]


class SentBefore(Exception):
    """Signal that an announcement went out before the cancel was asked for, and when."""

    def __init__(self, announcement_id: int, sent_at: datetime) -> None:
        super().__init__(announcement_id, sent_at)
        self.announcement_id = announcement_id
        self.sent_at = sent_at


async def cancel_announcement(
    session: AsyncSession, actor: Actor, announcement_id: int, *, now: datetime
) -> Announcement:
    """Cancel a scheduled (or missed) announcement; raise SentBefore if it went out earlier."""
    announcement = await _get_visible(session, actor, announcement_id)
    if announcement.author_id != actor.member_id:
        # As to announce: one may stop only what one could have sent.
        missing = await _not_coordinated(session, actor, announcement.councils)
        if missing:
            raise Forbidden(
                N_(
                    "Only its author, an admin or a coordinator of every council it goes to "
                    "can cancel announcement #{id}; you do not coordinate {councils}."
                ),
                id=announcement_id,
                councils=", ".join(missing),
            )
    await jobs.cancel(session, job_name(announcement.id))
    # Read under the lock: a firing that claimed the job first has committed by now.
    announcement = await _lock(session, announcement.id)
    assert announcement is not None  # announcements are never deleted
    if announcement.status is AnnouncementStatus.SENT:
        assert announcement.sent_at is not None  # set with the status
        if announcement.sent_at < now:
            raise SentBefore(announcement.id, announcement.sent_at)
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


async def delivery_report(
    session: AsyncSession, actor: Actor, announcement_id: int
) -> tuple[Announcement, outbox.Report]:
    """Return an announcement and how its deliveries are doing."""
    announcement = await _get_visible(session, actor, announcement_id)
    return announcement, await outbox.report(session, SOURCE, announcement.id)
