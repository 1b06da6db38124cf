"""Database models: councils, channels, members and what belongs to them."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Enum,
    ForeignKey,
    Index,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from councilbot.core.messages import ChatKind, Platform
from councilbot.db.base import Base


def _enum(enum: type[StrEnum], name: str) -> Enum:
    return Enum(
        enum,
        name=name,
        native_enum=False,
        create_constraint=True,
        length=16,
        values_callable=lambda members: [member.value for member in members],
    )


class RoleName(StrEnum):
    """Name a role a member can hold."""

    COORDINATOR = "coordinator"
    ADMIN = "admin"


class Council(Base):
    """A regional Cluster Growth Council."""

    __tablename__ = "councils"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    focus: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class Channel(Base):
    """A Telegram group or Slack channel linked to a council."""

    __tablename__ = "channels"
    __table_args__ = (UniqueConstraint("platform", "workspace", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    external_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str | None] = mapped_column(String(200))
    council_id: Mapped[int] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), index=True
    )
    locale: Mapped[str | None] = mapped_column(String(8))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    linked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    council: Mapped[Council] = relationship(lazy="joined")

    @property
    def language(self) -> str:
        """Return the language of the chat's posts: its own choice, else its council's."""
        return self.locale or self.council.language


class Member(Base):
    """A person, known on one or more platforms."""

    __tablename__ = "members"

    id: Mapped[int] = mapped_column(primary_key=True)
    display_name: Mapped[str] = mapped_column(String(200))
    locale: Mapped[str | None] = mapped_column(String(8))
    home_council_id: Mapped[int | None] = mapped_column(
        ForeignKey("councils.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime]


class Identity(Base):
    """A member's account on one platform (and workspace)."""

    __tablename__ = "identities"
    __table_args__ = (UniqueConstraint("platform", "workspace", "user_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    user_id: Mapped[str] = mapped_column(String(128))
    username: Mapped[str | None] = mapped_column(String(128), index=True)
    display_name: Mapped[str | None] = mapped_column(String(200))
    # The language the person's app reported when last seen (a supported one), if any.
    language_code: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]


class Role(Base):
    """A coordinator role in one council, or an admin role (no council)."""

    __tablename__ = "roles"
    __table_args__ = (UniqueConstraint("member_id", "council_id", "role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    council_id: Mapped[int | None] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[RoleName] = mapped_column(_enum(RoleName, "role_name"))
    granted_by_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    created_at: Mapped[datetime]


class Subscription(Base):
    """A member's wish to get a topic by direct message, for one council or all (null).

    The topic is the name a feature declares (core.features.Topic): a plain string, so that
    a new feature's topic needs no schema change.
    """

    __tablename__ = "subscriptions"
    __table_args__ = (UniqueConstraint("member_id", "topic", "council_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    topic: Mapped[str] = mapped_column(String(32))
    council_id: Mapped[int | None] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), index=True
    )
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime]


class LinkCode(Base):
    """A one-time code that joins a second platform identity to a member."""

    __tablename__ = "link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class ChatLinkCode(Base):
    """A one-time code to link a chat that posts as itself (a Telegram channel) to a council.

    Anyone in the chat may see it; only a coordinator of the council can redeem it.
    """

    __tablename__ = "chat_link_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    council_id: Mapped[int] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    chat_id: Mapped[str] = mapped_column(String(128))
    chat_kind: Mapped[ChatKind] = mapped_column(_enum(ChatKind, "chat_kind"))
    title: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class CallbackKey(Base):
    """The command behind a Telegram button whose command is longer than its 64 bytes of data.

    Shared by every process, so that a button works after a restart and on another worker;
    the key is a hash of the command, so sending the same button again adds no row.
    """

    __tablename__ = "callback_keys"

    key: Mapped[str] = mapped_column(String(16), primary_key=True)
    command: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)


class DeliveryStatus(StrEnum):
    """Where an outbox message stands."""

    PENDING = "pending"  # due at next_attempt_at (first try or a retry)
    SENDING = "sending"  # claimed by a dispatcher until lease_until
    SENT = "sent"
    FAILED = "failed"  # gave up after the maximum number of attempts
    DEAD = "dead"  # a permanent error: the chat is gone for us
    # Never sent, and never will be: a post deleted before it went out, an edit overtaken
    # by the post's deletion, or an edit or deletion of a post that never went out.
    CANCELLED = "cancelled"


class DeliveryOperation(StrEnum):
    """What an outbox row does to its chat."""

    SEND = "send"  # post a new message (a "post")
    EDIT = "edit"  # replace the text and buttons of a post
    DELETE = "delete"  # delete a post


class Delivery(Base):
    """One message for one chat in the persistent outbox, or an edit or deletion of one.

    An edit or a deletion names its post (`post_id`, a row of operation `send` of the same
    source) and is sent once the post is: the platform's message id is the post's.
    """

    __tablename__ = "deliveries"
    __table_args__ = (Index("ix_deliveries_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(index=True)
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    workspace: Mapped[str] = mapped_column(String(64), default="")
    chat_id: Mapped[str] = mapped_column(String(128))
    chat_kind: Mapped[ChatKind] = mapped_column(_enum(ChatKind, "chat_kind"))
    channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("channels.id", ondelete="SET NULL"), index=True
    )
    member_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[DeliveryStatus] = mapped_column(
        _enum(DeliveryStatus, "delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime]
    lease_until: Mapped[datetime | None]
    claimed_by: Mapped[str | None] = mapped_column(String(64))
    platform_message_id: Mapped[str | None] = mapped_column(String(64))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    operation: Mapped[DeliveryOperation] = mapped_column(
        _enum(DeliveryOperation, "delivery_operation"),
        default=DeliveryOperation.SEND,
        server_default=DeliveryOperation.SEND.value,
    )
    post_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), index=True
    )
    # The payload was rewritten while a dispatcher was sending the row: that send's outcome
    # leaves the row pending, so the newer text goes out after the older one, never beside it.
    rewritten: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class File(Base):
    """A file's bytes, stored once however many outbox messages carry it.

    Messages hold only a reference (`delivery.targets.FileRef`: this row's id, the file's
    name and type), so a cover sent to a thousand chats is kept once, not in every row.
    """

    __tablename__ = "files"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)  # hex digest of `data`
    size: Mapped[int]
    data: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime]


class JobState(StrEnum):
    """Where a timed job stands."""

    PENDING = "pending"
    DONE = "done"
    CANCELLED = "cancelled"
    MISSED = "missed"  # found too late after a long outage: reported, not run
    FAILED = "failed"


class Job(Base):
    """A timed job; the scheduler is rebuilt from these rows on start-up."""

    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_pending", "state", "due_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime]
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    state: Mapped[JobState] = mapped_column(_enum(JobState, "job_state"), default=JobState.PENDING)
    fired_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]


class AnnouncementStatus(StrEnum):
    """Where an announcement stands."""

    DRAFT = "draft"  # shown in a preview; nothing is queued until Send
    SCHEDULED = "scheduled"
    SENT = "sent"  # its deliveries are in the outbox
    CANCELLED = "cancelled"
    MISSED = "missed"
    DELETED = "deleted"  # sent, then taken back from the chats it reached


announcement_councils = Table(
    "announcement_councils",
    Base.metadata,
    Column(
        "announcement_id",
        ForeignKey("announcements.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("council_id", ForeignKey("councils.id", ondelete="CASCADE"), primary_key=True),
)


class Announcement(Base):
    """A coordinator's message to one, several or all councils, now or at a set time."""

    __tablename__ = "announcements"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    all_councils: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[AnnouncementStatus] = mapped_column(
        _enum(AnnouncementStatus, "announcement_status")
    )
    scheduled_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    # The zone its times are read in and shown in, wherever they are asked about (None on
    # rows from before it was kept: those use their first council's).
    timezone: Mapped[str | None] = mapped_column(String(64))

    councils: Mapped[list[Council]] = relationship(
        secondary=announcement_councils, lazy="selectin", order_by=Council.slug
    )


# --- A member's home (issue 17): the personal calendar feed and the weekly digest ---------


class CalendarToken(Base):
    """A member's private calendar feed: the SHA-256 of the secret in its URL, never the secret.

    One per member; `/mycalendar reset` replaces the row's hash, so the old URL stops working.
    """

    __tablename__ = "calendar_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), unique=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime]


class DigestSent(Base):
    """One weekly digest for one member: the unique key sends it once per week and member."""

    __tablename__ = "digests_sent"
    __table_args__ = (UniqueConstraint("member_id", "week"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    week: Mapped[str] = mapped_column(String(10))  # ISO week in the member's zone: 2026-W49
    sent_at: Mapped[datetime]
