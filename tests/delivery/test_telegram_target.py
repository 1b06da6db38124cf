"""TelegramTarget against the real python-telegram-bot client and a fake Bot API server."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import telegram

from councilbot.adapters.telegram.delivery import TelegramTarget, error_for
from councilbot.core.messages import Button, Platform
from councilbot.delivery.targets import (
    DeliveryError,
    Moved,
    NotAllowed,
    Outgoing,
    PermanentError,
    Rejected,
    RetryAfter,
    TransientError,
)
from tests.fakes.telegram_api import FakeTelegramAPI

CHAT = "-1001234567890"
TIMEOUT = 2.0  # seconds per HTTP call; every test is bounded by a few of them


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def target(api: FakeTelegramAPI) -> AsyncIterator[TelegramTarget]:
    target = TelegramTarget(api.token, api.base_url, connections=4, timeout=TIMEOUT)
    async with asyncio.timeout(5):
        await target.start()
    yield target
    async with asyncio.timeout(5):
        await target.stop()


def outgoing(text: str = "hello", chat_id: str = CHAT, **kwargs: object) -> Outgoing:
    return Outgoing(platform=Platform.TELEGRAM, chat_id=chat_id, text=text, **kwargs)


async def deliver(target: TelegramTarget, message: Outgoing) -> str | None:
    async with asyncio.timeout(5):
        return await target.deliver(message)


async def fail(target: TelegramTarget, api: FakeTelegramAPI, message: Outgoing) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        await deliver(target, message)
    error = caught.value
    assert api.token not in error.reason
    assert api.token not in str(error)
    assert api.token.split(":", 1)[1] not in error.reason
    return error


async def test_start_calls_get_me_once(api: FakeTelegramAPI, target: TelegramTarget) -> None:
    assert target.platform is Platform.TELEGRAM
    await deliver(target, outgoing())
    assert len(api.calls("getMe")) == 1


async def test_delivers_html_text_exactly_and_returns_message_id(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    text = "<b>Agenda</b>: &lt;b&gt;Tom &amp; Jerry&lt;/b&gt; https://example.org"
    first = await deliver(target, outgoing(text))
    second = await deliver(target, outgoing("again"))

    assert api.texts_to(CHAT) == [text, "again"]
    call = api.sent[0]
    assert call.params["text"] == text
    assert call.params["parse_mode"] == "HTML"
    assert call.params["link_preview_options"] == {"is_disabled": True}
    assert "reply_markup" not in call.params
    assert first == "1"
    assert second == "2"


async def test_buttons_become_inline_keyboard_with_short_callback_data(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    long_command = "/rsvp " + "é" * 80  # 166 bytes of UTF-8
    buttons = (
        (Button(label="Yes", command="/rsvp 7 yes"), Button(label="No", command="/rsvp 7 no")),
        (Button(label="Long", command=long_command),),
    )
    await deliver(target, outgoing("Coming?", buttons=buttons))

    keyboard = api.sent[0].params["reply_markup"]["inline_keyboard"]
    assert [[b["text"] for b in row] for row in keyboard] == [["Yes", "No"], ["Long"]]
    data = [b["callback_data"] for row in keyboard for b in row]
    assert data[:2] == ["c:/rsvp 7 yes", "c:/rsvp 7 no"]
    assert all(len(d.encode()) <= 64 for d in data)
    # The long command travels as a key the adapter resolves through the same store.
    assert data[2].startswith("k:")
    assert (await target.callbacks.resolve(data[2])).command == long_command


async def test_kicked_is_permanent(api: FakeTelegramAPI, target: TelegramTarget) -> None:
    api.kicked.add(CHAT)
    error = await fail(target, api, outgoing())
    assert isinstance(error, PermanentError)
    assert "kicked" in error.reason
    assert api.sent == []


async def test_blocked_is_permanent(api: FakeTelegramAPI, target: TelegramTarget) -> None:
    api.blocked.add("42")
    error = await fail(target, api, outgoing(chat_id="42"))
    assert isinstance(error, PermanentError)
    assert "blocked" in error.reason


async def test_missing_chat_is_permanent(api: FakeTelegramAPI, target: TelegramTarget) -> None:
    api.missing.add(CHAT)
    error = await fail(target, api, outgoing())
    assert isinstance(error, PermanentError)
    assert "chat not found" in error.reason.lower()


async def test_a_message_telegram_refuses_is_rejected_not_permanent(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    error = await fail(target, api, outgoing(text=""))
    assert type(error) is Rejected
    assert "text is empty" in error.reason
    api.scripted_errors["sendMessage"] = [(400, "Bad Request: can't parse entities: unclosed")]
    error = await fail(target, api, outgoing("<b>broken"))
    assert type(error) is Rejected
    assert "can't parse entities" in error.reason
    assert await deliver(target, outgoing("the next one")) == "1"  # the chat is fine


# PTB's own RetryAfter constructor reads its deprecated int-valued retry_after.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.parametrize("limit", ["global_rate", "chat_rate"])
async def test_rate_limit_is_retry_after(
    api: FakeTelegramAPI, target: TelegramTarget, limit: str
) -> None:
    setattr(api, limit, 1)
    await deliver(target, outgoing("first"))
    error = await fail(target, api, outgoing("second"))
    assert isinstance(error, RetryAfter)
    assert error.seconds == 1
    assert api.rate_limited == 1
    assert api.texts_to(CHAT) == ["first"]


async def test_server_error_is_transient_then_succeeds(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    api.fail_next = 1
    error = await fail(target, api, outgoing("first try"))
    assert isinstance(error, TransientError)
    assert await deliver(target, outgoing("second try")) == "1"
    assert api.texts_to(CHAT) == ["second try"]


async def test_server_down_is_transient(api: FakeTelegramAPI, target: TelegramTarget) -> None:
    await deliver(target, outgoing("warm the connection pool"))
    await api.stop()
    error = await fail(target, api, outgoing())
    assert isinstance(error, TransientError)


async def test_get_updates_serves_pushed_updates_once(api: FakeTelegramAPI) -> None:
    update = api.push_update(
        {"message": {"message_id": 1, "date": 0, "chat": {"id": 5, "type": "private"}}}
    )
    bot = telegram.Bot(api.token, base_url=api.base_url)
    async with asyncio.timeout(5), bot:
        first = await bot.get_updates(offset=0, timeout=1)
        second = await bot.get_updates(offset=update["update_id"] + 1, timeout=1)
    assert [u.update_id for u in first] == [update["update_id"]]
    assert second == ()


async def test_edit_replaces_text_and_keyboard_and_an_unchanged_edit_is_done(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    buttons = ((Button(label="Going", command="/rsvp 7"),),)
    message_id = await deliver(target, outgoing("7 going", buttons=buttons))
    assert message_id is not None
    await target.edit(outgoing("<b>8</b> going", buttons=buttons), message_id)
    await target.edit(outgoing("<b>8</b> going", buttons=buttons), message_id)  # not modified
    await target.edit(outgoing("Closed"), message_id)

    assert api.current(CHAT, message_id) == "Closed"
    first, _, last = api.calls("editMessageText")
    assert (first.params["message_id"], first.params["parse_mode"]) == (int(message_id), "HTML")
    assert first.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Going"
    assert "reply_markup" not in last.params  # Telegram removes the keyboard


async def test_delete_removes_the_message_and_one_already_gone_is_deleted(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    message_id = await deliver(target, outgoing())
    assert message_id is not None
    assert target.delete_window == timedelta(hours=48)
    await target.delete(outgoing(), message_id)
    await target.delete(outgoing(), message_id)  # gone already: nothing to do
    assert api.current(CHAT, message_id) is None
    with pytest.raises(Rejected) as caught:
        await target.edit(outgoing("again"), message_id)
    assert "message to edit not found" in caught.value.reason
    assert not isinstance(caught.value, NotAllowed)


async def test_telegram_refusing_to_delete_an_old_message_is_not_allowed(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    message_id = await deliver(target, outgoing())
    assert message_id is not None
    api.make_old(CHAT, message_id, hours=49)
    with pytest.raises(NotAllowed) as caught:
        await target.delete(outgoing(), message_id)
    assert "message can't be deleted for everyone" in caught.value.reason
    assert caught.value.status == 400
    assert api.token not in caught.value.reason
    api.scripted_errors["editMessageText"] = [(400, "Bad Request: message can't be edited")]
    with pytest.raises(NotAllowed):
        await target.edit(outgoing("changed"), message_id)


async def test_editing_in_a_chat_the_bot_left_is_permanent(
    api: FakeTelegramAPI, target: TelegramTarget
) -> None:
    message_id = await deliver(target, outgoing())
    assert message_id is not None
    api.kicked.add(CHAT)
    with pytest.raises(PermanentError):
        await target.edit(outgoing("changed"), message_id)
    with pytest.raises(PermanentError):
        await target.delete(outgoing(), message_id)


@pytest.mark.parametrize(
    ("status", "body", "kind", "needle"),
    [
        (
            429,
            {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 7",
             "parameters": {"retry_after": 7}},
            RetryAfter,
            "retry after 7s",
        ),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: group chat was upgraded "
             "to a supergroup chat", "parameters": {"migrate_to_chat_id": -100555}},
            Moved,
            "-100555",
        ),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: chat not found"},
            PermanentError,
            "chat unavailable",
        ),
        (
            400,
            {"ok": False, "error_code": 400,
             "description": "Bad Request: have no rights to send a message"},
            Rejected,
            "no rights",
        ),
        (
            400,
            {"ok": False, "error_code": 400,
             "description": "Bad Request: can't parse entities: unclosed tag"},
            Rejected,
            "message refused: Bad Request: can't parse entities",
        ),
        (
            400,
            {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"},
            Rejected,
            "too long",
        ),
        (
            403,
            {"ok": False, "error_code": 403, "description": "Forbidden: user is deactivated"},
            PermanentError,
            "deactivated",
        ),
        (
            403,
            {"ok": False, "error_code": 403,
             "description": "Forbidden: bot was kicked from the supergroup chat"},
            PermanentError,
            "kicked",
        ),
        (
            403,
            {"ok": False, "error_code": 403,
             "description": "Forbidden: bot was blocked by the user"},
            PermanentError,
            "blocked",
        ),
        (401, {"ok": False, "error_code": 401, "description": "Unauthorized"}, TransientError,
         "token rejected"),
        (502, {}, TransientError, "HTTP 502"),
    ],
)  # fmt: skip
def test_error_mapping(status: int, body: dict, kind: type[DeliveryError], needle: str) -> None:
    error = error_for(status, body)
    assert type(error) is kind
    assert needle in error.reason
    if kind is RetryAfter:
        assert error.seconds == 7
