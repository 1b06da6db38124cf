"""Buttons whose command is longer than Telegram's 64 bytes of callback data: their keys live
in the database, so that a button sent by one process works after a restart or on another,
until it expires; an expired one says so and what it did.

Real python-telegram-bot objects (the adapter) and the outbox's TelegramTarget against the
fake Bot API, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.adapters.telegram.render import CallbackStore
from councilbot.app import App
from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.db.models import Announcement, CallbackKey
from councilbot.db.session import create_sessionmaker
from councilbot.delivery.targets import Outgoing
from tests.adapters.telegram.test_telegram_adapter import (
    EXPIRED,
    USER,
    callback,
    running,
    until,
)
from tests.conftest import AppFactory, Clock
from tests.fakes.telegram_api import FakeTelegramAPI

# 96 bytes: too long for callback data, so it travels as a key.
LONG = '/announce cork "The hot desks on the second floor are free all of Friday afternoon"'


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def admin_app(app_for: AppFactory) -> App:
    """Build the app with Ana (telegram:111) as a bootstrap admin."""
    return await app_for(f"telegram:{USER}")


async def send_button(
    app: App, api: FakeTelegramAPI, clock: Clock, button: Button, chat_id: str = USER
) -> str:
    """Deliver one outbox message with the button, as the dispatcher would; return its data."""
    target = TelegramTarget(
        api.token, api.base_url, callbacks=CallbackStore(app.sessionmaker, clock=clock)
    )
    async with asyncio.timeout(10):
        await target.start()
        try:
            await target.deliver(
                Outgoing(
                    platform=Platform.TELEGRAM,
                    chat_id=chat_id,
                    chat_kind=ChatKind.PRIVATE,
                    text="Shall I announce it?",
                    buttons=((button,),),
                )
            )
        finally:
            await target.stop()
    [data] = [b["callback_data"] for b in api.sent[-1].params["reply_markup"]["inline_keyboard"][0]]
    return str(data)


async def press(app: App, api: FakeTelegramAPI, data: str) -> dict[str, Any]:
    """Press the button in a freshly started adapter (nothing in its memory); return the answer."""
    adapter = await running(app.router, api)
    try:
        async with asyncio.timeout(10):
            before = len(api.calls("answerCallbackQuery"))
            api.push_update(callback(data, text="Shall I announce it?"))
            answers = await until(lambda: api.calls("answerCallbackQuery")[before:])
    finally:
        async with asyncio.timeout(10):
            await adapter.stop()
    return answers[0].params


async def announced(engine: AsyncEngine) -> list[str]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Announcement.text)))


async def keys(engine: AsyncEngine) -> list[CallbackKey]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(CallbackKey)))


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[list[str]]:
    """Record the SQL statements the engine runs meanwhile."""
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", record)


async def test_a_button_works_after_the_bot_restarted(
    app_for: AppFactory, api: FakeTelegramAPI, clock: Clock, seeded: AsyncEngine
) -> None:
    before = await app_for(f"telegram:{USER}")
    data = await send_button(before, api, clock, Button(label="Announce", command=LONG))
    assert data.startswith("k:") and len(data.encode()) <= 64
    await before.aclose()  # the process that sent the button is gone

    clock.advance(days=2)
    after = await app_for(f"telegram:{USER}")  # a new process: nothing in memory
    answer = await press(after, api, data)

    assert answer["text"] != EXPIRED and "expired" not in answer["text"]
    assert await announced(seeded) == [
        "The hot desks on the second floor are free all of Friday afternoon"
    ]


async def test_an_expired_button_says_what_it_did_and_runs_nothing(
    admin_app: App, api: FakeTelegramAPI, clock: Clock, seeded: AsyncEngine
) -> None:
    button = Button(label="Announce", command=LONG, expires_at=clock.now + timedelta(hours=1))
    data = await send_button(admin_app, api, clock, button)

    clock.advance(hours=2)
    answer = await press(admin_app, api, data)

    assert answer["show_alert"] in (True, "true")  # a pop-up the presser can read
    assert answer["text"] == f"This button has expired. To do it anyway, send: {LONG}"
    assert await announced(seeded) == []


async def test_the_expiry_a_sender_gives_is_kept_and_never_shortened(
    admin_app: App, api: FakeTelegramAPI, clock: Clock, seeded: AsyncEngine
) -> None:
    event_end = clock.now + timedelta(days=90)
    await send_button(
        admin_app, api, clock, Button(label="Going", command=LONG, expires_at=event_end)
    )
    # The same command again with the default expiry (30 days) leaves the later one.
    await send_button(admin_app, api, clock, Button(label="Going", command=LONG))

    [key] = await keys(seeded)
    assert key.command == LONG
    assert key.expires_at == event_end
    clock.advance(days=60)
    answer = await press(admin_app, api, f"k:{key.key}")
    assert "expired" not in answer["text"]


async def test_a_short_command_touches_no_database_and_a_broadcast_writes_its_key_once(
    admin_app: App, api: FakeTelegramAPI, clock: Clock, seeded: AsyncEngine
) -> None:
    store = CallbackStore(admin_app.sessionmaker, clock=clock)
    with statements(seeded) as short:
        data = await store.data_for("/rsvp 7 yes")
        pressed = await store.resolve(data)
    assert (data, pressed.command, short) == ("c:/rsvp 7 yes", "/rsvp 7 yes", [])

    with statements(seeded) as broadcast:
        sent = {await store.data_for(LONG) for _ in range(50)}
    assert len(sent) == 1
    writes = [s for s in broadcast if s.lstrip().upper().startswith("INSERT")]
    assert len(writes) == 1
    assert len(await keys(seeded)) == 1


async def test_two_processes_store_the_same_button_at_once(
    admin_app: App, clock: Clock, seeded: AsyncEngine
) -> None:
    first = CallbackStore(admin_app.sessionmaker, clock=clock)
    second = CallbackStore(create_sessionmaker(seeded), clock=clock)
    later = clock.now + timedelta(days=60)

    data = await asyncio.gather(
        first.data_for(LONG),
        second.data_for(LONG, expires_at=later),
        first.data_for(LONG + " again"),
    )

    assert data[0] == data[1] != data[2]
    stored = {key.command: key.expires_at for key in await keys(seeded)}
    assert stored == {LONG: later, LONG + " again": clock.now + timedelta(days=30)}
    third = CallbackStore(create_sessionmaker(seeded), clock=clock)  # yet another process
    assert (await third.resolve(data[0])).command == LONG


async def test_long_expired_keys_are_purged_when_keys_are_written(
    admin_app: App, clock: Clock, seeded: AsyncEngine
) -> None:
    store = CallbackStore(admin_app.sessionmaker, clock=clock)
    old = await store.data_for(LONG, expires_at=clock.now + timedelta(days=1))
    recent = await store.data_for(LONG + "!", expires_at=clock.now + timedelta(days=5))

    clock.advance(days=9)  # `old` expired 8 days ago, `recent` 4 days ago
    restarted = CallbackStore(admin_app.sessionmaker, clock=clock)
    await restarted.data_for(LONG + "?")

    assert sorted(key.command for key in await keys(seeded)) == [LONG + "!", LONG + "?"]
    assert (await restarted.resolve(old)).command is None  # forgotten: the plain apology
    pressed = await restarted.resolve(recent)  # expired lately: still says what it did
    assert (pressed.command, pressed.expired) == (LONG + "!", True)
