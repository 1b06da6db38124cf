"""A member's home on Telegram: /start in a private chat of a known member shows it, /mydata
sends a JSON document, /forgetme confirms with inline buttons; against the fake Bot API."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.telegram.app import TelegramAdapter
from councilbot.app import App
from tests.adapters.telegram.test_telegram_adapter import (
    USER,
    callback,
    command,
    running,
    say,
    until,
)
from tests.conftest import AppFactory
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def adapter(app_for: AppFactory, api: FakeTelegramAPI) -> AsyncIterator[TelegramAdapter]:
    app: App = await app_for(f"telegram:{USER}")
    adapter = await running(app.router, api)
    yield adapter
    async with asyncio.timeout(10):
        await adapter.stop()


def buttons(sent) -> dict[str, str]:
    rows = sent.params["reply_markup"]["inline_keyboard"]
    return {button["text"]: button["callback_data"] for row in rows for button in row}


@pytest.mark.usefixtures("adapter")
async def test_start_shows_a_known_members_home_and_its_buttons_work(api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(20):
        await say(api, command("private_command", "/start cork"), USER)
        await say(api, command("private_command", "/subscribe announcements cork"), USER)
        home = await say(api, command("private_command", "/start"), USER)
        assert home.params["text"].startswith("<b>Your home</b>, Ana García")
        assert (
            "<b>Subscriptions</b>\n• announcements — Southern Ireland council"
            in (home.params["text"])
        )
        unsubscribe = buttons(home)["Unsubscribe announcements (cork)"]
        api.push_update(callback(unsubscribe, text=home.params["text"]))
        [edit] = await until(lambda: api.calls("editMessageText"))  # the message, in place
        assert "Unsubscribed" in edit.params["text"]


@pytest.mark.usefixtures("adapter")
async def test_mydata_sends_a_json_document_and_forgetme_asks_with_buttons(
    api: FakeTelegramAPI,
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("private_command", "/start cork"), USER)
        api.push_update(command("private_command", "/mydata"))
        [document] = await until(lambda: api.files)
        assert document.method == "sendDocument"
        asked = await say(api, command("private_command", "/forgetme"), USER)
        assert list(buttons(asked)) == ["Yes, erase me", "No, keep everything"]
        api.push_update(callback(buttons(asked)["Yes, erase me"]))
        [done] = await until(lambda: api.calls("editMessageText"))
        assert done.params["text"].startswith("Done: I erased everything")
