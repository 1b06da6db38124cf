"""One broadcast engine: who a feature's post reaches, in whose words and zone, and queueing it.

A feature (announcements today; events, polls and the magazine next) names its target
councils, its subscription topic and a renderer. `audience` finds every active chat
linked to those councils and every member subscribed to the topic for one of them (or
for all), each person once, on the platform where we last saw them. Each recipient
carries the language and time zone its message is written in:

- a council's chat: the chat's language (else its council's) and its council's zone;
- a direct message: the member's own language (their /lang, else the language their app
  reported when last seen, on whichever platform reports one, else their home council's)
  and the zone of the thing broadcast (the one its times were given in), not the
  reader's: an event in Bologna is at 18:00 CET for whoever reads it, from wherever.
  Never the sending council's language: a person in Cork reads Bologna's news in English.

`enqueue` renders one message per recipient and adds them to the outbox in the caller's
transaction, with idempotency keys, so a retried broadcast queues nothing twice.
`rerender` edits every post of a broadcast in place, each rendered anew for the recipient
it was sent to, whoever the broadcast would reach today.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import desc, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.i18n import Catalogs, Translator
from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.db.models import (
    Channel,
    Council,
    Delivery,
    DeliveryOperation,
    Identity,
    Member,
    Subscription,
)
from councilbot.delivery import outbox
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import Outgoing


@dataclass(frozen=True, slots=True)
class Recipient:
    """One chat a broadcast reaches, and how to speak there."""

    platform: Platform
    workspace: str
    chat_id: str
    chat_kind: ChatKind
    t: Translator  # the recipient's language
    tz: ZoneInfo  # the zone times are shown in: the broadcast thing's, for every recipient
    council: Council | None  # the council of a linked chat; None for a direct message
    channel_id: int | None = None
    member_id: int | None = None

    @property
    def private(self) -> bool:
        """Tell a subscriber's direct message from a council's chat."""
        return self.member_id is not None

    @property
    def chat(self) -> str:
        """Name the chat uniquely across platforms and workspaces."""
        return f"{self.platform.value}:{self.workspace}:{self.chat_id}"

    def message(
        self, text: str, buttons: tuple[tuple[Button, ...], ...] = (), **more: Any
    ) -> Outgoing:
        """Address a rendered message (safe markup) to this recipient."""
        return Outgoing(
            platform=self.platform,
            workspace=self.workspace,
            chat_id=self.chat_id,
            chat_kind=self.chat_kind,
            text=text,
            buttons=buttons,
            **more,
        )


# How long a broadcast preview's Send works (an announcement, an event, a poll, an issue):
# after that, who it reaches may have changed, so it must be asked for again.
DRAFT_LIFETIME = timedelta(days=1)

# Renders the message for one recipient (None: nothing for them).
Renderer = Callable[[Recipient], Outgoing | None]


@dataclass(frozen=True, slots=True)
class Audience:
    """Everyone a broadcast reaches: linked chats first, then subscribers."""

    councils: tuple[Council, ...]
    recipients: tuple[Recipient, ...]

    @property
    def chats(self) -> int:
        """Count the councils' linked chats."""
        return sum(1 for r in self.recipients if not r.private)

    @property
    def subscribers(self) -> int:
        """Count the people reached by direct message."""
        return sum(1 for r in self.recipients if r.private)


def _in_chat(channel: Channel, catalogs: Catalogs, zone: ZoneInfo) -> Recipient:
    """Speak in a council's chat: its language, the thing's zone."""
    return Recipient(
        platform=channel.platform,
        workspace=channel.workspace,
        chat_id=channel.external_id,
        chat_kind=ChatKind.GROUP,
        t=catalogs.translator(channel.language),
        tz=zone,
        council=channel.council,
        channel_id=channel.id,
    )


def _in_dm(
    platform: Platform,
    workspace: str,
    user_id: str,
    member_id: int | None,
    t: Translator,
    zone: ZoneInfo,
) -> Recipient:
    """Speak in a member's direct messages: their language, the thing's zone."""
    return Recipient(
        platform=platform,
        workspace=workspace,
        chat_id=user_id,  # a private chat goes by the person's id
        chat_kind=ChatKind.PRIVATE,
        t=t,
        tz=zone,
        council=None,
        member_id=member_id,
    )


class Languages:
    """Tell the language of members' direct messages (read for a batch of members)."""

    def __init__(
        self, homes: dict[int, Council], apps: dict[int, str], default_language: str
    ) -> None:
        self.homes = homes
        self.apps = apps
        self.default_language = default_language

    @classmethod
    async def of(
        cls, session: AsyncSession, members: Sequence[Member], default_language: str
    ) -> Languages:
        homes = await _councils_by_id(session, {m.home_council_id for m in members})
        apps = await _app_languages(session, [m.id for m in members if m.locale is None])
        return cls(homes, apps, default_language)

    def __call__(self, member: Member) -> str:
        """Their /lang, else their app's, else their home council's, else the bot's."""
        home = self.homes.get(member.home_council_id) if member.home_council_id else None
        return (
            member.locale
            or self.apps.get(member.id)
            or (home.language if home else None)
            or self.default_language
        )


async def audience(
    session: AsyncSession,
    councils: Sequence[Council],
    topic: str,
    *,
    zone: ZoneInfo,
    catalogs: Catalogs,
    default_language: str,
) -> Audience:
    """Find the chats and subscribers that a broadcast to `councils` on `topic` reaches.

    `zone` is the thing's own (the one its times were given in): every chat and direct
    message shows times in it, whoever reads them and wherever they live.
    """
    council_ids = [c.id for c in councils]
    channels = await session.scalars(
        select(Channel)
        .where(Channel.council_id.in_(council_ids), Channel.active.is_(True))
        .order_by(Channel.id)
    )
    recipients = [_in_chat(channel, catalogs, zone) for channel in channels]
    subscribed = await subscribers(session, council_ids, topic)
    language = await Languages.of(session, [m for m, _ in subscribed], default_language)
    for member, identity in subscribed:
        t = catalogs.translator(language(member))
        recipients.append(
            _in_dm(identity.platform, identity.workspace, identity.user_id, member.id, t, zone)
        )
    return Audience(tuple(councils), tuple(recipients))


def envelopes(
    audience: Audience, render: Renderer, *, source: str, source_id: int
) -> list[Envelope]:
    """Render one message per recipient, keyed so that each chat gets it once."""
    found = []
    for recipient in audience.recipients:
        message = render(recipient)
        if message is None:
            continue
        found.append(
            Envelope(
                key=f"{source}:{source_id}:{recipient.chat}",
                message=message,
                source=source,
                source_id=source_id,
                channel_id=recipient.channel_id,
                member_id=recipient.member_id,
            )
        )
    return found


async def enqueue(
    session: AsyncSession,
    audience: Audience,
    render: Renderer,
    *,
    source: str,
    source_id: int,
    now: datetime,
) -> int:
    """Queue the broadcast in the caller's transaction; return how many messages were new."""
    return await outbox.enqueue(
        session, envelopes(audience, render, source=source, source_id=source_id), now=now
    )


async def rerender(
    session: AsyncSession,
    councils: Sequence[Council],
    render: Renderer,
    *,
    zone: ZoneInfo,
    catalogs: Catalogs,
    default_language: str,
    source: str,
    source_id: int,
    now: datetime,
    throttle: timedelta = timedelta(0),
) -> int:
    """Edit every post of a broadcast in place, rendered anew for the recipient it went to.

    Each post is rendered for the chat it is in, whoever the broadcast would reach today: a
    subscriber who unsubscribed or was since seen on another platform, a chat the bot left
    or that was unlinked, all get the new text. A council's chat speaks its language and
    names its council; an unlinked one (its link, and its language choice, are gone) names
    its council if the broadcast had one, in that council's language. A direct message is
    in its member's language, as for a new broadcast; every post shows times in `zone`.

    Through the outbox's edits (a post not sent yet just goes out with the new text);
    `throttle` keeps a live count ("7 going, 3 places left") to one edit per post every so
    often. Return how many posts will change.
    """
    posts = (
        await session.execute(
            select(
                Delivery.platform,
                Delivery.workspace,
                Delivery.chat_id,
                Delivery.channel_id,
                Delivery.member_id,
            ).where(
                Delivery.source == source,
                Delivery.source_id == source_id,
                Delivery.operation == DeliveryOperation.SEND,
            )
        )
    ).all()
    linked: dict[tuple[Platform, str, str], Channel] = {}
    chats = {(p.platform, p.workspace, p.chat_id) for p in posts if p.member_id is None}
    if chats:
        # By chat, not by the post's channel id: an unlinked chat lost its row (and the
        # post its channel id), and may have been linked again since.
        for channel in await session.scalars(
            select(Channel).where(
                Channel.platform.in_({platform for platform, _, _ in chats}),
                Channel.external_id.in_({chat for _, _, chat in chats}),
            )
        ):
            linked[channel.platform, channel.workspace, channel.external_id] = channel
    member_ids = {p.member_id for p in posts if p.member_id is not None}
    members = (
        {m.id: m for m in await session.scalars(select(Member).where(Member.id.in_(member_ids)))}
        if member_ids
        else {}
    )
    language = await Languages.of(session, list(members.values()), default_language)
    ours = {c.id for c in councils}
    # A chat whose link is gone: the broadcast's council if it had one (else name them all).
    only = councils[0] if len(councils) == 1 else None
    languages = {c.language for c in councils}
    orphan_language = languages.pop() if len(languages) == 1 else default_language

    def recipient(posted: outbox.Posted) -> Recipient:
        message = posted.message
        if message.chat_kind is ChatKind.PRIVATE:
            member = members.get(posted.member_id) if posted.member_id is not None else None
            lang = language(member) if member is not None else default_language
            t = catalogs.translator(lang)
            return _in_dm(
                message.platform, message.workspace, message.chat_id, posted.member_id, t, zone
            )
        channel = linked.get((message.platform, message.workspace, message.chat_id))
        if channel is not None and channel.council_id in ours:
            return _in_chat(channel, catalogs, zone)
        return Recipient(
            platform=message.platform,
            workspace=message.workspace,
            chat_id=message.chat_id,
            chat_kind=message.chat_kind,
            t=catalogs.translator(only.language if only else orphan_language),
            tz=zone,
            council=only,
        )

    def again(posted: outbox.Posted) -> Outgoing | None:
        return render(recipient(posted))

    return await outbox.enqueue_edits(session, source, source_id, again, now=now, throttle=throttle)


async def direct(
    session: AsyncSession,
    member_ids: Sequence[int],
    *,
    zone: ZoneInfo,
    catalogs: Catalogs,
    default_language: str,
) -> list[Recipient]:
    """Find how to reach members by direct message (a reminder, a waitlist promotion).

    Each member once, on the platform where we last saw them, in their own language, with
    times shown in `zone` (the thing's), as a subscriber's direct message is.
    """
    if not member_ids:
        return []
    rows = await _latest_identities(session, select(Member.id).where(Member.id.in_(member_ids)))
    language = await Languages.of(session, [m for m, _ in rows], default_language)
    return [
        _in_dm(
            identity.platform,
            identity.workspace,
            identity.user_id,
            member.id,
            catalogs.translator(language(member)),
            zone,
        )
        for member, identity in rows
    ]


async def _app_languages(session: AsyncSession, member_ids: list[int]) -> dict[int, str]:
    """Return the language each member's app reported when last seen (on any platform that
    reports one: Slack does not), by member."""
    if not member_ids:
        return {}
    rows = await session.execute(
        select(Identity.member_id, Identity.language_code)
        .where(Identity.member_id.in_(member_ids), Identity.language_code.is_not(None))
        .order_by(Identity.last_seen_at, Identity.id)
    )
    return {member_id: language for member_id, language in rows.all()}  # the latest wins


async def _councils_by_id(session: AsyncSession, ids: set[int | None]) -> dict[int, Council]:
    wanted = [i for i in ids if i is not None]
    if not wanted:
        return {}
    return {c.id: c for c in await session.scalars(select(Council).where(Council.id.in_(wanted)))}


async def subscribers(
    session: AsyncSession, council_ids: list[int], topic: str
) -> list[tuple[Member, Identity]]:
    """Members subscribed to a topic for these councils (or all), each with one identity.

    A person is reached once, on the platform where we last saw them.
    """
    subscribed = (
        select(Subscription.member_id)
        .where(
            Subscription.topic == topic,
            Subscription.active.is_(True),
            or_(Subscription.council_id.in_(council_ids), Subscription.council_id.is_(None)),
        )
        .distinct()
    )
    return await _latest_identities(session, subscribed)


async def _latest_identities(
    session: AsyncSession, member_ids: Any
) -> list[tuple[Member, Identity]]:
    """Return each of these members (a subquery of ids) with the identity last seen."""
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
        .where(Identity.member_id.in_(member_ids))
        .subquery()
    )
    rows = await session.execute(
        select(Member, Identity)
        .join(Identity, Identity.member_id == Member.id)
        .join(latest, (latest.c.id == Identity.id) & (latest.c.rank == 1))
        .order_by(Member.id)
    )
    return [(member, identity) for member, identity in rows.all()]
