"""deploy/: the Grafana dashboard and the Prometheus alerts use only metrics the app exposes."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path

import aiohttp
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from councilbot.app import App
from tests.web.test_server import TIMEOUT, serve

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
DASHBOARD = DEPLOY / "grafana-dashboard.json"
ALERTS = DEPLOY / "prometheus-alerts.yaml"
ALERT_TESTS = DEPLOY / "prometheus-alerts.test.yaml"
METRIC = re.compile(r"\bcouncilbot_[a-z0-9_]+")
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_count", "_sum"), "gauge": ("",)}


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = [panel for panel in dashboard["panels"] if panel["type"] != "row"]
    assert len({panel["id"] for panel in dashboard["panels"]}) == len(dashboard["panels"])
    assert all(panel["targets"] for panel in panels)
    return [target["expr"] for panel in panels for target in panel["targets"]]


def alert_rules() -> dict[str, dict]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"]}


async def exposed_names(app: App) -> set[str]:
    """Scrape the real /metrics and return every series name it can show."""
    server = await serve(app)
    try:
        async with (
            aiohttp.ClientSession(timeout=TIMEOUT) as http,
            http.get(f"{server.url}/metrics") as response,
        ):
            text = await response.text()
    finally:
        await asyncio.wait_for(server.stop(), 10)
    return {
        family.name + suffix
        for family in text_string_to_metric_families(text)
        for suffix in SUFFIXES[family.type]
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_every_metric_in_the_dashboard_and_the_alerts_is_exposed(app: App) -> None:
    exposed = await exposed_names(app)
    series = [
        s["series"]
        for t in yaml.safe_load(ALERT_TESTS.read_text())["tests"]
        for s in t["input_series"]
    ]
    exprs = dashboard_exprs() + [rule["expr"] for rule in alert_rules().values()] + series
    used = {name for expr in exprs for name in METRIC.findall(expr)}
    assert used - exposed == set()
    shown = {name for expr in dashboard_exprs() for name in METRIC.findall(expr)}
    assert {n for n in exposed if not n.endswith(("_count", "_sum", "_created"))} - shown == set()


def test_the_alerts_cover_the_outbox_the_scheduler_and_platform_5xx() -> None:
    rules = alert_rules()
    assert "> 300" in rules["CouncilBotOutboxStuck"]["expr"]
    assert "absent(councilbot_scheduler_leader)" in rules["CouncilBotSchedulerNotLeading"]["expr"]
    assert 'status_class="5xx"' in rules["CouncilBotPlatform5xx"]["expr"]
    assert all(rule["annotations"]["summary"] for rule in rules.values())


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_accepts_the_rules_and_their_unit_tests_pass() -> None:
    for command in (["check", "rules", ALERTS.name], ["test", "rules", ALERT_TESTS.name]):
        result = subprocess.run(
            ["promtool", *command], cwd=DEPLOY, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 0, result.stdout + result.stderr
