"""The router's Directory, filled in by the member, council and access services."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.directory import Actor
from councilbot.core.messages import Chat, Identity
from councilbot.db.models import Channel
from councilbot.services import access, councils, members


class ServiceDirectory:
    """Look people and chats up in the database for the router (see core.directory)."""

    async def resolve_speaker(
        self, session: AsyncSession, sender: Identity, chat: Chat, *, now: datetime
    ) -> members.Speaker:
        """Load (or, on first contact, create) the speaker and the chat's channel."""
        return await members.resolve_speaker(session, sender, chat, now=now)

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
        return await access.is_admin(session, actor)

    async def is_coordinator_anywhere(self, session: AsyncSession, actor: Actor) -> bool:
        """Tell whether the actor coordinates at least one council (admins count)."""
        return await access.is_coordinator_anywhere(session, actor)

    async def council_choices(self, session: AsyncSession) -> list[tuple[str, str]]:
        """Return every council as (slug, name), in slug order, for a form to offer."""
        return [(c.slug, c.name) for c in await councils.list_councils(session)]
