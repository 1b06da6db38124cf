"""The magazine's feed, served on 127.0.0.1: the first read archives, new entries are posted
once (across restarts and two processes), a broken feed is retried and told to admins once.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters import http
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.db.models import (
    Delivery,
    Identity,
    IssueSource,
    IssueStatus,
    MagazineFeed,
    MagazineIssue,
    Role,
    RoleName,
)
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.services import magazine, magazine_feed
from councilbot.settings import Settings
from tests.conftest import Bot, Clock
from tests.processes import ROOT

TIMEOUT = 0.3  # seconds a test allows a read: the slow feed answers later than that


def item(number: int, *, guid: str | None = None, link: str | None = None) -> str:
    link = link or f"https://empower.example/{number}"
    guid = guid or f"urn:empower:{number}"
    return (
        f"<item><title>EMPOWER #{number}: News {number}</title><link>{link}</link>"
        f'<guid isPermaLink="false">{guid}</guid>'
        f"<description>&lt;p&gt;Summary of issue {number}&lt;/p&gt;</description>"
        f'<enclosure url="https://empower.example/{number}.jpg" type="image/jpeg" length="1"/>'
        "</item>"
    )


def rss(*items: str) -> str:
    return (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>EMPOWER</title>'
        "<link>https://empower.example/</link><language>en</language>"
        + "".join(reversed(items))  # the newest first, as feeds list them
        + "</channel></rss>"
    )


@dataclass
class Feed:
    """A feed server: `body` is served with an ETag; If-None-Match gets a 304."""

    base: str = ""
    body: str = rss(item(1), item(2))
    requests: int = 0
    failing: bool = False  # answer 500 meanwhile
    not_modified: int = 0
    seen_headers: list[dict[str, str]] = field(default_factory=list)

    def url(self, path: str = "feed") -> str:
        return f"{self.base}/{path}"


@pytest.fixture
async def feed() -> AsyncIterator[Feed]:
    served = Feed()

    async def good(request: web.Request) -> web.Response:
        served.requests += 1
        if served.failing:
            return web.Response(status=500, text="oops")
        served.seen_headers.append(dict(request.headers))
        etag = '"' + hashlib.sha256(served.body.encode()).hexdigest()[:16] + '"'
        if request.headers.get("If-None-Match") == etag:
            served.not_modified += 1
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            text=served.body, content_type="application/rss+xml", headers={"ETag": etag}
        )

    async def slow(_request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text=rss(item(9)), content_type="application/rss+xml")

    async def broken(_request: web.Request) -> web.Response:
        return web.Response(status=500, text="oops")

    async def malformed(_request: web.Request) -> web.Response:
        return web.Response(text="<html><body>Not <b>a feed", content_type="text/html")

    application = web.Application()
    application.router.add_get("/feed", good)
    application.router.add_get("/slow", slow)
    application.router.add_get("/500", broken)
    application.router.add_get("/malformed", malformed)
    runner = web.AppRunner(application, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    served.base = f"http://127.0.0.1:{port}"
    yield served
    await runner.cleanup()


def unreachable() -> str:
    """Return an address on 127.0.0.1 where nothing listens."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/feed"


async def read(app: App, clock: Clock, url: str) -> magazine_feed.Outcome:
    return await magazine_feed.read_feed(
        app.sessionmaker,
        url,
        get=http.get,
        now=clock(),
        catalogs=app.catalogs,
        admins=app.settings.admin_identities,
        seconds=TIMEOUT,
    )


async def archive(app: App) -> list[tuple[int, IssueStatus, IssueSource]]:
    async with app.sessionmaker() as session:
        rows = await session.execute(
            select(MagazineIssue.number, MagazineIssue.status, MagazineIssue.source).order_by(
                MagazineIssue.number
            )
        )
        return [tuple(row) for row in rows]


async def posts(app: App, source: str = magazine.SOURCE) -> int:
    async with app.sessionmaker() as session:
        return await session.scalar(
            select(func.count()).select_from(Delivery).where(Delivery.source == source)
        )


A, P = IssueStatus.ARCHIVED, IssueStatus.PUBLISHED
F, C = IssueSource.FEED, IssueSource.COMMAND


async def test_the_first_read_archives_and_only_new_entries_are_posted_once(
    bot: Bot, clock: Clock, feed: Feed, console_out
) -> None:
    app = bot.app
    await bot("bob@dm: /subscribe magazine all")
    first = await read(app, clock, feed.url())
    assert (first.status, first.archived, first.posted) == ("imported", (1, 2), ())
    assert await archive(app) == [(1, A, F), (2, A, F)]
    assert await posts(app) == 0  # configuring a feed floods no chat
    # Unchanged: one conditional request, answered 304.
    assert (await read(app, clock, feed.url())).status == "unchanged"
    assert feed.not_modified == 1
    assert feed.seen_headers[-1]["If-None-Match"].startswith('"')

    feed.body = rss(item(1), item(2), item(3))
    clock.advance(hours=1)
    third = await read(app, clock, feed.url())
    assert (third.status, third.posted) == ("read", (3,))
    assert await posts(app) == 2  # cork-chat and bob
    await app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert (
        "[to cork-chat] 📰 EMPOWER #3: News 3\nSummary of issue 3\n"
        "[1] Read (https://empower.example/3)\n(picture: https://empower.example/3.jpg)"
    ) in printed
    # A restart forgets nothing: the validators and the issues are in the database; and
    # even without its ETag the same entries are recognised.
    async with app.sessionmaker() as session, session.begin():
        row = await session.scalar(select(MagazineFeed))
        row.etag = None
    assert (await read(app, clock, feed.url())).posted == ()
    # A feed that rewrites its GUIDs does not repost its archive (known by their links).
    feed.body = rss(*(item(n, guid=f"tag:new:{n}") for n in (1, 2, 3)))
    assert (await read(app, clock, feed.url())).posted == ()
    async with app.sessionmaker() as session:
        guids = await session.scalars(
            select(MagazineIssue.feed_guid).order_by(MagazineIssue.number)
        )
        assert list(guids) == ["tag:new:1", "tag:new:2", "tag:new:3"]
    assert await posts(app) == 2


async def test_an_entry_published_by_command_is_not_posted_again(
    bot: Bot, clock: Clock, feed: Feed
) -> None:
    app = bot.app
    await read(app, clock, feed.url())
    await bot('/publish 3 "News 3" https://empower.example/3 --yes')
    assert await posts(app) == 1
    # The feed lists it later, under another title and with no number in it.
    feed.body = rss(
        item(1), item(2), item(3).replace("EMPOWER #3: News 3", "Growth stories"), item(4)
    )
    assert (await read(app, clock, feed.url())).posted == (4,)
    assert await archive(app) == [(1, A, F), (2, A, F), (3, P, C), (4, P, F)]
    # An entry naming no number gets the next one.
    feed.body += ""
    feed.body = rss(item(1), item(2), item(4), item(7).replace("EMPOWER #7: ", ""))
    assert (await read(app, clock, feed.url())).posted == (5,)


async def test_a_preview_nobody_sent_goes_out_when_the_feed_lists_it(
    bot: Bot, clock: Clock, feed: Feed
) -> None:
    app = bot.app
    await read(app, clock, feed.url())  # the first read: #1 and #2 archived
    await bot('/publish 3 "News 3" https://empower.example/3')  # a preview, never sent
    assert await posts(app) == 0
    feed.body = rss(item(1), item(2), item(3))
    # The feed says #3 is out: the preview is published with the feed's GUID, and posted.
    assert (await read(app, clock, feed.url())).posted == (3,)
    assert await archive(app) == [(1, A, F), (2, A, F), (3, P, C)]
    assert await posts(app) >= 1
    assert (await read(app, clock, feed.url())).posted == ()  # once


@pytest.mark.parametrize(
    ("path", "error"),
    [
        ("malformed", "not an RSS or Atom feed"),
        ("500", "HTTP 500 Internal Server Error"),
        ("slow", f"no answer within {TIMEOUT:g} seconds"),
        (None, "ClientConnectorError"),
    ],
    ids=["malformed", "500", "slow", "unreachable"],
)
async def test_a_broken_feed_is_logged_and_retried_and_stops_nothing(
    bot: Bot,
    clock: Clock,
    feed: Feed,
    caplog: pytest.LogCaptureFixture,
    path: str | None,
    error: str,
) -> None:
    url = unreachable() if path is None else feed.url(path)
    with caplog.at_level(logging.WARNING):
        outcome = await read(bot.app, clock, url)
    assert outcome.status == "failed"
    assert error in (outcome.error or "")
    assert f"magazine feed {url} could not be read" in caplog.text
    async with bot.app.sessionmaker() as session:
        row = await session.scalar(select(MagazineFeed))
        assert (row.failures, row.failing_since, row.imported_at) == (1, clock(), None)
    assert await archive(bot.app) == []
    assert (await bot("/magazine")).startswith("No issue of EMPOWER")  # the bot goes on


async def test_admins_are_told_once_when_it_fails_for_an_hour_and_once_when_it_recovers(
    bot: Bot, clock: Clock, feed: Feed, console_out
) -> None:
    app = bot.app
    await bot("bob@dm: /lang en")
    async with app.sessionmaker() as session, session.begin():
        bob = await session.scalar(select(Identity.member_id).where(Identity.user_id == "bob"))
        session.add(Role(member_id=bob, role=RoleName.ADMIN, created_at=clock()))
    await read(app, clock, feed.url())  # imported: it works
    feed.failing = True
    outcomes = []
    for _step in range(5):  # every 30 minutes for two hours
        outcomes.append(await read(app, clock, feed.url()))
        clock.advance(minutes=30)
    assert [o.alerted for o in outcomes] == [False, False, True, False, False]
    # The admin of COUNCILBOT_ADMINS and bob, who holds the admin role.
    assert await posts(app, magazine_feed.SOURCE) == 2
    await app.dispatcher.run_until_idle()
    printed = console_out.getvalue()
    assert f"[to dm:bob] ⚠️ The EMPOWER magazine feed {feed.url()} cannot be read since " in (
        printed
    )
    assert "HTTP 500 Internal Server Error. I keep trying every 60 minutes" in printed
    feed.failing = False
    assert (await read(app, clock, feed.url())).alerted  # it works again: told once
    assert not (await read(app, clock, feed.url())).alerted
    assert await posts(app, magazine_feed.SOURCE) == 4
    await app.dispatcher.run_until_idle()
    assert f"[to dm:admin] ✅ The EMPOWER magazine feed {feed.url()} works again" in (
        console_out.getvalue()
    )


async def test_two_processes_reading_at_once_post_each_entry_once(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock, feed: Feed
) -> None:
    engines = [seeded, create_engine(database_url)]
    makers = [create_sessionmaker(engine) for engine in engines]
    try:

        async def read_in(maker) -> magazine_feed.Outcome:
            return await magazine_feed.read_feed(
                maker, feed.url(), get=http.get, now=clock(), catalogs=catalogs, seconds=5
            )

        firsts = await asyncio.gather(*(read_in(maker) for maker in makers))
        assert sorted(o.archived for o in firsts) == [(), (1, 2)]
        feed.body = rss(item(1), item(2), item(3), item(4))
        seconds = await asyncio.gather(*(read_in(maker) for maker in makers * 2))
        assert sorted(number for o in seconds for number in o.posted) == [3, 4]
        async with makers[0]() as session:
            assert await session.scalar(select(func.count()).select_from(MagazineIssue)) == 4
    finally:
        await engines[1].dispose()


async def test_the_scheduler_reads_the_configured_feed_and_survives_its_failures(
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    feed: Feed,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = Settings(
        database_url=database_url, magazine_feed_url=feed.url(), magazine_feed_minutes=5
    )
    app = await build_app(settings, engine=seeded, catalogs=catalogs, clock=clock, get=http.get)
    try:
        assert await app.scheduler.run_periodic("magazine.feed")
        assert len(await archive(app)) == 2

        async def exploding(*_args) -> None:
            raise RuntimeError("boom")

        app.scheduler._get = exploding  # a bug below must not stop the bot
        with caplog.at_level(logging.ERROR):
            assert not await app.scheduler.run_periodic("magazine.feed")
        assert "periodic magazine.feed failed" in caplog.text
    finally:
        await app.aclose()
    quiet = await build_app(
        Settings(database_url=database_url), engine=seeded, catalogs=catalogs, clock=clock
    )
    assert quiet.scheduler._periodic == {}  # no feed configured: nothing to read
    await quiet.aclose()


@pytest.mark.parametrize(
    ("title", "number"),
    [
        ("EMPOWER #5: Growth", 5),
        ("Issue 6 of EMPOWER", 6),
        ("EMPOWER Nº 7", 7),
        ("EMPOWER magazine, número 8", 8),
        ("Growth stories of 2026", None),
    ],
)
def test_the_issue_number_comes_from_the_title(title: str, number: int | None) -> None:
    assert magazine_feed.number_in(title) == number


def test_an_atom_entry_is_read_with_its_number_title_summary_and_cover() -> None:
    atom = (
        '<?xml version="1.0" encoding="utf-8"?><feed xmlns="http://www.w3.org/2005/Atom" '
        'xmlns:media="http://search.yahoo.com/mrss/" xml:lang="it"><title>EMPOWER</title>'
        "<entry><id>tag:empower,2026:5</id><title>EMPOWER #5 – Growth stories</title>"
        '<link href="https://empower.example/5"/><updated>2026-12-01T09:00:00Z</updated>'
        '<summary type="html">&lt;p&gt;Five &amp;amp; more&lt;/p&gt;</summary>'
        '<media:thumbnail url="https://empower.example/5.png"/></entry>'
        "<entry><id>tag:empower,2026:6</id><title>Issue 6 of EMPOWER</title>"
        '<link href="https://empower.example/6"/><updated>2026-12-02T09:00:00Z</updated></entry>'
        "</feed>"
    ).encode()
    five, six = magazine_feed.parse(atom)
    assert (five.number, five.title, five.summary) == (5, "Growth stories", "Five & more")
    assert (five.guid, five.cover_url) == ("tag:empower,2026:5", "https://empower.example/5.png")
    assert (six.number, six.title, six.language) == (6, "Issue 6 of EMPOWER", "it")


async def test_two_real_processes_reading_the_feed_post_each_new_entry_once(
    bot: Bot, clock: Clock, feed: Feed, database_url: str
) -> None:
    if bot.app.engine.dialect.name != "postgresql":
        pytest.skip("several processes share PostgreSQL; on SQLite the bot is one process")
    await read(bot.app, clock, feed.url())  # the first read: archived
    feed.body = rss(item(1), item(2), item(3), item(4))
    readers = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.integration.feed_reader",
            database_url,
            feed.url(),
            "3",
            cwd=ROOT,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    outputs = await asyncio.wait_for(asyncio.gather(*(r.communicate() for r in readers)), 60)
    assert [r.returncode for r in readers] == [0, 0], [err.decode() for _, err in outputs]
    posted = [
        n for out, _ in outputs for line in out.decode().splitlines() for n in json.loads(line)
    ]
    assert sorted(posted) == [3, 4]
    assert await posts(bot.app) == 2  # cork-chat, once each
    assert [number for number, _, _ in await archive(bot.app)] == [1, 2, 3, 4]
