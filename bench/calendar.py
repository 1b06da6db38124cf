"""Requests per second of a council's calendar feed: 304s, cached 200s and renders.

    .venv/bin/python -m bench.calendar [--requests 20000] [--connections 16] [--events 50]
                                      [--database-url URL]

The real web server (WebServer over a real App, a migrated and seeded database) runs in
its own process on 127.0.0.1 and serves /calendar/malaga.ics with `--events` events (one
in five part of a weekly series); this process is the calendar apps: `--connections`
keep-alive connections, each sending its next GET as soon as the last answer is read
(a few lines of HTTP/1.1 on asyncio: an HTTP client library would be the bottleneck).

Rows: 304 (If-None-Match names the current ETag), 200 (the body from memory), and 200
rendered on every request (the feeds' cache turned off: a query and an `ics()` each, on a
fiftieth of the requests), with the server process's CPU time per request (from /proc).
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import tempfile
import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from councilbot.services.calendar import CalendarEvent, Recurrence

PATH = "/calendar/malaga.ics"


def feed_events(count: int, now: datetime) -> list[CalendarEvent]:
    """Return `count` upcoming events of Málaga's council, one in five in a weekly series."""
    zone = ZoneInfo("Europe/Madrid")
    first = (now + timedelta(days=1)).astimezone(zone).replace(hour=10, minute=0, second=0)
    items = []
    for n in range(count):
        start = first + timedelta(days=n * 2)
        recurrence = None
        if n % 5 == 0:
            start = first + timedelta(weeks=n // 5)
            recurrence = Recurrence("series-1@councilbot", "week", None, start)
        items.append(
            CalendarEvent(
                uid=f"event-{n}@councilbot",
                title=f"Partner meeting {n}",
                start=start,
                end=start + timedelta(hours=2),
                zone="Europe/Madrid",
                description="Presentations by three member companies, then networking.",
                location="PTA, Málaga",
                url=f"https://example.org/events/{n}",
                updated=now - timedelta(days=3),
                recurrence=recurrence,
            )
        )
    return items


def _serve(url: str, events: int, ttl: float, ready: multiprocessing.Queue) -> None:
    from councilbot.app import build_app, freeze_startup_objects
    from councilbot.db.session import create_sessionmaker
    from councilbot.services.calendar import CouncilFeeds
    from councilbot.settings import Settings
    from councilbot.web.server import WebServer

    async def main() -> None:
        settings = Settings(database_url=url)
        app = await build_app(settings)
        items = feed_events(events, datetime.now(UTC))

        async def events_of(_session: object, _slug: str, _now: datetime) -> list[CalendarEvent]:
            return items

        feeds = CouncilFeeds(
            create_sessionmaker(app.engine, read_only=True),
            clock=lambda: datetime.now(UTC),
            events_of=events_of,  # type: ignore[arg-type]
            ttl=ttl,
        )
        server = WebServer(app, host="127.0.0.1", port=0, calendars=feeds)
        await server.start()
        freeze_startup_objects()
        ready.put(server.port)
        await asyncio.Event().wait()  # until terminated

    asyncio.run(main())


async def _get(port: int, etag: str | None) -> tuple[int, dict[str, str], bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(_request(etag))
        return await _answer(reader)
    finally:
        writer.close()


def _request(etag: str | None) -> bytes:
    conditional = f"If-None-Match: {etag}\r\n" if etag else ""
    return f"GET {PATH} HTTP/1.1\r\nHost: 127.0.0.1\r\n{conditional}\r\n".encode()


async def _answer(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return int(status_line.split()[1]), headers, body


async def _load(
    port: int, etag: str | None, requests: int, connections: int
) -> tuple[float, set[int]]:
    request = _request(etag)
    left = [requests]
    statuses: set[int] = set()

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while left[0] > 0:
            left[0] -= 1
            writer.write(request)
            status, _, _ = await _answer(reader)
            statuses.add(status)
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(connections)))
    return time.perf_counter() - started, statuses


def _cpu(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def run(requests: int, connections: int, events: int, url: str | None) -> None:
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as tmp:
        url = url or f"sqlite+aiosqlite:///{tmp}/bench.db"
        await _prepare(url)
        print(f"{os.cpu_count()} cores; database: {url.split(':')[0]}; {events} events")
        print(f"{'run':38} {'requests':>8} {'answers':>10} {'per request':>12} {'server CPU':>11}")
        for label, ttl, conditional, count in (
            ("304 (If-None-Match: current ETag)", 60.0, True, requests),
            ("200 (body from memory)", 60.0, False, requests),
            # A render costs hundreds of times more: fewer of them.
            ("200 (rendered every time: no cache)", 0.0, False, max(100, requests // 50)),
        ):
            ready = context.Queue()
            server = context.Process(target=_serve, args=(url, events, ttl, ready), daemon=True)
            server.start()
            try:
                port = ready.get(timeout=60)
                status, headers, body = await _get(port, None)
                assert status == 200, status
                etag = headers["etag"] if conditional else None
                await _load(port, etag, min(500, count), connections)  # warm-up
                cpu = _cpu(server.pid)  # type: ignore[arg-type]
                elapsed, statuses = await _load(port, etag, count, connections)
                used = _cpu(server.pid) - cpu  # type: ignore[arg-type]
            finally:
                server.terminate()
                server.join()
            assert statuses == {304 if conditional else 200}, statuses
            print(
                f"{label:38} {count:>8} {count / elapsed:>8.0f}/s "
                f"{elapsed / count * 1000:>9.3f} ms {used / count * 1000:>8.3f} ms"
                + (f"   ({len(body)} bytes)" if not conditional and ttl else "")
            )


async def _prepare(url: str) -> None:
    from councilbot.db.session import create_engine, create_sessionmaker, upgrade
    from councilbot.services.councils import read_seed_file, seed_councils
    from councilbot.settings import DEFAULT_CONFIG_DIR

    engine = create_engine(url)
    await upgrade(engine)
    async with create_sessionmaker(engine)() as session, session.begin():
        seed = read_seed_file(DEFAULT_CONFIG_DIR / "councils.yaml")
        await seed_councils(session, seed, now=datetime.now(UTC))
    await engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--events", type=int, default=50)
    parser.add_argument("--database-url")
    options = parser.parse_args()
    started = time.monotonic()
    asyncio.run(run(options.requests, options.connections, options.events, options.database_url))
    print(f"({time.monotonic() - started:.0f} s)")
