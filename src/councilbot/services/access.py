"""Who may do what: admins (bootstrap or stored) and coordinators of a council."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.core.errors import Forbidden
from councilbot.core.i18n import N_
from councilbot.db.models import Council, Role, RoleName


@dataclass(frozen=True, slots=True)
class Actor:
    """The member running a command, and whether COUNCILBOT_ADMINS names them."""

    member_id: int
    bootstrap_admin: bool = False


async def is_admin(session: AsyncSession, actor: Actor) -> bool:
    """Tell whether the actor is an admin."""
    if actor.bootstrap_admin:
        return True
    query = select(exists().where(Role.member_id == actor.member_id, Role.role == RoleName.ADMIN))
    return bool(await session.scalar(query))


async def coordinated_council_ids(session: AsyncSession, member_id: int) -> set[int]:
    """Return the councils a member coordinates."""
    query = select(Role.council_id).where(
        Role.member_id == member_id, Role.role == RoleName.COORDINATOR
    )
    return {council_id for council_id in await session.scalars(query) if council_id is not None}


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
