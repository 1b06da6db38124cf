"""The built-in web server: platform webhooks, install pages, calendar feeds, health check and
metrics."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

from aiohttp import web
from aiohttp.helpers import ETAG_ANY
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from councilbot.app import App
from councilbot.core.messages import Platform
from councilbot.db.session import probe_engine
from councilbot.delivery import outbox
from councilbot.services import home
from councilbot.services.calendar import CalendarFeeds, Feed

logger = logging.getLogger(__name__)

WebhookAnswer = int | tuple[int, bytes, Mapping[str, str]]
WebhookHandler = Callable[[bytes, Mapping[str, str]], Awaitable[WebhookAnswer]]
"""A platform route: take the raw body and the request headers; return an HTTP status, or
a status with the body and headers to answer with (Slack answers challenges in the body)."""
PageHandler = Callable[[str, Mapping[str, str]], Awaitable[tuple[int, bytes, Mapping[str, str]]]]
"""A GET route (Slack's install pages): take the query string and the request headers; return
the status, body and headers to answer with."""

MAX_BODY = 1024 * 1024  # platform updates are a few KiB; refuse anything near this
DB_TIMEOUT = 2.0  # seconds the health check's query may take
HELD_LIMIT = 20  # held workspaces the health check names at most
DRAIN_TIMEOUT = 10.0  # seconds stop() waits for webhook calls in flight
# Webhooks whose platform sends a refused update again (Telegram retries; Slack never resends
# a slash command or a button click): only these are refused while the process stops.
RETRIED_ROUTES = frozenset({"/telegram/webhook"})
# Calendar apps poll feeds; this long they may keep one without asking (then they ask again
# with If-None-Match, answered 304 while nothing changed).
CALENDAR_MAX_AGE = 300
CALENDAR_PATH = "/calendar/{council}.ics"
# A member's private calendar feed (/mycalendar): the secret is the path, so it is never logged.
MEMBER_CALENDAR_PATH = "/calendar/me/{token}.ics"


class WebServer:
    """Serve /healthz, /metrics, the platforms' webhooks, Slack's install pages and the
    councils' calendar feeds over HTTP."""

    def __init__(
        self,
        app: App,
        *,
        host: str = "0.0.0.0",
        port: int | None = None,
        routes: Mapping[str, WebhookHandler] | None = None,
        pages: Mapping[str, PageHandler] | None = None,
        calendars: CalendarFeeds | None = None,
    ) -> None:
        self._app = app
        # The councils' calendar feeds are public traffic, like the platforms' updates: a
        # worker process answers only /healthz and /metrics.
        if calendars is None and app.settings.role.takes_updates:
            calendars = app.calendars
        self._calendars = calendars
        self._probe = probe_engine(app.engine, timeout=DB_TIMEOUT / 2)
        self.host = host
        self.port = app.settings.http_port if port is None else port
        self._routes = dict(routes or {})
        self._pages = dict(pages or {})
        self._runner: web.AppRunner | None = None
        self._draining = False
        self._calls = 0  # webhook calls being answered
        self._idle = asyncio.Event()  # set while there are none
        self._idle.set()

    @property
    def url(self) -> str:
        """Return the local base URL of the running server."""
        return f"http://127.0.0.1:{self.port}"

    def build(self) -> web.Application:
        """Assemble the aiohttp application with every route."""
        application = web.Application(client_max_size=MAX_BODY)
        application.router.add_get("/healthz", self.healthz)
        application.router.add_get("/metrics", self.metrics)
        application.router.add_get(MEMBER_CALENDAR_PATH, self.member_calendar)
        if self._calendars is not None:
            application.router.add_get(CALENDAR_PATH, self.council_calendar)
        for path, handler in self._routes.items():
            application.router.add_post(path, self._webhook(path, handler))
        for path, page in self._pages.items():
            application.router.add_get(path, self._page(path, page))
        return application

    async def start(self) -> None:
        """Listen on the configured host and port."""
        if self._runner is not None:
            raise RuntimeError("web server already started")
        # access_log=None: request lines stay out of the logs (query strings may carry tokens).
        runner = web.AppRunner(self.build(), access_log=None, shutdown_timeout=5.0)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = runner.addresses[0][1]
        logger.info("web server listening on %s:%d", self.host, self.port)

    async def pause(self) -> None:
        """Answer health checks and Telegram's webhook calls with 503 while the process stops."""
        # The failing health check takes us out of the load balancer, and Telegram sends a
        # refused update again later (to another worker, or to this one restarted). Slack
        # requests are still answered until stop(): Slack would not send them again.
        self._draining = True

    async def stop(self, grace: float = DRAIN_TIMEOUT) -> None:
        """Finish the webhook calls in flight (up to `grace` seconds), then stop listening."""
        if self._runner is None:
            return
        self._draining = True
        try:
            await asyncio.wait_for(self._idle.wait(), grace)
        except TimeoutError:
            logger.warning("%d webhook calls still running after %.0f s", self._calls, grace)
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._probe is not self._app.engine:
            await self._probe.dispose()
        logger.info("web server stopped")

    async def healthz(self, request: web.Request) -> web.Response:
        """Answer 200 if this process can do its job, else 503 naming every problem."""
        if self._draining:
            return web.json_response({"status": "stopping"}, status=503)
        problems: list[str] = []
        database, in_database = await self._database()
        body: dict[str, Any] = {"database": database}
        if database != "ok":
            problems.append(f"database: {database}")
        # Only the parts this process started are checked (a web-only process runs neither).
        for name, part in (
            ("dispatcher", self._app.dispatcher),
            ("scheduler", self._app.scheduler),
        ):
            if (problem := part.problem) is not None:
                body[name] = problem
                problems.append(f"{name}: {problem}")
        # Every process reads the held workspaces from the outbox; the dispatcher that holds
        # one knows since when, and knows it before its rows are written.
        held: dict[tuple[Platform, str], tuple[str, str | None]] = {
            (platform, workspace): (reason, None) for platform, workspace, reason in in_database
        }
        for workspace, hold in self._app.dispatcher.held.items():
            held[workspace] = (hold.reason, hold.since.isoformat())
        if held:
            # A restart does not fix a refused token: reinstall the app or replace the token.
            ordered = sorted(held.items(), key=lambda item: (item[0][0].value, item[0][1]))
            body["workspaces"] = [
                {"platform": p.value, "workspace": w, "problem": reason, "since": since}
                for (p, w), (reason, since) in ordered
            ]
            problems += [f"{p.value} workspace {w}: {reason}" for (p, w), (reason, _) in ordered]
        if not problems:
            return web.json_response({"status": "ok", **body})
        logger.warning("health check failed: %s", "; ".join(problems))
        return web.json_response({"status": "unhealthy", "problems": problems, **body}, status=503)

    async def _database(self) -> tuple[str, list[tuple[Platform, str, str]]]:
        """Return "ok" and the held workspaces if the database answers in time, else why not."""
        try:
            async with asyncio.timeout(DB_TIMEOUT), AsyncSession(self._probe) as session:
                await session.execute(text("SELECT 1"))
                return "ok", await outbox.held_workspaces(session, limit=HELD_LIMIT)
        except TimeoutError:
            return "timeout", []
        except Exception as exc:  # only the class name: messages may hold URLs or SQL
            return type(exc).__name__, []

    async def metrics(self, request: web.Request) -> web.Response:
        """Render the app's metrics in the Prometheus format the scraper asks for."""
        body, content_type = await self._app.metrics.exposition(request.headers.get("Accept"))
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def council_calendar(self, request: web.Request) -> web.Response:
        """Serve a council's calendar feed (slug or city, any case or accents)."""
        assert self._calendars is not None  # the route exists only then
        try:
            feed = await self._calendars.council(request.match_info["council"])
        except Exception as exc:
            logger.error("calendar feed failed: %s", type(exc).__name__)
            return web.Response(status=500)
        if feed is None:
            return web.Response(status=404, text="No such council.\n")
        return calendar_response(request, feed)

    async def member_calendar(self, request: web.Request) -> web.Response:
        """Serve a member's private calendar feed, or 404 for a secret that is not (or no longer) one."""
        router = self._app.router
        try:
            async with router.reader() as session:
                body = await home.member_feed(
                    session, router.members, request.match_info["token"], now=router.clock()
                )
        except Exception as exc:  # only the class name: the path holds the secret
            logger.error("member calendar feed failed: %s", type(exc).__name__)
            return web.Response(status=500)
        if body is None:
            return web.Response(status=404, text="No such calendar.\n")
        return calendar_response(request, Feed.of(body, "councilbot.ics"), public=False)

    def _webhook(
        self, path: str, handler: WebhookHandler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a platform handler as an aiohttp view (bodies and headers are never logged)."""

        async def view(request: web.Request) -> web.Response:
            if self._draining and path in RETRIED_ROUTES:
                return web.Response(status=503)
            with self._answering():
                body = await request.read()  # raises 413 beyond client_max_size
                try:
                    answer = await handler(body, request.headers)
                except Exception as exc:
                    logger.error("webhook %s failed: %s", path, type(exc).__name__)
                    return web.Response(status=500)
            if isinstance(answer, tuple):
                status, content, headers = answer
                return web.Response(status=status, body=content, headers=headers)
            if answer == 200:
                return web.json_response({"ok": True})
            return web.Response(status=answer)

        return view

    @contextlib.contextmanager
    def _answering(self) -> Iterator[None]:
        """Count a webhook call in flight, so that stop() waits for it."""
        self._calls += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._calls -= 1
            if not self._calls:
                self._idle.set()

    def _page(
        self, path: str, handler: PageHandler
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        """Wrap a GET handler as an aiohttp view (query strings are never logged: codes)."""

        async def view(request: web.Request) -> web.Response:
            try:
                status, content, headers = await handler(request.query_string, request.headers)
            except Exception as exc:
                logger.error("page %s failed: %s", path, type(exc).__name__)
                return web.Response(status=500)
            return web.Response(status=status, body=content, headers=headers)

        return view


def calendar_response(request: web.Request, feed: Feed, *, public: bool = True) -> web.Response:
    """Answer a calendar app's GET: the feed, or 304 when its If-None-Match names it.

    `public`: shared caches may keep it (a council's feed); a member's own feed is private.
    """
    headers = {
        "ETag": f'"{feed.tag}"',
        "Cache-Control": f"{'public' if public else 'private'}, max-age={CALENDAR_MAX_AGE}",
    }
    # Weak comparison (RFC 9110 13.1.2): W/"x" names the body "x" names.
    if any(tag.value in (feed.tag, ETAG_ANY) for tag in request.if_none_match or ()):
        return web.Response(status=304, headers=headers)
    headers["Content-Disposition"] = f'inline; filename="{feed.filename}"'
    headers["Content-Type"] = "text/calendar; charset=utf-8"
    return web.Response(body=feed.body, headers=headers)
