"""Composition root: build the whole runtime from Settings, and nothing at import time."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from councilbot.commands import general
from councilbot.core.i18n import Catalogs
from councilbot.core.router import CommandSpec, Router
from councilbot.db.session import check_schema, create_engine, create_sessionmaker
from councilbot.settings import Settings


def command_specs() -> list[CommandSpec]:
    """Return every command, feature by feature, in the order /help lists them."""
    return [*general.COMMANDS]


@dataclass(slots=True)
class App:
    """The running bot's parts, shared by every adapter."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    catalogs: Catalogs
    router: Router

    async def aclose(self) -> None:
        """Release the database connections."""
        await self.engine.dispose()


async def build_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    catalogs: Catalogs | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    verify_schema: bool = True,
) -> App:
    """Connect to the database, check its schema and assemble the router."""
    engine = engine or create_engine(settings.database_url)
    if verify_schema:
        try:
            await check_schema(engine)
        except BaseException:
            await engine.dispose()
            raise
    sessionmaker = create_sessionmaker(engine)
    catalogs = catalogs or Catalogs.load()
    router = Router(
        command_specs(),
        sessionmaker=sessionmaker,
        catalogs=catalogs,
        settings=settings,
        clock=clock,
    )
    return App(settings, engine, sessionmaker, catalogs, router)
