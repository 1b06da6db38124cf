"""Command line: `councilbot run | chat | db upgrade | db current | seed`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

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
    if settings.slack_bot_token is not None:
        print(
            "councilbot: Slack support is not part of this version yet; "
            "unset SLACK_BOT_TOKEN to run the other front ends.",
            file=sys.stderr,
        )
        return 2
    if settings.telegram_bot_token is None:
        return await _chat(settings, user="you", council="malaga", chat=None, admin=True)
    return await _serve_telegram(settings, settings.telegram_bot_token.get_secret_value())


async def _serve_telegram(settings: Settings, token: str) -> int:
    """Run the Telegram adapter, the outbox and the web server until SIGINT or SIGTERM."""
    import signal

    from councilbot.adapters.console import ConsoleTarget
    from councilbot.adapters.telegram.app import TelegramAdapter
    from councilbot.adapters.telegram.delivery import TelegramTarget
    from councilbot.app import build_app
    from councilbot.core.messages import Platform
    from councilbot.delivery.targets import DeliveryError
    from councilbot.web.server import WebServer

    base_url = settings.telegram_api_base_url
    target = TelegramTarget.create(token, base_url)  # its callback store is the adapter's too
    app = await build_app(
        settings, targets={Platform.CONSOLE: ConsoleTarget(), Platform.TELEGRAM: target}
    )
    secret = settings.telegram_webhook_secret
    adapter = TelegramAdapter(
        app.router,
        token,
        base_url=base_url,
        webhook_url=settings.telegram_webhook_url,
        webhook_secret=secret.get_secret_value() if secret else None,
        callbacks=target.callbacks,
    )

    async def telegram_webhook(body: bytes, headers: Mapping[str, str]) -> int:
        return await adapter.process_webhook(body, headers.get("X-Telegram-Bot-Api-Secret-Token"))

    server = WebServer(app, routes={"/telegram/webhook": telegram_webhook})
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    try:
        try:
            await target.start()
        except DeliveryError as exc:
            print(f"councilbot: cannot reach Telegram: {exc.reason}", file=sys.stderr)
            return 2
        await app.start()
        await server.start()
        await adapter.start()
        mode = "webhook" if settings.telegram_webhook_url else "long polling"
        log.info("serving Telegram (%s) and http://0.0.0.0:%d", mode, server.port)
        await stopping.wait()
    finally:
        await adapter.stop()
        await server.stop()
        await app.aclose()
        await target.stop()
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
