"""Link buttons (Button.url) and pictures by address (Outgoing.image_url), as the magazine's
posts carry them: the real Telegram and Slack targets against their fake servers, the
console, and the renderers of replies."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from councilbot.adapters.console import ConsoleTarget, render
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.slack.render import blocks_for
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.adapters.telegram.render import CallbackStore, keyboard
from councilbot.core.messages import Button, ChatKind, Platform, Reply
from councilbot.delivery.targets import Outgoing
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = "-1001234567890"
CHANNEL = "C0CORK"
COVER = "https://empower.example/5.jpg"
LINK = "https://empower.example/5"
READ = ((Button(label="Read", url=LINK), Button(label="Archive", command="/magazine archive")),)


def post(platform: Platform, chat: str, text: str = "📰 <b>EMPOWER #5</b>", **more) -> Outgoing:
    return Outgoing(
        platform=platform, chat_id=chat, text=text, buttons=READ, image_url=COVER, **more
    )


def test_a_button_runs_a_command_or_opens_a_page_never_both_nor_neither() -> None:
    with pytest.raises(ValidationError):
        Button(label="Read")
    with pytest.raises(ValidationError):
        Button(label="Read", command="/magazine", url=LINK)


async def test_replies_render_link_buttons_on_every_platform() -> None:
    markup = await keyboard(READ, CallbackStore())
    assert markup is not None
    [[read, archive]] = markup.inline_keyboard
    assert (read.text, read.url, read.callback_data) == ("Read", LINK, None)
    assert archive.callback_data == "c:/magazine archive"  # the command, as callback data
    [section, image, actions] = blocks_for("Hi", READ, image_url=COVER, image_alt="EMPOWER #5")
    assert section["type"] == "section"
    assert image == {"type": "image", "image_url": COVER, "alt_text": "EMPOWER #5"}
    assert actions["elements"][0] == {
        "type": "button",
        "action_id": "url_0",
        "text": {"type": "plain_text", "text": "Read", "emoji": True},
        "url": LINK,
    }
    assert actions["elements"][1]["value"] == "/magazine archive"
    assert render(Reply(text="Hi", buttons=READ)) == f"Hi\n[1] Read ({LINK})  [2] Archive"


async def test_the_console_prints_the_picture() -> None:
    out = io.StringIO()
    await ConsoleTarget(out).deliver(post(Platform.CONSOLE, "cork-chat", "EMPOWER #5"))
    assert out.getvalue() == (
        f"[to cork-chat] EMPOWER #5\n[1] Read ({LINK})  [2] Archive\n(picture: {COVER})\n\n"
    )


@pytest.fixture
async def telegram() -> AsyncIterator[tuple[FakeTelegramAPI, TelegramTarget]]:
    async with FakeTelegramAPI() as api:
        target = TelegramTarget(api.token, api.base_url, timeout=2.0)
        await target.start()
        yield api, target
        await target.stop()


async def test_telegram_sends_the_cover_as_a_photo_captioned_with_the_text_and_the_link(
    telegram: tuple[FakeTelegramAPI, TelegramTarget],
) -> None:
    api, target = telegram
    async with asyncio.timeout(10):
        posted = await target.deliver(post(Platform.TELEGRAM, CHAT))
        [photo] = api.calls("sendPhoto")
        assert photo.params["photo"] == COVER
        assert photo.params["caption"] == "📰 <b>EMPOWER #5</b>"
        rows = photo.params["reply_markup"]["inline_keyboard"]
        assert rows[0][0] == {"text": "Read", "url": LINK}
        assert posted is not None and posted.endswith("/")  # a captioned file's id
        # Edited by its caption, the link kept.
        await target.edit(post(Platform.TELEGRAM, CHAT, "📰 <b>EMPOWER #5</b> fixed"), posted)
        [edit] = api.calls("editMessageCaption")
        assert edit.params["caption"] == "📰 <b>EMPOWER #5</b> fixed"
        # A text too long for a caption follows the photo, with the buttons.
        long = post(Platform.TELEGRAM, CHAT, "x" * 1500)
        two = await target.deliver(long)
        assert two is not None and not two.endswith("/")
        assert api.calls("sendMessage")[-1].params["reply_markup"]["inline_keyboard"][0][0] == {
            "text": "Read",
            "url": LINK,
        }
        # A cover Telegram cannot fetch: the text goes alone rather than nothing.
        api.unreachable_urls.add(COVER)
        alone = await target.deliver(post(Platform.TELEGRAM, CHAT, "without cover"))
        assert alone is not None and "/" not in alone
        assert api.calls("sendMessage")[-1].params["text"] == "without cover"


@pytest.fixture
async def slack() -> AsyncIterator[tuple[FakeSlackAPI, SlackTarget]]:
    async with FakeSlackAPI() as api:
        yield api, SlackTarget.create("xoxb-test", api.base_url, timeout=2)


async def test_slack_shows_the_cover_as_an_image_block_and_the_link_as_a_url_button(
    slack: tuple[FakeSlackAPI, SlackTarget],
) -> None:
    api, target = slack
    async with asyncio.timeout(10):
        ts = await target.deliver(post(Platform.SLACK, CHANNEL, chat_kind=ChatKind.GROUP))
        [sent] = api.calls("chat.postMessage")
        kinds = [block["type"] for block in sent.params["blocks"]]
        assert kinds == ["section", "image", "actions"]
        assert sent.params["blocks"][1]["image_url"] == COVER
        assert sent.params["blocks"][2]["elements"][0]["url"] == LINK
        assert ts is not None
        await target.edit(post(Platform.SLACK, CHANNEL, "EMPOWER #5 fixed"), ts)
        [update] = api.calls("chat.update")
        assert [b["type"] for b in update.params["blocks"]] == ["section", "image", "actions"]
        # A cover Slack cannot fetch: the message goes (and is edited) without it.
        api.unreachable_urls.add(COVER)
        again = await target.deliver(post(Platform.SLACK, CHANNEL, "without cover"))
        assert [b["type"] for b in api.calls("chat.postMessage")[-1].params["blocks"]] == [
            "section",
            "actions",
        ]
        await target.edit(post(Platform.SLACK, CHANNEL, "still without"), again)
        assert [b["type"] for b in api.calls("chat.update")[-1].params["blocks"]] == [
            "section",
            "actions",
        ]
