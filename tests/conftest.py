"""Shared fixtures: a migrated, seeded database on SQLite and (when configured) PostgreSQL,
the real app built on it, and a console chat driving the real router."""

from __future__ import annotations

import asyncio
import io
import os
import shutil
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from councilbot.adapters.console import ConsoleChat, ConsoleTarget, render
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform, Reply
from councilbot.db.base import Base
from councilbot.db.session import create_engine, create_sessionmaker, upgrade
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import DEFAULT_CONFIG_DIR, Settings

# Each pytest-xdist worker gets a database of its own beside the configured one
# (test_gw0, test_gw1, ...), created on first use: workers never see each other's rows.
POSTGRES_URL = os.environ.get("COUNCILBOT_TEST_POSTGRES_URL")
XDIST_WORKER = os.environ.get("PYTEST_XDIST_WORKER")
SEED_FILE = DEFAULT_CONFIG_DIR / "councils.yaml"
START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
CORK_TEXT = "Southern Ireland council (MTU)"


def _run_in_thread(coro_factory) -> None:
    """Run a coroutine on its own loop, away from pytest-asyncio's."""
    errors: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(coro_factory())
        except BaseException as exc:  # re-raised in the calling thread
            errors.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if errors:
        raise errors[0]


def _worker_database(url: str) -> str:
    """Return this worker's PostgreSQL URL, creating its database if it does not exist yet."""
    if not XDIST_WORKER:
        return url
    base = make_url(url)
    name = f"{base.database}_{XDIST_WORKER}"

    async def create() -> None:
        admin = create_async_engine(base, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": name}
                )
                if not found:
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await admin.dispose()

    _run_in_thread(create)
    return base.set(database=name).render_as_string(hide_password=False)


async def _migrate(url: str, *, reset: bool) -> None:
    engine = create_engine(url)
    try:
        if reset:
            async with engine.begin() as conn:
                await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
                await conn.execute(text("CREATE SCHEMA public"))
        await upgrade(engine)
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per run; each test gets a copy."""
    path = tmp_path_factory.mktemp("db") / "template.db"
    _run_in_thread(lambda: _migrate(f"sqlite+aiosqlite:///{path}", reset=False))
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> str:
    """Migrate the PostgreSQL test database once per run, from an empty schema."""
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not configured: set COUNCILBOT_TEST_POSTGRES_URL to run these")
    url = _worker_database(POSTGRES_URL)
    _run_in_thread(lambda: _migrate(url, reset=True))
    return url


def _backends() -> list:
    return [
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]


@pytest.fixture(params=_backends())
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Give each test an empty, migrated database on each backend."""
    if request.param == "sqlite":
        path = tmp_path / "councilbot.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite+aiosqlite:///{path}"
    return request.getfixturevalue("postgres_migrated")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    """Yield an engine on a clean database (PostgreSQL tables are truncated first)."""
    engine = create_engine(database_url)
    if engine.dialect.name == "postgresql":
        tables = ", ".join(t.name for t in Base.metadata.sorted_tables)
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    yield engine
    await engine.dispose()


@pytest.fixture
async def seeded(engine: AsyncEngine) -> AsyncEngine:
    """Load the six councils of config/councils.yaml."""
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(session, read_seed_file(SEED_FILE), now=START)
    return engine


class Clock:
    """A clock the tests move by hand."""

    def __init__(self, now: datetime = START) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="session")
def catalogs() -> Catalogs:
    return Catalogs.load()


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, admins="console:admin", default_language="en")


@pytest.fixture
def console_out() -> io.StringIO:
    """What the console delivery target printed (announcements and reminders)."""
    return io.StringIO()


AppFactory = Callable[[str], Awaitable[App]]


@pytest.fixture
async def app_for(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    console_out: io.StringIO,
) -> AsyncIterator[AppFactory]:
    """Build real apps on the seeded database, with the given bootstrap admins."""
    apps: list[App] = []

    async def build(admins: str) -> App:
        settings = Settings(database_url=database_url, admins=admins, default_language="en")
        app = await build_app(
            settings,
            engine=seeded,
            catalogs=catalogs,
            clock=clock,
            targets={Platform.CONSOLE: ConsoleTarget(console_out)},
        )
        apps.append(app)
        return app

    yield build
    for app in apps:
        await app.aclose()


@pytest.fixture
async def app(app_for: AppFactory) -> App:
    return await app_for("console:admin")


class Bot:
    """Talk to the real router through the console adapter, as a test would in a terminal."""

    def __init__(self, app: App, clock: Clock) -> None:
        self.app = app
        # Cork's language is English, so replies in the default chat are in English.
        console_target = app.targets.get(Platform.CONSOLE)
        self.console = ConsoleChat(
            app.router,
            user="admin",
            chat="cork-chat",
            council="cork",
            clock=clock,
            target=console_target if isinstance(console_target, ConsoleTarget) else None,
        )

    async def reply(self, line: str) -> Reply:
        reply = await self.console.say(line)
        assert reply is not None
        return reply

    async def __call__(self, line: str) -> str:
        """Say a line and return the reply as plain text."""
        return render(await self.reply(line))


@pytest.fixture
async def bot(app: App, clock: Clock) -> Bot:
    bot = Bot(app, clock)
    await bot.console.setup()
    return bot
