"""No secret and nothing people wrote in the output of `councilbot run`, at INFO and DEBUG,
whichever library logs; piped, its log is JSON lines with one line per command."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from tests.adapters.slack.test_slack_adapter import SECRET, payload, signed, slash
from tests.adapters.telegram.test_run import update
from tests.fakes.slack_api import APP_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, prepared_environment, stop, wait_for

TELEGRAM_TOKEN = "5550001234:CanaryTelegramKey_9f8e7d6c5b4a3210"
SLACK_TOKEN = "xoxb-canary-slack-bot-token-7c1e2f"
WEBHOOK_SECRET = "Canary_webhook-secret_4242"
USER = "111"  # the sender in payloads/private_command.json
# Written in direct messages and command arguments: it must reach no log line.
PHRASE = "Zebra-Quartz-Whisper-4417"

Conversation = Callable[[dict[str, str], FakeTelegramAPI, FakeSlackAPI], Awaitable[None]]


async def _polling_and_http(
    env: dict[str, str], telegram: FakeTelegramAPI, slack: FakeSlackAPI
) -> None:
    """Talk over long polling and signed slash commands on /slack/events."""
    for number, text in enumerate(("/start", "/councils", "/whoami"), start=7101):
        telegram.push_update(update(text, number))
        await wait_for(lambda n=number - 7100: len(telegram.texts_to(USER)) >= n)
    assert "(cork)" in telegram.texts_to(USER)[1]
    telegram.push_update(_direct_message(f"{PHRASE} is my password", 7104))
    telegram.push_update(update(f"/help {PHRASE}", 7105))
    await wait_for(lambda: len(telegram.texts_to(USER)) >= 5)  # a hint, then the help
    url = f"http://127.0.0.1:{env['COUNCILBOT_HTTP_PORT']}/slack/events"
    async with aiohttp.ClientSession() as http:
        for text in ("councils", "whoami", f"help {PHRASE}"):
            body = slash(slack, text)
            async with http.post(url, data=body, headers=signed(body)) as response:
                assert response.status == 200
        message = payload("message_im")
        message["event"]["text"] = f"{PHRASE} in a direct message"
        body = json.dumps(message)
        headers = signed(body, content_type="application/json")
        async with http.post(url, data=body, headers=headers) as response:
            assert response.status == 200
    # councils; whoami and help; the hint
    await wait_for(lambda: len(slack.posted) >= 2 and len(slack.calls("chat.postEphemeral")) >= 2)


async def _webhook_and_socket_mode(
    env: dict[str, str], telegram: FakeTelegramAPI, slack: FakeSlackAPI
) -> None:
    """Talk over the Telegram webhook and Socket Mode, after installing in a workspace."""
    site = f"http://127.0.0.1:{env['COUNCILBOT_HTTP_PORT']}"
    await wait_for(lambda: telegram.calls("setWebhook") and slack.sockets)
    async with aiohttp.ClientSession() as http:
        for number, text in enumerate(("/start", "/councils"), start=7201):
            body = json.dumps(update(text, number))
            headers = {
                "Content-Type": "application/json",
                "X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET,
            }
            async with http.post(f"{site}/telegram/webhook", data=body, headers=headers) as sent:
                assert sent.status == 200
            sent_text = json.dumps(_direct_message(f"{PHRASE} is my password", 7203))
            async with http.post(
                f"{site}/telegram/webhook", data=sent_text, headers=headers
            ) as sent:
                assert sent.status == 200
        await wait_for(lambda: len(telegram.texts_to(USER)) >= 3)
        assert any("(cork)" in text for text in telegram.texts_to(USER))
        async with http.get(f"{site}/slack/install", allow_redirects=False) as install:
            location, cookie = install.headers["Location"], install.headers["Set-Cookie"]
        state = parse_qs(urlsplit(location).query)["state"][0]
        code = slack.install("T0CORK", "Cork Council")
        redirect = f"{site}/slack/oauth_redirect?code={code}&state={state}"
        async with http.get(redirect, headers={"Cookie": cookie.split(";")[0]}) as done:
            assert done.status == 200
    command = payload("slash_command") | {"team_id": "T0CORK", "text": f"councils {PHRASE}"}
    await slack.envelope("slash_commands", command | {"response_url": slack.response_url("c")})
    await wait_for(lambda: slack.calls("chat.postEphemeral") or slack.responses)  # refused


def _direct_message(text: str, update_id: int) -> dict:
    """Return a Telegram update with a private message that is not a command."""
    data = update("/start", update_id)
    data["message"]["text"] = text
    del data["message"]["entities"]
    return data


SETUPS: dict[str, tuple[dict[str, str], Conversation]] = {
    "polling+http": (
        {"SLACK_BOT_TOKEN": SLACK_TOKEN, "SLACK_SIGNING_SECRET": SECRET},
        _polling_and_http,
    ),
    "webhook+socket-mode": (
        {
            "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "SLACK_CLIENT_ID": CLIENT_ID,
            "SLACK_CLIENT_SECRET": CLIENT_SECRET,
            "SLACK_APP_TOKEN": APP_TOKEN,
        },
        _webhook_and_socket_mode,
    ),
}


@pytest.mark.parametrize("level", ["INFO", "DEBUG"])
@pytest.mark.parametrize("setup", SETUPS)
async def test_no_secret_reaches_the_output(tmp_path: Path, setup: str, level: str) -> None:
    settings, converse = SETUPS[setup]
    env = await prepared_environment(tmp_path)
    async with FakeTelegramAPI(token=TELEGRAM_TOKEN) as telegram, FakeSlackAPI() as slack:
        port = env["COUNCILBOT_HTTP_PORT"]
        env |= settings | {
            "COUNCILBOT_LOG_LEVEL": level,
            "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
            "SLACK_API_BASE_URL": slack.base_url,
        }
        if "TELEGRAM_WEBHOOK_SECRET" in settings:
            env["TELEGRAM_WEBHOOK_URL"] = f"http://127.0.0.1:{port}/telegram/webhook"
        secrets = {
            name: value
            for name, value in env.items()
            if name.startswith(("TELEGRAM_", "SLACK_")) and name.endswith(("_TOKEN", "_SECRET"))
        }
        # Distinctive values, so that not finding them means something.
        assert len(secrets) == (3 if setup == "polling+http" else 4)
        assert all(len(value) >= 24 for value in secrets.values())
        process = await councilbot("run", env=env)
        assert process.stdout is not None and process.stderr is not None
        # Read while it runs: DEBUG output outgrows a pipe's buffer and would block the bot.
        streams = asyncio.gather(process.stdout.read(), process.stderr.read())
        try:
            await converse(env, telegram, slack)
        finally:
            await stop(process)
    stdout, stderr = (stream.decode() for stream in await streams)
    output = stdout + stderr
    for name, value in secrets.items():
        assert value not in output, name
    assert TELEGRAM_TOKEN.split(":")[1] not in output
    assert PHRASE not in output
    # stderr is a pipe here, so the log is JSON lines.
    records = [json.loads(line) for line in stderr.splitlines()]
    assert any(r["logger"] == "councilbot" and r["message"].startswith("serving ") for r in records)
    assert not any(r["logger"].startswith(("httpx", "httpcore")) for r in records)
    commands = {(r["platform"], r["command"], r["outcome"]) for r in records if "outcome" in r}
    assert ("telegram", "councils", "ok") in commands
    assert ("slack", "councils", "ok" if setup == "polling+http" else "invalid") in commands
    if level == "DEBUG":
        # Only the loggers that write updates and API parameters are held at INFO (those
        # also wrote the token in URLs and setWebhook's secret); the rest still debug.
        debugging = {r["logger"] for r in records if r["level"] == "DEBUG"}
        assert {"apscheduler.scheduler", "asyncio"} <= debugging
