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

PersonKey = tuple[str, str, str]  # platform, workspace, user id
ChatKey = tuple[str, str, str]  # platform, workspace, chat id


@dataclass(frozen=True, slots=True)
class _Person:
    """A speaker read before, as snapshots: their member, home council and identity."""

    member: cache.Snapshot
    home: cache.Snapshot | None
    seen: members.Seen  # what needs_touch compares a new command with


@dataclass(frozen=True, slots=True)
class _Place:
    """A chat read before: its linked channel and that channel's council (none: not linked)."""

    channel: cache.Snapshot | None
    council: cache.Snapshot | None

    @classmethod
    def of(cls, channel: Channel | None) -> _Place:
        if channel is None:
            return cls(None, None)
        return cls(cache.Snapshot.of(channel), cache.Snapshot.of(channel.council))


class ServiceDirectory:
    """Look people and chats up in the database for the router (see core.directory)."""

    def __init__(self, ttl: float = cache.TTL) -> None:
        cache.watch_writes()
        self._people: cache.Cache[_Person] = cache.Cache(ttl)
        self._chats: cache.Cache[_Place] = cache.Cache(ttl)
        self._roles: cache.Cache[list[tuple[RoleName, int | None]]] = cache.Cache(ttl)
        self._councils: cache.Cache[list[councils.CouncilInfo]] = cache.Cache(ttl)
        self._profiles: cache.Cache[members.Profile] = cache.Cache(ttl)

    async def resolve_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat, *, now: datetime
    ) -> members.Speaker:
        """Load (or, on first contact, create) the speaker and the chat's channel.

        Commands of one person arriving together read them once (Cache.get_after_loading).
        """
        person_key = (sender.platform.value, sender.workspace, sender.user_id)
        chat_key = (chat.platform.value, chat.workspace, chat.chat_id)
        person = await self._people.get_after_loading(person_key, session)
        if person is not None and not members.needs_touch(person.seen, sender, now):
            place = await self._chats.get_after_loading(chat_key, session)
            if place is None:  # someone known, in a chat not seen lately: the chat only
                with self._chats.loading(chat_key):
                    read_at = cache.read_generation(session)
                    place = _Place.of(await members.find_channel(session, chat))
                    self._chats.put(chat_key, place, read_at)
            return _attach(session, person, place)
        with self._people.loading(person_key), self._chats.loading(chat_key):
            read_at = cache.read_generation(session)
            speaker = await members.resolve_speaker(session, sender, chat, now=now)
            self._remember(person_key, chat_key, speaker, read_at)
        return speaker

    def _remember(
        self,
        person_key: PersonKey,
        chat_key: ChatKey,
        speaker: members.Speaker,
        read_at: int | None,
    ) -> None:
        if read_at is not None and speaker.identity is not None:
            home = speaker.home_council
            self._people.put(
                person_key,
                _Person(
                    cache.Snapshot.of(speaker.member),
                    cache.Snapshot.of(home) if home is not None else None,
                    members.Seen.of(speaker.identity),
                ),
                read_at,
            )
            self._chats.put(chat_key, _Place.of(speaker.channel), read_at)

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
        roles = await self._roles.get_after_loading(actor.member_id, session)
        if roles is not None:
            access.know_roles(session, actor.member_id, roles)
            return
        with self._roles.loading(actor.member_id):
            read_at = cache.read_generation(session)
            roles = await access.roles_of(session, actor.member_id)
            self._roles.put(actor.member_id, roles, read_at)

    async def council_choices(self, session: AsyncSession) -> list[tuple[str, str]]:
        """Return every council as (slug, name), in slug order, for a form to offer."""
        return [(c.slug, c.name) for c in await self.councils(session)]

    async def profile(self, session: AsyncSession, member_id: int) -> members.Profile:
        """Return a member's identities, roles and subscriptions, read-only (/whoami)."""
        found = await self._profiles.get_after_loading(member_id, session)
        if found is None:
            with self._profiles.loading(member_id):
                read_at = cache.read_generation(session)
                found = await members.profile(session, member_id)
                self._profiles.put(member_id, found, read_at)
        return found

    async def councils(self, session: AsyncSession) -> list[councils.CouncilInfo]:
        """Return every council, in slug order, read-only (none: an empty list)."""
        found = await self._councils.get_after_loading(None, session)
        if found is None:
            with self._councils.loading(None):
                read_at = cache.read_generation(session)
                found = [councils.CouncilInfo.of(c) for c in await councils.list_councils(session)]
                self._councils.put(None, found, read_at)
        return found


def _attach(session: AsyncSession, person: _Person, place: _Place) -> members.Speaker:
    """Rebuild a cached speaker inside this session: clean persistent objects, no query."""
    sync = session.sync_session
    channel = None
    if place.channel is not None and place.council is not None:
        channel = place.channel.attach(sync, council=place.council.attach(sync))
    home = person.home.attach(sync) if person.home is not None else None
    member = person.member.attach(sync)
    return members.Speaker(member, channel, home, newcomer=False, identity=None)
