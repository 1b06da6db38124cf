"""A fake Telegram Bot API server for tests, spoken to by the real python-telegram-bot client.

Point a bot at it with ``telegram.Bot(api.token, base_url=api.base_url)``. It listens on a
random free port of 127.0.0.1, answers in Telegram's JSON shapes and records every call.

python-telegram-bot 22 POSTs ``application/x-www-form-urlencoded`` bodies in which string
values are sent as they are and every other value (numbers, booleans, objects, lists) is
JSON-encoded; it switches to ``multipart/form-data`` when files are uploaded. The fake also
accepts JSON bodies. Form values that hold a JSON object or list are decoded into
dicts/lists; other form values stay strings (so ``chat_id`` is the string the client sent).

The fake does not parse markup: a sent message comes back with its text as it was sent.

It remembers the messages it sent, so that editMessageText and deleteMessage answer as
Telegram does: "message is not modified" for an edit that changes nothing, "message to edit
not found" / "message to delete not found" for a deleted one, and "message can't be deleted
for everyone" for one sent more than 48 hours ago (`make_old`). A message it never sent (one
in a pushed update) can always be edited. Edits and deletions count against the same rate
limits as sends.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import time
from collections import deque
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from aiohttp import web

DEFAULT_TOKEN = "123456789:AAF4k3-t0k3n_F0r-T3sts-0nlyXXXXXXXXX"
BOT_USERNAME = "council_test_bot"
_RATE_WINDOW = 1.0  # seconds
_MAX_UPDATES_WAIT = 0.2  # seconds
UPLOAD_LIMIT = 50 * 1024 * 1024  # bytes: what the Bot API lets bots upload
DELETE_WINDOW = 48 * 3600  # seconds: how long after sending a bot may delete a message
# Free text that must never be JSON-decoded, even when it looks like JSON.
_TEXT_FIELDS = frozenset({"text", "caption", "question", "explanation", "title", "description"})


@dataclass
class Recorded:
    """One Bot API call: the method name as sent, its decoded params and when it arrived."""

    method: str
    params: dict[str, Any]
    time: float  # time.monotonic()

    @property
    def chat_id(self) -> str | None:
        """Return the chat id the call addressed, as a string."""
        value = self.params.get("chat_id")
        return None if value is None else str(value)


@dataclass
class FakeTelegramAPI:
    """A scriptable Bot API on 127.0.0.1; also usable as ``async with FakeTelegramAPI() as api``."""

    token: str = DEFAULT_TOKEN
    requests: list[Recorded] = field(default_factory=list)
    sent: list[Recorded] = field(default_factory=list)
    files: list[Recorded] = field(default_factory=list)  # sendDocument and sendPhoto
    # The file ids uploads got, and what was uploaded: a send by one of them sends that file.
    file_ids: dict[str, dict[str, Any]] = field(default_factory=dict)
    kicked: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    missing: set[str] = field(default_factory=set)
    migrated: dict[str, str] = field(default_factory=dict)  # group id -> its supergroup's id
    fail_next: int = 0
    # Picture addresses sendPhoto cannot fetch ("failed to get HTTP URL content").
    unreachable_urls: set[str] = field(default_factory=set)
    global_rate: float | None = None
    chat_rate: float | None = None
    rate_limited: int = 0
    # Seconds sendMessage takes to answer, drawn between the two (a slow platform, so that a
    # broadcast is still going when a test stops the bot); recorded in `sent` when it answers.
    send_delay: tuple[float, float] = (0.0, 0.0)
    updates: list[dict[str, Any]] = field(default_factory=list)
    # The messages sent, by (chat id, message id): text, reply_markup and date (a Unix time).
    messages: dict[tuple[str, int], dict[str, Any]] = field(default_factory=dict)
    deleted: set[tuple[str, int]] = field(default_factory=set)
    # Native polls sent: poll id -> (chat id, message id); chats that are channels.
    polls: dict[str, tuple[str, int]] = field(default_factory=dict)
    channels: set[str] = field(default_factory=set)
    # Errors to answer the next calls of a method with, oldest first: {"editMessageText":
    # [(400, "Bad Request: message can't be edited")]}. Method names are case-insensitive.
    scripted_errors: dict[str, list[tuple[int, str]]] = field(default_factory=dict)
    port: int = 0
    _runner: web.AppRunner | None = field(default=None, repr=False)
    _next_message_id: int = field(default=1, repr=False)
    _next_update_id: int = field(default=1, repr=False)
    _recent: deque[tuple[float, str]] = field(default_factory=deque, repr=False)

    @property
    def base_url(self) -> str:
        """Return the base_url to hand to ``telegram.Bot`` (the token is appended by PTB)."""
        return f"http://127.0.0.1:{self.port}/bot"

    @property
    def bot_id(self) -> int:
        """Return the bot's user id, the number before the colon of the token."""
        return int(self.token.split(":", 1)[0])

    async def start(self) -> None:
        """Listen on a random free port of 127.0.0.1."""
        app = web.Application(client_max_size=UPLOAD_LIMIT)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, shutdown_timeout=0.5, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop listening and close open connections (safe to call twice)."""
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def texts_to(self, chat_id: str) -> list[str]:
        """Return the texts successfully sent to one chat, oldest first."""
        return [str(r.params.get("text")) for r in self.sent if r.chat_id == str(chat_id)]

    def current(self, chat_id: str, message_id: int | str) -> str | None:
        """Return what a sent message says now (None: deleted, or never sent)."""
        key = (str(chat_id), int(message_id))
        if key in self.deleted or key not in self.messages:
            return None
        return str(self.messages[key]["text"])

    def make_old(self, chat_id: str, message_id: int | str, hours: float = 49) -> None:
        """Date a sent message `hours` back, as if it had been sent then."""
        self.messages[str(chat_id), int(message_id)]["date"] -= int(hours * 3600)

    def calls(self, method: str) -> list[Recorded]:
        """Return the recorded calls of one method (case-insensitive)."""
        return [r for r in self.requests if r.method.lower() == method.lower()]

    def push_update(self, update: dict[str, Any]) -> dict[str, Any]:
        """Queue an update for getUpdates, numbering it if it has no update_id."""
        update = {"update_id": self._next_update_id, **update}
        self._next_update_id = max(self._next_update_id, update["update_id"]) + 1
        self.updates.append(update)
        return update

    # --- HTTP ---------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.Response:
        path = request.path
        if not path.startswith("/bot"):
            return _error(404, "Not Found")
        token, _, method = path.removeprefix("/bot").partition("/")
        if token != self.token:
            return _error(401, "Unauthorized")
        params = await _read_params(request)
        self.requests.append(Recorded(method, params, time.monotonic()))
        scripted = next(
            (v for k, v in self.scripted_errors.items() if k.lower() == method.lower() and v), None
        )
        if scripted:
            return _error(*scripted.pop(0))
        match method.lower():
            case "getme":
                return _ok(self._bot_user())
            case "sendmessage":
                if self.send_delay[1]:
                    await asyncio.sleep(random.uniform(*self.send_delay))
                return self._send_message(params)
            case "getupdates":
                return _ok(await self._get_updates(params))
            case "editmessagetext":
                return self._edit_message(params)
            case "editmessagecaption":
                return self._edit_message(params, field="caption")
            case "deletemessage":
                return self._delete_message(params)
            case "senddocument" | "sendphoto":
                return self._send_file(method, params)
            case "sendpoll":
                return self._send_poll(params)
            case "stoppoll":
                return self._stop_poll(params)
            case _:
                return _ok(True)

    def _unavailable(self, chat_id: str) -> web.Response | None:
        """Answer a call to a chat that is gone for the bot, or to a failing server."""
        if self.fail_next > 0:
            self.fail_next -= 1
            return _error(500, "Internal Server Error")
        if chat_id in self.missing:
            return _error(400, "Bad Request: chat not found")
        if chat_id in self.migrated:
            return _error(
                400,
                "Bad Request: group chat was upgraded to a supergroup chat",
                {"migrate_to_chat_id": int(self.migrated[chat_id])},
            )
        if chat_id in self.kicked:
            return _error(403, "Forbidden: bot was kicked from the group chat")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        return None

    def _send_message(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        if (unavailable := self._unavailable(chat_id)) is not None:
            return unavailable
        if not params.get("text"):
            return _error(400, "Bad Request: message text is empty")
        if (limited := self._rate_limit(chat_id)) is not None:
            return limited
        now = time.monotonic()
        self.sent.append(Recorded("sendMessage", params, now))
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "from": self._bot_user(),
            "chat": _chat(chat_id),
            "date": int(time.time()),
            "text": params["text"],
        }
        self._next_message_id += 1
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        self.messages[chat_id, message["message_id"]] = {
            "text": message["text"],
            "reply_markup": message.get("reply_markup"),
            "date": message["date"],
        }
        return _ok(message)

    def _rate_limit(self, chat_id: str) -> web.Response | None:
        """Count one request to the chat; answer 429 if it goes over a rate limit."""
        now = time.monotonic()
        while self._recent and now - self._recent[0][0] >= _RATE_WINDOW:
            self._recent.popleft()
        in_chat = sum(1 for _, chat in self._recent if chat == chat_id)
        if (self.global_rate is not None and len(self._recent) >= self.global_rate) or (
            self.chat_rate is not None and in_chat >= self.chat_rate
        ):
            self.rate_limited += 1
            return _error(429, "Too Many Requests: retry after 1", {"retry_after": 1})
        self._recent.append((now, chat_id))
        return None

    def _send_file(self, method: str, params: dict[str, Any]) -> web.Response:
        """Accept an uploaded document or photo (multipart) and answer with its message."""
        field_name = "photo" if method.lower() == "sendphoto" else "document"
        upload = params.get(field_name)
        if isinstance(upload, str) and upload.startswith(("http://", "https://")):
            # A picture by its address: Telegram fetches it (here: unless told it cannot).
            if upload in self.unreachable_urls:
                return _error(400, "Bad Request: failed to get HTTP URL content")
            upload = {"data": b"(fetched)", "filename": upload.rsplit("/", 1)[-1]}
        elif isinstance(upload, str):  # sent again by the file id an earlier upload got
            if upload not in self.file_ids:
                return _error(400, "Bad Request: wrong file identifier/HTTP URL specified")
            upload = self.file_ids[upload]
        if not isinstance(upload, dict) or not upload.get("data"):
            return _error(400, f"Bad Request: there is no {field_name} in the request")
        chat_id = str(params.get("chat_id", ""))
        if chat_id in self.kicked:
            return _error(403, "Forbidden: bot was kicked from the group chat")
        self.files.append(Recorded(method, params, time.monotonic()))
        size, file_id = len(upload["data"]), f"F{self._next_message_id:06d}"
        if isinstance(params[field_name], str):
            file_id = params[field_name]
        else:
            self.file_ids[file_id] = upload
        message: dict[str, Any] = {
            "message_id": self._next_message_id,
            "from": self._bot_user(),
            "chat": _chat(chat_id),
            "date": int(time.time()),
        }
        self._next_message_id += 1
        if field_name == "photo":
            message["photo"] = [
                {"file_id": file_id, "file_unique_id": file_id, "width": 800, "height": 600}
            ]
        else:
            message["document"] = {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_name": upload.get("filename"),
                "file_size": size,
            }
        if params.get("caption"):
            message["caption"] = params["caption"]
        markup = params.get("reply_markup")
        self.messages[chat_id, message["message_id"]] = {
            "text": str(params.get("caption") or ""),  # what the message says: its caption
            "reply_markup": json.loads(markup) if isinstance(markup, str) else markup,
            "date": message["date"],
            "media": field_name,
        }
        return _ok(message)

    def _poll(self, params: dict[str, Any], poll_id: str, closed: bool) -> dict[str, Any]:
        """Describe a poll as Bot API 9.6 does (persistent option ids, revoting, members)."""
        return {
            "id": poll_id,
            "question": params["question"],
            "options": [
                {"text": o["text"], "voter_count": 0, "persistent_id": f"{poll_id}-{n}"}
                for n, o in enumerate(params["options"])
            ],
            "total_voter_count": 0,
            "is_closed": closed,
            "is_anonymous": bool(params.get("is_anonymous", True)),
            "type": "regular",
            "allows_multiple_answers": bool(params.get("allows_multiple_answers", False)),
            "allows_revoting": True,
            "members_only": False,
        }

    def _send_poll(self, params: dict[str, Any]) -> web.Response:
        """Post a poll; a channel takes anonymous polls only, as Telegram's does."""
        chat_id = str(params.get("chat_id", ""))
        if (unavailable := self._unavailable(chat_id)) is not None:
            return unavailable
        chat = _chat(chat_id)
        channel = chat["type"] == "channel" or chat_id in self.channels
        if channel and params.get("is_anonymous") is False:
            return _error(400, "Bad Request: non-anonymous polls can't be sent to channel chats")
        if not 2 <= len(params.get("options") or []) <= 12:
            return _error(400, "Bad Request: poll must have at least 2 option")
        now = time.monotonic()
        self.sent.append(Recorded("sendPoll", params, now))
        poll_id = str(5_000_000_000_000_000_000 + self._next_message_id)
        message = {
            "message_id": self._next_message_id,
            "from": self._bot_user(),
            "chat": chat,
            "date": int(time.time()),
            "poll": self._poll(params, poll_id, closed=False),
        }
        self._next_message_id += 1
        self.messages[chat_id, message["message_id"]] = {
            "text": "",
            "reply_markup": None,
            "date": message["date"],
            "poll": message["poll"],
            "params": params,
        }
        self.polls[poll_id] = (chat_id, message["message_id"])
        return _ok(message)

    def _stop_poll(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        sent = self.messages.get((chat_id, int(params.get("message_id") or 0)))
        if sent is None or "poll" not in sent:
            return _error(400, "Bad Request: message with poll to stop not found")
        if sent["poll"]["is_closed"]:
            return _error(400, "Bad Request: poll has already been closed")
        sent["poll"]["is_closed"] = True
        return _ok(sent["poll"])

    def _edit_message(self, params: dict[str, Any], field: str = "text") -> web.Response:
        """Edit a message's text (editMessageText) or a file's caption (editMessageCaption)."""
        if "inline_message_id" in params:
            return _ok(True)
        if field == "text" and not params.get("text"):
            return _error(400, "Bad Request: message text is empty")
        new = str(params.get(field) or "")
        chat_id = str(params.get("chat_id", ""))
        key = (chat_id, int(params.get("message_id") or 0))
        if key in self.deleted:
            return _error(400, "Bad Request: message to edit not found")
        markup = (
            params.get("reply_markup") if isinstance(params.get("reply_markup"), dict) else None
        )
        sent = self.messages.get(key)
        if sent is not None:
            if (unavailable := self._unavailable(chat_id)) is not None:
                return unavailable
            if ("media" in sent) != (field == "caption"):  # as Telegram answers a wrong method
                return _error(400, f"Bad Request: there is no {field} in the message to edit")
            if (sent["text"], sent["reply_markup"]) == (new, markup):
                return _error(
                    400,
                    "Bad Request: message is not modified: specified new message content and "
                    "reply markup are exactly the same as a current content and reply markup "
                    "of the message",
                )
            if (limited := self._rate_limit(chat_id)) is not None:
                return limited
            sent.update(text=new, reply_markup=markup)
        message: dict[str, Any] = {
            "message_id": int(params.get("message_id") or 0),
            "from": self._bot_user(),
            "chat": _chat(str(params.get("chat_id", ""))),
            "date": int(time.time()),
            "edit_date": int(time.time()),
            field: new,
        }
        if isinstance(params.get("reply_markup"), dict):
            message["reply_markup"] = params["reply_markup"]
        return _ok(message)

    def _delete_message(self, params: dict[str, Any]) -> web.Response:
        chat_id = str(params.get("chat_id", ""))
        key = (chat_id, int(params.get("message_id") or 0))
        if (unavailable := self._unavailable(chat_id)) is not None:
            return unavailable
        sent = self.messages.get(key)
        if sent is None or key in self.deleted:
            return _error(400, "Bad Request: message to delete not found")
        if time.time() - sent["date"] >= DELETE_WINDOW:
            return _error(400, "Bad Request: message can't be deleted for everyone")
        if (limited := self._rate_limit(chat_id)) is not None:
            return limited
        self.deleted.add(key)
        return _ok(True)

    async def _get_updates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        offset = int(params.get("offset") or 0)
        wait = min(float(params.get("timeout") or 0), _MAX_UPDATES_WAIT)
        deadline = time.monotonic() + wait
        # Poll rather than wait on an Event: tests may append to `updates` directly.
        while not self.updates and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        pending = [u for u in self.updates if u.get("update_id", 0) >= offset]
        self.updates.clear()  # served updates and those below offset are confirmed
        return pending

    def _bot_user(self) -> dict[str, Any]:
        return {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": "Council Bot",
            "username": BOT_USERNAME,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
        }


async def _read_params(request: web.Request) -> dict[str, Any]:
    """Decode query, JSON, urlencoded or multipart params into one dict."""
    params: dict[str, Any] = dict(request.query)
    if request.content_type == "application/json":
        body = await request.json() if request.can_read_body else None
        params.update(body or {})
        return params
    form = await request.post()
    for name, value in form.items():
        if isinstance(value, web.FileField):
            params[name] = {"filename": value.filename, "data": value.file.read()}
        else:
            params[name] = value
    for name, value in params.items():
        if isinstance(value, str) and name not in _TEXT_FIELDS and value[:1] in "{[":
            with contextlib.suppress(ValueError):
                params[name] = json.loads(value)
    return params


def _chat(chat_id: str) -> dict[str, Any]:
    """Describe a chat the way Telegram would, guessing its type from the id."""
    if chat_id.startswith("@"):
        return {"id": -1001000000000, "type": "channel", "username": chat_id[1:]}
    number = int(chat_id) if chat_id.lstrip("-").isdigit() else 0
    if number > 0:
        return {"id": number, "type": "private", "first_name": "Tester"}
    if chat_id.startswith("-100"):
        return {"id": number, "type": "supergroup", "title": "Test supergroup"}
    return {"id": number, "type": "group", "title": "Test group"}


def _ok(result: Any) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def _error(code: int, description: str, parameters: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
