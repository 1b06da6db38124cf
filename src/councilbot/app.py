"""Composition root: build the whole runtime from Settings, and nothing at import time."""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from councilbot.commands import announcements, desks, events, general, magazine, me, polls
from councilbot.core.features import FEATURE_EVENTS, Features
from councilbot.core.http import HttpGet
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.core.router import CommandSpec, Router
from councilbot.db.session import check_schema, create_engine, create_sessionmaker
from councilbot.delivery.dispatcher import DispatchConfig, Dispatcher, platform_rates
from councilbot.delivery.outbox import OUTBOX_CHANGED
from councilbot.delivery.ratelimit import RateLimiter
from councilbot.delivery.scheduler import Scheduler
from councilbot.delivery.targets import DeliveryTarget
from councilbot.delivery.wakeup import JOBS_CHANNEL, OUTBOX_CHANNEL, Listener
from councilbot.metrics import Metrics
from councilbot.services.calendar import CalendarFeeds, CouncilFeeds
from councilbot.services.directory import ServiceDirectory
from councilbot.services.events import council_calendar_events
from councilbot.services.jobs import JOBS_CHANGED
from councilbot.settings import Settings

log = logging.getLogger(__name__)
# Seconds a stopping process gives the commands and the sends in flight; a container
# orchestrator's stop timeout (Docker's default is 10 s) should leave a little more.
SHUTDOWN_GRACE = 10.0


def freeze_startup_objects() -> None:
    """Move everything built at start-up out of the garbage collector's sight.

    Modules, catalogs and SQLAlchemy's metadata live as long as the process; without
    this, every full collection walks them, and its pause bunches the dispatcher's
    evenly paced sends into bursts that trip the platforms' rate limits.
    """
    gc.collect()
    gc.freeze()


def features() -> Features:
    """Return the features the bot runs, in the order /help lists their commands.

    Each is declared once, at the end of its module (core.features.Feature); everything
    below is built from these declarations.
    """
    return Features(
        (
            general.FEATURE,
            announcements.FEATURE,
            events.FEATURE,
            desks.FEATURE,
            polls.FEATURE,
            magazine.FEATURE,
            me.FEATURE,
        )
    )


def command_specs(running: Features | None = None) -> list[CommandSpec]:
    """Return every command, feature by feature, in the order /help lists them."""
    return (running or features()).commands()


class Intake(Protocol):
    """A way updates come in (the web server, a platform adapter), stopped in two steps."""

    async def pause(self) -> None:
        """Take no new updates."""

    async def stop(self, grace: float) -> None:
        """Finish the updates in flight (up to `grace` seconds) and disconnect."""


@dataclass(slots=True)
class App:
    """The running bot's parts, shared by every adapter."""

    settings: Settings
    engine: AsyncEngine
    sessionmaker: async_sessionmaker[AsyncSession]
    catalogs: Catalogs
    router: Router
    dispatcher: Dispatcher
    scheduler: Scheduler
    listener: Listener
    targets: Mapping[Platform, DeliveryTarget]
    metrics: Metrics
    calendars: CalendarFeeds  # the councils' calendar feeds the web server serves
    _tasks: set[asyncio.Task[Any]] = field(default_factory=set)
    _sending_stopped: bool = False  # shutdown() stopped the dispatcher and the scheduler

    async def start(self) -> None:
        """Start sending the outbox and firing timed jobs, unless another process's role does."""
        freeze_startup_objects()
        if self.settings.role.sends:
            self.dispatcher.start()
            await self.scheduler.start()
            await self.listener.start()

    async def shutdown(
        self, intakes: Sequence[Intake] = (), *, grace: float = SHUTDOWN_GRACE
    ) -> None:
        """Stop taking updates, finish what is in flight, give back the rest, close the database."""
        for intake in intakes:
            await intake.pause()
        log.info(
            "stopping: taking no new updates; finishing what is in flight (up to %.0f s)", grace
        )
        # First: a NOTIFY arriving now must not start a resync of a scheduler that is stopping.
        await self.listener.stop()
        # The outbox and the timed jobs stay in the database for another worker (or the next
        # start), so they stop at once rather than after the commands.
        self._sending_stopped = True
        await asyncio.gather(
            self._finish(intakes, grace), self.dispatcher.stop(grace), self.scheduler.stop()
        )
        await self.aclose()

    async def _finish(self, intakes: Sequence[Intake], grace: float) -> None:
        """Stop the intakes in order, within one shared deadline."""
        # In order: the web server's webhook calls still use the adapters behind them.
        loop = asyncio.get_running_loop()
        deadline = loop.time() + grace
        for intake in intakes:
            await intake.stop(max(0.0, deadline - loop.time()))
        log.info("stopping: the commands in flight are answered")

    async def aclose(self) -> None:
        """Stop the background work (unless shutdown() did) and release the database connections."""
        await self.listener.stop()  # first, so that no wake-up starts a resync from now on
        if self._tasks:  # a resync started by a last commit must not outlive the scheduler
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if not self._sending_stopped:
            await self.scheduler.stop()
            await self.dispatcher.stop()
        await self.engine.dispose()
        log.info("stopped: database connections closed")

    def count_events(self, info: dict[str, Any]) -> None:
        """Count the RSVPs, bookings and votes a committed command recorded (FEATURE_EVENTS)."""
        for event in info.pop(FEATURE_EVENTS, ()):
            self.metrics.count_event(event)

    def after_commit(self, info: dict[str, Any]) -> None:
        """Wake the dispatcher and resynchronise the scheduler when a commit needs it."""
        if info.pop(OUTBOX_CHANGED, False):
            self.dispatcher.wake()
        if info.pop(JOBS_CHANGED, False):
            task = asyncio.create_task(self.scheduler.sync())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def build_app(
    settings: Settings,
    *,
    engine: AsyncEngine | None = None,
    catalogs: Catalogs | None = None,
    targets: Mapping[Platform, DeliveryTarget] | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    dispatch: DispatchConfig | None = None,
    verify_schema: bool = True,
    running: Features | None = None,
    get: HttpGet | None = None,
) -> App:
    """Connect to the database, check its schema and assemble the router, outbox and scheduler.

    `get` is how periodic work reads the web (the magazine's feed): the entry point gives
    adapters/http.py's; without it, such reads fail (and are logged).
    """
    engine = engine or create_engine(settings.database_url)
    if verify_schema:
        try:
            await check_schema(engine)
        except BaseException:
            await engine.dispose()
            raise
    sessionmaker = create_sessionmaker(engine)
    catalogs = catalogs or Catalogs.load()
    running = running or features()
    router = Router(
        running.commands(),
        topics=running.topics(),
        members=running.members(),
        choices=running.choices(),
        sessionmaker=sessionmaker,
        reader=create_sessionmaker(engine, read_only=True),
        directory=ServiceDirectory(),
        catalogs=catalogs,
        settings=settings,
        clock=clock,
    )
    if targets is None:
        from councilbot.adapters.console import ConsoleTarget

        targets = {Platform.CONSOLE: ConsoleTarget()}
    limiter = RateLimiter(
        platform_rates(
            telegram_per_second=settings.telegram_rate,
            telegram_private_per_second=settings.telegram_private_rate,
            telegram_group_per_minute=settings.telegram_group_per_minute,
            slack_channel_per_second=settings.slack_channel_rate,
        )
    )
    dispatcher = Dispatcher(
        sessionmaker,
        targets,
        limiter,
        dispatch or DispatchConfig(max_attempts=settings.outbox_max_attempts),
        clock=clock,
    )
    app = App(
        settings=settings,
        engine=engine,
        sessionmaker=sessionmaker,
        catalogs=catalogs,
        router=router,
        dispatcher=dispatcher,
        scheduler=None,  # type: ignore[arg-type]  # set just below: it needs app.after_commit
        listener=None,  # type: ignore[arg-type]  # likewise
        targets=targets,
        metrics=None,  # type: ignore[arg-type]  # set just below: it reads the scheduler
        calendars=CouncilFeeds(
            create_sessionmaker(engine, read_only=True),
            clock=clock,
            # The one place a council's feed gets its events from.
            events_of=council_calendar_events,
        ),
    )
    app.scheduler = Scheduler(
        engine,
        sessionmaker,
        running.jobs(),
        catalogs=catalogs,
        default_language=settings.default_language,
        clock=clock,
        grace=timedelta(minutes=settings.scheduler_grace_minutes),
        sync_interval=settings.scheduler_sync_seconds,
        on_commit=app.after_commit,
        members=running.members(),
        periodic=[
            (work, seconds)
            for work in running.periodic()
            if (seconds := work.every(settings)) is not None
        ],
        settings=settings,
        get=get,
    )
    app.listener = Listener(
        engine,
        {
            OUTBOX_CHANNEL: lambda: app.after_commit({OUTBOX_CHANGED: True}),
            JOBS_CHANNEL: lambda: app.after_commit({JOBS_CHANGED: True}),
        },
    )
    if settings.role.sends:  # a web process's commits reach the worker by NOTIFY
        router.after_commit.append(app.after_commit)
    app.metrics = Metrics(
        dispatcher=dispatcher, scheduler=app.scheduler, sessionmaker=sessionmaker, clock=clock
    )
    router.on_handled.append(app.metrics.observe)
    router.after_commit.append(app.count_events)
    return app
