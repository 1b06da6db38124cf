"""The magazine on Slack: `/council publish` with no arguments opens a modal whose
submission previews the issue; `/council magazine` shows a Read link button (Slack opens
it, the app only acknowledges the press); the archive pages in place."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from councilbot.adapters.slack.app import SlackAdapter
from councilbot.app import App
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
from tests.adapters.slack.test_slack_announce import press, slack_app
from tests.adapters.slack.test_slack_forms import submit
from tests.fakes.slack_api import FakeSlackAPI

__all__ = ["slack_app"]  # delivering to the fake Web API, as the announcements' tests do


@pytest.fixture
async def adapter(slack_app: App, api: FakeSlackAPI) -> AsyncIterator[SlackAdapter]:
    adapter = await adapter_for(slack_app.router, api)
    yield adapter
    await adapter.stop()


def elements(recorded: Any) -> list[dict[str, Any]]:
    return [e for b in recorded.params["blocks"] if b["type"] == "actions" for e in b["elements"]]


async def test_publish_without_arguments_opens_a_modal_that_previews_the_issue(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    [opened] = await answered(
        adapter, slash(api, "publish", user_id=ADMIN), lambda: api.calls("views.open")
    )
    view = opened.params["view"]
    assert view["title"]["text"] == "/publish"
    inputs = [b["block_id"] for b in view["blocks"] if b["type"] == "input"]
    assert inputs == ["number", "title", "url", "summary", "cover", "at", "at__time", "yes"]
    answer = await submit(
        adapter, opened, number="5", title="Growth stories", url="https://empower.example/5"
    )
    assert answer is None  # the modal closes
    [preview] = await until(lambda: calls_to(api, "chat.postEphemeral", CHANNEL))
    assert "Preview of EMPOWER #5" in preview.params["text"]
    assert [e.get("url") or e["value"] for e in elements(preview)] == [
        "/publish send 5",
        "/publish edit 5",
        "/publish cancel 5",
        "https://empower.example/5",
    ]
    # Edit opens a form with the summary; its submission shows a fresh preview.
    [_, edit, *_] = elements(preview)
    [form] = await answered(adapter, press(api, edit, "edit"), lambda: api.calls("views.open")[1:])
    assert form.params["view"]["title"]["text"] == "/publish edit 5"
    answer = await submit(adapter, form, summary="Five SMEs that grew")
    assert answer is None
    [_, fresh] = await until(
        lambda: (
            calls_to(api, "chat.postEphemeral", CHANNEL)[1:]
            and (calls_to(api, "chat.postEphemeral", CHANNEL))
        )
    )
    assert "Growth stories*\nFive SMEs that grew" in fresh.params["text"]


async def test_the_read_button_opens_the_page_and_the_archive_pages_in_place(
    adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    def answers() -> list[Any]:
        return api.calls("chat.postMessage") + api.calls("chat.postEphemeral")

    async def run(text: str) -> Any:
        before = len(answers())
        await answered(adapter, slash(api, text, user_id=ADMIN), lambda: len(answers()) > before)
        return answers()[-1] if len(api.calls("chat.postEphemeral")) <= before else None

    for number in range(1, 7):
        await run(f'publish {number} "Issue {number}" https://e.example/{number} --yes')
    await run("magazine")
    [latest] = [c for c in api.calls("chat.postMessage") if "Issue 6" in c.params["text"]]
    read = elements(latest)[0]
    assert (read["action_id"], read["url"]) == ("url_0", "https://e.example/6")
    press = payload("block_actions")
    press["actions"] = [{**read, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    status, _content, _headers = await send(adapter, interaction(press))
    assert status == 200  # acknowledged; nothing runs, nothing is posted
    assert not api.calls("chat.update")

    await run("magazine archive")
    [archive] = [c for c in api.calls("chat.postMessage") if "page 1 of 2" in c.params["text"]]
    [following] = elements(archive)
    assert following["value"] == "/magazine archive 2"
    [(key, message)] = [(k, m) for k, m in api.messages.items() if "page 1 of 2" in m["text"]]
    press = payload("block_actions")
    press["container"]["message_ts"] = key[1]
    press["message"] = message
    press["response_url"] = api.response_url("action")
    press["actions"] = [{**following, "block_id": "Qm2", "action_ts": "1700000005.123456"}]
    [update] = await answered(adapter, interaction(press), lambda: api.calls("chat.update"))
    assert "page 2 of 2" in update.params["text"]
    assert [e["value"] for e in elements(update)] == ["/magazine archive 1"]


async def test_an_edit_after_lang_chat_speaks_the_chats_language_buttons_included(
    slack_app: App, adapter: SlackAdapter, api: FakeSlackAPI
) -> None:
    async def run(text: str) -> None:
        before = len(api.calls("chat.postEphemeral")) + len(api.calls("chat.postMessage"))
        await answered(
            adapter,
            slash(api, text, user_id=ADMIN),
            lambda: (
                len(api.calls("chat.postEphemeral")) + len(api.calls("chat.postMessage")) > before
            ),
        )

    await run("link cork")
    await run('publish 5 "Five" https://e.example/5 "Five SMEs" --yes')
    await slack_app.dispatcher.run_until_idle()
    await run("lang tr chat")
    await run('publish edit 5 --summary "Beş KOBİ"')
    await slack_app.dispatcher.run_until_idle()
    [update] = await until(lambda: api.calls("chat.update"))
    assert "Beş KOBİ" in update.params["text"]
    assert [(e["text"]["text"], e["url"]) for e in elements(update)] == [
        ("Oku", "https://e.example/5")
    ]
