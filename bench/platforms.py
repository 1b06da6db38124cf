"""CouncilBot beside each chat library's bare echo bot, on Telegram and Slack, in one run.

    .venv/bin/python -m bench.platforms [--commands 1000] [--rate 200] [--seconds 10]
    make bench

Every party runs in its own process: a lean fake platform (bench/fakes.py) that also
drives the load and times each reply, the bare echo bot (bench/echo.py), and the real
`councilbot run` on a migrated, seeded SQLite database. Each bot gets a warm-up (each
command once from every sender), then:

- burst: `--commands` commands at once (Slack: POSTed with `--inflight` unanswered at most);
- paced: `--rate` commands a second for `--seconds` seconds.

For each run it prints replies per second (first command to last reply), the latency from
command to reply (p50/p90/p99), the bot's CPU time per command (from /proc) and the fake's
own CPU time as a share of the run, so that a reader can see the fake was not the limit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from tests.processes import ROOT, free_port, prepared_environment

from bench.fakes import SIGNING_SECRET, SLACK_TOKEN, TOKEN, USERS
from councilbot.db.models import Council, Event, EventStatus
from councilbot.db.session import create_engine, create_sessionmaker

TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """Return a process's user and system CPU time so far, every thread included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def memory_mib(pid: int) -> tuple[float, float]:
    """Return (VmRSS, VmHWM) of a process in MiB."""
    lines = Path(f"/proc/{pid}/status").read_text().splitlines()
    fields = dict(line.split(":", 1) for line in lines if ":" in line)
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


class Fake:
    """The fake platform's process, spoken to one JSON line at a time."""

    def __init__(self, process: asyncio.subprocess.Process, port: int) -> None:
        self.process, self.port = process, port

    @classmethod
    async def start(cls, platform: str) -> Fake:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bench.fakes", platform, cwd=ROOT,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        return cls(process, (await cls._read(process))["port"])

    @staticmethod
    async def _read(process: asyncio.subprocess.Process) -> dict[str, Any]:
        assert process.stdout is not None
        line = await process.stdout.readline()
        if not line:
            raise RuntimeError("the fake platform stopped")
        return json.loads(line)

    async def ask(self, **request: Any) -> dict[str, Any]:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(request).encode() + b"\n")
        await self.process.stdin.drain()
        return await self._read(self.process)

    async def stop(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.close()
        await asyncio.wait_for(self.process.wait(), 10)


@dataclass
class Row:
    """One run of one bot."""

    run: str
    bot: str
    replies: int
    seconds: float
    p50: float
    p90: float
    p99: float
    cpu_ms: float
    fake_share: float

    @property
    def rate(self) -> float:
        return self.replies / self.seconds if self.seconds else 0.0

    def line(self, echo: Row | None) -> str:
        ratio = f"{self.rate / echo.rate:5.2f}x" if echo and echo is not self else "      "
        return (
            f"{self.run:34} {self.bot:11} {self.replies:5d} {self.rate:7.0f}/s {ratio} "
            f"{self.p50:7.1f} {self.p90:7.1f} {self.p99:7.1f} ms {self.cpu_ms:6.2f} ms "
            f"{self.fake_share:6.0%}"
        )


HEADER = (
    f"{'run':34} {'bot':11} {'count':>5} {'replies':>9} {'ratio':>6} "
    f"{'p50':>7} {'p90':>7} {'p99':>10} {'CPU/cmd':>9} {'fake CPU':>7}"
)


async def measure(
    fake: Fake, pid: int, run: str, bot: str, text: str, count: int, rate: float, **extra: Any
) -> Row:
    """Have the fake send `count` commands and read what the bot spent answering them."""
    cpu = cpu_seconds(pid)
    result = await fake.ask(op="run", text=text, count=count, rate=rate, **extra)
    spent = cpu_seconds(pid) - cpu
    replies = result["replies"]
    if replies < count:
        print(f"  ({bot} answered {replies} of {count} in {run}: {result})", file=sys.stderr)
    seconds = max(result["seconds"], 1e-9)
    row = Row(
        run,
        bot,
        replies,
        seconds,
        result["p50"],
        result["p90"],
        result["p99"],
        spent / max(replies, 1) * 1000,
        result["fake_cpu"] / seconds,
    )
    return row


async def start_bot(
    platform: str,
    bot: str,
    fake: Fake,
    env: dict[str, str],
    logs: Path,
    profile: Path | None = None,
) -> tuple[asyncio.subprocess.Process, str]:
    """Start a bot process against the fake; return it and the URL Slack commands go to."""
    port = free_port()
    base = f"http://127.0.0.1:{fake.port}"
    if bot == "echo":
        api = f"{base}/bot" if platform == "telegram" else f"{base}/api/"
        args = ["-m", "bench.echo", platform, api, str(port)]
    else:
        args = ["-m", "councilbot", "run"]
        if profile is not None:  # pyinstrument writes its report when the bot stops
            report = profile / f"{platform}.pyisession"  # pyinstrument --load=... renders it
            args = [
                "-m",
                "pyinstrument",
                "-i",
                "0.0005",
                "-r",
                "pyisession",
                "-o",
                str(report),
                *args,
            ]
        env = {**env, "COUNCILBOT_HTTP_PORT": str(port)}
        if platform == "telegram":
            env |= {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": f"{base}/bot"}
        else:
            env |= {
                "SLACK_BOT_TOKEN": SLACK_TOKEN,
                "SLACK_SIGNING_SECRET": SIGNING_SECRET,
                "SLACK_API_BASE_URL": f"{base}/api/",
            }
    with (logs / f"{platform}-{bot}.log").open("ab") as log:
        process = await asyncio.create_subprocess_exec(
            sys.executable, *args, cwd=ROOT, env=env, stdout=log, stderr=log
        )
    if platform == "telegram":
        await asyncio.wait_for(fake.ask(op="ready"), 60)
    else:
        await _listening(port, process)
    return process, f"http://127.0.0.1:{port}/slack/events"


async def _listening(port: int, process: asyncio.subprocess.Process) -> None:
    async with asyncio.timeout(60):
        while True:
            if process.returncode is not None:
                raise RuntimeError("the bot stopped at start-up; see its log")
            try:
                _reader, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            writer.close()
            await asyncio.sleep(1.0)  # the Slack adapter checks its token after the server starts
            return


async def stop_bot(process: asyncio.subprocess.Process) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), 30)
    except TimeoutError:
        process.kill()
        await process.wait()


async def platform_runs(
    platform: str, options: argparse.Namespace, env: dict[str, str], logs: Path
) -> list[tuple[Row, Row]]:
    """Run every scenario on one platform, for the echo bot and CouncilBot."""
    fake = await Fake.start(platform)
    commands = options.command
    paced = round(options.rate * options.seconds)
    burst = "burst" if platform == "telegram" else f"burst ({options.inflight} in flight)"
    extra = {"inflight": options.inflight} if platform == "slack" else {}
    rows: dict[str, dict[str, Row]] = {}
    try:
        for bot in ("echo", "CouncilBot"):
            profile = options.profile if bot == "CouncilBot" else None
            process, target = await start_bot(platform, bot, fake, env, logs, profile)
            extra_run = {**extra, "target": target} if platform == "slack" else extra
            try:

                def text(command: str, bot: str = bot) -> str:
                    if bot == "echo":
                        return "/echo" if platform == "telegram" else "echo"
                    return f"/{command}" if platform == "telegram" else command

                # Warm-up: every sender's first commands (CouncilBot registers them), each
                # command measured once per sender: the runs measure the steady state.
                for command in commands:
                    await measure(
                        fake, process.pid, "warm-up", bot, text(command), USERS, 0, **extra_run
                    )
                for command in commands:
                    run = f"{burst} {options.commands} /{command}"
                    row = await measure(
                        fake, process.pid, run, bot, text(command), options.commands, 0, **extra_run
                    )
                    rows.setdefault(f"burst /{command}", {})[bot] = row
                run = f"paced {options.rate:.0f}/s {options.seconds:.0f} s /{commands[0]}"
                row = await measure(
                    fake, process.pid, run, bot, text(commands[0]), paced, options.rate, **extra_run
                )
                rows.setdefault("paced", {})[bot] = row
                if bot == "CouncilBot":
                    rss, peak = memory_mib(process.pid)
                    print(f"  {platform}: CouncilBot resident {rss:.0f} MiB (peak {peak:.0f} MiB)")
            finally:
                await stop_bot(process)
    finally:
        await fake.stop()
    return [(by_bot["echo"], by_bot["CouncilBot"]) for by_bot in rows.values()]


async def add_event(url: str) -> None:
    """Give /events something to list and /rsvp E1 an event to answer: one in Cork, unlimited."""
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            cork = await session.scalar(select(Council).where(Council.slug == "cork"))
            now = datetime.now(UTC)
            start = now + timedelta(days=30)
            session.add(
                Event(
                    council=cork, all_councils=True, title="Open day", description="", venue="",
                    start_at=start, end_at=start + timedelta(hours=2), planned_start_at=start,
                    timezone="Europe/Dublin",
                    capacity=None, taken=0, turns=0, guests_allowed=1, approval=False,
                    status=EventStatus.SCHEDULED, sequence=0, full_told=False,
                    created_at=now, updated_at=now, councils=[cork],
                )
            )  # fmt: skip
    finally:
        await engine.dispose()


async def main(options: argparse.Namespace) -> None:
    started = time.monotonic()
    load = os.getloadavg()
    print(f"{os.cpu_count()} cores; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        env = await prepared_environment(Path(tmp))
        if any(c.split()[0] in ("events", "event", "rsvp") for c in options.command):
            await add_event(env["COUNCILBOT_DATABASE_URL"])
        env["COUNCILBOT_LOG_LEVEL"] = options.log_level
        for platform in options.platform:
            pairs = await platform_runs(platform, options, env, Path(tmp))
            library = "python-telegram-bot" if platform == "telegram" else "slack-bolt"
            print(f"\n{platform.capitalize()} ({library} echo bot vs CouncilBot)")
            print(HEADER)
            for echo, councilbot in pairs:
                print(echo.line(echo))
                print(councilbot.line(echo))
            print(flush=True)
    print(f"({time.monotonic() - started:.0f} s)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--commands", type=int, default=1000, help="commands in a burst")
    parser.add_argument("--rate", type=float, default=200.0, help="commands a second, paced")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the paced run")
    parser.add_argument("--inflight", type=int, default=32, help="Slack: unanswered POSTs at most")
    parser.add_argument(
        "--command",
        nargs="+",
        default=["councils", "help", "whoami", "events", "rsvp E1"],
        help="commands to run (with their arguments: `rsvp E1`)",
    )
    parser.add_argument(
        "--platform", nargs="+", default=["telegram", "slack"], choices=["telegram", "slack"]
    )
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run CouncilBot under pyinstrument, saving <platform>.pyisession in this folder",
    )
    parser.add_argument("--log-level", default="INFO", help="CouncilBot's COUNCILBOT_LOG_LEVEL")
    asyncio.run(main(parser.parse_args()))
