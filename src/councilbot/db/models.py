"""Database models: councils, channels, members and what belongs to them."""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Date,
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


# Hot desks ---------------------------------------------------------------------------------


class FacilityKind(StrEnum):
    """What kind of place a facility is."""

    SCIENCE_PARK = "science_park"
    UNIVERSITY = "university"  # a university access point
    COWORKING = "coworking"


class Slot(StrEnum):
    """The part of a day a desk is booked for: a `day` takes both halves."""

    AM = "am"
    PM = "pm"
    DAY = "day"

    @property
    def halves(self) -> tuple[str, ...]:
        """Return the halves of the day the slot holds (the rows of booking_slots)."""
        return ("am", "pm") if self is Slot.DAY else (self.value,)


class BookingStatus(StrEnum):
    """Where a desk booking stands."""

    BOOKED = "booked"
    CHECKED_IN = "checked_in"
    CANCELLED = "cancelled"
    RELEASED = "released"  # not checked in by the deadline: the desk was freed


class Facility(Base):
    """A science park, university access point or coworking space whose desks anyone books.

    `rules` holds the booking rules the seed file gives (see services/desks.py `Rules`).
    A facility or desk removed from the seed file is retired, never deleted: its bookings
    stay.
    """

    __tablename__ = "facilities"

    id: Mapped[int] = mapped_column(primary_key=True)
    council_id: Mapped[int] = mapped_column(
        ForeignKey("councils.id", ondelete="CASCADE"), index=True
    )
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[FacilityKind] = mapped_column(_enum(FacilityKind, "facility_kind"))
    address: Mapped[str] = mapped_column(String(300), default="")
    rules: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    council: Mapped[Council] = relationship(lazy="joined")


class Desk(Base):
    """One bookable desk of a facility."""

    __tablename__ = "desks"
    __table_args__ = (UniqueConstraint("facility_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    facility_id: Mapped[int] = mapped_column(
        ForeignKey("facilities.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(32))
    features: Mapped[list[str]] = mapped_column(JSON, default=list)
    retired_at: Mapped[datetime | None]
    created_at: Mapped[datetime]

    facility: Mapped[Facility] = relationship(lazy="joined")


class Booking(Base):
    """A member's booking of a desk for a morning, an afternoon or a day, on a local date.

    The date is the facility's (its council's zone). What makes a double booking
    impossible is `booking_slots`, not this table.
    """

    __tablename__ = "bookings"
    __table_args__ = (Index("ix_bookings_member_day", "member_id", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    desk_id: Mapped[int] = mapped_column(ForeignKey("desks.id", ondelete="CASCADE"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    booked_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    day: Mapped[date] = mapped_column(Date, index=True)
    slot: Mapped[Slot] = mapped_column(_enum(Slot, "desk_slot"))
    status: Mapped[BookingStatus] = mapped_column(
        _enum(BookingStatus, "booking_status"), default=BookingStatus.BOOKED
    )
    series_id: Mapped[int | None] = mapped_column(index=True)  # the first booking's id
    created_at: Mapped[datetime]
    checked_in_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]  # cancelled or released

    desk: Mapped[Desk] = relationship(lazy="joined")


class BookingSlot(Base):
    """One half-day of one desk held by a live booking: the key that forbids double booking.

    A `day` booking holds both halves; cancelling or releasing deletes its rows. Two
    transactions inserting the same (desk, day, half) cannot both commit, on any database.
    """

    __tablename__ = "booking_slots"

    desk_id: Mapped[int] = mapped_column(
        ForeignKey("desks.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    half: Mapped[str] = mapped_column(String(2), primary_key=True)
    booking_id: Mapped[int] = mapped_column(
        ForeignKey("bookings.id", ondelete="CASCADE"), index=True
    )


class DeskProfile(Base):
    """A member's choices about desks: seen by /whosin or not, and the organisation shown.

    One per member (a unique key, not the primary key: merging two members' accounts then
    keeps the one the member linked from, as for their other one-per-member rows).
    """

    __tablename__ = "desk_profiles"
    __table_args__ = (UniqueConstraint("member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"))
    visible: Mapped[bool] = mapped_column(Boolean, default=False)
    organisation: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime]


# --- Polls -------------------------------------------------------------------------------


class PollKind(StrEnum):
    """What a poll asks for."""

    SINGLE = "single"  # one option
    MULTIPLE = "multiple"  # one or more options
    RATING = "rating"  # a mark from 1 to 5


class PollStatus(StrEnum):
    """Where a poll stands."""

    DRAFT = "draft"  # shown in a preview; nothing is posted until Send
    OPEN = "open"
    CLOSED = "closed"
    CANCELLED = "cancelled"  # a draft dropped from its preview


poll_councils = Table(
    "poll_councils",
    Base.metadata,
    Column("poll_id", ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True),
    Column("council_id", ForeignKey("councils.id", ondelete="CASCADE"), primary_key=True),
)


class Poll(Base):
    """A question put to one, several or all councils, answered on every platform."""

    __tablename__ = "polls"

    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    question: Mapped[str] = mapped_column(Text)
    kind: Mapped[PollKind] = mapped_column(_enum(PollKind, "poll_kind"))
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    # Counts are shown to nobody, its author included, until the poll closes.
    results_after_close: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_other: Mapped[bool] = mapped_column(Boolean, default=False)  # voters add answers
    remind: Mapped[bool] = mapped_column(Boolean, default=True)  # 24 h before closing
    all_councils: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[PollStatus] = mapped_column(_enum(PollStatus, "poll_status"))
    closes_at: Mapped[datetime | None]
    timezone: Mapped[str] = mapped_column(String(64))  # its times are shown in it
    every: Mapped[str | None] = mapped_column(String(8))  # "week" | "month": a new round
    previous_round_id: Mapped[int | None] = mapped_column(
        ForeignKey("polls.id", ondelete="SET NULL"), index=True
    )
    # Sent by direct message to these members only (an event's feedback), not to councils.
    direct: Mapped[bool] = mapped_column(Boolean, default=False)
    # Who gets the final results by direct message when it closes (an event's organiser).
    report_to_id: Mapped[int | None] = mapped_column(ForeignKey("members.id", ondelete="SET NULL"))
    follow_up_of_id: Mapped[int | None] = mapped_column(
        ForeignKey("polls.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime]
    opened_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]

    councils: Mapped[list[Council]] = relationship(
        secondary=poll_councils, lazy="selectin", order_by=Council.slug
    )
    options: Mapped[list[PollOption]] = relationship(
        lazy="selectin", order_by="PollOption.position", back_populates="poll"
    )


class PollOption(Base):
    """One answer a poll offers (or one a voter added with "Other…"), with anonymous counts.

    `anonymous_count` holds the votes of an anonymous poll: a number, never who.
    """

    __tablename__ = "poll_options"
    __table_args__ = (UniqueConstraint("poll_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    position: Mapped[int]  # 1, 2, ...: the number voters type
    label: Mapped[str] = mapped_column(String(200))
    other: Mapped[bool] = mapped_column(Boolean, default=False)  # typed by a voter

    poll: Mapped[Poll] = relationship(back_populates="options")


class PollVote(Base):
    """A member's choice in a poll that is not anonymous.

    `slot` is 0 for a single-choice or rating poll (one vote per member) and the option's id
    for a multiple-choice one (one vote per option): the unique key is the one-vote rule.
    """

    __tablename__ = "poll_votes"
    __table_args__ = (UniqueConstraint("poll_id", "member_id", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    slot: Mapped[int]
    option_id: Mapped[int] = mapped_column(
        ForeignKey("poll_options.id", ondelete="CASCADE"), index=True
    )
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"))
    voted_at: Mapped[datetime]


class PollTally(Base):
    """How many anonymous votes an option got from one platform: counts, never voters."""

    __tablename__ = "poll_tallies"

    option_id: Mapped[int] = mapped_column(
        ForeignKey("poll_options.id", ondelete="CASCADE"), primary_key=True
    )
    platform: Mapped[Platform] = mapped_column(_enum(Platform, "platform"), primary_key=True)
    count: Mapped[int] = mapped_column(default=0)


class PollBallot(Base):
    """That someone voted in an anonymous poll: a keyed hash of member and poll, nothing more.

    No time, no option, no order: the hash is the key, so it cannot be lined up with the
    counts. It stops a second vote and tells who has not voted yet (for reminders).
    """

    __tablename__ = "poll_ballots"

    poll_id: Mapped[int] = mapped_column(
        ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True
    )
    voter: Mapped[str] = mapped_column(String(64), primary_key=True)  # hex HMAC-SHA256


class PollReminder(Base):
    """That a member was reminded of a poll (once per member per poll)."""

    __tablename__ = "poll_reminders"

    poll_id: Mapped[int] = mapped_column(
        ForeignKey("polls.id", ondelete="CASCADE"), primary_key=True
    )
    member_id: Mapped[int] = mapped_column(
        ForeignKey("members.id", ondelete="CASCADE"), primary_key=True
    )


class PollPost(Base):
    """A native Telegram poll we posted: its poll id (what `poll_answer` names) to our poll.

    The other posts of a poll are its outbox rows (`deliveries`, source "poll").
    """

    __tablename__ = "poll_posts"

    native_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    poll_id: Mapped[int] = mapped_column(ForeignKey("polls.id", ondelete="CASCADE"), index=True)
    delivery_id: Mapped[int | None] = mapped_column(
        ForeignKey("deliveries.id", ondelete="SET NULL")
    )


class PollKey(Base):
    """The per-install secret that keys anonymous ballots, when no COUNCILBOT_POLL_SECRET is set."""

    __tablename__ = "poll_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    secret: Mapped[str] = mapped_column(String(128))


# --- Magazine (EMPOWER issues, published by command or picked up from the feed) ---------


class IssueStatus(StrEnum):
    """Where a magazine issue stands."""

    DRAFT = "draft"  # shown in a preview; nothing is queued until Send
    SCHEDULED = "scheduled"  # sent for a later time (`/publish ... --at`)
    PUBLISHED = "published"  # posted to every council's chats and to subscribers
    # In the archive without having been posted: the seed, and the entries a newly
    # configured feed already held on its first read.
    ARCHIVED = "archived"
    MISSED = "missed"  # was due while the bot was down; its author sends it late or not


class IssueSource(StrEnum):
    """Say how an issue came in."""

    COMMAND = "command"
    FEED = "feed"
    SEED = "seed"


class MagazineIssue(Base):
    """One issue of the EMPOWER magazine.

    Its number, its link and the GUID the feed gave it are each unique: whoever inserts
    an issue first (a command, or one of several processes reading the feed) decides that
    it exists, and only that insert posts it.
    """

    __tablename__ = "magazine_issues"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(unique=True)
    title: Mapped[str] = mapped_column(String(300))
    summary: Mapped[str] = mapped_column(Text, default="")
    link: Mapped[str] = mapped_column(String(1000), unique=True)
    cover_url: Mapped[str | None] = mapped_column(String(1000))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[IssueStatus] = mapped_column(_enum(IssueStatus, "issue_status"))
    source: Mapped[IssueSource] = mapped_column(_enum(IssueSource, "issue_source"))
    # The GUID (or id) the feed last gave this issue's entry; None for one it never listed.
    feed_guid: Mapped[str | None] = mapped_column(String(1000), unique=True)
    published_by_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    scheduled_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]


class MagazineFeed(Base):
    """What the bot knows of the magazine's feed: its validators, its health, its alerts.

    One row per feed URL, shared by every process: the first read (`imported_at`) imports
    without posting, and the admins' alerts are claimed by conditional updates, so that
    neither a restart nor a second worker repeats them.
    """

    __tablename__ = "magazine_feeds"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(1000), unique=True)
    etag: Mapped[str | None] = mapped_column(String(500))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    imported_at: Mapped[datetime | None]  # the first read that worked: its entries archived
    last_ok_at: Mapped[datetime | None]
    failing_since: Mapped[datetime | None]  # the first failure since it last worked
    failures: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    alerted_at: Mapped[datetime | None]  # the admins were told it is failing
    created_at: Mapped[datetime]


# --- Events -------------------------------------------------------------------------


class EventStatus(StrEnum):
    """Where an event stands."""

    DRAFT = "draft"  # shown in its organiser's preview; nobody sees it until Send
    SCHEDULED = "scheduled"
    CANCELLED = "cancelled"
    DONE = "done"  # over: its feedback was asked for


class RsvpStatus(StrEnum):
    """Where one member's answer to an event stands."""

    GOING = "going"
    WAITING = "waiting"  # on the waitlist, in the order of `turn`
    REQUESTED = "requested"  # an event with approval: waiting for the organiser's yes
    DECLINED = "declined"  # the organiser said no
    LEFT = "left"  # was going, waiting or asking, then withdrew (kept: one row a member)


class EventSeries(Base):
    """A recurring event (a training cycle, a monthly meeting): its occurrences are events."""

    __tablename__ = "event_series"

    id: Mapped[int] = mapped_column(primary_key=True)
    every: Mapped[str] = mapped_column(String(8))  # "week" or "month"
    until: Mapped[date | None] = mapped_column(Date)
    created_at: Mapped[datetime]


event_councils = Table(
    "event_councils",
    Base.metadata,
    Column("event_id", ForeignKey("events.id", ondelete="CASCADE"), primary_key=True),
    Column("council_id", ForeignKey("councils.id", ondelete="CASCADE"), primary_key=True),
)


class Event(Base):
    """One event of a council (or of several, or all): its time, place, places and answers."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_status_start", "status", "start_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    council_id: Mapped[int] = mapped_column(ForeignKey("councils.id", ondelete="CASCADE"))
    all_councils: Mapped[bool] = mapped_column(Boolean, default=False)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    venue: Mapped[str] = mapped_column(String(300), default="")  # a place or an online link
    start_at: Mapped[datetime]
    end_at: Mapped[datetime]
    # The start as first planned, kept through edits: a calendar names a series' occurrence
    # by it (RECURRENCE-ID) even after the occurrence moved.
    planned_start_at: Mapped[datetime]
    timezone: Mapped[str] = mapped_column(String(64))  # its council's: times are shown in it
    capacity: Mapped[int | None]
    # Places taken by those going and their guests: changed only under the event's row lock
    # by a conditional UPDATE that never lets it pass the capacity.
    taken: Mapped[int] = mapped_column(default=0)
    # The last arrival number given out (RSVPs keep theirs as `turn`: the waitlist's order).
    turns: Mapped[int] = mapped_column(default=0)
    guests_allowed: Mapped[int] = mapped_column(default=1)
    approval: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[EventStatus] = mapped_column(_enum(EventStatus, "event_status"))
    organiser_id: Mapped[int | None] = mapped_column(
        ForeignKey("members.id", ondelete="SET NULL"), index=True
    )
    series_id: Mapped[int | None] = mapped_column(
        ForeignKey("event_series.id", ondelete="SET NULL"), index=True
    )
    sequence: Mapped[int] = mapped_column(default=0)  # calendar files' SEQUENCE: bumped on changes
    full_told: Mapped[bool] = mapped_column(Boolean, default=False)  # organiser told it filled
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    # Loaded by their own SELECT: the event's row is read FOR UPDATE, which an outer join
    # would not allow on PostgreSQL.
    council: Mapped[Council] = relationship(lazy="selectin")
    councils: Mapped[list[Council]] = relationship(
        secondary=event_councils, lazy="selectin", order_by=Council.slug
    )
    series: Mapped[EventSeries | None] = relationship(lazy="selectin")


class Rsvp(Base):
    """One member's answer to one event, whichever platform they use (one row a member)."""

    __tablename__ = "rsvps"
    __table_args__ = (
        UniqueConstraint("event_id", "member_id"),
        Index("ix_rsvps_event_status_turn", "event_id", "status", "turn"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("events.id", ondelete="CASCADE"))
    member_id: Mapped[int] = mapped_column(ForeignKey("members.id", ondelete="CASCADE"), index=True)
    status: Mapped[RsvpStatus] = mapped_column(_enum(RsvpStatus, "rsvp_status"))
    guests: Mapped[int] = mapped_column(default=0)
    turn: Mapped[int]  # arrival order within the event (the waitlist is served by it)
    checked_in_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    member: Mapped[Member] = relationship(lazy="joined")

    @property
    def places(self) -> int:
        """Count the places this answer takes: the member and their guests."""
        return 1 + self.guests


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
