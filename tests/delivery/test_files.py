"""Files through the outbox: stored once by reference, sent by the real targets to the fakes.

A feature stores a file with `files.store` and enqueues messages carrying the reference;
the dispatcher reads the bytes once and sends them: Telegram `sendPhoto` / `sendDocument`
(the text as caption, or right after when it is longer than a caption may be), Slack
`files_upload_v2` then the text, the console a `(file: name, N bytes)` line.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.core.errors import InvalidInput
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.db.models import Channel, Delivery, DeliveryStatus, File, Member
from councilbot.db.session import create_engine, create_sessionmaker
from councilbot.delivery import files, outbox
from councilbot.delivery.dispatcher import DispatchConfig, Dispatcher, platform_rates
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.ratelimit import RateLimiter
from councilbot.delivery.targets import DeliveryTarget, FileRef, Outgoing
from tests.conftest import START
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

GROUP = "-100777"  # a Telegram group linked to Cork
ANA = "4242"  # Ana's Telegram id: her private chat with the bot
SLACK_CHANNEL = "C0CORK"
BEA = "U0BEA"  # a Slack member, reached in her direct messages
COVER = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40  # a picture, about 10 kB
CALENDAR = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n"
FAST = DispatchConfig(poll_interval=0.05, flush_interval=0.02, backoff_first=0.05, max_attempts=3)
RSVP = ((Button(label="Going", command="/rsvp 7 yes"),),)


async def store(engine: AsyncEngine, data: bytes, filename: str, content_type: str) -> FileRef:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await files.store(
            session, filename=filename, content_type=content_type, data=data, now=START
        )


async def enqueue(engine: AsyncEngine, *messages: Outgoing, **links: int | None) -> None:
    envelopes = [
        Envelope(key=f"test:{n}", message=m, source="test", source_id=1, **links)
        for n, m in enumerate(messages)
    ]
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.enqueue(session, envelopes, now=datetime.now(UTC))


async def rows(engine: AsyncEngine) -> list[Delivery]:
    async with create_sessionmaker(engine)() as session:
        return list(await session.scalars(select(Delivery).order_by(Delivery.id)))


def dispatcher(engine: AsyncEngine, *targets: DeliveryTarget) -> Dispatcher:
    rates = platform_rates(
        telegram_per_second=1000.0,
        telegram_private_per_second=1000.0,
        telegram_group_per_minute=60_000.0,
        slack_channel_per_second=1000.0,
    )
    return Dispatcher(
        create_sessionmaker(engine), {t.platform: t for t in targets}, RateLimiter(rates), FAST
    )


async def drain(worker: Dispatcher, engine: AsyncEngine) -> list[Delivery]:
    """Run the dispatcher until no row waits (retries are due a little later)."""
    async with asyncio.timeout(15):
        while True:
            await worker.run_until_idle()
            done = await rows(engine)
            if all(
                row.status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for row in done
            ):
                return done
            await asyncio.sleep(0.05)


async def linked_group(engine: AsyncEngine, platform: Platform, chat_id: str) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        channel = Channel(
            platform=platform,
            workspace=TEAM_ID if platform is Platform.SLACK else "",
            external_id=chat_id,
            council_id=1,
            created_at=START,
            updated_at=START,
        )
        session.add(channel)
        await session.flush()
        return channel.id


async def subscriber(engine: AsyncEngine, name: str) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        member = Member(display_name=name, created_at=START)
        session.add(member)
        await session.flush()
        return member.id


def telegram_message(chat_id: str, text: str, file: FileRef, **kwargs: object) -> Outgoing:
    return Outgoing(platform=Platform.TELEGRAM, chat_id=chat_id, text=text, file=file, **kwargs)


# -- storing


async def test_a_file_is_stored_once_and_messages_hold_only_its_reference(
    engine: AsyncEngine,
) -> None:
    cover = await store(engine, COVER, "issue-12/cover.png", "image/png")
    again = await store(engine, COVER, "cover-again.png", "image/png")
    calendar = await store(engine, CALENDAR, "event-7.ics", "text/calendar")
    assert (cover.id, cover.filename, cover.size) == (again.id, "cover.png", len(COVER))
    assert again.filename == "cover-again.png" and calendar.id != cover.id

    message = telegram_message(GROUP, "<b>Issue 12</b> is out", cover)
    await enqueue(engine, message)
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(File)) == 2
        stored = await session.scalar(select(File.data).where(File.id == cover.id))
    assert stored == COVER
    [row] = await rows(engine)
    assert row.payload == {
        "text": "<b>Issue 12</b> is out",
        "buttons": [],
        "file": {
            "id": cover.id,
            "sha256": hashlib.sha256(COVER).hexdigest(),
            "filename": "cover.png",
            "content_type": "image/png",
            "size": len(COVER),
        },
    }


async def test_two_transactions_storing_the_same_file_at_once_keep_one_row(
    engine: AsyncEngine, database_url: str
) -> None:
    # A second engine: on SQLite one engine has one connection, which would serialise them.
    other = create_engine(database_url)
    try:
        async with create_sessionmaker(engine)() as first, first.begin():
            mine = await files.store(
                first, filename="a.ics", content_type="text/calendar", data=CALENDAR, now=START
            )
            second = asyncio.create_task(store(other, CALENDAR, "b.ics", "text/calendar"))
            await asyncio.sleep(0.3)  # the second waits for the first's row to commit
            assert not second.done()
        theirs = await asyncio.wait_for(second, 10)
    finally:
        await other.dispose()
    assert theirs.id == mine.id
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(File)) == 1


async def test_an_empty_or_too_big_file_is_refused_in_the_readers_language(
    engine: AsyncEngine, catalogs: Catalogs
) -> None:
    spanish = catalogs.translator("es")
    with pytest.raises(InvalidInput) as empty:
        await store(engine, b"", "notes.csv", "text/csv")
    assert empty.value.render(catalogs.translator("en")) == (
        "The file notes.csv is empty, so there is nothing to send."
    )
    with pytest.raises(InvalidInput) as big:
        await store(engine, bytes(files.MAX_BYTES + 1), "/tmp/export.csv", "text/csv")
    assert big.value.render(catalogs.translator("en")) == (
        "The file export.csv is too big to send: files can have at most 50 megabytes."
    )
    assert "export.csv" in big.value.render(spanish)
    assert "50" in big.value.render(spanish)
    assert big.value.render(spanish) != big.value.render(catalogs.translator("en"))
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(File)) == 0


# -- Telegram


async def test_a_file_goes_to_a_telegram_group_and_a_subscribers_private_chat(
    seeded: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    group = await linked_group(seeded, Platform.TELEGRAM, GROUP)
    ana = await subscriber(seeded, "Ana")
    cover = await store(seeded, COVER, "cover.png", "image/png")
    calendar = await store(seeded, CALENDAR, "event-7.ics", "text/calendar")
    await enqueue(
        seeded,
        telegram_message(GROUP, "<b>Issue 12</b> is out", cover, buttons=RSVP),
        channel_id=group,
    )
    await enqueue_more(
        seeded,
        "dm",
        telegram_message(ANA, "Your calendar file", calendar, chat_kind=ChatKind.PRIVATE),
        member_id=ana,
    )
    await enqueue_more(
        seeded,
        "dm-cover",
        telegram_message(ANA, "<b>Issue 12</b> is out", cover, chat_kind=ChatKind.PRIVATE),
        member_id=ana,
    )
    worker = dispatcher(seeded, telegram)

    done = await drain(worker, seeded)

    assert [row.status for row in done] == [DeliveryStatus.SENT] * 3
    sent = {(r.chat_id, r.method): r.params for r in telegram_api.files}
    assert sorted(sent) == [(GROUP, "sendPhoto"), (ANA, "sendDocument"), (ANA, "sendPhoto")]
    photo = sent[GROUP, "sendPhoto"]
    assert photo["caption"] == "<b>Issue 12</b> is out"
    assert photo["parse_mode"] == "HTML"
    [[button]] = photo["reply_markup"]["inline_keyboard"]
    assert (button["text"], button["callback_data"]) == ("Going", "c:/rsvp 7 yes")
    # The cover's bytes went once; its second chat got it by the id Telegram gave them.
    uploaded, again = sorted(
        (photo["photo"], sent[ANA, "sendPhoto"]["photo"]), key=lambda v: isinstance(v, str)
    )
    assert uploaded == {"filename": "cover.png", "data": COVER}
    assert telegram_api.file_ids[again] == uploaded
    document = sent[ANA, "sendDocument"]
    assert document["document"] == {"filename": "event-7.ics", "data": CALENDAR}
    assert document["caption"] == "Your calendar file"
    assert not telegram_api.sent  # no text message besides: each caption fitted
    assert worker.files.reads == 2  # the cover was read once for its two chats
    # A captioned file is one message, recorded as "<its id>/": edited by its caption.
    message_ids = {r.chat_id: r.platform_message_id for r in done}
    [photo_id] = [mid for (chat, mid) in telegram_api.messages if chat == GROUP]
    assert message_ids[GROUP] == f"{photo_id}/"


async def test_a_broadcast_uploads_its_file_once_and_sends_it_by_telegrams_file_id(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    groups = [f"-100{n}" for n in range(1, 6)]
    await enqueue(engine, *(telegram_message(g, "<b>Issue 12</b>", cover) for g in groups))

    done = await drain(dispatcher(engine, telegram), engine)

    assert [row.status for row in done] == [DeliveryStatus.SENT] * 5
    photos = [r.params["photo"] for r in telegram_api.files]
    assert sorted(r.chat_id for r in telegram_api.files) == sorted(groups)
    [upload] = [p for p in photos if isinstance(p, dict)]
    [file_id] = set(p for p in photos if isinstance(p, str))
    assert upload["data"] == COVER and telegram_api.file_ids[file_id] == upload
    assert photos.count(file_id) == 4


async def test_a_file_id_telegram_no_longer_knows_is_uploaded_again(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    worker = dispatcher(engine, telegram)
    await enqueue_more(engine, "first", telegram_message("-1001", "Issue 12", cover))
    await drain(worker, engine)
    telegram_api.file_ids.clear()  # Telegram forgot it
    await enqueue_more(engine, "second", telegram_message("-1002", "Issue 12", cover))

    first, second = await drain(worker, engine)

    assert (first.status, second.status) == (DeliveryStatus.SENT, DeliveryStatus.SENT)
    refused = [r for r in telegram_api.calls("sendPhoto") if isinstance(r.params["photo"], str)]
    assert [r.chat_id for r in refused] == ["-1002"]
    assert [(r.chat_id, r.params["photo"]["data"]) for r in telegram_api.files] == [
        ("-1001", COVER),
        ("-1002", COVER),
    ]


async def enqueue_more(engine: AsyncEngine, key: str, message: Outgoing, **links: int) -> None:
    async with create_sessionmaker(engine)() as session, session.begin():
        envelope = Envelope(key=key, message=message, source="test", source_id=1, **links)
        await outbox.enqueue(session, [envelope], now=datetime.now(UTC))


def long_text(visible: int) -> str:
    return "<b>Programme</b>\n" + "a" * (visible - len("Programme\n"))


async def test_a_text_too_long_for_a_caption_goes_right_after_the_photo(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    text = long_text(1025)
    await enqueue(engine, telegram_message(GROUP, text, cover, buttons=RSVP))

    [row] = await drain(dispatcher(engine, telegram), engine)

    photo, message = (r for r in telegram_api.requests if r.method != "getMe")
    assert (photo.method, message.method) == ("sendPhoto", "sendMessage")
    assert "caption" not in photo.params and "reply_markup" not in photo.params
    assert message.params["text"] == text
    assert message.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Going"
    assert row.status is DeliveryStatus.SENT
    # Both messages are the post: the photo is message 1, the text 2.
    assert row.platform_message_id == "1/2"


async def test_a_caption_is_counted_without_its_markup(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    text = long_text(1024).replace("<b>", '<a href="https://example.org/issue/12"><b>', 1)
    text = text.replace("</b>", "</b></a>", 1)
    assert len(text) > 1024
    await enqueue(engine, telegram_message(GROUP, text, cover))

    await drain(dispatcher(engine, telegram), engine)

    [photo] = telegram_api.files
    assert photo.params["caption"] == text and not telegram_api.sent


async def test_a_retry_after_the_text_failed_does_not_send_the_photo_twice(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    text = long_text(2000)
    telegram_api.scripted_errors["sendMessage"] = [(500, "Internal Server Error")]
    await enqueue(engine, telegram_message(GROUP, text, cover))

    [row] = await drain(dispatcher(engine, telegram), engine)

    assert (row.status, row.attempts) == (DeliveryStatus.SENT, 2)
    assert len(telegram_api.files) == 1
    assert telegram_api.texts_to(GROUP) == [text]


async def test_a_picture_telegram_will_not_show_as_a_photo_goes_as_a_document(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    panorama = await store(engine, COVER, "panorama.jpg", "image/jpeg")
    telegram_api.scripted_errors["sendPhoto"] = [(400, "Bad Request: PHOTO_INVALID_DIMENSIONS")]
    await enqueue(engine, telegram_message(GROUP, "The whole hall", panorama))

    [row] = await drain(dispatcher(engine, telegram), engine)

    assert row.status is DeliveryStatus.SENT
    [document] = telegram_api.files
    assert document.method == "sendDocument"
    assert document.params["document"]["filename"] == "panorama.jpg"
    assert document.params["caption"] == "The whole hall"


async def test_a_file_no_longer_stored_fails_its_message_and_says_why(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    calendar = await store(engine, CALENDAR, "event-7.ics", "text/calendar")
    await enqueue(engine, telegram_message(GROUP, "Your calendar file", calendar))
    async with create_sessionmaker(engine)() as session, session.begin():
        await session.execute(delete(File))

    [row] = await drain(dispatcher(engine, telegram), engine)

    assert row.status is DeliveryStatus.FAILED
    assert row.last_error == f"file {calendar.id} is no longer stored"
    assert not telegram_api.files


# -- Slack


async def test_a_file_goes_to_a_slack_channel_and_a_members_direct_messages(
    seeded: AsyncEngine, slack_api: FakeSlackAPI
) -> None:
    channel = await linked_group(seeded, Platform.SLACK, SLACK_CHANNEL)
    bea = await subscriber(seeded, "Bea")
    cover = await store(seeded, COVER, "cover.png", "image/png")

    def slack_message(chat_id: str, kind: ChatKind, **kwargs: object) -> Outgoing:
        return Outgoing(
            platform=Platform.SLACK,
            workspace=TEAM_ID,
            chat_id=chat_id,
            chat_kind=kind,
            text="<b>Issue 12</b> is out",
            file=cover,
            **kwargs,
        )

    await enqueue_more(
        seeded,
        "channel",
        slack_message(SLACK_CHANNEL, ChatKind.GROUP, buttons=RSVP),
        channel_id=channel,
    )
    await enqueue_more(seeded, "dm", slack_message(BEA, ChatKind.PRIVATE), member_id=bea)
    target = SlackTarget.create("xoxb-test", slack_api.base_url, timeout=2)

    done = await drain(dispatcher(seeded, target), seeded)

    assert [row.status for row in done] == [DeliveryStatus.SENT] * 2
    in_channel, in_dm = slack_api.uploads
    assert in_channel == {
        "filename": "cover.png",
        "title": "cover.png",
        "channel": SLACK_CHANNEL,
        "data": COVER,
        "token": "xoxb-test",
    }
    [opened] = slack_api.calls("conversations.open")
    assert opened.params["users"] == BEA
    assert (in_dm["channel"], in_dm["data"]) == ("D0BEA", COVER)
    # The text follows each file as a message of its own, its buttons with it.
    methods = [r.method for r in slack_api.requests]
    assert methods.index("files.completeUploadExternal") < methods.index("chat.postMessage")
    assert slack_api.texts_to(SLACK_CHANNEL) == ["*Issue 12* is out"]
    assert slack_api.texts_to(BEA) == ["*Issue 12* is out"]
    [post] = (r for r in slack_api.posted if r.params["channel"] == SLACK_CHANNEL)
    assert any(block["type"] == "actions" for block in post.params["blocks"])
    # Each post is recorded as "<file id>/<text ts>", so that a deletion removes both.
    [in_channel_id] = slack_api.files_in(SLACK_CHANNEL)
    [in_dm_id] = slack_api.files_in("D0BEA")
    assert {row.chat_id: row.platform_message_id for row in done} == {
        SLACK_CHANNEL: f"{in_channel_id}/{post_ts(slack_api, SLACK_CHANNEL)}",
        BEA: f"{in_dm_id}/{post_ts(slack_api, 'D0BEA')}",
    }


def post_ts(api: FakeSlackAPI, channel: str) -> str:
    [ts] = [ts for (chat, ts) in api.messages if chat == channel]
    return ts


# -- console


async def test_the_console_shows_a_file_as_its_name_and_size(engine: AsyncEngine) -> None:
    calendar = await store(engine, CALENDAR, "event-7.ics", "text/calendar")
    out = io.StringIO()
    await enqueue(
        engine,
        Outgoing(
            platform=Platform.CONSOLE, chat_id="cork-chat", text="Your calendar", file=calendar
        ),
    )

    await drain(dispatcher(engine, ConsoleTarget(out)), engine)

    assert out.getvalue() == (
        f"[to cork-chat] Your calendar\n(file: event-7.ics, {len(CALENDAR)} bytes)\n\n"
    )


async def test_a_captioned_photo_is_edited_by_its_caption_and_a_long_text_by_its_message(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    await enqueue(
        engine,
        telegram_message(GROUP, "<b>Issue 12</b> is out", cover, buttons=RSVP),
        telegram_message(GROUP, long_text(1025), cover),
    )
    worker = dispatcher(engine, telegram)
    captioned, separate = await drain(worker, engine)
    assert captioned.platform_message_id is not None and separate.platform_message_id
    captioned_id = captioned.platform_message_id.removesuffix("/")  # "<file>/"
    text_id = separate.platform_message_id.partition("/")[2]  # "<file>/<text>"

    def fixed(posted: outbox.Posted) -> Outgoing:
        new = posted.message.text.replace("Issue 12", "Issue 12 (corrected)")
        return posted.message.model_copy(update={"text": new.replace("aaaa", "bbbb", 1)})

    async with create_sessionmaker(engine)() as session, session.begin():
        assert await outbox.enqueue_edits(session, "test", 1, fixed, now=datetime.now(UTC)) == 2
    await drain(worker, engine)

    assert telegram_api.current(GROUP, captioned_id) == "<b>Issue 12 (corrected)</b> is out"
    [caption_edit] = telegram_api.calls("editMessageCaption")
    assert caption_edit.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Going"
    [text_edit] = telegram_api.calls("editMessageText")
    assert int(text_edit.params["message_id"]) == int(text_id)
    assert "bbbb" in (telegram_api.current(GROUP, text_id) or "")
    assert all(row.status is DeliveryStatus.SENT for row in await rows(engine))
