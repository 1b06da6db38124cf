"""Command line: `councilbot run | chat | db upgrade | db current | seed`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from councilbot.db.session import SchemaOutOfDate
from councilbot.settings import Settings, SettingsError, load_settings

log = logging.getLogger("councilbot")


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="councilbot", description="The Cluster Growth Councils' chat bot."
    )
    sub = parser.add_subparsers(dest="action", required=True)

    sub.add_parser("run", help="start the bot (the console chat when no platform token is set)")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default="you", help="who you are (default: you)")
    chat.add_argument(
        "--council", default="malaga", help="council of the default chat (default: malaga)"
    )
    chat.add_argument("--chat", default=None, help="the default chat (default: <council>-chat)")
    chat.add_argument(
        "--no-admin",
        action="store_true",
        help="do not treat the local user as an admin",
    )

    db = sub.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(dest="db_action", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    db_sub.add_parser("current", help="show the schema revision")

    seed = sub.add_parser("seed", help="load councils from config/councils.yaml (idempotent)")
    seed.add_argument("--file", default=None, help="another seed file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line and return the exit status."""
    args = build_parser().parse_args(argv)
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"councilbot: {exc}", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=settings.log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_dispatch(args, settings))
    except SchemaOutOfDate as exc:
        print(f"councilbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"councilbot: cannot reach the database ({exc})", file=sys.stderr)
        return 2


async def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.action == "db":
        return await _db(args, settings)
    if args.action == "seed":
        return await _seed(args, settings)
    if args.action == "run":
        return await _run(settings)
    return await _chat(
        settings, user=args.user, council=args.council, chat=args.chat, admin=not args.no_admin
    )


async def _db(args: argparse.Namespace, settings: Settings) -> int:
    from councilbot.db.session import create_engine, schema_revisions, upgrade

    engine = create_engine(settings.database_url)
    try:
        if args.db_action == "upgrade":
            await upgrade(engine, args.revision)
        current, head = await schema_revisions(engine)
        state = "up to date" if current == head else f"behind (head is {head})"
        print(f"database schema at {current or 'nothing'}: {state}")
    finally:
        await engine.dispose()
    return 0


async def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from councilbot.db.session import check_schema, create_engine, create_sessionmaker
    from councilbot.services.councils import read_seed_file, seed_councils

    path = Path(args.file) if args.file else settings.councils_file
    try:
        seed = read_seed_file(path)
    except (OSError, ValidationError) as exc:
        print(f"councilbot: cannot read {path}: {exc}", file=sys.stderr)
        return 2
    engine = create_engine(settings.database_url)
    try:
        await check_schema(engine)
        async with create_sessionmaker(engine)() as session, session.begin():
            report = await seed_councils(session, seed, now=datetime.now(UTC))
    finally:
        await engine.dispose()
    print(
        f"councils: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )
    return 0


async def _run(settings: Settings) -> int:
    if settings.telegram_bot_token is None and settings.slack_bot_token is None:
        return await _chat(settings, user="you", council="malaga", chat=None, admin=True)
    problem = _unsupported(settings)
    if problem:
        print(f"councilbot: {problem}", file=sys.stderr)
        return 2
    return await _serve(settings)


def _unsupported(settings: Settings) -> str | None:
    """Name a platform setting this version cannot honour, rather than ignore it."""
    if settings.slack_bot_token is not None:
        if settings.slack_app_token is not None:
            return "Slack Socket Mode (SLACK_APP_TOKEN) is not part of this version yet; unset it to use HTTP mode"
        if settings.slack_client_id or settings.slack_client_secret:
            return "Slack multi-workspace install (SLACK_CLIENT_ID) is not part of this version yet"
        if settings.slack_signing_secret is None:
            return "SLACK_SIGNING_SECRET is needed with SLACK_BOT_TOKEN (Slack signs every request)"
    return None


async def _serve(settings: Settings) -> int:
    """Serve the configured platforms, the outbox and the web server until SIGINT or SIGTERM."""
    import signal

    from councilbot.adapters.console import ConsoleTarget
    from councilbot.app import build_app
    from councilbot.core.messages import Platform
    from councilbot.delivery.targets import DeliveryError
    from councilbot.web.server import WebhookHandler, WebServer

    targets: dict[Platform, Any] = {Platform.CONSOLE: ConsoleTarget()}
    routes: dict[str, WebhookHandler] = {}
    adapters: list[Any] = []
    pools: list[Any] = []  # targets that keep a connection pool open
    telegram_token = settings.telegram_bot_token
    if telegram_token is not None:
        from councilbot.adapters.telegram.delivery import TelegramTarget

        telegram_target = TelegramTarget(
            telegram_token.get_secret_value(), settings.telegram_api_base_url
        )
        targets[Platform.TELEGRAM] = telegram_target
        pools.append(telegram_target)
    slack_token = settings.slack_bot_token
    if slack_token is not None:
        from councilbot.adapters.slack.delivery import SlackTarget

        targets[Platform.SLACK] = SlackTarget.create(
            slack_token.get_secret_value(), settings.slack_api_base_url
        )
    app = await build_app(settings, targets=targets)
    if telegram_token is not None:
        from councilbot.adapters.telegram.app import TelegramAdapter

        secret = settings.telegram_webhook_secret
        telegram = TelegramAdapter(
            app.router,
            telegram_token.get_secret_value(),
            base_url=settings.telegram_api_base_url,
            webhook_url=settings.telegram_webhook_url,
            webhook_secret=secret.get_secret_value() if secret else None,
            callbacks=telegram_target.callbacks,  # so outbox messages' buttons work too
        )

        async def telegram_webhook(body: bytes, headers: Mapping[str, str]) -> int:
            secret_header = headers.get("X-Telegram-Bot-Api-Secret-Token")
            return await telegram.process_webhook(body, secret_header)

        routes["/telegram/webhook"] = telegram_webhook
        adapters.append(telegram)
    if slack_token is not None:
        from councilbot.adapters.slack.app import SlackAdapter

        assert settings.slack_signing_secret is not None  # checked by _unsupported
        slack = SlackAdapter(
            app.router,
            token=slack_token.get_secret_value(),
            signing_secret=settings.slack_signing_secret.get_secret_value(),
            base_url=settings.slack_api_base_url,
        )
        routes["/slack/events"] = slack.handle_http
        adapters.append(slack)
    server = WebServer(app, routes=routes)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    started: list[Any] = []
    try:
        try:
            for pool in pools:
                await pool.start()
                started.append(pool)
        except DeliveryError as exc:
            print(f"councilbot: cannot reach the platform: {exc.reason}", file=sys.stderr)
            return 2
        await app.start()
        await server.start()
        for adapter in adapters:
            await adapter.start()
        log.info("serving %s on port %d", ", ".join(routes) or "no webhooks", server.port)
        await stopping.wait()
    finally:
        for adapter in reversed(adapters):
            await adapter.stop()
        await server.stop()
        await app.aclose()
        for pool in reversed(started):
            await pool.stop()
    return 0


async def _chat(
    settings: Settings, *, user: str, council: str, chat: str | None, admin: bool
) -> int:
    from councilbot.adapters.console import ConsoleChat
    from councilbot.app import build_app
    from councilbot.core.errors import DomainError

    if admin:
        extra = f"console:{user}"
        settings = settings.model_copy(
            update={"admins": ",".join(filter(None, (settings.admins, extra)))}
        )
    app = await build_app(settings)
    try:
        await app.start()
        console = ConsoleChat(
            app.router, user=user, council=council, chat=chat or f"{council}-chat"
        )
        try:
            await console.run()
        except DomainError as exc:
            print(f"councilbot: {exc.message.format(**exc.values)}", file=sys.stderr)
            return 2
        # Let announcements queued by the last lines reach the terminal before leaving;
        # anything left stays in the outbox for the next start.
        await app.dispatcher.stop()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(5):
                await app.dispatcher.run_until_idle()
    finally:
        await app.aclose()
    return 0
