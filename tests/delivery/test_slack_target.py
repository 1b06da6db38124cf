"""SlackTarget against a fake Slack Web API, through the real slack_sdk AsyncWebClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.slack.delivery import SlackTarget, _retry_after
from councilbot.core.messages import Button, ChatKind, Platform
from councilbot.delivery.targets import (
    DeliveryError,
    NotAllowed,
    Outgoing,
    PermanentError,
    Rejected,
    RetryAfter,
    TransientError,
    Unauthorized,
)
from tests.fakes.slack_api import FakeSlackAPI

TOKEN = "xoxb-1234-secret-token"


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as fake:
        yield fake


@pytest.fixture
def target(api: FakeSlackAPI) -> SlackTarget:
    return SlackTarget.create(TOKEN, api.base_url, timeout=2)


def message(chat_id: str = "C1", text: str = "<b>Hello</b> &lt;!channel&gt;", **kw) -> Outgoing:
    return Outgoing(platform=Platform.SLACK, chat_id=chat_id, text=text, **kw)


async def test_delivers_text_and_blocks_and_returns_ts(api: FakeSlackAPI, target: SlackTarget):
    buttons = ((Button(label="Join", command="/join 3"),),)
    ts = await target.deliver(message(buttons=buttons))

    assert ts == "1700000000.000100"
    assert api.texts_to("C1") == ["*Hello* &lt;!channel&gt;"]
    (posted,) = api.posted
    assert posted.method == "chat.postMessage"
    assert posted.token == TOKEN
    assert posted.headers["Content-Type"].startswith("application/json")
    assert posted.params["unfurl_links"] is False
    assert posted.params["blocks"] == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Hello* &lt;!channel&gt;"}},
        {
            "type": "actions",
            "elements": [
                {
                    "type": "button",
                    "action_id": "cmd_0",
                    "text": {"type": "plain_text", "text": "Join", "emoji": True},
                    "value": "/join 3",
                }
            ],
        },
    ]


async def test_successive_messages_get_distinct_ts(target: SlackTarget):
    first = await target.deliver(message())
    second = await target.deliver(message(chat_id="C2"))
    assert first != second


async def test_platform_is_slack(target: SlackTarget):
    assert target.platform is Platform.SLACK


async def test_no_automatic_retries(target: SlackTarget):
    assert target.client.retry_handlers == []


@pytest.mark.parametrize("code", ["channel_not_found", "not_in_channel", "is_archived"])
async def test_gone_channel_is_permanent(api: FakeSlackAPI, target: SlackTarget, code: str):
    api.errors["C_GONE"] = code
    with pytest.raises(PermanentError) as caught:
        await target.deliver(message(chat_id="C_GONE"))
    assert caught.value.reason == code
    assert api.posted == []


@pytest.mark.parametrize("code", ["invalid_blocks", "msg_too_long", "no_text"])
async def test_a_message_slack_refuses_is_rejected(api: FakeSlackAPI, target: SlackTarget, code):
    api.errors["C1"] = code
    with pytest.raises(Rejected) as caught:
        await target.deliver(message())
    assert caught.value.reason == code


async def test_an_unknown_error_code_is_transient_not_permanent(
    api: FakeSlackAPI, target: SlackTarget
):
    api.errors["C1"] = "some_code_slack_added_later"
    with pytest.raises(TransientError) as caught:
        await target.deliver(message())
    assert caught.value.reason == "some_code_slack_added_later"


@pytest.mark.parametrize(
    "code", ["invalid_auth", "not_authed", "token_revoked", "account_inactive"]
)
async def test_a_refused_token_is_unauthorized_not_permanent(
    api: FakeSlackAPI, target: SlackTarget, code: str
):
    api.auth_error = code
    with pytest.raises(Unauthorized) as caught:
        await target.deliver(message())
    assert caught.value.reason == code


@pytest.mark.parametrize("code", ["internal_error", "fatal_error", "service_unavailable"])
async def test_slack_side_error_codes_are_transient(api: FakeSlackAPI, target: SlackTarget, code):
    api.errors["C1"] = code
    with pytest.raises(TransientError) as caught:
        await target.deliver(message())
    assert caught.value.reason == code


async def test_rate_limit_becomes_retry_after(api: FakeSlackAPI, target: SlackTarget):
    api.channel_rate = 1
    await target.deliver(message())
    with pytest.raises(RetryAfter) as caught:
        await target.deliver(message())
    assert caught.value.seconds == 1
    assert caught.value.reason == "ratelimited"
    assert api.rate_limited == 1
    assert len(api.posted) == 1
    assert len(api.calls("chat.postMessage")) == 2  # one request only: no hidden retry
    # other channels are not affected
    assert await target.deliver(message(chat_id="C2"))


async def test_server_error_is_transient_then_succeeds(api: FakeSlackAPI, target: SlackTarget):
    api.fail_next = 1
    with pytest.raises(TransientError) as caught:
        await target.deliver(message())
    assert "500" in caught.value.reason
    assert len(api.calls("chat.postMessage")) == 1
    assert await target.deliver(message()) == "1700000000.000100"
    assert api.texts_to("C1") == ["*Hello* &lt;!channel&gt;"]


async def test_stopped_server_is_transient(api: FakeSlackAPI, target: SlackTarget):
    await api.stop()
    with pytest.raises(TransientError):
        await target.deliver(message())


async def test_timeout_is_transient(api: FakeSlackAPI):
    target = SlackTarget.create(TOKEN, api.base_url, timeout=0.2)  # type: ignore[arg-type]
    api.delay = 0.6
    with pytest.raises(TransientError):
        await target.deliver(message())


async def test_token_never_in_reasons(api: FakeSlackAPI, target: SlackTarget):
    reasons: list[str] = []
    api.errors["C_LEAK"] = f"weird_{TOKEN}"
    api.errors["C_GONE"] = "channel_not_found"
    api.fail_next = 1
    for chat_id in ("C1", "C_LEAK", "C_GONE"):
        with pytest.raises(DeliveryError) as caught:
            await target.deliver(message(chat_id=chat_id))
        reasons.append(caught.value.reason)
        reasons.append(str(caught.value))
    await api.stop()
    with pytest.raises(DeliveryError) as caught:
        await target.deliver(message())
    reasons.append(caught.value.reason)
    assert all(TOKEN not in reason for reason in reasons)
    assert all("secret" not in reason for reason in reasons)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [("1", 1.0), ("30", 30.0), ("2.5", 2.5), (None, 1.0), ("soon", 1.0), ("0", 1.0)],
)
def test_retry_after_header(header: str | None, seconds: float):
    assert _retry_after(header) == seconds


async def test_edit_replaces_text_and_blocks_buttons_included(
    api: FakeSlackAPI, target: SlackTarget
):
    buttons = ((Button(label="Join", command="/join 3"),),)
    ts = await target.deliver(message(text="7 going", buttons=buttons))
    assert ts is not None
    await target.edit(message(text="<b>8</b> going", buttons=buttons), ts)
    assert api.text_of("C1", ts) == "*8* going"
    assert [b["type"] for b in api.messages["C1", ts]["blocks"]] == ["section", "actions"]

    await target.edit(message(text="Closed"), ts)
    (last,) = api.calls("chat.update")[-1:]
    assert (last.params["channel"], last.params["ts"], last.token) == ("C1", ts, TOKEN)
    assert [b["type"] for b in api.messages["C1", ts]["blocks"]] == ["section"]


async def test_a_direct_message_is_edited_and_deleted_in_the_dm_not_by_user_id(
    api: FakeSlackAPI, target: SlackTarget
):
    dm = message(chat_id="U042", text="7 going", chat_kind=ChatKind.PRIVATE)
    ts = await target.deliver(dm)
    assert ts is not None
    await target.edit(message(chat_id="U042", text="8 going", chat_kind=ChatKind.PRIVATE), ts)
    await target.delete(dm, ts)

    assert api.deleted == [("D042", ts)]
    assert [r.params["channel"] for r in api.calls("chat.update")] == ["D042"]
    assert len(api.calls("conversations.open")) == 1  # the DM's id is remembered


async def test_delete_removes_the_message_and_one_already_gone_is_deleted(
    api: FakeSlackAPI, target: SlackTarget
):
    ts = await target.deliver(message())
    assert ts is not None
    await target.delete(message(), ts)
    await target.delete(message(), ts)  # someone deleted it first: nothing to do
    assert api.deleted == [("C1", ts)]
    assert api.text_of("C1", ts) is None
    with pytest.raises(Rejected) as caught:  # an edit cannot bring it back
        await target.edit(message(text="again"), ts)
    assert caught.value.reason == "message_not_found"
    assert not isinstance(caught.value, NotAllowed)


@pytest.mark.parametrize(
    ("method", "code"),
    [
        ("edit", "cant_update_message"),
        ("edit", "edit_window_closed"),
        ("delete", "cant_delete_message"),
        ("delete", "compliance_exports_prevent_deletion"),
    ],
)
async def test_slack_refusing_a_change_is_not_allowed(
    api: FakeSlackAPI, target: SlackTarget, method: str, code: str
):
    ts = await target.deliver(message())
    assert ts is not None
    api.errors["C1"] = code
    with pytest.raises(NotAllowed) as caught:
        await getattr(target, method)(message(text="changed"), ts)
    assert caught.value.reason == code
    assert target.delete_window is None  # Slack sets no time limit on deletion


async def test_edit_in_a_gone_channel_is_permanent(api: FakeSlackAPI, target: SlackTarget):
    ts = await target.deliver(message())
    assert ts is not None
    api.errors["C1"] = "channel_not_found"
    with pytest.raises(PermanentError):
        await target.edit(message(text="changed"), ts)
