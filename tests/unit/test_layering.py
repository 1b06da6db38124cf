"""Storage and the platform-neutral bot load no platform library (import-linter checks the rest)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PLATFORM_LIBRARIES = ("telegram", "slack_sdk", "slack_bolt")


def platform_libraries_loaded_by(module: str) -> list[str]:
    """Import MODULE in a fresh interpreter and list the platform libraries it loaded."""
    probe = (
        "import importlib, json, sys\n"
        f"importlib.import_module({module!r})\n"
        f"print(json.dumps(sorted(m for m in {PLATFORM_LIBRARIES!r} if m in sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    return json.loads(result.stdout)


@pytest.mark.parametrize("module", ["councilbot.db.models", "councilbot.app"])
def test_storage_and_the_app_load_no_platform_library(module: str) -> None:
    assert platform_libraries_loaded_by(module) == []


def test_the_slack_adapter_tables_do_load_slack_sdk() -> None:
    assert platform_libraries_loaded_by("councilbot.adapters.slack.tables") == ["slack_sdk"]
