"""/council announce on Slack: an ephemeral preview with Send, Edit and Cancel; Send queues the
posts, which the real Slack delivery target sends to the fake Web API; Edit opens a modal
with the text filled in, and its submission shows a fresh preview."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleTarget
from councilbot.adapters.slack.app import SlackAdapter
from councilbot.adapters.slack.delivery import SlackTarget
from councilbot.app import App, build_app
from councilbot.core.i18n import Catalogs
from councilbot.core.messages import Platform
from councilbot.db.models import Announcement, AnnouncementStatus, Delivery
from councilbot.settings import Settings
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
from tests.conftest import CORK_TEXT, Clock
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def slack_app(
    seeded: AsyncEngine, database_url: str, catalogs: Catalogs, clock: Clock, api: FakeSlackAPI
) -> AsyncIterator[App]:
    """The app with slack:U_ADMIN as an admin, delivering to the fake Web API."""
    settings = Settings(database_url=database_url, admins=f"slack:{ADMIN}", default_language="en")
    target = SlackTarget.create("xoxb-test", api.base_url, timeout=2)
    app = await build_app(
        settings,
        engine=seeded,
        catalogs=catalogs,
        clock=clock,
        targets={Platform.CONSOLE: ConsoleTarget(io.StringIO()), Platform.SLACK: target},
    )
    yield app
    await app.aclose()


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


def buttons(recorded: Any) -> dict[str, dict[str, Any]]:
    """Return the buttons of a posted message by label."""
    return {
        element["text"]["text"]: element
        for block in recorded.params["blocks"]
        if block["type"] == "actions"
        for element in block["elements"]
    }


def press(api: FakeSlackAPI, button: dict[str, Any], key: str) -> str:
    """Return the admin's press of a button on an ephemeral message in the Cork channel."""
    data = payload("block_actions")
    data["user"].update(id=ADMIN, username="admin", name="admin")
    data["container"] = {
        "type": "message",
        "message_ts": "1700000000.000300",
        "channel_id": CHANNEL,
        "is_ephemeral": True,
    }
    data["channel"] = {"id": CHANNEL, "name": "cork-members"}
    del data["message"]  # Slack sends no message for an ephemeral one
    data["response_url"] = api.response_url(key)
    data["actions"] = [{**button, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    return interaction(data)


async def preview(adapter: SlackAdapter, api: FakeSlackAPI, text: str) -> Any:
    await answered(
        adapter,
        slash(api, "link cork", user_id=ADMIN),
        lambda: calls_to(api, "chat.postMessage", CHANNEL),
    )
    [shown] = await answered(
        adapter,
        slash(api, f"announce cork {text}", user_id=ADMIN),
        lambda: calls_to(api, "chat.postEphemeral", CHANNEL),
    )
    return shown


async def stored(slack_app: App) -> tuple[list[tuple[str, AnnouncementStatus]], int]:
    async with slack_app.sessionmaker() as session:
        found = await session.scalars(select(Announcement).order_by(Announcement.id))
        deliveries = await session.scalar(select(func.count()).select_from(Delivery))
        return [(a.text, a.status) for a in found], deliveries


async def test_send_on_the_ephemeral_preview_posts_to_the_channel(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    shown = await preview(adapter, api, "Desks are free")
    assert shown.params["user"] == ADMIN  # only the coordinator sees the preview
    assert (
        "Preview of announcement #1: it goes to 1 chat and 0 subscribers in Cork, now"
        in (shown.params["text"])
    )
    assert list(buttons(shown)) == ["Send", "Edit", "Cancel"]
    assert await stored(slack_app) == ([("Desks are free", AnnouncementStatus.DRAFT)], 0)

    [response] = await answered(
        adapter, press(api, buttons(shown)["Send"], "send"), lambda: api.responses
    )
    assert response.params["replace_original"] is True
    assert response.params["text"] == (
        "Announcement #1 is on its way to 1 chat. /council deliveries 1 shows how it goes."
    )
    await slack_app.dispatcher.run_until_idle()
    [post] = [t for t in api.texts_to(CHANNEL) if "Desks are free" in t]
    assert post == f"📣 *Announcement — {CORK_TEXT}*\nDesks are free"
    assert await stored(slack_app) == ([("Desks are free", AnnouncementStatus.SENT)], 1)


async def test_cancel_on_the_preview_sends_nothing(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    shown = await preview(adapter, api, "Never mind")
    [response] = await answered(
        adapter, press(api, buttons(shown)["Cancel"], "cancel"), lambda: api.responses
    )
    assert response.params["text"] == "Announcement #1 is cancelled; it will not be sent."
    await slack_app.dispatcher.run_until_idle()
    assert await stored(slack_app) == ([("Never mind", AnnouncementStatus.CANCELLED)], 0)


async def test_edit_opens_a_modal_with_the_text_and_its_submission_previews_again(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    shown = await preview(adapter, api, "Desks are fre")
    [opened] = await answered(
        adapter, press(api, buttons(shown)["Edit"], "edit"), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    assert opened.params["trigger_id"] == payload("block_actions")["trigger_id"]
    assert (view["title"]["text"], view["submit"]["text"]) == ("/announce edit 1", "Save")
    [box] = view["blocks"]
    assert (box["block_id"], box["label"]["text"]) == ("text", "New text")
    assert box["element"]["initial_value"] == "Desks are fre"
    assert not api.responses  # the preview stays as it was until the form is sent

    submission = payload("view_submission")
    submission["user"].update(id=ADMIN, username="admin", name="admin")
    submission["view"].update(
        blocks=view["blocks"],
        private_metadata=view["private_metadata"],
        state={
            "values": {
                "text": {"value": {"type": "plain_text_input", "value": "Desks are free --at 9"}}
            }
        },
    )
    status, content, _headers = await send(adapter, interaction(submission))
    assert (status, content) == (200, b"")  # the modal closes
    fresh = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL)[1:])
    assert "\nDesks are free --at 9\n" in fresh[0].params["text"]  # as typed, option-like or not
    assert list(buttons(fresh[0])) == ["Send", "Edit", "Cancel"]
    assert await stored(slack_app) == ([("Desks are free --at 9", AnnouncementStatus.DRAFT)], 0)
    assert json.loads(view["private_metadata"])["channel"] == CHANNEL


async def test_after_sending_edit_and_delete_change_the_channel_post(
    adapter: SlackAdapter, api: FakeSlackAPI, slack_app: App
) -> None:
    def answers() -> int:
        """Count the bot's answers in the channel, however shown (the posts come later)."""
        shown = ("chat.postMessage", "chat.postEphemeral")
        return len(api.responses) + sum(len(calls_to(api, m, CHANNEL)) for m in shown)

    async def run(text: str) -> None:
        before = answers()
        await answered(adapter, slash(api, text, user_id=ADMIN), lambda: answers() > before)
        await slack_app.dispatcher.run_until_idle()

    await run("link cork")
    await run("announce cork Desks are fre --yes")
    [ts] = [ts for (_, ts), m in api.messages.items() if "Desks are fre" in m["text"]]

    await run("announce edit 1 Desks are free")
    assert api.text_of(CHANNEL, ts) == f"📣 *Announcement — {CORK_TEXT}*\nDesks are free"

    await run("announce delete 1")
    assert api.text_of(CHANNEL, ts) is None
    assert api.deleted == [(CHANNEL, ts)]
    assert await stored(slack_app) == ([("Desks are free", AnnouncementStatus.DELETED)], 3)
