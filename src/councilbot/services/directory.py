"""The router's Directory, filled in by the member, council and access services.

Who is speaking in which chat, and their roles, are read before every command: they are
kept in in-process caches (services/cache.py) so that a command that reads nothing else
needs no database round trip at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.directory import Actor
from councilbot.core.messages import Chat, Identity
from councilbot.db.models import Channel, RoleName
from councilbot.services import access, cache, councils, members

SpeakerKey = tuple[str, str, str, str, str, str]


@dataclass(frozen=True, slots=True)
class _KnownSpeaker:
    """What resolve_speaker read, as snapshots: member, identity, channel and councils."""

    member: cache.Snapshot
    identity: members.Seen  # what needs_touch compares a new command with
    channel: cache.Snapshot | None
    channel_council: cache.Snapshot | None
    home: cache.Snapshot | None


class ServiceDirectory:
    """Look people and chats up in the database for the router (see core.directory)."""

    def __init__(self, ttl: float = cache.TTL) -> None:
        cache.watch_writes()
        self._speakers: cache.Cache[_KnownSpeaker] = cache.Cache(ttl)
        self._roles: cache.Cache[list[tuple[RoleName, int | None]]] = cache.Cache(ttl)
        self._councils: cache.Cache[list[councils.CouncilInfo]] = cache.Cache(ttl)

    async def resolve_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat, *, now: datetime
    ) -> members.Speaker:
        """Load (or, on first contact, create) the speaker and the chat's channel."""
        key = _speaker_key(sender, chat)
        known = self._speakers.get(key)
        if known is not None and not members.needs_touch(known.identity, sender, now):
            return _attach(session, known)
        read_at = cache.read_generation(session)
        speaker = await members.resolve_speaker(session, sender, chat, now=now)
        if read_at is not None and speaker.identity is not None:
            self._speakers.put(key, _remember(speaker), read_at)
        return speaker

    async def find_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat
    ) -> members.Speaker | None:
        """Load the speaker and the chat's channel, creating and updating nothing."""
        return await members.find_speaker(session, sender, chat)

    async def find_channel(self, session: AsyncSession, chat: Chat) -> Channel | None:
        """Return the linked channel for a chat, if it is linked."""
        return await members.find_channel(session, chat)

    async def register(self, session: AsyncSession, sender: Identity, *, now: datetime) -> None:
        """Make a platform identity a member, if it is not one yet."""
        await members.resolve_member(session, sender, now=now)

    async def set_reachable(
        self, session: AsyncSession, person: Identity, *, reachable: bool
    ) -> None:
        """Pause (or resume) a person's subscriptions when they block (or unblock) the bot."""
        await members.set_reachable(session, person, reachable=reachable)

    async def set_channel_presence(
        self, session: AsyncSession, chat: Chat, *, present: bool, now: datetime
    ) -> Channel | None:
        """Record that the bot joined or left a chat; return the chat's link, if it has one."""
        return await councils.set_channel_presence(session, chat, present=present, now=now)

    async def follow_moved_chat(self, session: AsyncSession, chat: Chat, new_id: str) -> None:
        """Keep a chat's link, and its unsent messages, when the chat gets a new id."""
        await councils.follow_moved_chat(session, chat, new_id)

    async def is_admin(self, session: AsyncSession, actor: Actor) -> bool:
        """Tell whether the actor is an admin."""
        await self._load_roles(session, actor)
        return await access.is_admin(session, actor)

    async def is_coordinator_anywhere(self, session: AsyncSession, actor: Actor) -> bool:
        """Tell whether the actor coordinates at least one council (admins count)."""
        await self._load_roles(session, actor)
        return await access.is_coordinator_anywhere(session, actor)

    async def _load_roles(self, session: AsyncSession, actor: Actor) -> None:
        """Hand the session the member's cached roles, or cache the ones it reads."""
        roles = self._roles.get(actor.member_id)
        if roles is not None:
            access.know_roles(session, actor.member_id, roles)
            return
        read_at = cache.read_generation(session)
        self._roles.put(actor.member_id, await access.roles_of(session, actor.member_id), read_at)

    async def council_choices(self, session: AsyncSession) -> list[tuple[str, str]]:
        """Return every council as (slug, name), in slug order, for a form to offer."""
        return [(c.slug, c.name) for c in await self.councils(session)]

    async def councils(self, session: AsyncSession) -> list[councils.CouncilInfo]:
        """Return every council, in slug order, read-only (none: an empty list)."""
        found = self._councils.get(None)
        if found is None:
            read_at = cache.read_generation(session)
            found = [councils.CouncilInfo.of(c) for c in await councils.list_councils(session)]
            self._councils.put(None, found, read_at)
        return found


def _speaker_key(sender: Identity, chat: Chat) -> SpeakerKey:
    return (
        sender.platform.value,
        sender.workspace,
        sender.user_id,
        chat.platform.value,
        chat.workspace,
        chat.chat_id,
    )


def _remember(speaker: members.Speaker) -> _KnownSpeaker:
    channel = speaker.channel
    home = speaker.home_council
    identity = speaker.identity
    assert identity is not None
    return _KnownSpeaker(
        member=cache.Snapshot.of(speaker.member),
        identity=members.Seen.of(identity),
        channel=cache.Snapshot.of(channel) if channel is not None else None,
        channel_council=cache.Snapshot.of(channel.council) if channel is not None else None,
        home=cache.Snapshot.of(home) if home is not None else None,
    )


def _attach(session: AsyncSession, known: _KnownSpeaker) -> members.Speaker:
    """Rebuild a cached speaker inside this session: clean persistent objects, no query."""
    sync = session.sync_session
    channel = None
    if known.channel is not None and known.channel_council is not None:
        channel = known.channel.attach(sync, council=known.channel_council.attach(sync))
    home = known.home.attach(sync) if known.home is not None else None
    member = known.member.attach(sync)
    return members.Speaker(member, channel, home, newcomer=False, identity=None)
