"""`councilbot run` with a Telegram token: the real process, a fake Bot API on 127.0.0.1."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import aiohttp
import pytest

from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, prepared_environment, stop, wait_for

PAYLOADS = Path(__file__).parent / "payloads"
SECRET = "s3cret-webhook-token"


def update(text: str, update_id: int) -> dict:
    data = copy.deepcopy(json.loads((PAYLOADS / "private_command.json").read_text()))
    data["update_id"] = update_id
    data["message"]["text"] = text
    data["message"]["entities"] = [
        {"offset": 0, "length": len(text.split()[0]), "type": "bot_command"}
    ]
    return data


@pytest.fixture
async def environment(tmp_path: Path) -> dict[str, str]:
    return await prepared_environment(tmp_path)


async def test_long_polling_answers_and_serves_health(environment: dict[str, str]) -> None:
    async with FakeTelegramAPI() as api:
        env = environment | {
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
        }  # fmt: skip
        process = await councilbot("run", env=env)
        try:
            await wait_for(lambda: api.calls("getUpdates"))
            api.push_update(update("/councils", 9001))
            await wait_for(lambda: api.texts_to("111"))
            assert "(cork)" in api.texts_to("111")[0]
            port = env["COUNCILBOT_HTTP_PORT"]
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{port}/healthz") as response,
            ):
                assert response.status == 200
        finally:
            await stop(process)
        assert len(api.calls("setMyCommands")) == 6
        assert api.token.split(":")[1] not in (await process.stderr.read()).decode()


async def test_webhook_mode_checks_the_secret(environment: dict[str, str]) -> None:
    async with FakeTelegramAPI() as api:
        port = environment["COUNCILBOT_HTTP_PORT"]
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        env = environment | {
            "TELEGRAM_BOT_TOKEN": api.token, "TELEGRAM_API_BASE_URL": api.base_url,
            "TELEGRAM_WEBHOOK_URL": url, "TELEGRAM_WEBHOOK_SECRET": SECRET,
        }  # fmt: skip
        process = await councilbot("run", env=env)
        try:
            await wait_for(lambda: api.calls("setWebhook"))
            assert api.calls("setWebhook")[0].params["secret_token"] == SECRET
            assert not api.calls("getUpdates")
            async with aiohttp.ClientSession() as http:
                body = json.dumps(update("/help", 9002))
                headers = {"Content-Type": "application/json"}
                async with http.post(url, data=body, headers=headers) as response:
                    assert response.status == 403
                wrong = headers | {"X-Telegram-Bot-Api-Secret-Token": "guess"}
                async with http.post(url, data=body, headers=wrong) as response:
                    assert response.status == 403
                assert not api.texts_to("111")
                right = headers | {"X-Telegram-Bot-Api-Secret-Token": SECRET}
                async with http.post(url, data=body, headers=right) as response:
                    assert response.status == 200
            await wait_for(lambda: api.texts_to("111"))
            assert "/councils" in api.texts_to("111")[0]
        finally:
            await stop(process)
