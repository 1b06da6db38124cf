"""Slack's multi-workspace install: the OAuth flow's settings and each workspace's bot token.

With SLACK_CLIENT_ID and SLACK_CLIENT_SECRET, a workspace admin opens /slack/install,
approves the app, and Slack sends them back to /slack/oauth_redirect; bolt then trades
the code for the workspace's bot token (oauth.v2.access) and keeps it, through slack_sdk's
SQLAlchemy stores, in the tables of migration 0003. Incoming requests are authorised with
the token of the workspace they come from, and the outbox looks tokens up the same way.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup
from slack_bolt.oauth.async_callback_options import (
    AsyncCallbackOptions,
    AsyncFailureArgs,
    AsyncSuccessArgs,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.installation_store.sqlalchemy import AsyncSQLAlchemyInstallationStore
from slack_sdk.oauth.state_store.sqlalchemy import AsyncSQLAlchemyOAuthStateStore
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.tables import SLACK_BOTS, SLACK_INSTALLATIONS, SLACK_OAUTH_STATES
from councilbot.core.i18n import N_, Catalogs, Translator, normalise_language

log = logging.getLogger(__name__)

# What the bot asks a workspace for; the README's manifest lists the same scopes.
BOT_SCOPES = (
    "commands",
    "chat:write",
    "chat:write.public",
    "im:write",
    "im:history",  # message.im: direct messages to the bot that are not commands
    "files:write",
    "channels:read",  # member_joined_channel and channel_left: invited to, or removed from,
    "groups:read",  # a public or private channel
)
INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
STATE_SECONDS = 600  # an install link works for ten minutes, in one browser
TOKEN_TTL = 300.0  # seconds the outbox trusts a looked-up token before asking the store again
INSTALLED = N_(
    "CouncilBot is now installed in {team}. Invite it to a channel with /invite @CouncilBot, "
    "then link the channel to its council with {command}."
)
INSTALL_FAILED = N_(
    "The installation did not finish ({reason}). Nothing was changed; "
    "please start again from {path} on this site."
)
NOT_INSTALLED = N_(
    "CouncilBot is not installed in this workspace yet. Ask a workspace admin to install it."
)


def installation_store(engine: AsyncEngine, client_id: str) -> AsyncSQLAlchemyInstallationStore:
    """Keep installations in the bot's own database (tables made by the migrations)."""
    return AsyncSQLAlchemyInstallationStore(
        client_id=client_id,
        engine=engine,
        bots_table_name=SLACK_BOTS,
        installations_table_name=SLACK_INSTALLATIONS,
    )


def oauth_settings(
    store: AsyncInstallationStore,
    engine: AsyncEngine,
    client_id: str,
    client_secret: str,
    *,
    catalogs: Catalogs,
    language: str,
) -> AsyncOAuthSettings:
    """Describe the install flow: bot scopes only, state in the database, translated pages."""
    return AsyncOAuthSettings(
        client_id=client_id,
        client_secret=client_secret,
        scopes=list(BOT_SCOPES),
        install_path=INSTALL_PATH,
        # Straight to Slack's own (localised) consent page, rather than bolt's English one.
        install_page_rendering_enabled=False,
        redirect_uri_path=REDIRECT_PATH,
        callback_options=_callback_pages(catalogs, language),
        installation_store=store,
        installation_store_bot_only=True,
        state_store=AsyncSQLAlchemyOAuthStateStore(
            expiration_seconds=STATE_SECONDS, engine=engine, table_name=SLACK_OAUTH_STATES
        ),
        state_expiration_seconds=STATE_SECONDS,
    )


def _callback_pages(catalogs: Catalogs, language: str) -> AsyncCallbackOptions:
    """Answer the end of the install with a short page in the installer's language."""

    def translator(headers: Mapping[str, Sequence[str]]) -> Translator:
        for value in headers.get("accept-language", ()):
            for item in value.split(","):
                lang = normalise_language(item.split(";")[0].strip())
                if lang is not None:
                    return catalogs.translator(lang)
        return catalogs.translator(language)

    async def success(args: AsyncSuccessArgs) -> BoltResponse:
        t = translator(args.request.headers)
        installation = args.installation
        team = installation.team_name or installation.team_id or "Slack"
        log.info("slack app installed in team %s", installation.team_id)
        return _page(t, 200, t(INSTALLED, team=team, command="/council link <council>"))

    async def failure(args: AsyncFailureArgs) -> BoltResponse:
        t = translator(args.request.headers)
        log.info("slack install failed: %s", args.reason)
        text = t(INSTALL_FAILED, reason=args.reason, path=INSTALL_PATH)
        return _page(t, args.suggested_status_code, text)

    return AsyncCallbackOptions(success=success, failure=failure)


def _page(t: Translator, status: int, text: Markup) -> BoltResponse:
    """Wrap one translated, escaped sentence in a minimal HTML page."""
    body = (
        f'<!DOCTYPE html>\n<html lang="{t.lang}"><head><meta charset="utf-8">'
        f"<title>CouncilBot</title></head><body><p>{text}</p></body></html>\n"
    )
    return BoltResponse(
        status=status, body=body, headers={"Content-Type": "text/html; charset=utf-8"}
    )


class WorkspaceTokens:
    """Find, and remember for a few minutes, the bot token of each installed workspace."""

    def __init__(
        self,
        store: AsyncInstallationStore,
        *,
        ttl: float = TOKEN_TTL,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._ttl = ttl
        self._clock = clock
        self._known: dict[str, tuple[str, float]] = {}

    async def token_for(self, team_id: str) -> str | None:
        """Return the workspace's bot token, or None when the app is not installed there."""
        known = self._known.get(team_id)
        now = self._clock()
        if known is not None and now - known[1] < self._ttl:
            return known[0]
        bot = await self._store.async_find_bot(enterprise_id=None, team_id=team_id or None)
        if bot is None or not bot.bot_token:
            self._known.pop(team_id, None)
            return None
        self._known[team_id] = (bot.bot_token, now)
        return bot.bot_token

    def forget(self, team_id: str) -> None:
        """Drop a token Slack refused, so that the next send reads a reinstalled one."""
        self._known.pop(team_id, None)
