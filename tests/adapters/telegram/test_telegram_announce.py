"""/announce on Telegram: a preview with Send, Edit and Cancel buttons; Send queues the posts,
which the real Telegram delivery target sends to the fake Bot API, each DM in its reader's
language."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Delivery
from councilbot.settings import Settings
from tests.adapters.telegram.test_telegram_adapter import (
    GROUP,
    USER,
    callback,
    command,
    running,
    say,
    sent_to,
    until,
)
from tests.conftest import CORK_TEXT, Clock
from tests.fakes.telegram_api import FakeTelegramAPI

LUCA = 222


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def telegram_app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock, api: FakeTelegramAPI
) -> AsyncIterator[App]:
    """The app with Ana (telegram:111) as an admin, delivering to the fake Bot API."""
    settings = Settings(
        database_url=database_url,
        admins=f"telegram:{USER}",
        default_language="en",
        telegram_group_per_minute=600,
        telegram_private_rate=10,
    )
    target = TelegramTarget(api.token, api.base_url, timeout=2.0)
    await target.start()
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO()), Platform.TELEGRAM: target},
    )
    adapter = await running(app.router, api)
    yield app
    async with asyncio.timeout(10):
        await adapter.stop()
    await app.aclose()
    await target.stop()


def private(text: str, user: int, language: str) -> dict[str, Any]:
    """Return a command someone sends the bot in their private chat, from an app in `language`."""
    update = command("private_command", text, id=user, language_code=language, username=None)
    update["message"]["chat"].update(id=user, username=None)
    return update


def keyboard(message: Any) -> dict[str, str]:
    """Return a message's inline buttons, label to callback data."""
    rows = message.params["reply_markup"]["inline_keyboard"]
    return {button["text"]: button["callback_data"] for row in rows for button in row}


async def queued(app: App) -> int:
    async with app.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(Delivery))


async def test_send_on_the_preview_posts_to_the_group_and_to_subscribers_in_their_language(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        # Luca's app speaks Italian, and he never chose a language: his DM is in Italian.
        await say(api, private("/subscribe announcements cork", LUCA, "it"), str(LUCA))
        preview = await say(api, private("/announce cork Desks are free", int(USER), "en"), USER)
        assert await queued(telegram_app) == 0
        buttons = keyboard(preview)
        assert list(buttons) == ["Send", "Edit", "Cancel"]
        api.push_update(callback(buttons["Send"], message_id=7, text=preview.params["text"]))
        [edit] = await until(lambda: api.calls("editMessageText"))
        await telegram_app.dispatcher.run_until_idle()
    assert f"📣 <b>Announcement — {CORK_TEXT}</b>\nDesks are free" in preview.params["text"]
    assert "it goes to 1 chat and 1 subscriber in Cork, now" in preview.params["text"]
    assert edit.params["message_id"] == "7"
    assert edit.params["text"] == (
        "Announcement #1 is on its way to 1 chat and 1 subscriber. /deliveries 1 shows how it goes."
    )
    assert "reply_markup" not in edit.params or not edit.params["reply_markup"]
    [post] = [r for r in sent_to(api, GROUP) if "Desks are free" in r.params["text"]]
    assert post.params["text"] == f"📣 <b>Announcement — {CORK_TEXT}</b>\nDesks are free"
    [dm] = [r for r in sent_to(api, str(LUCA)) if "Desks are free" in r.params["text"]]
    assert dm.params["text"] == f"📣 <b>Annuncio — {CORK_TEXT}</b>\nDesks are free"


async def test_cancel_on_the_preview_sends_nothing_and_a_later_send_says_so(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        preview = await say(api, private("/announce cork Never mind", int(USER), "en"), USER)
        buttons = keyboard(preview)
        api.push_update(callback(buttons["Cancel"], message_id=7, text=preview.params["text"]))
        [edit] = await until(lambda: api.calls("editMessageText"))
        api.push_update(callback(buttons["Send"], message_id=7, text=edit.params["text"]))
        answers = await until(
            lambda: len(api.calls("answerCallbackQuery")) >= 2 and api.calls("answerCallbackQuery")
        )
        await telegram_app.dispatcher.run_until_idle()
    assert edit.params["text"] == "Announcement #1 is cancelled; it will not be sent."
    assert answers[1].params["text"].startswith("Announcement #1 was cancelled, so it will not")
    assert await queued(telegram_app) == 0
    assert [r for r in sent_to(api, GROUP) if "Never mind" in r.params.get("text", "")] == []


async def test_edit_on_the_preview_says_how_to_give_the_new_text(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        preview = await say(api, private("/announce cork Desks are fre", int(USER), "en"), USER)
        api.push_update(callback(keyboard(preview)["Edit"], message_id=7, text="x"))
        [edit] = await until(lambda: api.calls("editMessageText"))
        fresh = await say(api, private("/announce edit 1 Desks are free", int(USER), "en"), USER)
    assert edit.params["text"] == (
        "Send the new text with /announce edit 1 followed by it. It reads now:\n"
        "<pre>Desks are fre</pre>"
    )
    assert "\nDesks are free\n" in fresh.params["text"]
    assert list(keyboard(fresh)) == ["Send", "Edit", "Cancel"]
    assert await queued(telegram_app) == 0


def posted_ids(api: FakeTelegramAPI, chat_id: str, words: str) -> list[int]:
    """Return the ids of the messages sent to a chat whose text has these words."""
    return [
        mid
        for (chat, mid), sent in api.messages.items()
        if chat == chat_id and words in sent["text"]
    ]


async def test_after_sending_edit_and_delete_change_the_group_post_and_the_dm(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        await say(api, private("/subscribe announcements cork", LUCA, "it"), str(LUCA))
        await say(api, private("/announce cork Desks are fre --yes", int(USER), "en"), USER)
        await telegram_app.dispatcher.run_until_idle()
        [group_id] = posted_ids(api, GROUP, "Desks are fre")
        [dm_id] = posted_ids(api, str(LUCA), "Desks are fre")

        edited = await say(api, private("/announce edit 1 Desks are free", int(USER), "en"), USER)
        await telegram_app.dispatcher.run_until_idle()
        assert api.current(GROUP, group_id) == (
            f"📣 <b>Announcement — {CORK_TEXT}</b>\nDesks are free"
        )
        # Luca's copy is edited in his language, as it was sent.
        assert api.current(str(LUCA), dm_id) == f"📣 <b>Annuncio — {CORK_TEXT}</b>\nDesks are free"

        deleted = await say(api, private("/announce delete 1", int(USER), "en"), USER)
        await telegram_app.dispatcher.run_until_idle()
        report = await say(api, private("/deliveries 1", int(USER), "en"), USER)
    assert "Announcement #1" in edited.params["text"]
    assert "Announcement #1" in deleted.params["text"]
    assert api.current(GROUP, group_id) is None
    assert api.current(str(LUCA), dm_id) is None
    assert "Deletions: 2 done, 0 pending, 0 failed." in report.params["text"]
