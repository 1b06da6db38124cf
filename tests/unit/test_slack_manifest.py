"""The Slack app manifest in the README asks for what the code uses, no more, no less."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from councilbot.adapters.slack.oauth import BOT_SCOPES, REDIRECT_PATH

README = Path(__file__).resolve().parents[2] / "README.md"


def manifest() -> dict[str, Any]:
    section = README.read_text().split("\n## Slack\n", 1)[1]
    match = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert match is not None
    return yaml.safe_load(match.group(1))


def test_the_manifest_asks_for_the_scopes_the_install_asks_for() -> None:
    assert manifest()["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)


def test_the_manifest_points_slack_at_the_bots_routes() -> None:
    data = manifest()
    [slash] = data["features"]["slash_commands"]
    assert (slash["command"], slash["url"]) == ("/council", "https://YOUR-HOST/slack/events")
    assert data["settings"]["interactivity"]["request_url"] == slash["url"]
    assert data["settings"]["event_subscriptions"]["request_url"] == slash["url"]
    assert data["oauth_config"]["redirect_urls"] == [f"https://YOUR-HOST{REDIRECT_PATH}"]


def test_the_manifest_subscribes_to_the_events_the_adapter_handles() -> None:
    events = set(manifest()["settings"]["event_subscriptions"]["bot_events"])
    assert events == {
        "app_uninstalled",
        "tokens_revoked",
        "member_joined_channel",
        "channel_left",
        "group_left",
        "message.im",
        "app_home_opened",
    }
