"""The magazine on Telegram: /publish's preview and Send post the cover as a photo with a Read
link button; /magazine archive pages with Next and Previous, edited in place."""

from __future__ import annotations

import asyncio
from typing import Any

from councilbot.app import App
from tests.adapters.telegram.test_telegram_adapter import (
    GROUP,
    USER,
    callback,
    command,
    say,
    sent_to,
    until,
)
from tests.adapters.telegram.test_telegram_announce import api, private, telegram_app
from tests.fakes.telegram_api import FakeTelegramAPI

__all__ = ["api", "telegram_app"]  # the fixtures, shared with the announcements' tests


def buttons(message: Any) -> list[dict[str, str]]:
    markup = message.params.get("reply_markup") or {"inline_keyboard": []}
    return [button for row in markup["inline_keyboard"] for button in row]


async def test_publish_posts_the_cover_as_a_photo_with_a_read_link(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        preview = await say(
            api,
            private(
                '/publish 5 "Growth stories" https://empower.example/5 "Five SMEs" '
                "--cover https://empower.example/5.jpg",
                int(USER),
                "en",
            ),
            USER,
        )
        labels = [b["text"] for b in buttons(preview)]
        assert labels == ["Send", "Edit", "Cancel", "Read"]
        assert buttons(preview)[3]["url"] == "https://empower.example/5"
        send = buttons(preview)[0]["callback_data"]
        api.push_update(callback(send, message_id=7, text=preview.params["text"]))
        await until(lambda: api.calls("editMessageText"))
        await telegram_app.dispatcher.run_until_idle()
    [photo] = [f for f in api.files if f.params.get("chat_id") == GROUP]
    assert photo.params["photo"] == "https://empower.example/5.jpg"
    assert photo.params["caption"] == "📰 <b>EMPOWER #5: Growth stories</b>\nFive SMEs"
    assert buttons(photo) == [{"text": "Read", "url": "https://empower.example/5"}]


async def test_the_archive_pages_in_place_with_next_and_previous(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        for number in range(1, 7):
            await say(
                api,
                private(
                    f'/publish {number} "Issue {number}" https://e.example/{number} --yes',
                    int(USER),
                    "en",
                ),
                USER,
            )
        first = await say(api, private("/magazine archive", int(USER), "en"), USER)
        assert "(page 1 of 2, newest first)" in first.params["text"]
        [next_page] = buttons(first)
        assert next_page["text"] == "Next ▶"
        api.push_update(callback(next_page["callback_data"], message_id=9))
        [edit] = await until(lambda: api.calls("editMessageText"))
    assert "(page 2 of 2, newest first)" in edit.params["text"]
    assert '#1 · <a href="https://e.example/1">Issue 1</a>' in edit.params["text"]
    assert [b["text"] for b in buttons(edit)] == ["◀ Previous"]
    assert not sent_to(api, GROUP)


async def test_an_edit_after_lang_chat_speaks_the_chats_language_buttons_included(
    telegram_app: App, api: FakeTelegramAPI
) -> None:
    async with asyncio.timeout(20):
        await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
        await say(
            api,
            private(
                '/publish 5 "Five" https://e.example/5 "Five SMEs" '
                "--cover https://e.example/5.jpg --yes",
                int(USER),
                "en",
            ),
            USER,
        )
        await telegram_app.dispatcher.run_until_idle()
        await say(api, command("group_command", "/lang tr chat", id=int(USER)), GROUP)
        await say(api, private('/publish edit 5 --summary "Beş KOBİ"', int(USER), "en"), USER)
        await telegram_app.dispatcher.run_until_idle()
        [edit] = await until(lambda: api.calls("editMessageCaption"))
    assert edit.params["caption"] == "📰 <b>EMPOWER #5: Five</b>\nBeş KOBİ"
    assert buttons(edit) == [{"text": "Oku", "url": "https://e.example/5"}]
