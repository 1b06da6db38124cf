"""Lean fake Telegram Bot API and Slack Web API for the benchmarks, each in its own process.

    python -m bench.fakes telegram|slack

tests/fakes are for tests: they record and check every call through aiohttp's web server,
and on a 2-core machine the Telegram one caps a bare echo bot at about 300 replies/s. These
speak just enough HTTP/1.1 (keep-alive, Content-Length bodies) on raw asyncio protocols to
answer the calls a bot makes while it answers commands, and they drive the load themselves,
so that the time from an update to its reply is read on one clock.

The process prints its port as one JSON line, then takes one JSON request a line on stdin
and answers each with one JSON line on stdout:

- {"op": "ready"}: wait until the bot polls (Telegram) or answer at once (Slack).
- {"op": "run", "text": "/councils", "count": 1000, "rate": 0, "target": URL}: hand out
  `count` commands, all at once (`rate` 0, a burst) or `rate` a second; on Slack POST them,
  signed, to the bot's URL, at most `inflight` unanswered at a time. Answer with the replies
  received, the seconds from the first command to the last reply, the latencies (update to
  reply) and this process's CPU seconds over the run.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import hmac
import json
import re
import sys
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import quote, urlsplit

TOKEN = "123456789:AAF4k3-b3nch-t0k3nXXXXXXXXXXXXXXXXXX"
SLACK_TOKEN = "xoxb-bench"
SIGNING_SECRET = "bench-signing-secret"
TEAM = "T0BENCH"
USERS = 50  # distinct senders (Telegram: each in their own private chat)

Result = bytes | Awaitable[bytes]


def response(body: bytes, status: bytes = b"200 OK") -> bytes:
    """Return a whole HTTP/1.1 response with a JSON body, the connection kept open."""
    return b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s" % (
        status,
        len(body),
        body,
    )


OK_TRUE = response(b'{"ok":true,"result":true}')


class _Connection(asyncio.Protocol):
    """One keep-alive HTTP/1.1 connection; requests are answered in order."""

    def __init__(self, handle: Callable[[str, str, bytes], Result]) -> None:
        self._handle = handle
        self._buffer = bytearray()
        self._busy = False
        self._transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self._next()

    def _next(self) -> None:
        while not self._busy:
            end = self._buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self._buffer[:end]).decode("latin-1").split("\r\n")
            length = 0
            for line in head[1:]:
                name, _, value = line.partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if len(self._buffer) < end + 4 + length:
                return
            body = bytes(self._buffer[end + 4 : end + 4 + length])
            del self._buffer[: end + 4 + length]
            method, target, _ = head[0].split(" ", 2)
            result = self._handle(method, target, body)
            if isinstance(result, bytes):
                self._write(result)
            else:
                self._busy = True
                asyncio.ensure_future(result).add_done_callback(self._done)

    def _done(self, task: asyncio.Future[bytes]) -> None:
        self._busy = False
        if not task.cancelled() and task.exception() is None:
            self._write(task.result())
        self._next()

    def _write(self, data: bytes) -> None:
        if self._transport is not None and not self._transport.is_closing():
            self._transport.write(data)


class Run:
    """The commands of one run: when each went out and when its reply came back."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.waiting: dict[str, deque[float]] = {}  # chat -> send times, oldest first
        self.latencies: list[float] = []
        self.first = 0.0
        self.last = 0.0
        self.done = asyncio.Event()

    def sent(self, chat: str, at: float) -> None:
        if not self.first:
            self.first = at
        self.waiting.setdefault(chat, deque()).append(at)

    def replied(self, chat: str) -> None:
        queue = self.waiting.get(chat)
        if not queue:
            return  # a reply nobody asked for in this run (a warm-up's straggler)
        now = time.monotonic()
        self.latencies.append(now - queue.popleft())
        self.last = now
        if len(self.latencies) >= self.count:
            self.done.set()

    def summary(self, cpu: float) -> dict[str, Any]:
        ordered = sorted(self.latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0

        return {
            "replies": len(ordered),
            "seconds": self.last - self.first,
            "p50": pick(0.50),
            "p90": pick(0.90),
            "p99": pick(0.99),
            "max": ordered[-1] * 1000 if ordered else 0,
            "fake_cpu": cpu,
        }


class FakeTelegram:
    """getUpdates hands out the run's updates as they are due; sendMessage counts replies."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.available: deque[tuple[int, bytes]] = deque()  # (update_id, JSON), released
        self.poller: asyncio.Future[None] | None = None
        self.polled = asyncio.Event()
        self.next_id = 1
        self.next_message = 1

    def handle(self, _method: str, target: str, body: bytes) -> Result:
        name = target.rpartition("/")[2].lower()
        if name == "sendmessage":
            # A form (python-telegram-bot) or a JSON body (CouncilBot's replies).
            match = re.search(rb'(?:^|&)chat_id=([^&]*)|"chat_id": ?"?(-?\d+)', body)
            chat = (match.group(1) or match.group(2)).decode() if match else ""
            if self.run is not None:
                self.run.replied(chat)
            self.next_message += 1
            return response(
                b'{"ok":true,"result":{"message_id":%d,"date":1796115600,'
                b'"chat":{"id":%s,"type":"private"}}}' % (self.next_message, chat.encode())
            )
        if name == "getupdates":
            return self._get_updates(body)
        if name == "getme":
            return response(
                b'{"ok":true,"result":{"id":123456789,"is_bot":true,"first_name":"Bench",'
                b'"username":"bench_bot","can_join_groups":true,'
                b'"can_read_all_group_messages":false,"supports_inline_queries":false}}'
            )
        return OK_TRUE

    async def _get_updates(self, body: bytes) -> bytes:
        fields = dict(re.findall(rb"([a-z_]+)=([^&]*)", body))
        offset = int(fields.get(b"offset", b"0") or 0)
        limit = int(fields.get(b"limit", b"100") or 100)
        timeout = float(fields.get(b"timeout", b"0") or 0)
        while self.available and self.available[0][0] < offset:
            self.available.popleft()  # confirmed by the offset
        if not self.available and timeout > 0:
            self.poller = asyncio.get_running_loop().create_future()
            self.polled.set()
            try:
                await asyncio.wait_for(asyncio.shield(self.poller), timeout)
            except TimeoutError:
                pass
            finally:
                self.poller = None
                self.polled.clear()
        batch = [update for _, update in list(self.available)[:limit]]
        return response(b'{"ok":true,"result":[' + b",".join(batch) + b"]}")

    def _update(self, n: int, text: str) -> tuple[str, bytes]:
        user = 1000 + n % USERS
        command = text.split()[0]
        message = {
            "message_id": n + 1,
            "from": {
                "id": user,
                "is_bot": False,
                "first_name": f"User {user}",
                "language_code": "en",
            },
            "chat": {"id": user, "first_name": f"User {user}", "type": "private"},
            "date": 1796115600,
            "text": text,
            "entities": [{"offset": 0, "length": len(command), "type": "bot_command"}],
        }
        update_id, self.next_id = self.next_id, self.next_id + 1
        return str(user), json.dumps({"update_id": update_id, "message": message}).encode()

    async def ready(self) -> None:
        await self.polled.wait()

    async def start(self, run: Run, text: str, rate: float, _request: dict[str, Any]) -> None:
        self.available.clear()
        updates = [self._update(n, text) for n in range(run.count)]
        self.run = run
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n, (chat, update) in enumerate(updates):
            if rate:
                due = started + n / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            run.sent(chat, time.monotonic())
            self.available.append((self.next_id - run.count + n, update))
            if self.poller is not None and not self.poller.done():
                self.poller.set_result(None)


class _SlackClient:
    """One keep-alive connection to the bot's HTTP endpoint."""

    def __init__(self, host: str, port: int, path: str) -> None:
        self.host, self.port, self.path = host, port, path
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self, body: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        stamp = str(int(time.time()))
        signature = hmac.new(
            SIGNING_SECRET.encode(), b"v0:%s:%s" % (stamp.encode(), body), "sha256"
        )
        self.writer.write(
            (
                f"POST {self.path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
                "Content-Type: application/x-www-form-urlencoded\r\n"
                f"X-Slack-Request-Timestamp: {stamp}\r\n"
                f"X-Slack-Signature: v0={signature.hexdigest()}\r\n"
                f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body
        )
        status = int((await self.reader.readline()).split()[1])
        length = 0
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.partition(b":")
            if name.lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return status


class FakeSlack:
    """The Web API calls that carry replies; the commands go to the bot, signed, over HTTP."""

    def __init__(self) -> None:
        self.run: Run | None = None
        self.port = 0
        self.acks: dict[int, int] = {}

    def handle(self, _method: str, target: str, body: bytes) -> Result:
        path = target.split("?", 1)[0]
        if path.startswith("/respond/"):  # a response_url
            if self.run is not None:
                self.run.replied(path.removeprefix("/respond/"))
            return response(b"ok")
        name = path.rpartition("/")[2]
        if name in ("chat.postMessage", "chat.postEphemeral"):
            match = re.search(rb'"channel": ?"([^"]*)"', body)
            if self.run is not None and match:
                self.run.replied(match.group(1).decode())
            return response(
                b'{"ok":true,"channel":"C0","ts":"1796115600.%06d","message_ts":"1796115600.1"}'
                % (self.run.count if self.run else 0)
            )
        if name == "auth.test":
            return response(
                b'{"ok":true,"url":"https://bench.slack.com/","team":"Bench","user":"bench",'
                b'"team_id":"%s","user_id":"U0BOT","bot_id":"B0BOT","is_enterprise_install":false}'
                % TEAM.encode()
            )
        return response(b'{"ok":true}')

    def _body(self, n: int, text: str, channel: str) -> bytes:
        user = f"U{n % USERS:04d}"
        fields = {
            "token": "bench",
            "team_id": TEAM,
            "team_domain": "bench",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": f"user{n % USERS}",
            "command": "/council",
            "text": text,
            "api_app_id": "A0BENCH",
            "response_url": f"http://127.0.0.1:{self.port}/respond/{channel}",
            "trigger_id": f"{n}.1.bench",
        }
        return "&".join(f"{k}={quote(v, safe='')}" for k, v in fields.items()).encode()

    async def ready(self) -> None:
        return None

    async def start(self, run: Run, text: str, rate: float, request: dict[str, Any]) -> None:
        self.run = run
        url = urlsplit(request["target"])
        assert url.hostname is not None and url.port is not None
        inflight = int(request.get("inflight", 32))
        # Each of the USERS people in a channel of their own, as on Telegram; the replies in
        # one channel are matched to its commands in order.
        bodies = deque(
            (channel, self._body(n, text, channel))
            for n in range(run.count)
            for channel in [f"C{n % USERS:05d}"]
        )
        idle: asyncio.Queue[_SlackClient] = asyncio.Queue()
        for _ in range(inflight):
            idle.put_nowait(_SlackClient(url.hostname, url.port, url.path))

        async def send(client: _SlackClient, channel: str, body: bytes) -> None:
            run.sent(channel, time.monotonic())
            status = await client.post(body)
            self.acks[status] = self.acks.get(status, 0) + 1
            idle.put_nowait(client)

        loop = asyncio.get_running_loop()
        started = loop.time()
        tasks = set()
        n = 0
        while bodies:
            if rate:
                due = started + n / rate
                if due > loop.time():
                    await asyncio.sleep(due - loop.time())
            client = await idle.get()  # at most `inflight` commands unacknowledged
            channel, body = bodies.popleft()
            task = asyncio.create_task(send(client, channel, body))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            await asyncio.sleep(0)
            n += 1
        await asyncio.gather(*tasks)


async def main(platform: str) -> None:
    fake: FakeTelegram | FakeSlack = FakeTelegram() if platform == "telegram" else FakeSlack()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: _Connection(fake.handle), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    if isinstance(fake, FakeSlack):
        fake.port = port
    gc.collect()
    gc.freeze()
    print(json.dumps({"port": port}), flush=True)
    while line := await asyncio.to_thread(sys.stdin.readline):
        request = json.loads(line)
        if request["op"] == "ready":
            await fake.ready()
            print(json.dumps({"ready": True}), flush=True)
            continue
        run = Run(int(request["count"]))
        cpu = time.process_time()
        await fake.start(run, request["text"], float(request.get("rate", 0)), request)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(run.done.wait(), float(request.get("timeout", 120)))
        summary = run.summary(time.process_time() - cpu)
        if isinstance(fake, FakeSlack):
            summary["acks"] = {str(k): v for k, v in fake.acks.items()}
            fake.acks.clear()
        fake.run = None
        print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
