"""`councilbot run` serving Telegram and Slack in one process, against fake platform servers."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.adapters.slack.test_slack_adapter import CHANNEL, SECRET, payload, signed, slash
from tests.adapters.telegram.test_run import update
from tests.fakes.slack_api import APP_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlackAPI
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


async def test_one_process_installs_and_serves_many_workspaces_over_socket_mode(
    environment: dict[str, str],
) -> None:
    async with FakeSlackAPI() as slack:
        env = environment | {
            "SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_API_BASE_URL": slack.base_url,
            "COUNCILBOT_ADMINS": "slack:U_ADMIN",
        }  # fmt: skip
        site = f"http://127.0.0.1:{env['COUNCILBOT_HTTP_PORT']}"
        process = await councilbot("run", env=env)
        try:
            await wait_for(lambda: slack.sockets)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"{site}/slack/install", allow_redirects=False) as install:
                    assert install.status == 302
                    location, cookie = install.headers["Location"], install.headers["Set-Cookie"]
                state = parse_qs(urlsplit(location).query)["state"][0]
                code = slack.install("T0CORK", "Cork Council")
                headers = {"Cookie": cookie.split(";")[0]}
                redirect = f"{site}/slack/oauth_redirect?code={code}&state={state}"
                async with http.get(redirect, headers=headers) as done:
                    assert done.status == 200
                    assert "now installed in Cork Council" in await done.text()
                async with http.post(f"{site}/slack/events", data="{}") as events:
                    assert events.status == 404  # Socket Mode: no events over HTTP
            [token] = slack.teams

            def command(text: str) -> dict[str, str]:
                data = payload("slash_command")
                data.update(team_id="T0CORK", user_id="U_ADMIN", text=text)
                data.update(response_url=slack.response_url("command"))
                return data

            await slack.envelope("slash_commands", command("link cork"))
            await wait_for(lambda: slack.texts_to(CHANNEL))
            await slack.envelope(
                "slash_commands", command("announce cork 'Desks free today' --yes")
            )
            await wait_for(lambda: any("Desks free" in t for t in slack.texts_to(CHANNEL)))
            assert {r.token for r in slack.posted} == {token}  # answers and outbox alike
        finally:
            await stop(process)
        assert token not in (await process.stderr.read()).decode()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"SLACK_CLIENT_ID": "1.2", "SLACK_CLIENT_SECRET": "c"}, "SLACK_BOT_TOKEN is for one"),
        ({"SLACK_SIGNING_SECRET": ""}, "SLACK_SIGNING_SECRET is needed"),
        ({"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_ID": "1.2"}, "needs both SLACK_CLIENT_ID and"),
        ({"SLACK_BOT_TOKEN": "", "SLACK_APP_TOKEN": "xapp-1"}, "SECRET and SLACK_APP_TOKEN need"),
        ({"SLACK_BOT_TOKEN": "", "SLACK_CLIENT_SECRET": "c"}, "SLACK_CLIENT_SECRET need SLACK"),
    ],
)
async def test_contradictory_slack_settings_stop_with_one_line(
    environment: dict[str, str], extra: dict[str, str], message: str
) -> None:
    env = environment | {"SLACK_BOT_TOKEN": "xoxb-x", "SLACK_SIGNING_SECRET": "s"} | extra
    for name in [name for name, value in extra.items() if value == ""]:
        del env[name]
    process = await councilbot("run", env=env)
    assert await asyncio.wait_for(process.wait(), 30) == 2
    stderr = (await process.stderr.read()).decode().strip()
    assert message in stderr and len(stderr.splitlines()) == 1


async def test_a_setting_the_scheduler_would_refuse_stops_run_with_one_line(
    environment: dict[str, str],
) -> None:
    async with FakeTelegramAPI() as telegram:
        env = environment | {
            "TELEGRAM_BOT_TOKEN": telegram.token, "TELEGRAM_API_BASE_URL": telegram.base_url,
            "COUNCILBOT_SCHEDULER_GRACE_MINUTES": "0",
        }  # fmt: skip
        process = await councilbot("run", env=env)
        assert await asyncio.wait_for(process.wait(), 30) == 2
        assert not telegram.requests  # it never started
    stderr = (await process.stderr.read()).decode()
    assert stderr.startswith("councilbot: invalid setting COUNCILBOT_SCHEDULER_GRACE_MINUTES: ")
    assert len(stderr.splitlines()) == 1
