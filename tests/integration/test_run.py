"""`councilbot run` serving Telegram and Slack in one process, against fake platform servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import aiohttp
import pytest

from tests.adapters.slack.test_slack_adapter import SECRET, signed, slash
from tests.adapters.telegram.test_run import update
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, prepared_environment, stop, wait_for


@pytest.fixture
async def environment(tmp_path: Path) -> dict[str, str]:
    return await prepared_environment(tmp_path)


async def test_one_process_serves_telegram_and_slack(environment: dict[str, str]) -> None:
    async with FakeTelegramAPI() as telegram, FakeSlackAPI() as slack:
        env = environment | {
            "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.base_url,
            "SLACK_BOT_TOKEN": "xoxb-test-token", "SLACK_SIGNING_SECRET": SECRET,
            "SLACK_API_BASE_URL": slack.base_url,
        }  # fmt: skip
        url = f"http://127.0.0.1:{env['COUNCILBOT_HTTP_PORT']}/slack/events"
        process = await councilbot("run", env=env)
        try:
            await wait_for(lambda: telegram.calls("getUpdates"))
            telegram.push_update(update("/councils", 7001))
            await wait_for(lambda: telegram.texts_to("111"))
            async with aiohttp.ClientSession() as http:
                challenge = json.dumps({"type": "url_verification", "challenge": "c-123"})
                headers = signed(challenge, content_type="application/json")
                async with http.post(url, data=challenge, headers=headers) as response:
                    assert response.status == 200
                    assert (await response.json())["challenge"] == "c-123"
                body = slash(slack, "councils")
                async with http.post(url, data=body, headers={"X-Slack-Signature": "v0=0"}) as bad:
                    assert bad.status == 401
                async with http.post(url, data=body, headers=signed(body)) as response:
                    assert response.status == 200
            posted = await asyncio.wait_for(_posted(slack), 15)
            assert "(cork)" in posted
        finally:
            await stop(process)
        assert "xoxb-test-token" not in (await process.stderr.read()).decode()


async def _posted(slack: FakeSlackAPI) -> str:
    while not slack.posted:  # noqa: ASYNC110 - polling what the fake recorded
        await asyncio.sleep(0.05)
    return slack.posted[0].params["text"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SLACK_APP_TOKEN": "xapp-1"}, "Socket Mode (SLACK_APP_TOKEN) is not part"),
        ({"SLACK_CLIENT_ID": "123.456"}, "multi-workspace install (SLACK_CLIENT_ID)"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is needed"),
    ],
)
async def test_unsupported_slack_settings_stop_with_one_line(
    environment: dict[str, str], extra: dict[str, str], message: str
) -> None:
    env = environment | {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"} | extra
    if extra.get("SLACK_SIGNING_SECRET") == "":
        del env["SLACK_SIGNING_SECRET"]
    process = await councilbot("run", env=env)
    assert await asyncio.wait_for(process.wait(), 30) == 2
    stderr = (await process.stderr.read()).decode().strip()
    assert message in stderr and len(stderr.splitlines()) == 1
