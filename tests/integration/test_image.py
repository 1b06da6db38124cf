"""The image's entry point and health check, run here as the container would run them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from tests.adapters.telegram.test_run import update
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import ROOT, councilbot, free_port, prepared_environment, stop, wait_for

ENTRYPOINT = ROOT / "deploy" / "entrypoint.sh"

# A stand-in for `councilbot` that records each call with its PID; `run` waits for SIGTERM.
FAKE_COUNCILBOT = """\
#!/bin/sh
echo "$$ $*" >> "$CALLS"
[ "$*" = "$FAIL" ] && exit 3
if [ "$1" = run ]; then
    trap 'echo "$$ stopped by SIGTERM" >> "$CALLS"; exit 0' TERM
    while :; do sleep 0.05; done
fi
exit 0
"""


class Entrypoint:
    """Run the entry point with the fake `councilbot` first on PATH."""

    def __init__(self, tmp_path: Path) -> None:
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "councilbot"
        fake.write_text(FAKE_COUNCILBOT)
        fake.chmod(0o755)
        self.log = tmp_path / "calls"
        self.log.touch()
        self.env = {
            "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
            "CALLS": str(self.log),
            "FAIL": "",
        }
        self.process: subprocess.Popen[str] | None = None

    def start(self, *args: str, **env: str) -> subprocess.Popen[str]:
        """Start the entry point as the container's command."""
        self.process = subprocess.Popen(
            [str(ENTRYPOINT), *args], env=self.env | env, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        return self.process

    def calls(self) -> list[tuple[int, str]]:
        """Return what the fake was asked, with the PID that ran it."""
        lines = self.log.read_text().splitlines()
        return [(int(pid), rest) for pid, _, rest in (line.partition(" ") for line in lines)]

    def commands(self) -> list[str]:
        """Return what the fake was asked, in order."""
        return [command for _, command in self.calls()]

    async def wait_for_run(self) -> int:
        """Wait until the fake `run` started and return its PID."""
        await wait_for(lambda: "run" in self.commands())
        return next(pid for pid, command in self.calls() if command == "run")

    def finish(self) -> None:
        """Kill whatever the entry point left running."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()


@pytest.fixture
def entrypoint(tmp_path: Path):
    runner = Entrypoint(tmp_path)
    yield runner
    runner.finish()


async def test_migrates_seeds_then_becomes_the_bot_so_sigterm_reaches_it(
    entrypoint: Entrypoint,
) -> None:
    process = entrypoint.start()
    run_pid = await entrypoint.wait_for_run()
    assert entrypoint.commands() == ["db upgrade", "seed", "run"]
    # exec: the bot is the entry point's own process (PID 1 in a container), no shell above it.
    assert run_pid == process.pid
    assert all(pid != process.pid for pid, command in entrypoint.calls() if command != "run")

    process.send_signal(signal.SIGTERM)
    assert process.wait(10) == 0
    assert entrypoint.commands()[-1] == "stopped by SIGTERM"


async def test_migrate_on_start_false_only_runs_the_bot(entrypoint: Entrypoint) -> None:
    process = entrypoint.start("run", COUNCILBOT_MIGRATE_ON_START="false")
    assert await entrypoint.wait_for_run() == process.pid
    assert entrypoint.commands() == ["run"]


@pytest.mark.parametrize(
    ("failing", "called"), [("db upgrade", ["db upgrade"]), ("seed", ["db upgrade", "seed"])]
)
def test_a_failed_migration_or_seed_stops_before_the_bot(
    entrypoint: Entrypoint, failing: str, called: list[str]
) -> None:
    process = entrypoint.start(FAIL=failing)
    assert process.wait(10) == 3
    assert entrypoint.commands() == called


def test_migrate_migrates_and_seeds_and_stops(entrypoint: Entrypoint) -> None:
    process = entrypoint.start("migrate")
    assert process.wait(10) == 0
    assert entrypoint.commands() == ["db upgrade", "seed"]


def test_a_misspelt_setting_starts_nothing(entrypoint: Entrypoint) -> None:
    process = entrypoint.start(COUNCILBOT_MIGRATE_ON_START="flase")
    _, stderr = process.communicate(timeout=10)
    assert process.returncode == 2
    assert "COUNCILBOT_MIGRATE_ON_START must be true or false, not 'flase'" in stderr
    assert entrypoint.commands() == []


def test_other_commands_pass_through_without_migrating(entrypoint: Entrypoint) -> None:
    process = entrypoint.start("db", "current")
    assert process.wait(10) == 0
    assert entrypoint.calls() == [(process.pid, "db current")]


def health_command() -> list[str]:
    """Return the Dockerfile's HEALTHCHECK command, run by this interpreter."""
    dockerfile = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    line = next(line for line in dockerfile.splitlines() if line.startswith("HEALTHCHECK"))
    command = json.loads(line.partition(" CMD ")[2])
    assert command[0] == "python"
    return [sys.executable, *command[1:]]


async def health(port: int) -> int:
    """Run the image's health check against this port and return its exit status."""
    env = os.environ | {"COUNCILBOT_HTTP_PORT": str(port)}
    check = await asyncio.create_subprocess_exec(
        *health_command(), cwd="/", env=env, stderr=subprocess.DEVNULL
    )
    return await asyncio.wait_for(check.wait(), 30)


async def test_the_health_check_passes_on_a_running_bot(tmp_path: Path) -> None:
    environment = await prepared_environment(tmp_path)
    async with FakeTelegramAPI() as telegram:
        env = environment | {
            "TELEGRAM_BOT_TOKEN": telegram.token,
            "TELEGRAM_API_BASE_URL": telegram.base_url,
        }
        process = await councilbot("run", env=env)
        try:
            telegram.push_update(update("/councils", 7001))
            await wait_for(lambda: telegram.texts_to("111"))
            assert await health(int(env["COUNCILBOT_HTTP_PORT"])) == 0
        finally:
            await stop(process)
    assert await health(int(env["COUNCILBOT_HTTP_PORT"])) != 0


async def test_the_health_check_fails_on_503() -> None:
    async def unhealthy(_request: web.Request) -> web.Response:
        return web.json_response({"status": "unavailable"}, status=503)

    app = web.Application()
    app.router.add_get("/healthz", unhealthy)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        assert await health(port) != 0
    finally:
        await runner.cleanup()
