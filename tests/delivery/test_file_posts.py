"""Editing and deleting posts that carry a file, through the real targets to the fakes.

A Telegram post with a file is one message (the file, its text as caption) or two (the
file, then a text too long for a caption); a Slack post is an upload plus a text message,
or the upload alone. Edits go to the message holding the text by the method that fits how
it was sent, and deletions remove every message of the post and the uploaded file.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.adapters.telegram.delivery import TelegramTarget
from councilbot.adapters.telegram.render import caption_fits, fit_caption
from councilbot.core.formatting import plain_text
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import ChatKind, Platform
from councilbot.db.models import (
    Channel,
    Council,
    Delivery,
    DeliveryOperation,
    DeliveryStatus,
    Identity,
    Member,
    Subscription,
)
from councilbot.db.session import create_sessionmaker
from councilbot.delivery import files, outbox
from councilbot.delivery.dispatcher import Dispatcher
from councilbot.delivery.outbox import Envelope
from councilbot.delivery.targets import FileRef, Outgoing
from councilbot.services import broadcast
from tests.conftest import START
from tests.delivery.test_files import (
    ANA,
    BEA,
    CALENDAR,
    COVER,
    GROUP,
    RSVP,
    SLACK_CHANNEL,
    dispatcher,
    long_text,
    rows,
    store,
    telegram_message,
)
from tests.fakes.slack_api import TEAM_ID, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI

SOURCE = "test"


@pytest.fixture
def slack(slack_api: FakeSlackAPI) -> SlackTarget:
    return SlackTarget.create("xoxb-test", slack_api.base_url, timeout=2)


async def enqueue(engine: AsyncEngine, *messages: Outgoing) -> None:
    envelopes = [
        Envelope(key=f"{SOURCE}:{n}", message=m, source=SOURCE, source_id=1)
        for n, m in enumerate(messages)
    ]
    async with create_sessionmaker(engine)() as session, session.begin():
        await outbox.enqueue(session, envelopes, now=datetime.now(UTC))


async def drain(worker: Dispatcher, engine: AsyncEngine) -> list[Delivery]:
    """Run the dispatcher until no row waits; return the posts (not their edits or deletions)."""
    async with asyncio.timeout(15):
        while True:
            await worker.run_until_idle()
            done = await rows(engine)
            if all(r.status not in (DeliveryStatus.PENDING, DeliveryStatus.SENDING) for r in done):
                return [r for r in done if r.operation is DeliveryOperation.SEND]
            await asyncio.sleep(0.05)


async def edit_all(engine: AsyncEngine, text: str, source: str = SOURCE, source_id: int = 1) -> int:
    def render(posted: outbox.Posted) -> Outgoing:
        return posted.message.model_copy(update={"text": text})

    async with create_sessionmaker(engine)() as session, session.begin():
        return await outbox.enqueue_edits(session, source, source_id, render, now=datetime.now(UTC))


async def delete_all(engine: AsyncEngine, source: str = SOURCE, source_id: int = 1) -> int:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await outbox.enqueue_deletes(session, source, source_id, now=datetime.now(UTC))


async def changes(engine: AsyncEngine, operation: DeliveryOperation) -> list[Delivery]:
    return [row for row in await rows(engine) if row.operation is operation]


def slack_message(chat_id: str, text: str, file: FileRef, **kwargs: object) -> Outgoing:
    return Outgoing(
        platform=Platform.SLACK, workspace=TEAM_ID, chat_id=chat_id, text=text, file=file, **kwargs
    )


def sent_to(api: FakeTelegramAPI, chat_id: str) -> list[int]:
    """Return the ids of the messages the fake Telegram holds in a chat, oldest first."""
    return sorted(mid for chat, mid in api.messages if chat == chat_id)


# -- Telegram


async def test_a_photo_and_the_long_text_after_it_are_deleted_together(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    await enqueue(engine, telegram_message(GROUP, long_text(1500), cover, buttons=RSVP))
    worker = dispatcher(engine, telegram)
    await drain(worker, engine)
    photo, text = sent_to(telegram_api, GROUP)
    assert telegram_api.files[0].method == "sendPhoto" and telegram_api.texts_to(GROUP)

    assert await delete_all(engine) == 1
    await drain(worker, engine)

    assert telegram_api.deleted == {(GROUP, photo), (GROUP, text)}
    [deletion] = await changes(engine, DeliveryOperation.DELETE)
    assert deletion.status is DeliveryStatus.SENT


async def test_a_captioned_photo_edited_to_a_text_too_long_for_a_caption_is_cut_with_an_ellipsis(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    await enqueue(engine, telegram_message(GROUP, "<b>Programme</b> soon", cover, buttons=RSVP))
    worker = dispatcher(engine, telegram)
    await drain(worker, engine)
    [photo] = sent_to(telegram_api, GROUP)

    await edit_all(engine, long_text(1500))
    await drain(worker, engine)

    [edited] = telegram_api.calls("editMessageCaption")
    caption = edited.params["caption"]
    assert caption.startswith("<b>Programme</b>\naaaa") and caption.endswith("a…")
    assert len(plain_text(caption)) == 1024  # as long as a caption may be
    assert telegram_api.current(GROUP, photo) == caption
    assert edited.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Going"
    assert telegram_api.calls("editMessageText") == [] and len(telegram_api.messages) == 1
    [edit] = await changes(engine, DeliveryOperation.EDIT)
    assert edit.status is DeliveryStatus.SENT


async def test_a_photo_with_its_text_after_it_edited_to_a_short_text_edits_that_text_message(
    engine: AsyncEngine, telegram_api: FakeTelegramAPI, telegram: TelegramTarget
) -> None:
    cover = await store(engine, COVER, "cover.png", "image/png")
    await enqueue(engine, telegram_message(GROUP, long_text(1500), cover, buttons=RSVP))
    worker = dispatcher(engine, telegram)
    await drain(worker, engine)
    photo, text = sent_to(telegram_api, GROUP)

    await edit_all(engine, "<b>Programme</b> moved to Sunday")
    await drain(worker, engine)

    [edited] = telegram_api.calls("editMessageText")
    assert int(edited.params["message_id"]) == text
    assert telegram_api.current(GROUP, text) == "<b>Programme</b> moved to Sunday"
    assert edited.params["reply_markup"]["inline_keyboard"][0][0]["text"] == "Going"
    assert telegram_api.current(GROUP, photo) == ""  # the photo stays without a caption
    assert telegram_api.calls("editMessageCaption") == []
    [edit] = await changes(engine, DeliveryOperation.EDIT)
    assert edit.status is DeliveryStatus.SENT


def test_a_caption_is_cut_between_words_and_keeps_its_markup_whole() -> None:
    text = "<b>Walks</b>\n" + "<i>talks &amp; walks</i> " * 100  # 1,606 characters shown
    caption = fit_caption(text)
    assert caption_fits(caption) and len(plain_text(caption)) > 1000
    assert caption.endswith("<i>talks &amp;…</i>")  # at a space, its tags closed
    assert caption.count("<i>") == caption.count("</i>")
    assert not re.search(r"&[a-z]*…|<[^>]*…", caption)  # no entity or tag cut in two
    assert fit_caption("<b>Short</b>") == "<b>Short</b>"


# -- Slack


async def test_a_slack_file_post_is_deleted_with_its_file_also_one_without_text(
    seeded: AsyncEngine, slack_api: FakeSlackAPI, slack: SlackTarget
) -> None:
    cover = await store(seeded, COVER, "cover.png", "image/png")
    calendar = await store(seeded, CALENDAR, "event-7.ics", "text/calendar")
    await enqueue(
        seeded,
        slack_message(SLACK_CHANNEL, "<b>Issue 12</b> is out", cover, buttons=RSVP),
        slack_message(BEA, "<b>Issue 12</b> is out", cover, chat_kind=ChatKind.PRIVATE),
        slack_message(SLACK_CHANNEL, "", calendar),  # a file without text
    )
    worker = dispatcher(seeded, slack)
    *_, bare = await drain(worker, seeded)
    cover_here, calendar_here = slack_api.files_in(SLACK_CHANNEL)
    [cover_in_dm] = slack_api.files_in("D0BEA")
    assert bare.platform_message_id == f"{calendar_here}/"  # deletable, though it has no ts
    assert len(slack_api.messages) == 2

    assert await delete_all(seeded) == 3
    await drain(worker, seeded)

    assert slack_api.files_in(SLACK_CHANNEL) == [] and slack_api.files_in("D0BEA") == []
    assert sorted(slack_api.deleted_files) == sorted([cover_here, calendar_here, cover_in_dm])
    assert slack_api.messages == {}  # both texts deleted too
    assert len(slack_api.calls("chat.delete")) == 2
    deletions = await changes(seeded, DeliveryOperation.DELETE)
    assert [row.status for row in deletions] == [DeliveryStatus.SENT] * 3


async def test_a_slack_file_already_gone_counts_as_deleted_and_a_refusal_says_so(
    seeded: AsyncEngine, slack_api: FakeSlackAPI, slack: SlackTarget
) -> None:
    cover = await store(seeded, COVER, "cover.png", "image/png")
    await enqueue(
        seeded,
        slack_message("C0ONE", "Issue 12", cover),
        slack_message("C0TWO", "Issue 12", cover),
        slack_message("C0THREE", "", cover),
    )
    worker = dispatcher(seeded, slack)
    await drain(worker, seeded)
    [gone] = slack_api.files_in("C0ONE")
    [theirs] = slack_api.files_in("C0TWO")
    del slack_api.shared_files[gone]  # someone deleted it in Slack meanwhile
    slack_api.deleted_files.append(gone)
    slack_api.shared_files[theirs]["token"] = "xoxb-someone-else"  # not the bot's to delete

    # A file posted without text has no message to put a text in.
    await edit_all(seeded, "Issue 12, corrected")
    await drain(worker, seeded)
    edits = {row.chat_id: row for row in await changes(seeded, DeliveryOperation.EDIT)}
    assert edits["C0ONE"].status is DeliveryStatus.SENT  # its text message, by its ts
    [(_, ts)] = [key for key in slack_api.messages if key[0] == "C0ONE"]
    assert slack_api.text_of("C0ONE", ts) == "Issue 12, corrected"
    assert edits["C0THREE"].status is DeliveryStatus.FAILED
    assert edits["C0THREE"].last_error == (
        outbox.NOT_ALLOWED + "the file was posted without a text message to edit"
    )

    await delete_all(seeded)
    await drain(worker, seeded)

    deletions = {row.chat_id: row for row in await changes(seeded, DeliveryOperation.DELETE)}
    assert deletions["C0ONE"].status is DeliveryStatus.SENT
    assert deletions["C0THREE"].status is DeliveryStatus.SENT
    assert deletions["C0TWO"].status is DeliveryStatus.FAILED
    assert deletions["C0TWO"].last_error == outbox.NOT_ALLOWED + "cant_delete_file"
    assert slack_api.files_in("C0TWO") == [theirs] and slack_api.files_in("C0THREE") == []


# -- the broadcast engine


async def test_a_broadcast_with_a_file_reaches_every_chat_and_is_deleted_from_all(
    seeded: AsyncEngine,
    catalogs: Catalogs,
    telegram_api: FakeTelegramAPI,
    telegram: TelegramTarget,
    slack_api: FakeSlackAPI,
    slack: SlackTarget,
) -> None:
    async with create_sessionmaker(seeded)() as session, session.begin():
        cork = await session.scalar(select(Council).where(Council.slug == "cork"))
        assert cork is not None
        for platform, chat, workspace in (
            (Platform.TELEGRAM, GROUP, ""),
            (Platform.SLACK, SLACK_CHANNEL, TEAM_ID),
        ):
            session.add(
                Channel(
                    platform=platform,
                    workspace=workspace,
                    external_id=chat,
                    council_id=cork.id,
                    created_at=START,
                    updated_at=START,
                )
            )
        for platform, user, workspace in (
            (Platform.TELEGRAM, ANA, ""),
            (Platform.SLACK, BEA, TEAM_ID),
        ):
            member = Member(display_name=user, locale="en", created_at=START)
            session.add(member)
            await session.flush()
            session.add_all(
                [
                    Identity(
                        member_id=member.id,
                        platform=platform,
                        workspace=workspace,
                        user_id=user,
                        created_at=START,
                        last_seen_at=START,
                    ),
                    Subscription(
                        member_id=member.id, topic="magazine", council_id=cork.id, created_at=START
                    ),
                ]
            )
    async with create_sessionmaker(seeded)() as session, session.begin():
        cork = await session.scalar(select(Council).where(Council.slug == "cork"))
        assert cork is not None
        cover = await files.store(
            session, filename="cover.png", content_type="image/png", data=COVER, now=START
        )
        audience = await broadcast.audience(
            session,
            [cork],
            "magazine",
            zone=ZoneInfo(cork.timezone),
            catalogs=catalogs,
            default_language="en",
        )

        def render(recipient: broadcast.Recipient) -> Outgoing:
            # The group gets the whole programme (too long for a caption); the others a line.
            text = long_text(1500) if recipient.chat_id == GROUP else "<b>Issue 12</b> is out"
            return recipient.message(text, RSVP, file=cover)

        queued = await broadcast.enqueue(
            session, audience, render, source="magazine", source_id=12, now=datetime.now(UTC)
        )
    assert queued == 4
    worker = dispatcher(seeded, telegram, slack)

    posts = await drain(worker, seeded)

    assert [row.status for row in posts] == [DeliveryStatus.SENT] * 4
    assert len(sent_to(telegram_api, GROUP)) == 2  # the photo, then the programme
    assert len(sent_to(telegram_api, ANA)) == 1  # the photo, captioned
    assert sorted(r.chat_id for r in telegram_api.files) == sorted([GROUP, ANA])
    assert len(slack_api.files_in(SLACK_CHANNEL)) == 1 and len(slack_api.files_in("D0BEA")) == 1
    assert slack_api.texts_to(SLACK_CHANNEL) == ["*Issue 12* is out"]
    assert slack_api.texts_to(BEA) == ["*Issue 12* is out"]

    assert await delete_all(seeded, "magazine", 12) == 4
    await drain(worker, seeded)

    assert telegram_api.deleted == set(telegram_api.messages)  # all three messages
    assert len(telegram_api.deleted) == 3
    assert slack_api.files_in(SLACK_CHANNEL) == [] and slack_api.files_in("D0BEA") == []
    assert len(slack_api.deleted_files) == 2 and slack_api.messages == {}
    deletions = await changes(seeded, DeliveryOperation.DELETE)
    assert [row.status for row in deletions] == [DeliveryStatus.SENT] * 4
