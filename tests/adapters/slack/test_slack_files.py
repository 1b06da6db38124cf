"""Files in Slack answers: uploaded (files.getUploadURLExternal, the upload, then
files.completeUploadExternal) beside a public answer, or in the sender's direct messages
when the answer is only for them."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.core.messages import Attachment, Reply
from tests.adapters.slack.test_slack_adapter import (
    ANA,
    CHANNEL,
    DM,
    TOKEN,
    adapter_for,
    answered,
    calls_to,
    interaction,
    payload,
    send,
    slash,
    until,
)
from tests.fakes.scripted import Scripted
from tests.fakes.slack_api import FakeSlackAPI

CALENDAR = Attachment(
    filename="event-7.ics",
    content_type="text/calendar",
    data=b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nEND:VCALENDAR\r\n",
)


@pytest.fixture
async def scripted(slack_app: App) -> Scripted:
    return Scripted(slack_app.router, Reply(text="Your calendar file:", file=CALENDAR))


@pytest.fixture
async def adapter(scripted: Scripted, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(scripted, api)  # type: ignore[arg-type]
    yield adapter
    async with asyncio.timeout(15):
        await adapter.stop()


async def test_a_public_answer_has_its_file_in_the_channel(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [post] = await answered(
        adapter, slash(api, "councils"), lambda: calls_to(api, "chat.postMessage", CHANNEL)
    )
    [upload] = await until(lambda: api.uploads)
    assert post.params["text"] == "Your calendar file:"
    assert upload == {
        "filename": "event-7.ics",
        "title": "event-7.ics",
        "channel": CHANNEL,
        "data": CALENDAR.data,
        "token": TOKEN,
    }
    assert not api.calls("conversations.open")


async def test_a_private_answer_sends_its_file_to_direct_messages(
    adapter: SlackAdapter, api: FakeSlackAPI, scripted: Scripted
) -> None:
    scripted.reply = scripted.reply.model_copy(update={"private": True})
    await answered(
        adapter, slash(api, "attendees 7 csv"), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    [upload] = await until(lambda: api.uploads)
    assert upload["channel"] == DM
    [opened] = api.calls("conversations.open")
    assert opened.params["users"] == ANA
    assert not api.calls("chat.postMessage")


async def test_a_button_answered_with_a_file_uploads_it(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    press = payload("block_actions")
    press["response_url"] = api.response_url("press")
    status, _content, _headers = await send(adapter, interaction(press))
    assert status == 200
    [upload] = await until(lambda: api.uploads)
    assert (upload["channel"], upload["data"]) == (DM, CALENDAR.data)


async def test_a_refused_upload_is_explained_to_the_sender(
    adapter: SlackAdapter, api: FakeSlackAPI, scripted: Scripted
) -> None:
    scripted.reply = scripted.reply.model_copy(update={"private": True})
    api.errors[DM] = "missing_scope"
    await send(adapter, slash(api, "attendees 7 csv"))
    [answer] = await until(lambda: api.responses)
    assert "could not send you the file event-7.ics (missing_scope)" in answer.params["text"]
    assert answer.params["response_type"] == "ephemeral"
    assert not api.uploads
