"""The Telegram adapter: a real python-telegram-bot Application against a fake Bot API,
fed real-shaped updates (payloads/*.json), answering through the real router."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.telegram.app import TelegramAdapter
from councilbot.app import App
from councilbot.core.i18n import LANGUAGES
from councilbot.core.messages import Attachment, Button, Reply
from councilbot.core.router import Router
from councilbot.db.models import Channel, Subscription
from councilbot.db.session import create_sessionmaker
from tests.conftest import CORK_TEXT, AppFactory, Clock
from tests.fakes.scripted import Scripted
from tests.fakes.telegram_api import FakeTelegramAPI, Recorded

PAYLOADS = Path(__file__).parent / "payloads"
USER = "111"  # Ana, in payloads/private_command.json and callback_query.json
GROUP = "-1001234567890"
LUCA = "222"  # in payloads/group_command.json
EXPIRED = "This button has expired; please type the command."
T = TypeVar("T")


def payload(name: str) -> dict[str, Any]:
    """Load a recorded update, without its update_id so the fake numbers it."""
    data = json.loads((PAYLOADS / f"{name}.json").read_text())
    data.pop("update_id")
    return data


def command(name: str, text: str, **sender: Any) -> dict[str, Any]:
    """Return a recorded command update with another command text (and sender fields)."""
    data = payload(name)
    message = data["message"]
    message["text"] = text
    message["entities"] = [{"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}]
    message["from"].update(sender)
    return data


def callback(data: str, message_id: int = 1, text: str = "Which council?") -> dict[str, Any]:
    """Return a button press on one of the bot's messages in Ana's private chat."""
    update = payload("callback_query")
    update["callback_query"]["data"] = data
    update["callback_query"]["message"].update(message_id=message_id, text=text)
    return update


async def until(check: Callable[[], T], seconds: float = 5.0) -> T:
    """Wait until `check()` is truthy and return it."""
    async with asyncio.timeout(seconds):
        # Poll: the fake records calls from its own request handlers, with no event to wait on.
        while not (result := check()):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
    return result


def sent_to(api: FakeTelegramAPI, chat_id: str) -> list[Recorded]:
    return [r for r in api.sent if r.chat_id == chat_id]


async def say(api: FakeTelegramAPI, update: dict[str, Any], chat_id: str) -> Recorded:
    """Push an update and return the next message the bot sends to the chat."""
    before = len(sent_to(api, chat_id))
    api.push_update(update)
    await until(lambda: len(sent_to(api, chat_id)) > before)
    return sent_to(api, chat_id)[before]


@pytest.fixture
async def api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


async def running(router: Router, api: FakeTelegramAPI, **options: Any) -> TelegramAdapter:
    adapter = TelegramAdapter(router, api.token, base_url=api.base_url, poll_timeout=0.1, **options)
    async with asyncio.timeout(10):
        await adapter.start()
    return adapter


@pytest.fixture
async def adapter(app: App, api: FakeTelegramAPI) -> AsyncIterator[TelegramAdapter]:
    adapter = await running(app.router, api)
    yield adapter
    async with asyncio.timeout(10):
        await adapter.stop()


@pytest.fixture
async def admin_app(app_for: AppFactory) -> App:
    """Build the app with Ana (telegram:111) as a bootstrap admin."""
    return await app_for(f"telegram:{USER}")


@pytest.fixture
async def scripted(app: App, api: FakeTelegramAPI) -> AsyncIterator[Scripted]:
    router = Scripted(app.router, Reply(text="unset"))
    adapter = await running(router, api)  # type: ignore[arg-type]
    yield router
    async with asyncio.timeout(10):
        await adapter.stop()


@pytest.mark.usefixtures("adapter")
async def test_private_start_offers_the_six_councils(api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(10):
        sent = await say(api, payload("private_command"), USER)
    assert "Hello Ana García!" in sent.params["text"]
    assert sent.params["parse_mode"] == "HTML"
    assert sent.params["link_preview_options"] == {"is_disabled": True}
    assert "reply_parameters" not in sent.params  # no need to quote in a private chat
    buttons = [b for row in sent.params["reply_markup"]["inline_keyboard"] for b in row]
    assert len(buttons) == 6
    slugs = {"malaga", "alcala", "bologna", "cork", "istanbul", "paris"}
    assert {b["callback_data"] for b in buttons} == {f"c:/start {slug}" for slug in slugs}
    assert all(len(b["callback_data"].encode()) <= 64 for b in buttons)


@pytest.mark.usefixtures("adapter")
async def test_help_and_caption_commands_answer(api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(10):
        help_text = (await say(api, command("private_command", "/help"), USER)).params["text"]
        caption = await say(api, payload("caption_command"), "333")
    assert "/councils — Show the councils." in help_text
    assert "<b>/councils</b>\nShow the councils." in caption.params["text"]


@pytest.mark.usefixtures("adapter")
async def test_group_command_for_this_bot_answers_and_other_bots_are_ignored(
    api: FakeTelegramAPI,
) -> None:
    async with asyncio.timeout(10):
        api.push_update(command("group_command", "/help@OtherBot"))
        sent = await say(api, payload("group_command"), GROUP)
    assert CORK_TEXT in sent.params["text"]
    assert "This chat is not linked yet" in sent.params["text"]
    assert len(api.sent) == 1  # updates are handled in order: /help@OtherBot got nothing
    # In a group the answer quotes the command it answers.
    assert sent.params["reply_parameters"] == {
        "message_id": 502,
        "allow_sending_without_reply": True,
    }


def plain(name: str, text: str) -> dict[str, Any]:
    """Return a recorded command update turned into plain text, with no command in it."""
    data = payload(name)
    data["message"].update(text=text)
    data["message"].pop("entities")
    return data


@pytest.mark.usefixtures("adapter")
async def test_plain_text_gets_a_hint_in_private_and_silence_in_groups(
    api: FakeTelegramAPI, clock: Clock
) -> None:
    hint = "I only understand commands. Send /help to see them."
    async with asyncio.timeout(10):
        sent = await say(api, payload("private_text"), USER)
        assert sent.params["text"] == hint
        # Updates are handled in order: the /help answer comes after anything the text got.
        api.push_update(plain("private_command", "are you there?"))
        api.push_update(plain("group_command", "good morning everyone"))
        api.push_update(plain("group_command", "hello @council_test_bot"))
        help_text = (await say(api, command("private_command", "/help"), USER)).params["text"]
        clock.advance(minutes=10)
        again = await say(api, payload("private_text"), USER)
    assert "/councils — " in help_text
    assert sent_to(api, GROUP) == []
    assert again.params["text"] == hint
    assert len(api.sent) == 3


@pytest.mark.usefixtures("adapter")
async def test_channel_post_command_answers_in_the_channel(api: FakeTelegramAPI) -> None:
    post = {
        "channel_post": {
            "message_id": 9,
            "sender_chat": {"id": -1009876543210, "title": "Council news", "type": "channel"},
            "chat": {"id": -1009876543210, "title": "Council news", "type": "channel"},
            "date": 1796115600,
            "text": "/councils",
            "entities": [{"offset": 0, "length": 9, "type": "bot_command"}],
        }
    }
    async with asyncio.timeout(10):
        sent = await say(api, post, "-1009876543210")
    assert CORK_TEXT in sent.params["text"]


async def test_a_channel_listed_as_admin_links_itself(
    app_for: AppFactory, api: FakeTelegramAPI
) -> None:
    channel = "-1009876543210"
    post = {
        "channel_post": {
            "message_id": 10,
            "sender_chat": {"id": int(channel), "title": "Council news", "type": "channel"},
            "chat": {"id": int(channel), "title": "Council news", "type": "channel"},
            "date": 1796115600,
            "text": "/link cork",
            "entities": [{"offset": 0, "length": 5, "type": "bot_command"}],
        }
    }
    adapter = await running((await app_for(f"telegram:{channel}")).router, api)
    try:
        async with asyncio.timeout(10):
            linked = await say(api, post, channel)
    finally:
        await adapter.stop()
    assert "now linked to <b>Southern Ireland council (MTU)</b>" in linked.params["text"]


async def test_a_channel_is_linked_with_a_code_a_coordinator_sends_privately(
    admin_app: App, api: FakeTelegramAPI, seeded: AsyncEngine
) -> None:
    channel = "-1005550001"
    post = {
        "channel_post": {
            "message_id": 11,
            "sender_chat": {"id": int(channel), "title": "Cork news", "type": "channel"},
            "chat": {"id": int(channel), "title": "Cork news", "type": "channel"},
            "date": 1796115600,
            "text": "/link cork",
            "entities": [{"offset": 0, "length": 5, "type": "bot_command"}],
        }
    }
    adapter = await running(admin_app.router, api)
    try:
        async with asyncio.timeout(10):
            asked = await say(api, post, channel)
            code = asked.params["text"].split("<code>/link cork ")[1].split("</code>")[0]
            luca = command("private_command", f"/link cork {code}", id=int(LUCA))
            luca["message"]["chat"]["id"] = int(LUCA)
            refused = await say(api, luca, LUCA)  # not a coordinator: the code stays good
            linked = await say(api, command("private_command", f"/link cork {code}"), USER)
            again = await say(api, command("private_command", f"/link cork {code}"), USER)
    finally:
        await adapter.stop()
    assert "posts as itself" in asked.params["text"] and len(code) == 9  # XXXX-XXXX
    assert "coordinator" in refused.params["text"].lower()
    assert linked.params["text"].startswith(
        "<b>Cork news</b> is now linked to <b>Southern Ireland council (MTU)</b>."
    )
    assert "used or has expired" in again.params["text"]
    async with create_sessionmaker(seeded)() as session:
        [row] = (await session.scalars(select(Channel))).all()
    assert (row.external_id, row.title, row.council.slug) == (channel, "Cork news", "cork")


@pytest.mark.usefixtures("adapter")
async def test_pressing_a_council_button_sets_the_home_council(api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(10):
        start = await say(api, payload("private_command"), USER)
        keyboard = start.params["reply_markup"]["inline_keyboard"]
        (data,) = [
            b["callback_data"] for row in keyboard for b in row if b["text"] == "Andalusian council"
        ]
        api.push_update(callback(data, message_id=1))
        edit = await until(lambda: api.calls("editMessageText"))
        whoami = await say(api, command("private_command", "/whoami"), USER)
    answer = api.calls("answerCallbackQuery")
    assert [a.params["callback_query_id"] for a in answer] == ["4382bfdwdsb323b2d9"]
    assert answer[0].params["text"].startswith("Your home council is now Andalusian council")
    assert edit[0].params["chat_id"] == USER
    assert edit[0].params["message_id"] == "1"
    assert "Your home council is now <b>Andalusian council" in edit[0].params["text"]
    assert edit[0].params["parse_mode"] == "HTML"
    assert "Home council: Andalusian council (Smart City cluster)" in whoami.params["text"]


@pytest.mark.usefixtures("adapter")
async def test_expired_button_gets_a_toast_and_runs_nothing(api: FakeTelegramAPI) -> None:
    async with asyncio.timeout(10):
        api.push_update(callback("k:forgotten"))
        answer = await until(lambda: api.calls("answerCallbackQuery"))
    assert answer[0].params["text"] == EXPIRED
    assert api.sent == []
    assert api.calls("editMessageText") == []


@pytest.mark.usefixtures("adapter")
async def test_an_expired_button_speaks_the_language_the_member_chose(
    api: FakeTelegramAPI,
) -> None:
    async with asyncio.timeout(10):
        await say(api, command("private_command", "/lang tr"), USER)  # the app says English
        api.push_update(callback("k:forgotten"))
        answer = await until(lambda: api.calls("answerCallbackQuery"))
    assert answer[0].params["text"] == "Bu düğmenin süresi doldu; lütfen komutu yazın."


@pytest.mark.usefixtures("adapter")
async def test_unchanged_text_is_not_edited_and_failed_edits_send_a_new_message(
    api: FakeTelegramAPI,
) -> None:
    current = "I speak to you in English. Choose another one, or send /lang auto to follow your app's language."
    help_ = command("private_command", "/help")
    async with asyncio.timeout(10):
        api.push_update(callback("c:/lang", text=current))
        await say(api, help_, USER)  # updates are handled in order: the press is done
        assert api.calls("editMessageText") == []
        api.scripted_errors["editMessageText"] = [
            (400, "Bad Request: message can't be edited"),
            (
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are exactly the same",
            ),
        ]
        sent = await say(api, callback("c:/lang es"), USER)
        api.push_update(callback("c:/lang en"))
        await say(api, help_, USER)
    assert len(api.calls("editMessageText")) == 2
    assert "te hablo en español" in sent.params["text"]
    assert len(api.calls("answerCallbackQuery")) == 3
    assert len(api.sent) == 3  # two /help answers and the fallback; nothing for "not modified"


@pytest.mark.usefixtures("adapter")
async def test_commands_menu_is_published_in_every_language(api: FakeTelegramAPI) -> None:
    calls = api.calls("setMyCommands")
    assert [c.params.get("language_code") for c in calls] == [None, *LANGUAGES]
    default = {c["command"]: c["description"] for c in calls[0].params["commands"]}
    assert default["start"] == "Say hello and choose your home council."
    assert all(
        0 < len(d) <= 256 for c in calls for d in (x["description"] for x in c.params["commands"])
    )
    assert all(len(c.params["commands"]) == len(calls[0].params["commands"]) for c in calls)


@pytest.mark.usefixtures("adapter")
async def test_user_text_is_escaped(api: FakeTelegramAPI) -> None:
    update = command("private_command", "/whoami", first_name="<b>Tom & Jerry</b>", last_name=None)
    async with asyncio.timeout(10):
        sent = await say(api, update, USER)
    assert "&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;" in sent.params["text"]
    assert "<b>Tom" not in sent.params["text"]


async def test_admin_links_a_group_from_telegram(admin_app: App, api: FakeTelegramAPI) -> None:
    adapter = await running(admin_app.router, api)
    try:
        async with asyncio.timeout(10):
            link = await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
            councils = await say(api, payload("group_command"), GROUP)
    finally:
        await adapter.stop()
    assert "This chat is now linked to <b>Southern Ireland council (MTU)</b>" in link.params["text"]
    assert "This chat is linked to Southern Ireland council (MTU)." in councils.params["text"]


def membership(old: str, new: str, chat_type: str = "supergroup") -> dict[str, Any]:
    """Return the update Telegram sends when someone adds or removes the bot."""
    update = payload("my_chat_member")
    change = update["my_chat_member"]
    for key, status in (("old_chat_member", old), ("new_chat_member", new)):
        change[key]["status"] = status
        change[key].update(STATUS_FIELDS.get(status, {}))
    change["chat"]["type"] = chat_type
    return update


# What Telegram sends with these statuses besides `user` and `status`.
ADMIN_RIGHTS = (
    "can_manage_chat can_delete_messages can_manage_video_chats can_restrict_members "
    "can_promote_members can_change_info can_invite_users can_post_stories can_edit_stories "
    "can_delete_stories can_pin_messages"
)
STATUS_FIELDS: dict[str, dict[str, Any]] = {
    "kicked": {"until_date": 0},
    "administrator": {
        "can_be_edited": False,
        "is_anonymous": False,
        **dict.fromkeys(ADMIN_RIGHTS.split(), False),
        "can_delete_messages": True,
    },
}


async def group_link(engine: AsyncEngine) -> Channel | None:
    async with create_sessionmaker(engine)() as session:
        return await session.scalar(select(Channel).where(Channel.external_id == GROUP))


async def test_added_to_a_group_the_bot_says_how_to_link_it(
    admin_app: App, api: FakeTelegramAPI, seeded: AsyncEngine
) -> None:
    adapter = await running(admin_app.router, api)
    try:
        async with asyncio.timeout(10):
            hello = await say(api, membership("left", "member"), GROUP)
            await say(api, command("group_command", "/link cork", id=int(USER)), GROUP)
            api.push_update(membership("member", "kicked"))
            await say(api, command("private_command", "/help"), USER)  # handled in order
            removed = await group_link(seeded)
            back = await say(api, membership("kicked", "administrator"), GROUP)
            promoted = len(api.sent)
            api.push_update(membership("member", "administrator"))
            await say(api, payload("group_command"), GROUP)
    finally:
        await adapter.stop()
    assert "links this chat to its council with /link" in hello.params["text"]
    assert removed is not None and removed.active is False
    assert "still linked to <b>Southern Ireland council (MTU)</b>" in back.params["text"]
    assert len(api.sent) == promoted + 1  # a promotion is no news: only /councils answered
    relinked = await group_link(seeded)
    assert relinked is not None and relinked.active is True


async def test_blocking_the_bot_pauses_subscriptions_until_unblocked(
    app: App, api: FakeTelegramAPI, seeded: AsyncEngine
) -> None:
    def private(old: str, new: str) -> dict[str, Any]:
        update = membership(old, new)
        update["my_chat_member"]["chat"] = {"id": int(USER), "first_name": "Ana", "type": "private"}
        return update

    async def active() -> list[bool]:
        async with create_sessionmaker(seeded)() as session:
            return list((await session.scalars(select(Subscription.active))).all())

    adapter = await running(app.router, api)
    try:
        async with asyncio.timeout(10):
            await say(api, command("private_command", "/subscribe announcements cork"), USER)
            api.push_update(private("member", "kicked"))  # Ana blocks the bot
            await say(api, payload("group_command"), GROUP)  # handled in order
            blocked = await active()
            api.push_update(private("kicked", "member"))  # and unblocks it
            await say(api, payload("group_command"), GROUP)
            unblocked = await active()
    finally:
        await adapter.stop()
    assert (blocked, unblocked) == ([False], [True])


async def test_a_group_upgraded_to_a_supergroup_keeps_its_link(
    admin_app: App, api: FakeTelegramAPI, seeded: AsyncEngine
) -> None:
    old, new = "-4242", "-1004242"
    in_old = command("group_command", "/link cork", id=int(USER))
    in_old["message"]["chat"] = {"id": int(old), "title": "Cork members", "type": "group"}
    upgraded = {
        "message": {
            "message_id": 1,
            "from": in_old["message"]["from"],
            "chat": {"id": int(new), "title": "Cork members", "type": "supergroup"},
            "date": 1796115900,
            "migrate_from_chat_id": int(old),
        }
    }
    in_new = payload("group_command")
    in_new["message"]["chat"] = upgraded["message"]["chat"]
    adapter = await running(admin_app.router, api)
    try:
        async with asyncio.timeout(10):
            await say(api, in_old, old)
            api.push_update(upgraded)
            councils = await say(api, in_new, new)
    finally:
        await adapter.stop()
    assert "This chat is linked to Southern Ireland council (MTU)." in councils.params["text"]
    async with create_sessionmaker(seeded)() as session:
        [channel] = (await session.scalars(select(Channel))).all()
    assert (channel.external_id, channel.active) == (new, True)


async def test_long_reply_is_sent_in_chunks_with_the_keyboard_last(
    scripted: Scripted, api: FakeTelegramAPI
) -> None:
    text = "\n".join(f"<b>{i}</b> " + "long line &amp; more " * 10 for i in range(100))
    attachment = Attachment(filename="a.csv", content_type="text/csv", data=b"a,b\n")
    scripted.reply = Reply(
        text=text, buttons=((Button(label="More", command="/help"),),), file=attachment
    )
    async with asyncio.timeout(10):
        await say(api, command("private_command", "/help   me  "), USER)
        await until(lambda: "reply_markup" in api.sent[-1].params)  # the last chunk is in
    assert scripted.commands[0].name == "help"
    assert scripted.commands[0].args == "me"
    sent = api.sent
    assert len(sent) > 1
    assert all(len(r.params["text"]) <= 4096 for r in sent)
    assert ["reply_markup" in r.params for r in sent] == [False] * (len(sent) - 1) + [True]
    [document] = await until(lambda: api.files)
    assert document.time > sent[-1].time  # the file follows the whole text
    assert document.params["document"] == {"filename": "a.csv", "data": b"a,b\n"}


CALENDAR = Attachment(
    filename="event-7.ics",
    content_type="text/calendar",
    data=b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
)
CHART = Attachment(filename="poll-3.png", content_type="image/png", data=b"\x89PNG\r\n\x1a\n")


@pytest.mark.parametrize(
    ("attachment", "method", "field"),
    [(CALENDAR, "sendDocument", "document"), (CHART, "sendPhoto", "photo")],
)
async def test_a_file_is_sent_after_the_text(
    scripted: Scripted, api: FakeTelegramAPI, attachment: Attachment, method: str, field: str
) -> None:
    scripted.reply = Reply(text="Your calendar file:", file=attachment)
    sent = await say(api, command("private_command", "/ical 7"), USER)
    assert sent.params["text"] == "Your calendar file:"
    [upload] = await until(lambda: api.files)
    assert (upload.method, upload.chat_id) == (method, USER)
    assert upload.params[field] == {"filename": attachment.filename, "data": attachment.data}


async def test_a_big_picture_goes_as_a_document(scripted: Scripted, api: FakeTelegramAPI) -> None:
    big = CHART.model_copy(update={"data": CHART.data + bytes(10 * 1024 * 1024)})
    scripted.reply = Reply(text="Chart:", file=big)
    api.push_update(command("private_command", "/results 3"))
    [upload] = await until(lambda: api.files, seconds=15)
    assert upload.method == "sendDocument"


async def test_a_button_answered_with_a_file_sends_it_rather_than_editing(
    scripted: Scripted, api: FakeTelegramAPI
) -> None:
    scripted.reply = Reply(text="Your calendar file:", file=CALENDAR)
    api.push_update(callback("c:/ical 7", text="Team meeting"))
    [upload] = await until(lambda: api.files)
    assert upload.params["document"]["filename"] == "event-7.ics"
    assert [r.params["text"] for r in sent_to(api, USER)] == ["Your calendar file:"]
    assert not api.calls("editMessageText")


async def test_private_reply_goes_to_the_sender_not_the_group(
    scripted: Scripted, api: FakeTelegramAPI
) -> None:
    scripted.reply = Reply(text="Your code is <code>ABCD</code>", private=True)
    async with asyncio.timeout(10):
        sent = await say(api, command("group_command", "/linkaccount@council_test_bot"), LUCA)
    assert sent.params["text"] == "Your code is <code>ABCD</code>"
    assert sent_to(api, GROUP) == []
    assert scripted.commands[0].chat.chat_id == GROUP


async def test_a_private_answer_it_cannot_deliver_is_explained_in_the_group(
    scripted: Scripted, api: FakeTelegramAPI
) -> None:
    scripted.reply = Reply(text="Your code is <code>ABCD</code>", private=True)
    api.blocked.add(LUCA)  # never started the bot, or blocked it: Telegram answers 403
    anonymous = command("group_command", "/linkaccount")
    anonymous["message"]["sender_chat"] = {
        "id": int(GROUP),
        "title": "Cork members",
        "type": "supergroup",
    }
    async with asyncio.timeout(10):
        note = await say(api, command("group_command", "/linkaccount"), GROUP)
        again = await say(api, anonymous, GROUP)  # an anonymous admin: nobody to write to
    for sent in (note, again):
        assert sent.params["text"] == (
            "This answer is only for you, but I cannot write to you privately yet: open a chat "
            "with @council_test_bot, press Start and send the command there."
        )
    assert "ABCD" not in str([r.params for r in api.sent])


async def test_a_refused_button_press_pops_up_and_leaves_the_message_alone(
    scripted: Scripted, api: FakeTelegramAPI
) -> None:
    refusal = "Only coordinators can use /link."
    scripted.reply = Reply(text=refusal + "\nUsage: /link <council>", error=refusal)
    async with asyncio.timeout(10):
        api.push_update(callback("c:/link cork"))
        [answer] = await until(lambda: api.calls("answerCallbackQuery"))
    assert answer.params["text"] == refusal
    assert answer.params["show_alert"] in (True, "true")
    assert api.calls("editMessageText") == [] and api.sent == []


async def test_errors_are_logged(
    scripted: Scripted, api: FakeTelegramAPI, caplog: pytest.LogCaptureFixture
) -> None:
    # No token in the logs: tests/integration/test_secrets_in_logs.py greps the whole output.
    caplog.set_level(logging.INFO)
    scripted.reply = Reply(text="fine")
    scripted.crashes = 1
    api.missing.add("333")
    async with asyncio.timeout(10):
        api.push_update(command("private_command", "/help"))
        api.push_update(payload("caption_command"))  # its chat is gone: sendMessage fails
        await until(lambda: len(scripted.commands) == 2)
        await say(api, command("private_command", "/help"), USER)
    failures = [r for r in caplog.records if "failed" in r.getMessage()]
    assert [r.levelno for r in failures] == [logging.ERROR, logging.WARNING]
    assert failures[0].exc_info and isinstance(failures[0].exc_info[1], RuntimeError)
    assert "chat not found" in failures[1].getMessage().lower()


WEBHOOK_SECRET = "s3cret-Token_for-tests"


@pytest.fixture
async def webhook(app: App, api: FakeTelegramAPI) -> AsyncIterator[TelegramAdapter]:
    adapter = await running(
        app.router,
        api,
        webhook_url="https://bot.example.org/telegram/webhook",
        webhook_secret=WEBHOOK_SECRET,
    )
    yield adapter
    async with asyncio.timeout(10):
        await adapter.stop()


async def test_webhook_mode_sets_the_webhook_and_does_not_poll(
    webhook: TelegramAdapter, api: FakeTelegramAPI
) -> None:
    (call,) = api.calls("setWebhook")
    assert call.params["url"] == "https://bot.example.org/telegram/webhook"
    assert call.params["secret_token"] == WEBHOOK_SECRET
    assert set(call.params["allowed_updates"]) >= {"message", "channel_post", "callback_query"}
    assert api.calls("getUpdates") == []


@pytest.mark.parametrize("secret", [None, "", "wrong", WEBHOOK_SECRET + "x"])
async def test_webhook_refuses_a_missing_or_wrong_secret(
    webhook: TelegramAdapter, api: FakeTelegramAPI, secret: str | None
) -> None:
    body = json.dumps({"update_id": 1, **command("private_command", "/help")}).encode()
    async with asyncio.timeout(10):
        assert await webhook.process_webhook(body, secret) == 403
    assert api.sent == []


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        b"\xff\xfe",
        b'{"update_id": "x"}',
        b'{"message": {}}',
        b'{"update_id": 3, "message": 5}',
    ],
)
async def test_webhook_refuses_garbage(webhook: TelegramAdapter, body: bytes) -> None:
    async with asyncio.timeout(10):
        assert await webhook.process_webhook(body, WEBHOOK_SECRET) == 400


async def test_webhook_answers_an_update_with_the_right_secret(
    webhook: TelegramAdapter, api: FakeTelegramAPI
) -> None:
    body = json.dumps({"update_id": 7, **command("private_command", "/help")}).encode()
    async with asyncio.timeout(10):
        assert await webhook.process_webhook(body, WEBHOOK_SECRET) == 200
    assert "/councils — Show the councils." in api.texts_to(USER)[0]


async def test_webhook_without_a_secret_refuses_everything(app: App, api: FakeTelegramAPI) -> None:
    adapter = TelegramAdapter(app.router, api.token, base_url=api.base_url, webhook_url="https://x")
    body = json.dumps({"update_id": 7, **payload("private_command")}).encode()
    await adapter.application.initialize()
    try:
        assert await adapter.process_webhook(body, "") == 403
        assert await adapter.process_webhook(body, None) == 403
    finally:
        await adapter.application.shutdown()
    assert api.sent == []


async def test_a_sub_command_is_typed_as_on_every_platform(
    admin_app: App, api: FakeTelegramAPI
) -> None:
    adapter = await running(admin_app.router, api)
    try:
        async with asyncio.timeout(10):
            usage = await say(api, command("private_command", "/coordinator"), USER)
            forms = await say(api, command("private_command", "/help coordinator remove"), USER)
            added = await say(
                api, command("private_command", f"/coordinator add telegram:{USER} cork"), USER
            )
    finally:
        await adapter.stop()
    assert usage.params["text"] == (
        "/coordinator needs one of: add, remove.\n<i>Usage: /coordinator add &lt;user&gt; "
        "&lt;council&gt; · /coordinator remove &lt;user&gt; &lt;council&gt;</i>"
    )
    assert forms.params["text"].startswith(
        "<b>/coordinator remove &lt;user&gt; &lt;council&gt;</b>\n"
        "Stop someone being a coordinator of a council."
    )
    assert "is now a coordinator of Southern Ireland council (MTU)." in added.params["text"]
