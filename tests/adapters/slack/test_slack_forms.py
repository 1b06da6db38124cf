"""Slack modals: `/council announce` with no arguments opens a form; its submission runs the
command as typed, refusals stay in the modal (beside their field when they have one)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.db.models import Announcement
from councilbot.db.session import create_sessionmaker
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    interaction,
    payload,
    send,
    slash,
    until,
)
from tests.fakes.slack_api import FakeSlackAPI, Recorded


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


async def opened_form(adapter: SlackAdapter, api: FakeSlackAPI) -> Recorded:
    """Send `/council announce` as the admin and return the views.open call."""
    [opened] = await answered(
        adapter, slash(api, "announce", user_id=ADMIN), lambda: api.calls("views.open")
    )
    return opened


def submission(opened: Recorded, **filled: str) -> dict[str, Any]:
    """Return the view_submission Slack sends when the form is filled in and sent."""
    data = payload("view_submission")
    data["user"].update(id=ADMIN, username="admin", name="admin")
    view = opened.params["view"]
    data["view"].update(
        blocks=copy.deepcopy(view["blocks"]), private_metadata=view["private_metadata"]
    )
    values = {}
    for block in view["blocks"]:
        if block["type"] == "input":
            value = filled.get(block["block_id"]) or None
            values[block["block_id"]] = {"value": {"type": "plain_text_input", "value": value}}
    data["view"]["state"] = {"values": values}
    return data


async def submit(adapter: SlackAdapter, opened: Recorded, **filled: str) -> dict[str, Any] | None:
    """Submit the form; return Slack's answer to it (None: an empty 200, the modal closes)."""
    status, content, _headers = await send(adapter, interaction(submission(opened, **filled)))
    assert status == 200
    return json.loads(content) if content else None


async def announcements(engine: AsyncEngine) -> list[Announcement]:
    async with create_sessionmaker(engine)() as session:
        return list((await session.scalars(select(Announcement))).all())


async def test_announce_without_arguments_opens_a_form(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    opened = await opened_form(adapter, api)
    view = opened.params["view"]
    assert opened.params["trigger_id"] == payload("slash_command")["trigger_id"]
    assert (view["type"], view["title"]["text"], view["submit"]["text"]) == (
        "modal",
        "/announce",
        "Send",
    )
    inputs = [b for b in view["blocks"] if b["type"] == "input"]
    assert [(b["block_id"], b["label"]["text"], b["optional"]) for b in inputs] == [
        ("target", "councils", False),
        ("text", "text", True),
        ("at", "when", True),
        ("yes", "send without a preview", True),
    ]
    assert inputs[1]["element"]["multiline"] is True
    assert json.loads(view["private_metadata"])["channel"] == CHANNEL
    assert not api.calls("chat.postMessage")


async def test_a_member_is_told_before_filling_anything(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [answer] = await answered(
        adapter, slash(api, "announce"), lambda: calls_to(api, "chat.postEphemeral", CHANNEL)
    )
    assert "Only coordinators can use /council announce." in answer.params["text"]
    assert not api.calls("views.open")


async def test_with_arguments_it_works_as_typed(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    await answered(
        adapter,
        slash(api, "announce cork Desks are free", user_id=ADMIN),
        lambda: calls_to(api, "chat.postEphemeral", CHANNEL),  # the preview, for the sender
    )
    await adapter.drain()
    assert not api.calls("views.open")
    assert [a.text for a in await announcements(seeded)] == ["Desks are free"]


async def test_a_sent_form_announces_and_closes(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    opened = await opened_form(adapter, api)

    answer = await submit(adapter, opened, target="cork", text="Desks are free\non Friday")

    assert answer is None  # the modal closes
    [post] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert post.params["user"] == ADMIN  # the preview is for the sender alone
    assert "Preview of announcement #1" in post.params["text"]
    await adapter.drain()
    [stored] = await announcements(seeded)
    assert stored.text == "Desks are free\non Friday"


async def test_a_bad_field_is_shown_beside_it_and_nothing_is_saved(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    opened = await opened_form(adapter, api)

    answer = await submit(adapter, opened, target="cork", text="Hello", at="someday soon")
    missing = await submit(adapter, opened, target="cork")

    assert answer is not None and answer["response_action"] == "errors"
    assert list(answer["errors"]) == ["at"]
    assert "as a time" in answer["errors"]["at"] and "<" not in answer["errors"]["at"]
    assert missing == {
        "response_action": "errors",
        "errors": {"text": "Please write the announcement's text."},
    }
    assert await announcements(seeded) == []
    assert not api.calls("chat.postMessage")


async def test_a_refusal_about_no_field_is_shown_on_top_with_the_values_kept(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    opened = await opened_form(adapter, api)

    answer = await submit(adapter, opened, target="atlantis", text="Hello")

    assert answer is not None and answer["response_action"] == "update"
    blocks = answer["view"]["blocks"]
    assert blocks[0]["type"] == "section" and "atlantis" in blocks[0]["text"]["text"]
    kept = {
        b["block_id"]: b["element"].get("initial_value") for b in blocks if b["type"] == "input"
    }
    assert kept == {"target": "atlantis", "text": "Hello", "at": None, "yes": None}
    assert await announcements(seeded) == []


async def test_when_the_bot_is_not_in_the_channel_the_result_comes_by_direct_message(
    adapter: SlackAdapter, api: FakeSlackAPI, seeded: AsyncEngine
) -> None:
    opened = await opened_form(adapter, api)
    api.errors[CHANNEL] = "not_in_channel"

    assert await submit(adapter, opened, target="cork", text="Desks are free") is None

    [dm] = await until(lambda: calls_to(api, "chat.postMessage", ADMIN))
    assert "I am not a member of this channel" in dm.params["text"]
    assert "Preview of announcement #1" in dm.params["text"]
    await adapter.drain()
    assert [a.text for a in await announcements(seeded)] == ["Desks are free"]
