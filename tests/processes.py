"""Run the real `councilbot` executable in tests: a prepared database, a free port, a clean stop."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def councilbot(*args: str, env: dict[str, str]) -> asyncio.subprocess.Process:
    """Start `python -m councilbot ARGS` with its output captured."""
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "councilbot", *args, cwd=ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def prepared_environment(tmp_path: Path) -> dict[str, str]:
    """Return an environment with a migrated, seeded SQLite database and a free HTTP port."""
    env = {
        **os.environ,
        "COUNCILBOT_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/bot.db",
        "COUNCILBOT_HTTP_PORT": str(free_port()),
        "COUNCILBOT_ADMINS": "",
    }
    for action in (("db", "upgrade"), ("seed",)):
        process = await councilbot(*action, env=env)
        assert await asyncio.wait_for(process.wait(), 60) == 0
    return env


async def wait_for(condition: Callable[[], object], seconds: float = 15) -> None:
    """Wait until `condition()` is truthy, e.g. until a fake server recorded a call."""
    async with asyncio.timeout(seconds):
        while not condition():  # noqa: ASYNC110 - polling what a fake recorded
            await asyncio.sleep(0.05)


async def stop(process: asyncio.subprocess.Process) -> None:
    """Send SIGTERM and expect a clean exit."""
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0
