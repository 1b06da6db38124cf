"""Fixtures for delivery tests: fake platform servers and real platform clients."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councilbot.adapters.telegram.delivery import TelegramTarget
from tests.fakes.slack_api import FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI


@pytest.fixture
async def telegram_api() -> AsyncIterator[FakeTelegramAPI]:
    async with FakeTelegramAPI() as api:
        yield api


@pytest.fixture
async def telegram(telegram_api: FakeTelegramAPI) -> AsyncIterator[TelegramTarget]:
    target = TelegramTarget(telegram_api.token, telegram_api.base_url, timeout=2.0)
    await target.start()
    yield target
    await target.stop()


@pytest.fixture
async def slack_api() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as api:
        yield api
