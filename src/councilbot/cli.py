"""Command line: `councilbot run | chat | db upgrade|current|backup|restore | seed`."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import sys
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from councilbot.db.session import DatabaseUnusable, SchemaOutOfDate
from councilbot.logsafe import configure_logging
from councilbot.settings import Role, Settings, SettingsError, load_settings

log = logging.getLogger("councilbot")
# Who you are in the console chat, and where, unless `chat` is told otherwise.
DEFAULT_USER = "you"
DEFAULT_COUNCIL = "malaga"
# A script waits at most this long for what a line queued before reading the next line.
SETTLE_SECONDS = 3


def build_parser() -> argparse.ArgumentParser:
    """Describe the command line."""
    parser = argparse.ArgumentParser(
        prog="councilbot", description="The Cluster Growth Councils' chat bot."
    )
    sub = parser.add_subparsers(dest="action", required=True)

    sub.add_parser("run", help="start the bot (the console chat when no platform token is set)")

    chat = sub.add_parser("chat", help="talk to the bot in this terminal")
    chat.add_argument("--user", default=DEFAULT_USER, help="who you are (default: %(default)s)")
    chat.add_argument(
        "--council",
        default=DEFAULT_COUNCIL,
        help="council of the default chat (default: %(default)s)",
    )
    chat.add_argument("--chat", default=None, help="the default chat (default: <council>-chat)")
    chat.add_argument(
        "--no-admin",
        action="store_true",
        help="do not treat the local user as an admin",
    )

    db = sub.add_parser("db", help="database schema and backups")
    db_sub = db.add_subparsers(dest="db_action", required=True)
    upgrade = db_sub.add_parser("upgrade", help="apply the migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    db_sub.add_parser("current", help="show the schema revision")
    backup = db_sub.add_parser("backup", help="copy the SQLite database, even while the bot runs")
    backup.add_argument("file", help="the backup to write (an older backup there is replaced)")
    restore = db_sub.add_parser("restore", help="put a backup in place of the SQLite database")
    restore.add_argument("file", help="a backup made by `councilbot db backup`")

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
    configure_logging(settings.log_level, settings.secrets(), settings.log_format)
    from asyncpg import PostgresError
    from sqlalchemy.exc import DatabaseError

    try:
        return asyncio.run(_dispatch(args, settings))
    except (SchemaOutOfDate, DatabaseUnusable) as exc:
        print(f"councilbot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        print(f"councilbot: cannot reach the database ({exc})", file=sys.stderr)
        return 2
    except (DatabaseError, PostgresError) as exc:  # refused at connect, not a database, locked
        log.debug("the database failed", exc_info=True)  # the traceback, at LOG_LEVEL=DEBUG
        reason = exc.orig if isinstance(exc, DatabaseError) else exc
        print(f"councilbot: cannot use the database ({reason})", file=sys.stderr)
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

    if args.db_action in ("backup", "restore"):
        return _copy(args.db_action, args.file, settings)
    engine = create_engine(settings.database_url)
    try:
        before, _ = await schema_revisions(engine)
        if args.db_action == "upgrade":
            await upgrade(engine, args.revision)
        current, head = await schema_revisions(engine)
    finally:
        await engine.dispose()
    if current == before:
        state = "up to date" if current == head else f"behind (head is {head})"
        print(f"database schema at {current or 'nothing'}: {state}")
    else:
        done = f"created at {current}" if before is None else f"upgraded from {before} to {current}"
        print(f"database schema {done}" + ("" if current == head else f" (head is {head})"))
    return 0


def _copy(action: str, file: str, settings: Settings) -> int:
    """Back the SQLite database up to `file`, or restore it from `file`."""
    from pathlib import Path

    from councilbot.db.backup import BackupError, backup, known_revisions, restore, sqlite_file

    try:
        database = sqlite_file(settings.database_url)
        if database is None:
            raise BackupError(
                f"db {action} is for SQLite; on PostgreSQL use pg_dump and pg_restore "
                "as README.md shows (Operations, Backups)"
            )
        kept = None
        if action == "backup":
            snapshot = backup(database, Path(file))
            done = f"backed up {database} to {file}"
        else:
            snapshot, kept = restore(Path(file), database)
            done = f"restored {file} into {database}"
    except BackupError as exc:
        print(f"councilbot: {exc}", file=sys.stderr)
        return 2
    head = known_revisions()[0]
    state = "" if snapshot.revision == head else f"; `councilbot db upgrade` brings it to {head}"
    if kept is not None:
        state += f"; the database it replaced is kept as {kept} until the next restore"
    print(
        f"{done}: {snapshot.tables} tables, {snapshot.rows} rows, "
        f"schema at {snapshot.revision}{state}"
    )
    return 0


async def _seed(args: argparse.Namespace, settings: Settings) -> int:
    from pathlib import Path

    from pydantic import ValidationError

    from councilbot.db.session import check_schema, create_engine, create_sessionmaker
    from councilbot.services.councils import read_seed_file, seed_councils
    from councilbot.services.desks import seed_facilities
    from councilbot.services.magazine import seed_archive

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
            now = datetime.now(UTC)
            report = await seed_councils(session, seed, now=now)
            desks = await seed_facilities(session, seed, now=now)
            # So that /magazine shows something on a fresh install (archived, not posted).
            added = await seed_archive(session, now=now)
    finally:
        await engine.dispose()
    print(
        f"councils: {report.created} created, {report.updated} updated, "
        f"{report.unchanged} unchanged"
    )
    print(
        f"facilities: {desks.facilities} created or updated; desks: {desks.desks_added} added, "
        f"{desks.desks_retired} retired"
    )
    print(f"magazine: issue #4 {'added' if added else 'already in the archive'}")
    return 0


async def _run(settings: Settings) -> int:
    problem = _slack_problem(settings)
    if problem:
        print(f"councilbot: {problem}", file=sys.stderr)
        return 2
    if settings.telegram_bot_token is None and not _slack_enabled(settings):
        if settings.role is not Role.ALL:
            print(
                f"councilbot: COUNCILBOT_ROLE={settings.role} needs TELEGRAM_BOT_TOKEN or the "
                "Slack settings (the console chat is one process: use all)",
                file=sys.stderr,
            )
            return 2
        return await _chat(
            settings, user=DEFAULT_USER, council=DEFAULT_COUNCIL, chat=None, admin=True
        )
    return await _serve(settings)


def _slack_enabled(settings: Settings) -> bool:
    """Tell whether any setting asks for Slack (a bot token, or the multi-workspace install)."""
    return settings.slack_bot_token is not None or settings.slack_client_id is not None


def _slack_problem(settings: Settings) -> str | None:
    """Name a Slack setting that is missing or contradicts another, rather than guess."""
    if not _slack_enabled(settings):
        orphans = [
            name
            for name, value in (
                ("SLACK_SIGNING_SECRET", settings.slack_signing_secret),
                ("SLACK_APP_TOKEN", settings.slack_app_token),
                ("SLACK_CLIENT_SECRET", settings.slack_client_secret),
            )
            if value is not None
        ]
        if orphans:
            return f"{' and '.join(orphans)} need SLACK_BOT_TOKEN or SLACK_CLIENT_ID"
        return None
    if settings.slack_client_id is not None or settings.slack_client_secret is not None:
        if settings.slack_client_id is None or settings.slack_client_secret is None:
            return "the multi-workspace install needs both SLACK_CLIENT_ID and SLACK_CLIENT_SECRET"
        if settings.slack_bot_token is not None:
            return (
                "SLACK_BOT_TOKEN is for one workspace; with SLACK_CLIENT_ID every workspace's "
                "token comes from its install (/slack/install): unset one of them"
            )
    if settings.slack_app_token is None and settings.slack_signing_secret is None:
        return "SLACK_SIGNING_SECRET is needed in HTTP mode (Slack signs every request)"
    return None


async def _serve(settings: Settings) -> int:
    """Serve the configured platforms, the outbox and the web server until SIGINT or SIGTERM."""
    import signal

    from councilbot.adapters.console import ConsoleTarget
    from councilbot.app import build_app
    from councilbot.core.messages import Platform
    from councilbot.db.session import create_engine
    from councilbot.delivery.targets import DeliveryError
    from councilbot.web.server import PageHandler, WebhookHandler, WebServer

    targets: dict[Platform, Any] = {Platform.CONSOLE: ConsoleTarget()}
    routes: dict[str, WebhookHandler] = {}
    pages: dict[str, PageHandler] = {}
    adapters: list[Any] = []
    pools: list[Any] = []  # targets that keep a connection pool open
    telegram_token = settings.telegram_bot_token
    engine = create_engine(settings.database_url)
    if telegram_token is not None:
        from councilbot.adapters.telegram.delivery import TelegramTarget
        from councilbot.adapters.telegram.render import CallbackStore
        from councilbot.db.session import create_sessionmaker

        telegram_target = TelegramTarget(
            telegram_token.get_secret_value(),
            settings.telegram_api_base_url,
            # Long button commands in the database: shared by every process, kept across restarts.
            callbacks=CallbackStore(create_sessionmaker(engine)),
        )
        targets[Platform.TELEGRAM] = telegram_target
        pools.append(telegram_target)
    slack_token = settings.slack_bot_token
    slack_store = None
    if _slack_enabled(settings):
        from councilbot.adapters.slack.delivery import SlackTarget
        from councilbot.adapters.slack.oauth import WorkspaceTokens, installation_store

        if settings.slack_client_id is not None:
            slack_store = installation_store(engine, settings.slack_client_id)
        targets[Platform.SLACK] = SlackTarget.create(
            slack_token.get_secret_value() if slack_token else None,
            settings.slack_api_base_url,
            tokens=WorkspaceTokens(slack_store) if slack_store is not None else None,
        )
    from councilbot.adapters import http

    app = await build_app(settings, engine=engine, targets=targets, get=http.get)
    if Platform.SLACK in targets:  # Home tab refreshes are rendered by this process's router
        from councilbot.adapters.slack.home import HomeTab

        targets[Platform.SLACK].home = HomeTab(app.router)
    if telegram_token is not None and settings.role.takes_updates:
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
    if _slack_enabled(settings) and settings.role.takes_updates:
        from councilbot.adapters.slack.app import SlackAdapter
        from councilbot.adapters.slack.oauth import INSTALL_PATH, REDIRECT_PATH, oauth_settings

        signing_secret, app_token = settings.slack_signing_secret, settings.slack_app_token
        slack_oauth = None
        if slack_store is not None:
            assert settings.slack_client_id and settings.slack_client_secret  # _slack_problem
            slack_oauth = oauth_settings(
                slack_store,
                engine,
                settings.slack_client_id,
                settings.slack_client_secret.get_secret_value(),
                catalogs=app.catalogs,
                language=settings.default_language,
            )
        slack = SlackAdapter(
            app.router,
            token=slack_token.get_secret_value() if slack_token else None,
            signing_secret=signing_secret.get_secret_value() if signing_secret else None,
            oauth=slack_oauth,
            app_token=app_token.get_secret_value() if app_token else None,
            base_url=settings.slack_api_base_url,
        )
        if app_token is None:
            routes["/slack/events"] = slack.handle_http
        if slack.installs:
            pages[INSTALL_PATH] = slack.handle_install
            pages[REDIRECT_PATH] = slack.handle_oauth_redirect
        adapters.append(slack)
    server = WebServer(app, routes=routes, pages=pages)
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
            await app.start()
            await server.start()
            for adapter in adapters:
                await adapter.start()
        except DeliveryError as exc:
            print(f"councilbot: cannot reach the platform: {exc.reason}", file=sys.stderr)
            return 2
        served = [*routes, *pages]
        log.info(
            "serving %s on port %d as %s",
            ", ".join(served) or "no webhooks",
            server.port,
            settings.role,
        )
        await stopping.wait()
    finally:
        # The web server first: its webhook calls are answered through the adapters.
        await app.shutdown([server, *adapters])
        for pool in reversed(started):  # after the dispatcher's last sends
            await pool.stop()
    return 0


async def _chat(
    settings: Settings, *, user: str, council: str, chat: str | None, admin: bool
) -> int:
    from councilbot.adapters.console import ConsoleChat, ConsoleTarget
    from councilbot.app import build_app
    from councilbot.core.errors import DomainError
    from councilbot.core.formatting import plain_text
    from councilbot.core.messages import Platform
    from councilbot.delivery import outbox

    # The console chat is one process: it sends its own announcements, whatever the role.
    settings = settings.model_copy(update={"role": Role.ALL})
    if admin:
        extra = f"console:{user}"
        settings = settings.model_copy(
            update={"admins": ",".join(filter(None, (settings.admins, extra)))}
        )
    from councilbot.adapters import http

    app = await build_app(settings, get=http.get)
    try:
        await app.start()
        target = app.targets.get(Platform.CONSOLE)

        async def settle() -> None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(SETTLE_SECONDS):
                    while True:
                        async with app.sessionmaker() as session:
                            if not await outbox.due_count(session, now=datetime.now(UTC)):
                                return
                        await asyncio.sleep(0.01)

        console = ConsoleChat(
            app.router,
            user=user,
            council=council,
            chat=chat or f"{council}-chat",
            interactive=sys.stdin.isatty(),
            target=target if isinstance(target, ConsoleTarget) else None,
            settle=settle,
        )
        try:
            await console.run()
        except DomainError as exc:
            print(f"councilbot: {plain_text(exc.render(app.router.translator()))}", file=sys.stderr)
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
