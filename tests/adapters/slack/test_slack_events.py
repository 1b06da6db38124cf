"""Events on Slack: `/council newevent` with no arguments opens a modal with date and time
pickers; its submission shows the ephemeral preview, Send posts the event to the channel with
Block Kit buttons, and members' presses answer each of them alone (the calendar file uploaded)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from icalendar import Calendar
from sqlalchemy import select

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
from councilbot.db.models import Event, Rsvp, RsvpStatus
from tests.adapters.slack.test_slack_adapter import (
    ADMIN,
    CHANNEL,
    adapter_for,
    answered,
    calls_to,
    interaction,
    payload,
    slash,
    until,
)
from tests.adapters.slack.test_slack_announce import buttons, press, slack_app
from tests.adapters.slack.test_slack_forms import submit
from tests.fakes.slack_api import FakeSlackAPI

__all__ = ["slack_app"]  # the fixture, shared
MEMBER = "U_MEMBER"


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


def pressed_on_post(api: FakeSlackAPI, ts: str, button: dict, user: str, key: str) -> str:
    """Return a member's press of a button on the event's post in the channel."""
    data = payload("block_actions")
    data["user"].update(id=user, username=user.lower(), name=user.lower())
    data["container"] = {"type": "message", "message_ts": ts, "channel_id": CHANNEL}
    data["channel"] = {"id": CHANNEL, "name": "cork-members"}
    data["message"] = {**api.messages[(CHANNEL, ts)], "ts": ts}
    data["response_url"] = api.response_url(key)
    data["actions"] = [{**button, "block_id": "Qm2", "action_ts": "1700000009.123456"}]
    return interaction(data)


async def test_the_modal_previews_send_posts_and_members_answer_with_the_buttons(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    [opened] = await answered(
        adapter, slash(api, "newevent", user_id=ADMIN), lambda: api.calls("views.open")
    )
    inputs = [b for b in opened.params["view"]["blocks"] if b["type"] == "input"]
    kinds = {b["block_id"]: b["element"]["type"] for b in inputs}
    assert kinds == {
        "title": "plain_text_input",
        "day": "datepicker",
        "start": "timepicker",
        "end": "timepicker",
        "venue": "plain_text_input",
        "cap": "number_input",
        "to": "multi_static_select",
        "guests": "number_input",
        "approval": "checkboxes",
        "every": "static_select",
        "until": "datepicker",
        "yes": "checkboxes",
    }  # the typed-only words (`@ "venue" cap 20`) are not asked for
    assert inputs[2]["element"]["timezone"] == "Europe/Dublin"

    answer = await submit(
        adapter,
        opened,
        title="Lean workshop",
        day="2026-12-03",
        start="18:00",
        end="20:00",
        cap="1",
    )
    assert answer is None  # the modal closes
    [shown] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert (
        "Preview of event E1: it goes to 1 chat and 0 subscribers in Cork" in shown.params["text"]
    )
    [response] = await answered(
        adapter, press(api, buttons(shown)["Send"], "send"), lambda: api.responses
    )
    assert response.params["text"].startswith("E1 is posted to 1 chat")
    await slack_app.dispatcher.run_until_idle()
    [(ts, post)] = [
        (ts, m) for (channel, ts), m in api.messages.items() if "Lean workshop" in m["text"]
    ]
    on_post = {
        element["text"]["text"]: element
        for block in post["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }
    assert list(on_post) == ["Going", "Not going", "Add to calendar"]

    [going] = await answered(
        adapter,
        pressed_on_post(api, ts, on_post["Going"], MEMBER, "going"),
        lambda: api.responses[1:] or calls_to(api, "chat.postEphemeral", CHANNEL)[1:],
    )
    text = going.params["text"]
    assert text.startswith("You are going to Lean workshop (E1), Thu 3 Dec, 18:00–20:00 GMT")
    assert (going.method, going.params.get("user")) == ("chat.postEphemeral", MEMBER)  # theirs
    assert "Lean workshop" in api.messages[(CHANNEL, ts)]["text"]  # the post stays as it was

    await answered(
        adapter,
        pressed_on_post(api, ts, on_post["Add to calendar"], MEMBER, "ical"),
        lambda: api.uploads,
    )
    [upload] = api.uploads
    (event,) = Calendar.from_ical(upload["data"]).walk("VEVENT")
    assert str(event["summary"]) == "Lean workshop"
    async with slack_app.sessionmaker() as session:
        stored = await session.scalar(select(Event))
        answers = [r.status for r in await session.scalars(select(Rsvp))]
    assert stored is not None and stored.capacity == 1
    assert answers == [RsvpStatus.GOING]
