"""Multi-workspace Slack: the OAuth install over the built-in web server, installations kept
in the database, and each workspace answered (and sent to) with its own bot token."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.slack.oauth import (
    BOT_SCOPES,
    INSTALL_PATH,
    REDIRECT_PATH,
    WorkspaceTokens,
    installation_store,
    oauth_settings,
)
from councilbot.adapters.slack.tables import slack_bots, slack_installations, slack_oauth_states
from councilbot.app import App
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Channel, DeliveryStatus
from councilbot.db.session import create_sessionmaker
from councilbot.delivery.targets import Outgoing, Rejected, Unauthorized
from councilbot.web.server import WebServer
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    CHANNEL,
    SECRET,
    answered,
    calls_to,
    payload,
    send,
    signed,
    slash,
    until,
)
from tests.conftest import Clock
from tests.delivery.test_delivery_errors import (
    announce,
    healthz,
    outcomes,
    start_bot,
    still_linked,
)
from tests.fakes.slack_api import CLIENT_ID, CLIENT_SECRET, INSTALLER, FakeSlackAPI

BOLOGNA, BOLOGNA_NAME = "T0BOLOGNA", "Emilia-Romagna Council"
PARIS, PARIS_NAME = "T0PARIS", "Conseil de l'Essonne"


@dataclass
class Site:
    """The bot's web server with the Slack adapter in multi-workspace mode."""

    adapter: SlackAdapter
    server: WebServer
    http: aiohttp.ClientSession

    async def get(self, path: str, **headers: str) -> tuple[int, str, Any]:
        """GET a page as a browser would, without following redirects."""
        url = f"{self.server.url}{path}"
        async with self.http.get(url, headers=headers, allow_redirects=False) as response:
            return response.status, await response.text(), response.headers

    async def install(self, api: FakeSlackAPI, team: str, name: str, **headers: str) -> str:
        """Go through the whole install in one browser; return the final page."""
        page, _replay = await self.install_and_replay(api, team, name, **headers)
        return page

    async def install_and_replay(
        self, api: FakeSlackAPI, team: str, name: str, **headers: str
    ) -> tuple[str, tuple[int, str]]:
        """Install, then come back to the redirect URL with the same state and a new code."""
        status, _body, answer = await self.get(INSTALL_PATH)
        assert status == 302
        state = parse_qs(urlsplit(answer["Location"]).query)["state"][0]
        cookie = SimpleCookie(answer["Set-Cookie"])
        jar = "; ".join(f"{key}={morsel.value}" for key, morsel in cookie.items())
        code = api.install(team, name)
        path = f"{REDIRECT_PATH}?code={code}&state={state}"
        status, page, _headers = await self.get(path, Cookie=jar, **headers)
        assert status == 200, page
        path = f"{REDIRECT_PATH}?code={api.install(team, name)}&state={state}"
        replay, again, _headers = await self.get(path, Cookie=jar, **headers)
        return page, (replay, again)


@pytest.fixture
async def site(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[Site]:
    store = installation_store(slack_app.engine, CLIENT_ID)
    settings = oauth_settings(
        store,
        slack_app.engine,
        CLIENT_ID,
        CLIENT_SECRET,
        catalogs=slack_app.catalogs,
        language="en",
    )
    adapter = SlackAdapter(
        slack_app.router, signing_secret=SECRET, oauth=settings, base_url=api.base_url
    )
    pages = {INSTALL_PATH: adapter.handle_install, REDIRECT_PATH: adapter.handle_oauth_redirect}
    server = WebServer(
        slack_app,
        host="127.0.0.1",
        port=0,
        routes={"/slack/events": adapter.handle_http},
        pages=pages,
    )
    await server.start()
    await adapter.start()
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http:
        yield Site(adapter, server, http)
    await adapter.stop()
    await server.stop()


async def count(engine: AsyncEngine, table: Any, **where: str) -> int:
    query = select(func.count()).select_from(table)
    for column, value in where.items():
        query = query.where(table.c[column] == value)
    async with engine.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_install_stores_the_workspace_token(
    site: Site, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    status, _body, headers = await site.get(INSTALL_PATH)
    assert status == 302
    authorize = urlsplit(headers["Location"])
    query = parse_qs(authorize.query)
    assert (authorize.netloc, authorize.path) == ("slack.com", "/oauth/v2/authorize")
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(BOT_SCOPES)]
    assert "HttpOnly" in headers["Set-Cookie"] and "Secure" in headers["Set-Cookie"]
    assert await count(seeded, slack_oauth_states) == 1

    page, (replay, again) = await site.install_and_replay(api, BOLOGNA, BOLOGNA_NAME)

    assert "now installed in Emilia-Romagna Council" in page
    assert "/council link &lt;council&gt;" in page  # escaped, as all text on the page
    [exchange] = api.calls("oauth.v2.access")
    assert exchange.token is None  # the client id and secret, not a bot token
    assert await count(seeded, slack_bots, team_id=BOLOGNA) == 1
    assert await count(seeded, slack_installations, team_id=BOLOGNA, user_id=INSTALLER) == 1
    assert (replay, "did not finish (invalid_state)" in again) == (401, True)  # works once


async def test_the_end_page_speaks_the_installers_language(site: Site, api: FakeSlackAPI) -> None:
    page = await site.install(api, PARIS, PARIS_NAME, **{"Accept-Language": "fr-FR,fr;q=0.9"})
    assert '<html lang="fr">' in page
    assert "Conseil de l&#39;Essonne" in page


@pytest.mark.parametrize(
    ("query", "cookie", "status", "reason"),
    [
        ("code=c&state=forged", "slack-app-oauth-state=forged", 401, "invalid_state"),
        ("code=c&state=s1", "", 400, "invalid_browser"),  # the link opened in another browser
        ("error=access_denied&state=s1", "", 200, "access_denied"),  # the admin said no
    ],
)
async def test_a_failed_install_stores_nothing(
    site: Site,
    api: FakeSlackAPI,
    seeded: AsyncEngine,
    query: str,
    cookie: str,
    status: int,
    reason: str,
) -> None:
    headers = {"Cookie": cookie} if cookie else {}
    answer, page, _headers = await site.get(f"{REDIRECT_PATH}?{query}", **headers)
    assert answer == status
    assert f"did not finish ({reason})" in page
    assert f"start again from {INSTALL_PATH}" in page
    assert not api.calls("oauth.v2.access")
    assert await count(seeded, slack_installations) == 0


async def test_each_workspace_is_answered_with_its_own_token(
    site: Site, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await site.install(api, BOLOGNA, BOLOGNA_NAME)
    await site.install(api, PARIS, PARIS_NAME)
    tokens = {team: token for token, team in api.teams.items()}

    for team, channel in ((BOLOGNA, "C0BOLOGNA"), (PARIS, "C0PARIS")):
        body = slash(api, "councils", team_id=team, channel_id=channel)
        [post] = await answered(
            site.adapter, body, lambda ch=channel: calls_to(api, "chat.postMessage", ch)
        )
        assert post.token == tokens[team]
        assert "(bologna)" in post.params["text"]

    # Channels are told apart by their workspace: the same id in two teams is two channels.
    for team in (BOLOGNA, PARIS):
        before = len(calls_to(api, "chat.postMessage", CHANNEL))
        body = slash(api, "link bologna", team_id=team, user_id=ADMIN, channel_id=CHANNEL)
        await answered(
            site.adapter,
            body,
            lambda before=before: len(calls_to(api, "chat.postMessage", CHANNEL)) > before,
        )
    await site.adapter.drain()
    async with create_sessionmaker(seeded)() as session:
        channels = (await session.scalars(select(Channel).order_by(Channel.workspace))).all()
    assert [(c.platform, c.workspace, c.external_id) for c in channels] == [
        (Platform.SLACK, BOLOGNA, CHANNEL),
        (Platform.SLACK, PARIS, CHANNEL),
    ]


async def test_a_workspace_without_the_app_is_told_to_install_it(
    site: Site, api: FakeSlackAPI
) -> None:
    status, _content, _headers = await send(site.adapter, slash(api, "councils"))
    assert status == 200
    [answer] = await until(lambda: api.responses)
    assert "not installed in this workspace yet" in answer.params["text"]
    assert not api.calls("chat.postMessage")


async def test_uninstalling_forgets_the_workspace(
    site: Site, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await site.install(api, BOLOGNA, BOLOGNA_NAME)
    await forgotten_after(site, seeded, "app_uninstalled", BOLOGNA)
    assert await count(seeded, slack_installations, team_id=BOLOGNA) == 0
    status, _content, _headers = await send(site.adapter, slash(api, "councils", team_id=BOLOGNA))
    assert status == 200
    [answer] = await until(lambda: api.responses)
    assert "not installed in this workspace yet" in answer.params["text"]


async def test_the_outbox_sends_with_each_workspaces_token(
    site: Site, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await site.install(api, BOLOGNA, BOLOGNA_NAME)
    [token] = api.teams
    tokens = WorkspaceTokens(installation_store(seeded, CLIENT_ID))
    target = SlackTarget.create(None, api.base_url, tokens=tokens)

    ts = await target.deliver(
        Outgoing(platform=Platform.SLACK, workspace=BOLOGNA, chat_id="C0BOLOGNA", text="Hello")
    )

    assert ts is not None
    [post] = api.posted
    assert (post.token, post.params["text"]) == (token, "Hello")
    with pytest.raises(Rejected, match="not installed in Slack workspace T0PARIS"):
        await target.deliver(
            Outgoing(platform=Platform.SLACK, workspace=PARIS, chat_id="C0PARIS", text="Bonjour")
        )
    api.errors["C0GONE"] = "token_revoked"
    with pytest.raises(Unauthorized, match="token_revoked") as refused:
        await target.deliver(
            Outgoing(platform=Platform.SLACK, workspace=BOLOGNA, chat_id="C0GONE", text="Ciao")
        )
    assert token not in str(refused.value)


async def revoke(site: Site, api: FakeSlackAPI, engine: AsyncEngine, team: str) -> None:
    """Revoke the workspace's bot token as Slack does: stop taking it, send tokens_revoked."""
    api.revoked.update(token for token, owner in api.teams.items() if owner == team)
    await forgotten_after(site, engine, "tokens_revoked", team)


async def forgotten_after(site: Site, engine: AsyncEngine, event_name: str, team: str) -> None:
    """Send a workspace's event (a recorded payload) and wait until its bot token is deleted."""
    event = payload(event_name)
    event["team_id"] = event["authorizations"][0]["team_id"] = team
    body = json.dumps(event)
    status, _content, _headers = await send(
        site.adapter, body, signed(body, content_type="application/json")
    )
    assert status == 200
    await site.adapter.drain()  # bolt acks first and deletes in the background
    async with asyncio.timeout(5):
        while await count(engine, slack_bots, team_id=team):  # noqa: ASYNC110 - rows
            await asyncio.sleep(0.02)


async def test_an_uninstalled_workspace_fails_its_messages_and_keeps_its_channels(
    site: Site,
    api: FakeSlackAPI,
    seeded: AsyncEngine,
    database_url: str,
    catalogs: Catalogs,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)  # the root logger: whatever logs it is counted
    await site.install(api, BOLOGNA, BOLOGNA_NAME)
    body = slash(api, "link cork", team_id=BOLOGNA, user_id=ADMIN, channel_id="C0BOLOGNA")
    await answered(site.adapter, body, lambda: calls_to(api, "chat.postMessage", "C0BOLOGNA"))
    await site.adapter.drain()
    tokens = WorkspaceTokens(installation_store(seeded, CLIENT_ID))
    target = SlackTarget.create(None, api.base_url, tokens=tokens, timeout=2)
    bot = await start_bot(seeded, database_url, catalogs, clock, target)
    try:
        await announce(bot, "First")  # the outbox now remembers the workspace's token
        await revoke(site, api, seeded, BOLOGNA)
        gone = "the app is not installed in Slack workspace T0BOLOGNA"
        for text in ("Second", "Third"):  # with the token remembered, then looked up
            await announce(bot, text)
            assert await outcomes(bot.app, Platform.SLACK) == {
                "C0BOLOGNA": (DeliveryStatus.FAILED, gone)
            }
        assert await still_linked(bot.app) == ([True], [])
        assert await healthz(bot.app) == (200, {"status": "ok", "database": "ok"})
        assert not [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]

        await site.install(api, BOLOGNA, BOLOGNA_NAME)  # reinstalled: delivery resumes
        await announce(bot, "Fourth")
    finally:
        await bot.app.aclose()
    posts = [(p.token, p.params["text"].rsplit("\n", 1)[-1]) for p in api.posted]
    [first, fourth] = [token for token, team in api.teams.items() if team == BOLOGNA]
    assert [p for p in posts if p[1] in ("First", "Second", "Third", "Fourth")] == [
        (first, "First"),
        (fourth, "Fourth"),
    ]


async def test_workspace_tokens_are_remembered_for_a_while_only(
    site: Site, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await site.install(api, BOLOGNA, BOLOGNA_NAME)
    [token] = api.teams
    now = [1000.0]
    tokens = WorkspaceTokens(installation_store(seeded, CLIENT_ID), ttl=60, clock=lambda: now[0])
    assert await tokens.token_for(BOLOGNA) == token
    async with seeded.begin() as conn:  # uninstalled behind the cache's back
        await conn.execute(slack_bots.delete())
        await conn.execute(slack_installations.delete())
    now[0] += 59
    assert await tokens.token_for(BOLOGNA) == token  # still trusted
    now[0] += 2
    assert await tokens.token_for(BOLOGNA) is None  # asked again: gone
    assert await tokens.token_for(PARIS) is None
