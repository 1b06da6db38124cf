"""Resident memory of an idle `councilbot run`, one process per platform set-up.

    .venv/bin/python -m bench.memory [--settle 5] [--commands 10000]

Each set-up runs the real executable on a migrated, seeded SQLite database against the
fake Telegram Bot API and Slack Web API (tests/fakes) on 127.0.0.1, waits until it is
serving, lets it idle for `--settle` seconds, answers one command to show it works, and
reads VmRSS (and VmHWM, the peak) from /proc/<pid>/status. With `--commands N`, the
Telegram + Slack set-up then answers N Telegram commands (/councils, /help and /whoami from
50 people in turn) and its memory is read again.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

from tests.adapters.slack.test_slack_adapter import SECRET, payload
from tests.adapters.telegram.test_run import update
from tests.fakes.slack_api import APP_TOKEN, CLIENT_ID, CLIENT_SECRET, FakeSlackAPI
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.processes import councilbot, prepared_environment, stop, wait_for


def _memory(pid: int) -> tuple[float, float]:
    """Return (VmRSS, VmHWM) of a process in MiB."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in status if ":" in line)
    rss, peak = (int(fields[name].split()[0]) / 1024 for name in ("VmRSS", "VmHWM"))
    return rss, peak


COMMANDS = ("/councils", "/help", "/whoami")


def _command(n: int) -> dict:
    """Return the n-th command of the load: one of COMMANDS, from one of 50 people."""
    data = update(COMMANDS[n % len(COMMANDS)], 10_000 + n)
    person = 500 + n % 50
    data["message"]["from"]["id"] = person
    data["message"]["chat"]["id"] = person
    return data


async def measure(
    name: str, settle: float, telegram: bool, slack: str | None, commands: int = 0
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        env = await prepared_environment(Path(tmp))
        async with FakeTelegramAPI() as tg, FakeSlackAPI() as sl:
            env["SLACK_API_BASE_URL"] = sl.base_url
            if telegram:
                env |= {"TELEGRAM_BOT_TOKEN": tg.token, "TELEGRAM_API_BASE_URL": tg.base_url}
            if slack == "http":
                env |= {"SLACK_BOT_TOKEN": "xoxb-bench", "SLACK_SIGNING_SECRET": SECRET}
            elif slack == "socket":
                env |= {"SLACK_CLIENT_ID": CLIENT_ID, "SLACK_CLIENT_SECRET": CLIENT_SECRET}
                env |= {"SLACK_APP_TOKEN": APP_TOKEN}
            process = await councilbot("run", env=env)
            try:
                if telegram:
                    await wait_for(lambda: tg.calls("getUpdates"), 30)
                if slack == "http":
                    await wait_for(lambda: sl.calls("auth.test"), 30)
                elif slack == "socket":
                    await wait_for(lambda: sl.sockets, 30)
                await asyncio.sleep(settle)
                rss, peak = _memory(process.pid)
                if telegram:  # one command, to show the process is alive and answering
                    tg.push_update(update("/councils", 9001))
                    await wait_for(lambda: tg.texts_to("111"), 30)
                elif slack == "socket":
                    await sl.envelope("slash_commands", payload("slash_command"))
                    await wait_for(lambda: sl.responses, 30)  # "not installed": no install
                if commands:
                    before = len(tg.sent)
                    for n in range(commands):
                        tg.push_update(_command(n))
                    await wait_for(lambda: len(tg.sent) - before >= commands, 600)
                    after, after_peak = _memory(process.pid)
            finally:
                await stop(process)
    print(f"{name:48} idle {rss:6.1f} MiB resident (peak {peak:.1f} MiB)")
    if commands:
        print(f"{'':48} after {commands} commands {after:6.1f} MiB (peak {after_peak:.1f} MiB)")


async def main(settle: float, commands: int) -> None:
    started = time.monotonic()
    await measure("Telegram (long polling)", settle, telegram=True, slack=None)
    await measure("Slack (HTTP, one workspace)", settle, telegram=False, slack="http")
    await measure("Telegram + Slack (HTTP)", settle, telegram=True, slack="http", commands=commands)
    await measure("Telegram + Slack (Socket Mode, multi-workspace)", settle, True, "socket")
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--settle", type=float, default=5.0, help="seconds to idle first")
    parser.add_argument("--commands", type=int, default=0, help="commands to answer, then")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.settle, arguments.commands))
