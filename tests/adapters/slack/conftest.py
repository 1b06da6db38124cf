"""Fixtures shared by the Slack adapter tests: the fake Web API and an app with a Slack admin."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from councilbot.app import App
from tests.adapters.slack.test_slack_adapter import ADMIN
from tests.conftest import AppFactory
from tests.fakes.slack_api import FakeSlackAPI


@pytest.fixture
async def api() -> AsyncIterator[FakeSlackAPI]:
    async with FakeSlackAPI() as api:
        yield api


@pytest.fixture
async def slack_app(app_for: AppFactory) -> App:
    """Build the app with slack:U_ADMIN as a bootstrap admin."""
    return await app_for(f"slack:{ADMIN}")
