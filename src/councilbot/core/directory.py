"""What the router needs to know about people and chats, as a port the services fill in.

The router sits below the services, so it cannot look anyone up itself: app.py hands it
a Directory (services/directory.py). The protocols name only what the router reads.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.messages import Chat, Identity


@dataclass(frozen=True, slots=True)
class Actor:
    """The member running a command, and whether COUNCILBOT_ADMINS names them."""

    member_id: int
    bootstrap_admin: bool = False


class Council(Protocol):
    """A council, as the router reads it."""

    @property
    def name(self) -> str: ...
    @property
    def timezone(self) -> str: ...
    @property
    def language(self) -> str: ...


class CouncilEntry(Council, Protocol):
    """A council as /councils lists it."""

    @property
    def id(self) -> int: ...
    @property
    def slug(self) -> str: ...
    @property
    def city(self) -> str: ...
    @property
    def focus(self) -> str: ...


class Channel(Protocol):
    """A chat linked to a council, as the router reads it."""

    @property
    def locale(self) -> str | None: ...
    @property
    def language(self) -> str: ...
    @property
    def council(self) -> Council: ...


class Member(Protocol):
    """A member, as the router reads it."""

    @property
    def id(self) -> int: ...
    @property
    def locale(self) -> str | None: ...


class Profile(Protocol):
    """What /whoami shows of a member: identities, roles and subscriptions."""

    @property
    def identities(self) -> Sequence[tuple[str, str]]: ...
    @property
    def roles(self) -> Sequence[tuple[str, str | None]]: ...
    @property
    def subscriptions(self) -> Sequence[tuple[str, str | None]]: ...


class Speaker(Protocol):
    """The member behind a command, the chat's linked channel and the member's home council."""

    @property
    def member(self) -> Member: ...
    @property
    def channel(self) -> Channel | None: ...
    @property
    def home_council(self) -> Council | None: ...
    @property
    def newcomer(self) -> bool: ...


class Directory(Protocol):
    """Look up, register and update the people and chats the router meets."""

    async def resolve_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat, *, now: datetime
    ) -> Speaker:
        """Load (or, on first contact, create) the speaker and the chat's channel."""

    async def find_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat
    ) -> Speaker | None:
        """Load the speaker and the chat's channel, creating and updating nothing."""

    async def find_channel(self, session: AsyncSession, chat: Chat) -> Channel | None:
        """Return the linked channel for a chat, if it is linked."""

    async def register(self, session: AsyncSession, sender: Identity, *, now: datetime) -> None:
        """Make a platform identity a member, if it is not one yet."""

    async def set_reachable(
        self, session: AsyncSession, person: Identity, *, reachable: bool
    ) -> None:
        """Pause (or resume) a person's subscriptions when they block (or unblock) the bot."""

    async def set_channel_presence(
        self, session: AsyncSession, chat: Chat, *, present: bool, now: datetime
    ) -> Channel | None:
        """Record that the bot joined or left a chat; return the chat's link, if it has one."""

    async def follow_moved_chat(self, session: AsyncSession, chat: Chat, new_id: str) -> None:
        """Keep a chat's link, and its unsent messages, when the chat gets a new id."""

    async def is_admin(self, session: AsyncSession, actor: Actor) -> bool:
        """Tell whether the actor is an admin."""

    async def is_coordinator_anywhere(self, session: AsyncSession, actor: Actor) -> bool:
        """Tell whether the actor coordinates at least one council (admins count)."""

    async def council_choices(self, session: AsyncSession) -> list[tuple[str, str]]:
        """Return every council as (slug, name), for a form to offer."""

    async def councils(self, session: AsyncSession) -> Sequence[CouncilEntry]:
        """Return every council, in slug order, read-only (none: an empty list)."""

    async def profile(self, session: AsyncSession, member_id: int) -> Profile:
        """Return a member's identities, roles and subscriptions, read-only."""
