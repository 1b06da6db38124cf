"""Slack modals: `/council announce` with no arguments opens a form; its submission runs the
command as typed, refusals stay in the modal (beside their field when they have one)."""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.db.models import Announcement, Council
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


def filled_in(element: dict[str, Any], value: str | None) -> dict[str, Any]:
    """Return what Slack puts in view.state for an input element holding `value`."""
    kind = element["type"]
    if kind in ("checkboxes", "multi_static_select"):
        picked = (value or "").split(",")
        chosen = [o for o in element["options"] if o["value"] in picked]
        return {"type": kind, "selected_options": chosen}
    if kind == "static_select":
        chosen = [o for o in element["options"] if o["value"] == value]
        return {"type": kind, "selected_option": chosen[0] if chosen else None}
    if kind == "datepicker":
        return {"type": kind, "selected_date": value}
    if kind == "timepicker":
        return {"type": kind, "selected_time": value, "timezone": element.get("timezone")}
    return {"type": kind, "value": value}  # plain_text_input, number_input


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
            values[block["block_id"]] = {"value": filled_in(block["element"], value)}
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
        ("at", "when: day", True),
        ("at__time", "when: time (UTC)", True),  # the channel is not linked to a council yet
        ("yes", "send without a preview", True),
    ]
    assert [b["element"]["type"] for b in inputs] == [
        "multi_static_select",
        "plain_text_input",
        "datepicker",
        "timepicker",
        "checkboxes",
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
    async with create_sessionmaker(seeded)() as session, session.begin():
        # Renamed while the form was open: the council picked is no longer called so.
        await session.execute(
            update(Council).where(Council.slug == "cork").values(slug="mtu", city="Munster")
        )

    answer = await submit(
        adapter, opened, target="cork", text="Hello", at="2026-12-03", at__time="09:00"
    )

    assert answer is not None and answer["response_action"] == "update"
    blocks = answer["view"]["blocks"]
    assert blocks[0]["type"] == "section" and "cork" in blocks[0]["text"]["text"]
    inputs = {b["block_id"]: b["element"] for b in blocks if b["type"] == "input"}
    assert [o["value"] for o in inputs["target"]["initial_options"]] == ["cork"]
    assert inputs["text"]["initial_value"] == "Hello"
    assert inputs["at"]["initial_date"] == "2026-12-03"
    assert inputs["at__time"]["initial_time"] == "09:00"
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


@pytest.fixture
async def straw_adapter(
    seeded: AsyncEngine, database_url: str, catalogs, clock, api: FakeSlackAPI
) -> AsyncIterator[SlackAdapter]:
    """The Slack adapter of an app that runs the test-only straw-poll feature."""
    from councilbot.app import build_app
    from councilbot.commands import general
    from councilbot.core.features import Features
    from councilbot.settings import Settings
    from tests.integration.test_features import STRAW_FEATURE

    settings = Settings(database_url=database_url, admins=f"slack:{ADMIN}", default_language="en")
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        running=Features((general.FEATURE, STRAW_FEATURE)),
    )
    adapter = await adapter_for(app.router, api)
    yield adapter
    await adapter.stop()
    await app.aclose()


async def test_a_sub_command_s_form_asks_for_its_own_fields_only(
    straw_adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [opened] = await answered(
        straw_adapter, slash(api, "straw close", user_id=ADMIN), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    assert view["title"]["text"] == "/straw close"
    assert view["blocks"][0]["elements"][0]["text"] == "Close a straw poll."
    inputs = [(b["block_id"], b["optional"]) for b in view["blocks"] if b["type"] == "input"]
    assert inputs == [("id", False), ("reason", True)]

    refused = await submit(straw_adapter, opened, id="three")
    assert refused == {"response_action": "errors", "errors": {"id": "“three” is not a valid id."}}
    assert await submit(straw_adapter, opened, id="3", reason="too few votes") is None
    [post] = await until(lambda: calls_to(api, "chat.postMessage", CHANNEL))
    assert post.params["text"] == "closed #3 (too few votes)"


async def test_the_command_s_own_form_and_a_form_without_fields(
    straw_adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [opened] = await answered(
        straw_adapter, slash(api, "straw", user_id=ADMIN), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    assert view["title"]["text"] == "/straw"
    assert [b["block_id"] for b in view["blocks"] if b["type"] == "input"] == ["question"]
    # Nothing to fill in: /council straw list answers at once, as typed, and to its sender
    # only (that form is personal); the command's own form answers the channel.
    [answer] = await answered(
        straw_adapter,
        slash(api, "straw list", user_id=ADMIN),
        lambda: calls_to(api, "chat.postEphemeral", CHANNEL),
    )
    assert answer.params["text"] == "open: none"
    [asked] = await answered(
        straw_adapter,
        slash(api, "straw Tea or coffee?", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    assert asked.params["text"] == "asked: Tea or coffee?"
    assert len(api.calls("views.open")) == 1


async def test_a_member_asking_for_a_coordinator_s_form_is_told_at_once(
    straw_adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [answer] = await answered(
        straw_adapter,
        slash(api, "straw close"),
        lambda: calls_to(api, "chat.postEphemeral", CHANNEL),
    )
    assert "Only coordinators can use /council straw." in answer.params["text"]
    assert not api.calls("views.open")
