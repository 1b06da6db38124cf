"""Members, their platform identities, subscriptions, roles and account linking."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Column,
    ForeignKey,
    PrimaryKeyConstraint,
    String,
    Table,
    UniqueConstraint,
    and_,
    bindparam,
    cast,
    delete,
    exists,
    func,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from councilbot.core import messages
from councilbot.core.errors import Conflict, InvalidInput, NotFound
from councilbot.core.features import Erasure, HomeSection, MemberView
from councilbot.core.i18n import N_, normalise_language
from councilbot.core.messages import Button, Platform
from councilbot.db.base import MAX_ID, Base
from councilbot.db.models import (
    CalendarToken,
    Channel,
    Council,
    Delivery,
    DigestSent,
    Identity,
    LinkCode,
    Member,
    Role,
    RoleName,
    Subscription,
)
from councilbot.services import access

log = logging.getLogger(__name__)

LINK_CODE_TTL = timedelta(minutes=10)
LINK_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I look-alikes
LINK_CODE_LENGTH = 8
# Names and last-seen times are refreshed at most this often, so reads stay reads.
TOUCH_INTERVAL = timedelta(hours=1)


async def resolve_member(
    session: AsyncSession, sender: messages.Identity, *, now: datetime
) -> tuple[Member, bool]:
    """Return the member behind a platform identity (creating both on first contact), and
    whether it was created now."""
    found = await _find_identity(session, sender)
    if found is not None:
        identity, member = found
        _touch(identity, sender, now)
        return member, False
    return await _create_member(session, sender, now=now)


async def _create_member(
    session: AsyncSession, sender: messages.Identity, *, now: datetime
) -> tuple[Member, bool]:
    """Create the member and identity of someone not seen before (see resolve_member)."""
    try:
        # A savepoint, so that a concurrent first message from the same person only
        # costs us a retry of the lookup.
        async with session.begin_nested():
            member = Member(display_name=sender.label, created_at=now)
            session.add(member)
            await session.flush()
            session.add(
                Identity(
                    member_id=member.id,
                    platform=sender.platform,
                    workspace=sender.workspace,
                    user_id=sender.user_id,
                    username=sender.username,
                    display_name=sender.display_name,
                    language_code=normalise_language(sender.language_code),
                    created_at=now,
                    last_seen_at=now,
                )
            )
        return member, True
    except IntegrityError:
        found = await _find_identity(session, sender)
        if found is None:
            raise
        return found[1], False


_IDENTITY = (
    select(Identity, Member)
    .join(Member, Member.id == Identity.member_id)
    .where(
        Identity.platform == bindparam("platform"),
        Identity.workspace == bindparam("workspace"),
        Identity.user_id == bindparam("user_id"),
    )
)
_CHAT_MATCH = and_(
    Channel.platform == bindparam("chat_platform"),
    Channel.workspace == bindparam("chat_workspace"),
    Channel.external_id == bindparam("chat_id"),
)
_CHANNEL = select(Channel).where(_CHAT_MATCH)
_HOME = aliased(Council, name="home_council")
# Who is speaking, where, and their home council, in one round trip: this runs
# before every command, so it is built once and only its parameters change.
_SPEAKER = (
    _IDENTITY.add_columns(Channel, _HOME)
    .outerjoin(Channel, _CHAT_MATCH)
    .outerjoin(_HOME, _HOME.id == Member.home_council_id)
)


def _identity_params(sender: messages.Identity) -> dict[str, object]:
    return {"platform": sender.platform, "workspace": sender.workspace, "user_id": sender.user_id}


def _chat_params(chat: messages.Chat) -> dict[str, object]:
    return {
        "chat_platform": chat.platform,
        "chat_workspace": chat.workspace,
        "chat_id": chat.chat_id,
    }


@dataclass(frozen=True, slots=True)
class Speaker:
    """The member behind a command, the chat's linked channel and the member's home council."""

    member: Member
    channel: Channel | None
    home_council: Council | None
    newcomer: bool
    identity: Identity | None = None  # the platform identity that spoke (None: a newcomer)


async def resolve_speaker(
    session: AsyncSession, sender: messages.Identity, chat: messages.Chat, *, now: datetime
) -> Speaker:
    """Load (or, on first contact, create) the speaker and the chat's channel."""
    params = _identity_params(sender) | _chat_params(chat)
    row = (await session.execute(_SPEAKER, params)).first()
    if row is not None:
        identity, member, channel, home = row
        _touch(identity, sender, now)
        return Speaker(member, channel, home, newcomer=False, identity=identity)
    # The speaker query found no identity, so this is a first contact: create it directly.
    member, newcomer = await _create_member(session, sender, now=now)
    return Speaker(member, await find_channel(session, chat), None, newcomer)


async def find_speaker(
    session: AsyncSession, sender: messages.Identity, chat: messages.Chat
) -> Speaker | None:
    """Load the speaker and the chat's channel, creating and updating nothing."""
    row = (await session.execute(_SPEAKER, _identity_params(sender) | _chat_params(chat))).first()
    if row is None:
        return None
    identity, member, channel, home = row
    return Speaker(member, channel, home, newcomer=False, identity=identity)


@dataclass(frozen=True, slots=True)
class Seen:
    """What needs_touch reads of an identity, kept apart from any session."""

    username: str | None
    display_name: str | None
    language_code: str | None
    last_seen_at: datetime

    @classmethod
    def of(cls, identity: Identity) -> Seen:
        return cls(
            identity.username, identity.display_name, identity.language_code, identity.last_seen_at
        )


def needs_touch(identity: Identity | Seen, sender: messages.Identity, now: datetime) -> bool:
    """Tell whether a command from `sender` would update the stored identity (see _touch)."""
    # A platform that reports no language (Slack) leaves the one seen before.
    language = normalise_language(sender.language_code) or identity.language_code
    return bool(
        identity.username != sender.username
        or (sender.display_name and identity.display_name != sender.display_name)
        or identity.language_code != language
        or now - identity.last_seen_at > TOUCH_INTERVAL
    )


def _touch(identity: Identity, sender: messages.Identity, now: datetime) -> None:
    if needs_touch(identity, sender, now):
        language = normalise_language(sender.language_code) or identity.language_code
        identity.username = sender.username
        identity.display_name = sender.display_name or identity.display_name
        identity.language_code = language
        identity.last_seen_at = now


async def _find_identity(
    session: AsyncSession, sender: messages.Identity
) -> tuple[Identity, Member] | None:
    row = (await session.execute(_IDENTITY, _identity_params(sender))).first()
    return (row[0], row[1]) if row else None


async def find_channel(session: AsyncSession, chat: messages.Chat) -> Channel | None:
    """Return the linked channel for a chat, if it is linked."""
    return await session.scalar(_CHANNEL, _chat_params(chat))


async def identities_of(session: AsyncSession, member_id: int) -> list[Identity]:
    """Return a member's identities, oldest first."""
    query = select(Identity).where(Identity.member_id == member_id).order_by(Identity.id)
    return list(await session.scalars(query))


async def set_language(session: AsyncSession, member: Member, lang: str | None) -> None:
    """Set (or, with None, clear) the member's own language."""
    member.locale = lang
    await session.flush()


async def set_home_council(session: AsyncSession, member: Member, council: Council) -> None:
    """Make a council the member's home council, used in private chats."""
    member.home_council_id = council.id
    await session.flush()


# Subscriptions ---------------------------------------------------------------------------


async def subscribe(
    session: AsyncSession, member: Member, topic: str, council: Council | None, *, now: datetime
) -> bool:
    """Subscribe the member to a topic for one council (or all); False if already so."""
    existing = await session.scalar(
        select(Subscription).where(
            Subscription.member_id == member.id,
            Subscription.topic == topic,
            Subscription.council_id.is_not_distinct_from(council.id if council else None),
        )
    )
    if existing is not None:
        if existing.active:
            return False
        existing.active = True
        return True
    session.add(
        Subscription(
            member_id=member.id,
            topic=topic,
            council_id=council.id if council else None,
            active=True,
            created_at=now,
        )
    )
    await session.flush()
    return True


async def set_reachable(
    session: AsyncSession, person: messages.Identity, *, reachable: bool
) -> int:
    """Pause (or resume) a person's subscriptions when they block (or unblock) the bot.

    Return how many subscriptions changed; someone we never met has none.
    """
    found = await _find_identity(session, person)
    if found is None:
        return 0
    result = await session.execute(
        update(Subscription)
        .where(Subscription.member_id == found[1].id, Subscription.active != reachable)
        .values(active=reachable)
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def unsubscribe(
    session: AsyncSession, member: Member, topic: str, council: Council | None
) -> int:
    """Remove subscriptions to a topic: for one council, or every one when council is None."""
    query = delete(Subscription).where(
        Subscription.member_id == member.id, Subscription.topic == topic
    )
    if council is not None:
        query = query.where(Subscription.council_id == council.id)
    result = await session.execute(query)
    return result.rowcount or 0


async def subscribed(session: AsyncSession, member: Member, topic: str) -> bool:
    """Tell whether the member gets a topic at all (an active subscription, any council)."""
    query = select(
        exists().where(
            Subscription.member_id == member.id,
            Subscription.topic == topic,
            Subscription.active.is_(True),
        )
    )
    return bool(await session.scalar(query))


async def subscribed_to_all(session: AsyncSession, member: Member, topic: str) -> bool:
    """Tell whether the member gets a topic from every council (an active "all" subscription)."""
    query = select(
        exists().where(
            Subscription.member_id == member.id,
            Subscription.topic == topic,
            Subscription.council_id.is_(None),
            Subscription.active.is_(True),
        )
    )
    return bool(await session.scalar(query))


# Roles -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """What /whoami shows: a member's identities, roles and subscriptions."""

    identities: list[tuple[Platform, str]]  # platform, "@username (user id)" or user id
    roles: list[tuple[RoleName, str | None]]  # role, council name (None: every council)
    subscriptions: list[tuple[str, str | None]]  # topic, council slug (None: all)


_PROFILE_COUNCIL = aliased(Council, name="profile_council")
# What /whoami shows, in one round trip. Built once, like _SPEAKER: building this
# UNION (and its cache key) on every call took about 1 ms of CPU, a third of /whoami.
_PROFILE = union_all(
    select(
        literal("i").label("kind"),
        cast(Identity.platform, String).label("a"),
        # "@ana (111)": admins need the user id for COUNCILBOT_ADMINS.
        func.coalesce(
            literal("@") + Identity.username + literal(" (") + Identity.user_id + literal(")"),
            Identity.user_id,
        ).label("b"),
        Identity.id.label("n"),
    ).where(Identity.member_id == bindparam("member_id")),
    select(literal("r"), cast(Role.role, String), _PROFILE_COUNCIL.name, Role.id)
    .outerjoin(_PROFILE_COUNCIL, _PROFILE_COUNCIL.id == Role.council_id)
    .where(Role.member_id == bindparam("member_id")),
    select(literal("s"), cast(Subscription.topic, String), _PROFILE_COUNCIL.slug, Subscription.id)
    .outerjoin(_PROFILE_COUNCIL, _PROFILE_COUNCIL.id == Subscription.council_id)
    # Paused ones (the person blocked the bot) bring nothing: /whoami shows what arrives.
    .where(Subscription.member_id == bindparam("member_id"), Subscription.active.is_(True)),
)


async def profile(session: AsyncSession, member_id: int) -> Profile:
    """Load a member's identities, roles and subscriptions in one round trip."""
    rows = (await session.execute(_PROFILE, {"member_id": member_id})).all()
    ordered = sorted(rows, key=lambda row: (row.kind, row.a, row.b or "", row.n))
    return Profile(
        identities=[(Platform(r.a), r.b) for r in sorted(rows, key=lambda r: r.n) if r.kind == "i"],
        roles=[(RoleName(r.a), r.b) for r in ordered if r.kind == "r"],
        subscriptions=[(r.a, r.b) for r in ordered if r.kind == "s"],
    )


async def grant_role(
    session: AsyncSession,
    member: Member,
    role: RoleName,
    council: Council | None,
    *,
    granted_by: Member,
    now: datetime,
) -> bool:
    """Give a member a role; False if they already had it."""
    council_id = council.id if council else None
    held = await session.scalar(
        select(
            exists().where(
                Role.member_id == member.id,
                Role.role == role,
                Role.council_id.is_not_distinct_from(council_id),
            )
        )
    )
    if held:
        return False
    access.forget_roles(session)
    session.add(
        Role(
            member_id=member.id,
            role=role,
            council_id=council_id,
            granted_by_id=granted_by.id,
            created_at=now,
        )
    )
    await session.flush()
    return True


async def revoke_role(
    session: AsyncSession, member: Member, role: RoleName, council: Council | None
) -> bool:
    """Take a role away; False if the member did not have it."""
    access.forget_roles(session)
    result = await session.execute(
        delete(Role).where(
            Role.member_id == member.id,
            Role.role == role,
            Role.council_id.is_not_distinct_from(council.id if council else None),
        )
    )
    return bool(result.rowcount)


async def find_member(
    session: AsyncSession, reference: str, *, prefer: messages.Platform | None = None
) -> Member:
    """Find a member by `platform:user_id`, `#member_id`, `@username` or user id."""
    text = reference.strip()
    if text.startswith("#") and text[1:].isdecimal():
        number = int(text[1:])
        member = await session.get(Member, number) if number <= MAX_ID else None
        if member is None:
            raise NotFound(N_("Nobody is known as {user}."), user=reference)
        return member
    platform_name, sep, user_id = text.partition(":")
    if sep and platform_name in {p.value for p in messages.Platform}:
        condition = and_(Identity.platform == platform_name, Identity.user_id == user_id)
    else:
        name = text.lstrip("@").lower()
        condition = (func.lower(Identity.username) == name) | (Identity.user_id == text)
    rows = (
        await session.execute(select(Identity.member_id, Identity.platform).where(condition))
    ).all()
    if prefer is not None and len({m for m, _ in rows}) > 1:
        rows = [row for row in rows if row[1] == prefer] or rows
    member_ids = {member_id for member_id, _ in rows}
    if not member_ids:
        raise NotFound(
            N_("Nobody is known as {user}. They need to send me a message (/start) first."),
            user=reference,
        )
    if len(member_ids) > 1:
        raise Conflict(
            N_("Several people match {user}; write it as platform:user_id, e.g. telegram:12345."),
            user=reference,
        )
    member = await session.get(Member, member_ids.pop())
    assert member is not None
    return member


# Account linking -------------------------------------------------------------------------


async def create_link_code(session: AsyncSession, member: Member, *, now: datetime) -> LinkCode:
    """Issue a fresh one-time code for this member, replacing any unused one."""
    await session.execute(
        delete(LinkCode).where(LinkCode.member_id == member.id, LinkCode.used_at.is_(None))
    )
    link = LinkCode(
        code=new_code(), member_id=member.id, created_at=now, expires_at=now + LINK_CODE_TTL
    )
    session.add(link)
    await session.flush()
    return link


def new_code() -> str:
    """Draw a fresh one-time code (32^8 possibilities: not worth guessing in ten minutes)."""
    return "".join(secrets.choice(LINK_CODE_ALPHABET) for _ in range(LINK_CODE_LENGTH))


def normalise_code(text: str) -> str:
    """Accept a code typed in any case, with or without its dash or spaces."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


def format_code(code: str) -> str:
    """Show a code in two halves, easier to read and type."""
    half = len(code) // 2
    return f"{code[:half]}-{code[half:]}"


async def redeem_link_code(
    session: AsyncSession, member: Member, text: str, *, now: datetime
) -> Member:
    """Join the redeeming member into the code's owner; return the surviving member."""
    code = normalise_code(text)
    if len(code) != LINK_CODE_LENGTH:
        raise InvalidInput(
            N_("A link code has {length} letters and digits."), length=LINK_CODE_LENGTH
        )
    link = await session.scalar(select(LinkCode).where(LinkCode.code == code).with_for_update())
    if link is None:
        raise NotFound(
            N_("I don't know that code. Check it, or ask for a new one with /linkaccount.")
        )
    if link.used_at is not None:
        raise Conflict(N_("That code was already used. Ask for a new one with /linkaccount."))
    if link.expires_at <= now:
        raise Conflict(N_("That code has expired. Ask for a new one with /linkaccount."))
    if link.member_id == member.id:
        raise Conflict(
            N_("That code belongs to this account. Send it from your other account to link them.")
        )
    link.used_at = now
    keep = await session.get(Member, link.member_id)
    assert keep is not None
    await merge_members(session, keep=keep, drop=member)
    return keep


async def merge_members(session: AsyncSession, *, keep: Member, drop: Member) -> None:
    """Move everything that belongs to `drop` over to `keep`, then delete `drop`.

    Every table with a foreign key to members is handled, so features added later
    (RSVPs, bookings, votes) follow the member without changes here. Rows that
    would duplicate one `keep` already has (same role, same subscription) are dropped.
    """
    keep.locale = keep.locale or drop.locale
    keep.home_council_id = keep.home_council_id or drop.home_council_id
    await session.flush()
    for table in Base.metadata.sorted_tables:
        for column in table.columns:
            if not _refers_to_members(column.foreign_keys) or table.name == "members":
                continue
            for unique in _unique_keys(table):
                if column.name not in unique:
                    continue
                twin = table.alias()
                same = [
                    twin.c[other.name].is_not_distinct_from(other)
                    for other in unique
                    if other is not column
                ]
                duplicate = exists().where(twin.c[column.name] == keep.id, *same)
                await session.execute(delete(table).where(column == drop.id, duplicate))
            await session.execute(update(table).where(column == drop.id).values({column: keep.id}))
    await session.execute(delete(Member).where(Member.id == drop.id))
    access.forget_roles(session)
    session.expunge(drop)
    log.info("merged member %s into %s", drop.id, keep.id)


def _unique_keys(table: Table) -> list[ReadOnlyColumnCollection[str, Column[Any]]]:
    """Return the column sets a table keeps unique: its primary key, unique constraints and
    unique indexes (a poll's reminders are keyed by poll and member)."""
    keys = [
        constraint.columns
        for constraint in table.constraints
        if isinstance(constraint, UniqueConstraint | PrimaryKeyConstraint)
    ]
    keys.extend(index.columns for index in table.indexes if index.unique)
    return keys


def _refers_to_members(foreign_keys: set[ForeignKey]) -> bool:
    return any(fk.column.table.name == "members" for fk in foreign_keys)


# A member's data (core.features.MemberData of the general feature) ----------------------


def _when(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


async def export_member(session: AsyncSession, member_id: int) -> dict[str, object]:
    """Return the member, their accounts, roles, subscriptions, link history and chat links."""
    member = await session.get(Member, member_id)
    if member is None:
        return {}
    slugs = {c.id: c.slug for c in await session.scalars(select(Council))}
    identities = await session.scalars(
        select(Identity).where(Identity.member_id == member_id).order_by(Identity.id)
    )
    roles = await session.scalars(select(Role).where(Role.member_id == member_id))
    subscriptions = await session.scalars(
        select(Subscription).where(Subscription.member_id == member_id).order_by(Subscription.id)
    )
    codes = await session.scalars(
        select(LinkCode).where(LinkCode.member_id == member_id).order_by(LinkCode.id)
    )
    chats = await session.scalars(
        select(Channel).where(Channel.linked_by_id == member_id).order_by(Channel.id)
    )
    token = await session.scalar(select(CalendarToken).where(CalendarToken.member_id == member_id))
    digests = await session.scalars(
        select(DigestSent).where(DigestSent.member_id == member_id).order_by(DigestSent.id)
    )
    return {
        "member": {
            "id": member.id,
            "display_name": member.display_name,
            "language": member.locale,
            "home_council": slugs.get(member.home_council_id or 0),
            "created_at": _when(member.created_at),
        },
        "identities": [
            {
                "platform": i.platform.value,
                "workspace": i.workspace,
                "user_id": i.user_id,
                "username": i.username,
                "display_name": i.display_name,
                "app_language": i.language_code,
                "created_at": _when(i.created_at),
                "last_seen_at": _when(i.last_seen_at),
            }
            for i in identities
        ],
        "roles": [
            {
                "role": r.role.value,
                "council": slugs.get(r.council_id or 0),
                "created_at": _when(r.created_at),
            }
            for r in roles
        ],
        "subscriptions": [
            {
                "topic": s.topic,
                "council": slugs.get(s.council_id or 0, "all"),
                "active": s.active,
                "created_at": _when(s.created_at),
            }
            for s in subscriptions
        ],
        "account_links": [
            {"created_at": _when(c.created_at), "used_at": _when(c.used_at)} for c in codes
        ],
        "chats_linked": [
            {
                "platform": c.platform.value,
                "chat": c.title or c.external_id,
                "council": slugs.get(c.council_id),
                "linked_at": _when(c.created_at),
            }
            for c in chats
        ],
        # Only that one exists: the secret itself is never stored.
        "calendar_feed": {"created_at": _when(token.created_at)} if token else None,
        "weekly_digests": [d.week for d in digests],
    }


async def forget_member(erasure: Erasure) -> None:
    """Erase the member's accounts, roles, subscriptions, codes and direct messages.

    Chats they linked stay linked (to the council, no longer to them); roles they granted
    stay granted. The member row itself is deleted by services.home.forget, last.
    """
    session, member_id = erasure.session, erasure.member_id
    await forget_direct_messages(session, member_id)
    await session.execute(
        update(Channel).where(Channel.linked_by_id == member_id).values(linked_by_id=None)
    )
    await session.execute(
        update(Role).where(Role.granted_by_id == member_id).values(granted_by_id=None)
    )
    for table in (Identity, Role, Subscription, LinkCode):
        await session.execute(delete(table).where(table.member_id == member_id))
    access.forget_roles(session)


async def settings_sections(view: MemberView) -> list[HomeSection]:
    """Show the member's subscriptions and linked accounts (the end of their home)."""
    return [await subscriptions_section(view), await accounts_section(view)]


async def subscriptions_section(view: MemberView) -> HomeSection:
    """Show the member's subscriptions, each with its Unsubscribe button."""
    t = view.t
    rows = (
        await view.session.execute(
            select(Subscription.topic, Council.slug, Council.name)
            .outerjoin(Council, Council.id == Subscription.council_id)
            .where(Subscription.member_id == view.member_id, Subscription.active.is_(True))
            .order_by(Subscription.topic, Council.slug)
        )
    ).all()
    if not rows:
        return HomeSection(
            title=t("Subscriptions"),
            lines=(t("None yet: /subscribe brings announcements, events, polls or the magazine."),),
        )
    lines, buttons = [], []
    for topic, slug, name in rows:
        where = name or t("all councils")
        lines.append(t("{topic} — {council}", topic=topic, council=where))
        buttons.append(
            Button(
                label=t("Unsubscribe {topic} ({council})", topic=topic, council=slug or t("all")),
                command=f"/unsubscribe {topic} {slug or 'all'}",
            )
        )
    return HomeSection(
        title=t("Subscriptions"), lines=tuple(lines), buttons=tuple((b,) for b in buttons)
    )


async def accounts_section(view: MemberView) -> HomeSection:
    """Show the member's linked accounts, and how to link another one."""
    t = view.t
    identities = await identities_of(view.session, view.member_id)
    lines = [
        t(
            "{platform}: {handle}",
            platform=i.platform.value.capitalize(),
            handle=f"@{i.username}" if i.username else i.user_id,
        )
        for i in identities
    ]
    if len(identities) < 2:
        lines.append(t("/linkaccount joins your account on another platform."))
    return HomeSection(title=t("Linked accounts"), lines=tuple(lines))


async def forget_direct_messages(session: AsyncSession, member_id: int) -> None:
    """Delete every outbox row for the member's private chats (their texts may name them)."""
    identities = list(
        await session.scalars(select(Identity).where(Identity.member_id == member_id))
    )
    private = [
        (Delivery.platform == i.platform)
        & (Delivery.workspace == i.workspace)
        & (Delivery.chat_id == i.user_id)
        for i in identities
    ]
    await session.execute(delete(Delivery).where(or_(Delivery.member_id == member_id, *private)))
