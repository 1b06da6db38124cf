"""A fake Slack Web API on 127.0.0.1 for the real slack_sdk AsyncWebClient to talk to.

    async with FakeSlackAPI() as api:
        client = AsyncWebClient(token="xoxb-test", base_url=api.base_url, retry_handlers=[])
        await client.chat_postMessage(channel="C1", text="hi")
        assert api.texts_to("C1") == ["hi"]

slack_sdk sends chat.postMessage, chat.update, chat.postEphemeral and views.* as JSON
bodies, most other methods (auth.test, ...) as query parameters, and file uploads as
multipart forms; every request carries the token as `Authorization: Bearer ...`. The fake
accepts all of these and merges them into one params dict.

It also plays Slack's side of the multi-workspace install (`install()` hands out an OAuth
code that oauth.v2.access trades for a workspace's bot token) and of Socket Mode
(apps.connections.open gives a ws:// address here; `envelope()` pushes a request down every
open socket and returns the app's acknowledgement).

chat.update and chat.delete find a message by its conversation and ts, as Slack does: a
direct message posted to a person's id (U...) lives in their DM's conversation (D...), and
the user id does not find it there.

files.delete deletes a file uploaded with the same token, as Slack lets a bot delete the
files it uploaded: the file leaves every channel it was shared in (`files_in`); a file
already deleted is `file_deleted`, an unknown one `file_not_found`, another's
`cant_delete_file`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from councilbot.adapters.slack.oauth import BOT_SCOPES

TEAM_ID = "T0TEAM"
BOT_USER_ID = "U0BOT"
BOT_ID = "B0BOT"
APP_ID = "A0APP"
CLIENT_ID = "1234567890.0987654321"
CLIENT_SECRET = "3fcd2a1b0e9f8d7c6b5a49382716a5f4"
INSTALLER = "U0INSTALLER"
APP_TOKEN = "xapp-1-A0APP-1234-abcdef"
NO_BEARER = frozenset({"oauth.v2.access"})  # authenticated with the client id and secret
_JSON_FIELDS = ("blocks", "attachments", "view", "metadata", "files")


@dataclass(frozen=True, slots=True)
class Recorded:
    """One request the fake received."""

    method: str
    params: dict[str, Any]
    headers: dict[str, str]
    time: float = field(default_factory=time.monotonic)

    @property
    def token(self) -> str | None:
        """Return the bearer token (or `token` parameter) the request carried."""
        auth = self.headers.get("Authorization", "")
        if auth.startswith("Bearer "):
            return auth.removeprefix("Bearer ")
        token = self.params.get("token")
        return str(token) if token else None


class FakeSlackAPI:
    """Serve a small, recorded imitation of the Slack Web API."""

    def __init__(self) -> None:
        self.base_url = ""
        self.root_url = ""
        self.requests: list[Recorded] = []
        self.posted: list[Recorded] = []
        self.errors: dict[str, str] = {}
        # Picture addresses Slack cannot fetch: a message showing one is refused.
        self.unreachable_urls: set[str] = set()
        self.fail_next = 0
        self.channel_rate: float | None = None
        self.rate_limited = 0
        self.auth_error: str | None = None  # e.g. "invalid_auth": answered to every call
        self.revoked: set[str] = set()  # tokens of uninstalled apps: answered token_revoked
        self.delay = 0.0  # seconds to wait before answering chat.postMessage
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}  # (conversation, ts)
        self.deleted: list[tuple[str, str]] = []  # (conversation, ts) of deleted messages
        self.responses: list[Recorded] = []  # POSTs to response_url(...), method = its key
        self.teams: dict[str, str] = {}  # bot token -> its workspace (team id), for auth.test
        self.codes: dict[str, tuple[str, str, str]] = {}  # OAuth code -> (team, name, token)
        self.uploads: list[dict[str, Any]] = []  # files shared by files.completeUploadExternal
        self.shared_files: dict[str, dict[str, Any]] = {}  # file id -> its upload, until deleted
        self.deleted_files: list[str] = []  # ids of files deleted by files.delete
        self._pending: dict[str, dict[str, Any]] = {}  # file id -> what getUploadURLExternal said
        self.sockets: list[web.WebSocketResponse] = []
        self.acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.socket_opened = asyncio.Event()
        self._recent: defaultdict[str, deque[float]] = defaultdict(deque)
        self._seq = 0
        self._runner: web.AppRunner | None = None

    # -- lifecycle

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        app.router.add_post("/response/{key}", self._respond)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/upload/{file_id}", self._upload)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.root_url = f"http://127.0.0.1:{port}"
        self.base_url = f"{self.root_url}/api/"

    async def stop(self) -> None:
        """Stop listening; later calls get connection errors."""
        for socket in list(self.sockets):
            await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    # -- queries

    def texts_to(self, channel: str) -> list[str]:
        """Return the text of every message successfully posted to a channel, in order."""
        return [
            str(r.params.get("text", "")) for r in self.posted if r.params.get("channel") == channel
        ]

    def text_of(self, channel: str, ts: str) -> str | None:
        """Return what a posted message says now (None: deleted, or never posted)."""
        message = self.messages.get((channel, ts))
        return None if message is None else str(message["text"])

    def files_in(self, channel: str) -> list[str]:
        """Return the ids of the files shared in a conversation and not deleted, in order."""
        return [i for i, shared in self.shared_files.items() if shared["channel"] == channel]

    def response_url(self, key: str) -> str:
        """Return a response_url (as in slash command and interaction payloads) served here."""
        return f"{self.root_url}/response/{key}"

    def install(self, team_id: str, team_name: str) -> str:
        """Return the code Slack would send back to the redirect URL after an install."""
        self._seq += 1
        code = f"code-{team_id}-{self._seq}"
        token = f"xoxb-{team_id}-{self._seq}-installed"
        self.codes[code] = (team_id, team_name, token)
        return code

    async def envelope(
        self, kind: str, payload: dict[str, Any], seconds: float = 5.0
    ) -> dict[str, Any]:
        """Send a Socket Mode request to the connected app and return its acknowledgement."""
        async with asyncio.timeout(seconds):
            await self.socket_opened.wait()
        self._seq += 1
        envelope_id = f"env-{self._seq}"
        self.acks[envelope_id] = asyncio.get_running_loop().create_future()
        message = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": kind != "events_api",
            "retry_attempt": 0,
            "retry_reason": "",
        }
        for socket in self.sockets:
            await socket.send_json(message)
        async with asyncio.timeout(seconds):
            return await self.acks[envelope_id]

    async def refresh(self) -> None:
        """Ask every connected app to reconnect, as Slack does every few hours, and hang up."""
        self.socket_opened.clear()
        for socket in list(self.sockets):
            await socket.send_json({"type": "disconnect", "reason": "refresh_requested"})
            await socket.close()

    def calls(self, method: str) -> list[Recorded]:
        """Return every recorded request to one API method, answered or not."""
        return [r for r in self.requests if r.method == method]

    # -- plumbing

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        params = await _read_params(request)
        recorded = Recorded(method=method, params=params, headers=dict(request.headers))
        self.requests.append(recorded)
        if recorded.token is None and method not in NO_BEARER:
            return _error("not_authed")
        if self.auth_error:
            return _error(self.auth_error)
        if recorded.token in self.revoked:
            return _error("token_revoked")
        handler = _HANDLERS.get(method)
        if handler is None:
            return web.json_response({"ok": True})
        return await handler(self, recorded)

    async def _respond(self, request: web.Request) -> web.Response:
        """Record a message sent to a response_url; Slack answers a plain `ok`."""
        params = await _read_params(request)
        self.responses.append(
            Recorded(method=request.match_info["key"], params=params, headers=dict(request.headers))
        )
        return web.Response(text="ok")

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        """Hold one Socket Mode connection: say hello, then collect acknowledgements."""
        socket = web.WebSocketResponse()  # answers the client's pings itself
        await socket.prepare(request)
        self.sockets.append(socket)
        await socket.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": APP_ID}}
        )
        self.socket_opened.set()
        try:
            async for message in socket:
                if message.type != web.WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                future = self.acks.get(str(data.get("envelope_id")))
                if future is not None and not future.done():
                    future.set_result(data)
        finally:
            self.sockets.remove(socket)
            if not self.sockets:
                self.socket_opened.clear()
        return socket

    async def _upload(self, request: web.Request) -> web.Response:
        """Take a file's bytes at the address files.getUploadURLExternal handed out."""
        pending = self._pending.get(request.match_info["file_id"])
        if pending is None:
            return web.Response(status=404, text="unknown upload")
        pending["data"] = await request.read()
        return web.Response(text=f"OK - {len(pending['data'])}")

    def _next_ts(self) -> str:
        self._seq += 1
        micros = 100 * self._seq
        return f"{1_700_000_000 + micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _over_rate(self, channel: str) -> bool:
        """Tell whether one more post to the channel would exceed channel_rate per second."""
        if self.channel_rate is None:
            return False
        now = time.monotonic()
        recent = self._recent[channel]
        while recent and now - recent[0] >= 1.0:
            recent.popleft()
        return len(recent) + 1 > self.channel_rate

    def _message(self, params: dict[str, Any], ts: str) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message",
            "text": params.get("text", ""),
            "user": BOT_USER_ID,
            "bot_id": BOT_ID,
            "app_id": APP_ID,
            "team": TEAM_ID,
            "ts": ts,
        }
        for key in ("blocks", "attachments", "thread_ts", "metadata"):
            if key in params:
                message[key] = params[key]
        return message

    # -- methods

    async def _auth_test(self, recorded: Recorded) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "url": "https://councilbot-test.slack.com/",
                "team": "CouncilBot Test",
                "user": "councilbot",
                "team_id": self.teams.get(str(recorded.token), TEAM_ID),
                "user_id": BOT_USER_ID,
                "bot_id": BOT_ID,
                "is_enterprise_install": False,
            }
        )

    async def _oauth_access(self, recorded: Recorded) -> web.Response:
        """Trade an install's code for the workspace's bot token, once."""
        auth = recorded.headers.get("Authorization", "")
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if auth != f"Basic {expected}":
            return _error("invalid_client_id")
        found = self.codes.pop(str(recorded.params.get("code", "")), None)
        if found is None:
            return _error("invalid_code")
        team_id, team_name, token = found
        self.teams[token] = team_id
        return web.json_response(
            {
                "ok": True,
                "app_id": APP_ID,
                "authed_user": {"id": INSTALLER},
                "scope": ",".join(BOT_SCOPES),
                "token_type": "bot",
                "access_token": token,
                "bot_user_id": BOT_USER_ID,
                "team": {"id": team_id, "name": team_name},
                "enterprise": None,
                "is_enterprise_install": False,
            }
        )

    async def _connections_open(self, recorded: Recorded) -> web.Response:
        """Give an app-level token the address of this fake's Socket Mode endpoint."""
        if recorded.token != APP_TOKEN:
            return _error("invalid_auth")
        return web.json_response({"ok": True, "url": f"ws{self.root_url[4:]}/socket"})

    async def _upload_url(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        if not params.get("filename") or not str(params.get("length", "")).isdigit():
            return _error("invalid_arguments")
        self._seq += 1
        file_id = f"F{self._seq:08d}"
        self._pending[file_id] = {"filename": params["filename"], "token": recorded.token}
        upload_url = f"{self.root_url}/upload/{file_id}"
        return web.json_response({"ok": True, "upload_url": upload_url, "file_id": file_id})

    async def _complete_upload(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        channel = str(params.get("channel_id") or "")
        if channel.startswith(("U", "W")):  # Slack wants a channel (a person's is a D… one)
            return _error("invalid_arguments")
        if channel in self.errors:
            return _error(self.errors[channel])
        shared = []
        for item in params.get("files") or []:
            pending = self._pending.pop(str(item.get("id")), None)
            if pending is None or "data" not in pending:
                return _error("file_not_found")
            upload = {**pending, "title": item.get("title"), "channel": channel}
            self.uploads.append(upload)
            self.shared_files[str(item["id"])] = upload
            shared.append(
                {"id": item["id"], "title": item.get("title"), "name": pending["filename"]}
            )
        return web.json_response({"ok": True, "files": shared})

    async def _delete_file(self, recorded: Recorded) -> web.Response:
        file_id = str(recorded.params.get("file") or "")
        if file_id in self.deleted_files:
            return _error("file_deleted")
        shared = self.shared_files.get(file_id)
        if shared is None:
            return _error("file_not_found")
        if shared["token"] != recorded.token:  # a bot deletes only the files it uploaded
            return _error("cant_delete_file")
        del self.shared_files[file_id]
        self.deleted_files.append(file_id)
        return web.json_response({"ok": True})

    async def _open_conversation(self, recorded: Recorded) -> web.Response:
        user = str(recorded.params.get("users") or "")
        if not user.startswith(("U", "W")):
            return _error("user_not_found")
        return web.json_response({"ok": True, "channel": {"id": "D" + user[1:]}})

    async def _post_message(self, recorded: Recorded) -> web.Response:
        if self.delay:
            await asyncio.sleep(self.delay)
        if self.fail_next > 0:
            self.fail_next -= 1
            return web.Response(
                status=500,
                text="<html><body>Internal Server Error</body></html>",
                content_type="text/html",
            )
        params = recorded.params
        channel = str(params.get("channel", ""))
        if not channel:
            return _error("channel_not_found")
        if channel in self.errors:
            return _error(self.errors[channel])
        if not any(params.get(key) for key in ("text", "blocks", "attachments")):
            return _error("no_text")
        if self._unreachable_image(params):
            return _error("invalid_blocks")
        if self._over_rate(channel):
            self.rate_limited += 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": "1"}
            )
        self._recent[channel].append(time.monotonic())
        ts = self._next_ts()
        message = self._message(params, ts)
        answered = "D" + channel[1:] if channel.startswith(("U", "W")) else channel
        self.messages[(answered, ts)] = message
        self.posted.append(recorded)
        return web.json_response({"ok": True, "channel": answered, "ts": ts, "message": message})

    def _unreachable_image(self, params: dict[str, Any]) -> bool:
        """Tell whether a message shows a picture Slack cannot fetch (it refuses the blocks)."""
        blocks = params.get("blocks")
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        return any(
            block.get("type") == "image" and block.get("image_url") in self.unreachable_urls
            for block in blocks or []
        )

    async def _update(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if channel in self.errors:
            return _error(self.errors[channel])
        if (channel, ts) not in self.messages:
            return _error("message_not_found")
        if self._unreachable_image(params):
            return _error("invalid_blocks")
        message = self._message(params, ts)  # an update replaces the content
        if "thread_ts" in self.messages[(channel, ts)]:
            message["thread_ts"] = self.messages[(channel, ts)]["thread_ts"]
        self.messages[(channel, ts)] = message
        return web.json_response(
            {"ok": True, "channel": channel, "ts": ts, "text": message["text"], "message": message}
        )

    async def _delete(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        channel, ts = str(params.get("channel", "")), str(params.get("ts", ""))
        if channel in self.errors:
            return _error(self.errors[channel])
        if self.messages.pop((channel, ts), None) is None:
            return _error("message_not_found")
        self.deleted.append((channel, ts))
        return web.json_response({"ok": True, "channel": channel, "ts": ts})

    async def _post_ephemeral(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        channel = str(params.get("channel", ""))
        if channel in self.errors:
            return _error(self.errors[channel])
        if not params.get("user"):
            return _error("user_not_found")
        return web.json_response({"ok": True, "message_ts": self._next_ts()})

    async def _view(self, recorded: Recorded) -> web.Response:
        params = recorded.params
        view = params.get("view")
        if not isinstance(view, dict):
            return _error("invalid_arguments")
        if recorded.method == "views.open" and not params.get("trigger_id"):
            return _error("invalid_trigger_id")
        if recorded.method == "views.publish" and not params.get("user_id"):
            return _error("invalid_arguments")
        self._seq += 1
        answered = {
            "id": f"V{self._seq:08d}",
            "team_id": TEAM_ID,
            "type": view.get("type", "modal"),
            "blocks": view.get("blocks", []),
            "private_metadata": view.get("private_metadata", ""),
            "callback_id": view.get("callback_id", ""),
            "state": {"values": {}},
            "hash": f"{1_700_000_000 + self._seq}.abcdef",
            "title": view.get("title"),
            "close": view.get("close"),
            "submit": view.get("submit"),
            "external_id": view.get("external_id", ""),
            "root_view_id": f"V{self._seq:08d}",
            "previous_view_id": None,
            "app_id": APP_ID,
            "bot_id": BOT_ID,
        }
        return web.json_response({"ok": True, "view": answered})


_HANDLERS = {
    "auth.test": FakeSlackAPI._auth_test,
    "chat.postMessage": FakeSlackAPI._post_message,
    "chat.update": FakeSlackAPI._update,
    "chat.delete": FakeSlackAPI._delete,
    "chat.postEphemeral": FakeSlackAPI._post_ephemeral,
    "views.open": FakeSlackAPI._view,
    "views.publish": FakeSlackAPI._view,
    "oauth.v2.access": FakeSlackAPI._oauth_access,
    "apps.connections.open": FakeSlackAPI._connections_open,
    "files.getUploadURLExternal": FakeSlackAPI._upload_url,
    "files.completeUploadExternal": FakeSlackAPI._complete_upload,
    "files.delete": FakeSlackAPI._delete_file,
    "conversations.open": FakeSlackAPI._open_conversation,
}


def _error(code: str) -> web.Response:
    """Answer like Slack does for a failed call: HTTP 200 with ok false."""
    return web.json_response({"ok": False, "error": code})


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Merge query parameters and a JSON, form-urlencoded or multipart body."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else None
        if isinstance(body, dict):
            params.update(body)
    elif request.can_read_body:
        form = await request.post()
        for key, value in form.items():
            params[key] = value if isinstance(value, str) else value.file.read()
    for key in _JSON_FIELDS:
        value = params.get(key)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):
                params[key] = json.loads(value)
    return params
