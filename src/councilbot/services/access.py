"""Who may do what: admins (bootstrap or stored) and coordinators of a council."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.directory import Actor
from councilbot.core.errors import Forbidden
from councilbot.core.i18n import N_
from councilbot.db.models import Council, Role, RoleName

_ROLES = "roles"  # session.info cache: member id -> [(role, council id)]


async def _roles(session: AsyncSession, member_id: int) -> list[tuple[RoleName, int | None]]:
    """Load a member's roles once per session: the router and the service both ask."""
    cache: dict[int, list[tuple[RoleName, int | None]]] = session.info.setdefault(_ROLES, {})
    if member_id not in cache:
        rows = await session.execute(
            select(Role.role, Role.council_id).where(Role.member_id == member_id)
        )
        cache[member_id] = [(role, council_id) for role, council_id in rows]
    return cache[member_id]


async def roles_of(session: AsyncSession, member_id: int) -> list[tuple[RoleName, int | None]]:
    """Return a member's roles as (role, council id) pairs, read once per session."""
    return list(await _roles(session, member_id))


def know_roles(
    session: AsyncSession, member_id: int, roles: list[tuple[RoleName, int | None]]
) -> None:
    """Give the session a member's roles read earlier (services/directory.py caches them)."""
    session.info.setdefault(_ROLES, {}).setdefault(member_id, list(roles))


def forget_roles(session: AsyncSession) -> None:
    """Drop the cached roles after granting, revoking or merging."""
    session.info.pop(_ROLES, None)


async def is_admin(session: AsyncSession, actor: Actor) -> bool:
    """Tell whether the actor is an admin."""
    if actor.bootstrap_admin:
        return True
    return any(role is RoleName.ADMIN for role, _ in await _roles(session, actor.member_id))


async def coordinated_council_ids(session: AsyncSession, member_id: int) -> set[int]:
    """Return the councils a member coordinates."""
    return {
        council_id
        for role, council_id in await _roles(session, member_id)
        if role is RoleName.COORDINATOR and council_id is not None
    }


async def is_coordinator_anywhere(session: AsyncSession, actor: Actor) -> bool:
    """Tell whether the actor coordinates at least one council (admins count)."""
    return await is_admin(session, actor) or bool(
        await coordinated_council_ids(session, actor.member_id)
    )


async def can_coordinate(session: AsyncSession, actor: Actor, council: Council) -> bool:
    """Tell whether the actor may act as coordinator of this council."""
    return await is_admin(session, actor) or council.id in await coordinated_council_ids(
        session, actor.member_id
    )


async def require_coordinator(session: AsyncSession, actor: Actor, council: Council) -> None:
    """Raise Forbidden unless the actor coordinates this council or is an admin."""
    if not await can_coordinate(session, actor, council):
        raise Forbidden(
            N_("Only coordinators of {council} (or admins) can do that."), council=council.name
        )


ONLY_COORDINATED = N_("You can only announce to councils you coordinate; not to {councils}.")
ALL_NEEDS_EVERY = N_(
    "Announcing to all councils needs an admin, or a coordinator of every council; you do "
    "not coordinate {councils}. Name the councils you coordinate instead."
)


async def not_coordinated(
    session: AsyncSession, actor: Actor, councils: Iterable[Council]
) -> list[str]:
    """Name the councils among `councils` that the actor does not coordinate (none for admins)."""
    if await is_admin(session, actor):
        return []
    mine = await coordinated_council_ids(session, actor.member_id)
    return [c.name for c in councils if c.id not in mine]


async def require_coordinator_of_all(
    session: AsyncSession,
    actor: Actor,
    councils: Iterable[Council],
    *,
    all_councils: bool = False,
) -> None:
    """Refuse, naming them, unless the actor coordinates every council something reaches.

    What goes to councils (announcements, events, polls) goes only to councils its sender
    coordinates; admins reach all. `all_councils` says the sender asked for all of them.
    """
    missing = await not_coordinated(session, actor, councils)
    if missing:
        raise Forbidden(
            ALL_NEEDS_EVERY if all_councils else ONLY_COORDINATED, councils=", ".join(missing)
        )
