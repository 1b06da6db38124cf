"""SlackTarget against a fake Slack Web API, through the real slack_sdk AsyncWebClient."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.slack.delivery import SlackTarget, _retry_after
from councilbot.core.messages import Button, Platform
from councilbot.delivery.targets import (
    DeliveryError,
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
