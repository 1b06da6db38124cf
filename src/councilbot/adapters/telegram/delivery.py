"""Deliver outbox messages to Telegram: `sendMessage` on the Bot API, over aiohttp.

It also edits (`editMessageText`) and deletes (`deleteMessage`) what it sent. Telegram lets
a bot delete its messages for 48 hours only (`delete_window`: the dispatcher does not ask
after that); its refusals to edit or delete a message become `NotAllowed`. Editing a message
into what it already says, or deleting one already gone, is no error.

The outbox is the bot's hot path (10,000 messages for a network-wide broadcast), so it
posts JSON straight to the Bot API instead of going through python-telegram-bot's object
model and httpx client, which cost about 1.6 ms of CPU per message here against 0.3 ms
(bench/broadcast.py). Command replies still go through python-telegram-bot.

Telegram's answers are translated into the outbox's errors: flood control becomes
`RetryAfter`, network trouble and 5xx become `TransientError`, a group upgraded to a
supergroup becomes `Moved`, chats that are gone for us (bot kicked or blocked, chat not
found, user deactivated) become `PermanentError`, and every other 400 or 403 is about this
message ("can't parse entities", "message is too long", no rights to send it) and becomes
`Rejected`: that delivery fails and the chat stays linked. The bot token never appears in
a reason or a log line.

A message with a file goes by `sendPhoto` (PNG and JPEG up to 10 MB, shown inline) or
`sendDocument` (anything else, and a picture Telegram will not take as a photo), with the
text as its caption when it fits Telegram's 1,024 characters; a longer text goes as its own
message right after the file, carrying the buttons. The bytes of a file are uploaded once
per process: the next chats get it by the file id Telegram gave that upload.

The id `deliver` returns says what the post consists of, so that an edit uses the method
that fits how it was sent and a deletion removes all of it:

- `"13"`: a text message;
- `"12/"`: a file whose caption is the text (edited by `editMessageCaption`: a new text
  longer than a caption may be is cut at 1,024 characters, ending with an ellipsis, since
  Telegram cannot turn a caption into a message of its own);
- `"12/13"`: a file, then the text as message 13 (edited by `editMessageText`, whatever the
  new text's length; deleted with its file);
- `"poll:14:<poll id>"`: a native poll (`sendPoll`), message 14, whose answers name the
  poll id; its edits change nothing (Telegram counts its own votes) but the one that says
  it closed, which stops it (`stopPoll`). Where Telegram refuses a native poll (a channel
  takes anonymous polls only), the message goes as its text and buttons instead.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from councilbot.adapters.telegram.render import (
    CallbackStore,
    caption_fits,
    fit_caption,
    is_photo,
)
from councilbot.core.formatting import plain_text
from councilbot.core.messages import Button, Platform
from councilbot.delivery.targets import (
    NATIVE_POLL_PREFIX,
    DeliveryError,
    FileRef,
    Moved,
    NativePoll,
    NotAllowed,
    Outgoing,
    PermanentError,
    Rejected,
    RetryAfter,
    TransientError,
)

log = logging.getLogger(__name__)

# What Telegram says when a chat is gone for us; lower case, matched inside the description.
_CHAT_GONE = (
    "bot was blocked by the user",
    "bot was kicked",
    "bot is not a member",
    "chat not found",
    "user is deactivated",
    "chat was deleted",
    "chat was deactivated",
)
# Telegram's answers to an edit or deletion (lower case, matched inside the description).
_UNCHANGED = "message is not modified"  # the edit would change nothing: it is done
_ALREADY_DELETED = "message to delete not found"
_REFUSED = ("message can't be edited", "message can't be deleted")  # also "... for everyone"

# What Telegram answers when a picture cannot be a photo (its sides, its format): it goes
# as a document instead. Lower case, matched inside the description.
_NOT_A_PHOTO = ("photo_invalid_dimensions", "image_process_failed", "photo_invalid")
# What Telegram answers when a file id it gave us no longer works: the bytes go again.
_STALE_FILE_ID = ("file identifier", "file reference", "file_id")
# sendPoll's limits (Bot API 9.6): a description's length, and how far ahead close_date may be.
POLL_DESCRIPTION_LIMIT = 1024
POLL_OPEN_PERIOD = (5, 2_628_000)  # seconds
POLL_PREFIX = NATIVE_POLL_PREFIX  # the id of a native poll's post: "poll:<message id>:<poll id>"
UPLOAD_RATE = 250_000  # bytes a second an upload is given at least, on top of the timeout
_REMEMBERED = 1_000  # files sent whose text still has to follow, kept for a retry


class TelegramTarget:
    """Send outbox messages to Telegram chats."""

    platform = Platform.TELEGRAM
    # deleteMessage: "A message can only be deleted if it was sent less than 48 hours ago."
    delete_window: timedelta | None = timedelta(hours=48)

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        connections: int = 32,
        timeout: float = 10.0,
        callbacks: CallbackStore | None = None,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        """Prepare a target; start() opens its connection pool.

        `clock` tells the time Telegram's own closing dates are measured from (the real
        time; a test's clock in tests).
        """
        self._token = token
        self._clock = clock or (lambda: datetime.now(UTC))
        # Shared with the adapter, which turns a pressed button's data back into its command;
        # cli.py gives one backed by the database, so that buttons outlive a restart.
        self.callbacks = callbacks or CallbackStore()
        self._url = f"{base_url}{token}/"
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._session: aiohttp.ClientSession | None = None
        # A file whose text message failed after it: a retry sends only the text.
        self._files_sent: OrderedDict[tuple[str, str, str], str] = OrderedDict()
        # Telegram's id for a file we uploaded, by (its digest, method): the next sends use it.
        self._file_ids: OrderedDict[tuple[str, str], str] = OrderedDict()
        self._uploading: dict[tuple[str, str], asyncio.Lock] = {}

    async def start(self) -> None:
        """Open the connection pool and check the token (one getMe)."""
        self.open()
        await self._call("getMe", {})

    def open(self) -> None:
        """Open the connection pool (start() without its check)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._connections)
            )

    @property
    def is_open(self) -> bool:
        """Tell whether the connection pool is open."""
        return self._session is not None

    async def send_text(
        self,
        chat_id: str,
        text: str,
        *,
        buttons: tuple[tuple[Button, ...], ...] = (),
        quote: int | None = None,
    ) -> None:
        """Send one HTML text (a command's reply), quoting a message if it still exists."""
        params: dict[str, Any] = {
            "chat_id": chat_id,
            "text": text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if buttons:
            params["reply_markup"] = await self._keyboard(buttons)
        if quote is not None:
            params["reply_parameters"] = {"message_id": quote, "allow_sending_without_reply": True}
        await self._call("sendMessage", params, logged=False)  # the adapter logs its failures

    async def stop(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, message: Outgoing) -> str | None:
        """Send one HTML message; return the post's id (see the module) or raise a DeliveryError."""
        if message.file is not None:
            return await self._deliver_file(message, message.file)
        if message.poll is not None:
            try:
                return await self._send_poll(message, message.poll)
            except Rejected as exc:
                if "channel" not in exc.reason.lower():
                    raise
        if message.image_url:
            return await self._deliver_picture(message, message.image_url)
        return await self._send_text(message)

    async def _send_poll(self, message: Outgoing, poll: NativePoll) -> str:
        """Post a native, non-anonymous poll; return "poll:<message id>:<poll id>"."""
        params: dict[str, Any] = {
            "chat_id": message.chat_id,
            "question": poll.question,
            "options": [{"text": option} for option in poll.options],
            "is_anonymous": False,
            "allows_multiple_answers": poll.multiple,
        }
        if poll.description:
            params["description"] = poll.description[:POLL_DESCRIPTION_LIMIT]
        if poll.closes_at is not None:
            # Telegram closes it by itself then, so that it takes no answer the bot would
            # refuse while its closing job is on its way (stopPoll follows, as for any poll).
            left = (poll.closes_at - self._clock()).total_seconds()
            if POLL_OPEN_PERIOD[0] <= left <= POLL_OPEN_PERIOD[1]:
                params["close_date"] = int(poll.closes_at.timestamp())
        result = await self._call("sendPoll", params)
        return f"{POLL_PREFIX}{result['message_id']}:{result['poll']['id']}"

    async def _deliver_picture(self, message: Outgoing, url: str) -> str:
        """Send a picture by its address, as a photo captioned with the text (ids as a file's).

        Telegram fetches the picture itself. If it cannot (the address is down, or not a
        picture), the text goes alone: a post without its cover beats no post.
        """
        params: dict[str, Any] = {"chat_id": message.chat_id, "photo": url}
        captioned = self._captioned(message)
        if captioned:
            params |= {"caption": message.text, "parse_mode": "HTML"}
            if message.buttons:
                params["reply_markup"] = await self._keyboard(message.buttons)
        try:
            result = await self._call("sendPhoto", params)
        except Rejected as exc:
            log.info("telegram would not show the picture %s (%s): text alone", url, exc.reason)
            return await self._send_text(message)
        photo_id = str(result["message_id"])
        if captioned:
            return f"{photo_id}/"
        return f"{photo_id}/{await self._send_text(message)}"

    async def _send_text(self, message: Outgoing) -> str:
        """Send the message's text with its buttons; return Telegram's message id."""
        params: dict[str, Any] = {
            "chat_id": message.chat_id,
            "text": message.text,
            "parse_mode": "HTML",
            "link_preview_options": {"is_disabled": True},
        }
        if message.buttons:
            params["reply_markup"] = await self._keyboard(message.buttons)
        result = await self._call("sendMessage", params)
        return str(result["message_id"])

    async def _deliver_file(self, message: Outgoing, file: FileRef) -> str:
        """Send the file captioned with the text, or the file and then the text if it is long.

        Return "<file's id>/" for a captioned file, "<file's id>/<text's id>" for two messages.
        """
        if self._captioned(message):
            file_id = await self._send_file(message.chat_id, file, message.text, message.buttons)
            return f"{file_id}/"
        # Two messages: if the text fails after the file went, the row's retry (in this
        # process) sends only the text, rather than the file twice.
        key = (message.chat_id, file.sha256, message.text)
        file_id = self._files_sent.get(key)
        if file_id is None:
            file_id = self._files_sent[key] = await self._send_file(message.chat_id, file, "", ())
            while len(self._files_sent) > _REMEMBERED:
                self._files_sent.popitem(last=False)
        text_id = await self._send_text(message)
        self._files_sent.pop(key, None)
        return f"{file_id}/{text_id}"

    @staticmethod
    def _captioned(message: Outgoing) -> bool:
        """Tell whether a file's text goes as its caption (else as a message right after it)."""
        return caption_fits(message.text) or not plain_text(message.text).strip()

    async def _send_file(
        self, chat_id: str, file: FileRef, caption: str, buttons: tuple[tuple[Button, ...], ...]
    ) -> str:
        """Upload the file as a photo if Telegram shows it as one, else as a document."""
        params: dict[str, Any] = {"chat_id": chat_id}
        if plain_text(caption).strip():
            params |= {"caption": caption, "parse_mode": "HTML"}
        if buttons:
            params["reply_markup"] = await self._keyboard(buttons)
        if is_photo(file.content_type, file.size):
            try:
                return await self._send_as("sendPhoto", "photo", params, file)
            except Rejected as exc:
                if not any(marker in exc.reason.lower() for marker in _NOT_A_PHOTO):
                    raise
        return await self._send_as("sendDocument", "document", params, file)

    async def _send_as(self, method: str, field: str, params: dict[str, Any], file: FileRef) -> str:
        """Send the file by the id Telegram gave its first upload; upload it only once.

        A broadcast of one cover to a thousand chats uploads its bytes once: the sends that
        come while the first upload is under way wait for its file id.
        """
        key = (file.sha256, method)
        known = self._file_ids.get(key)
        if known is None:
            lock = self._uploading.setdefault(key, asyncio.Lock())
            try:
                async with lock:
                    known = self._file_ids.get(key)
                    if known is None:
                        result = await self._call(method, params, upload=(field, file))
                        self._remember_file_id(key, field, result)
                        return str(result["message_id"])
            finally:
                if not lock.locked():
                    self._uploading.pop(key, None)
        try:
            result = await self._call(method, params | {field: known})
        except Rejected as exc:
            if not any(marker in exc.reason.lower() for marker in _STALE_FILE_ID):
                raise
            self._file_ids.pop(key, None)  # Telegram no longer knows it: upload again
            result = await self._call(method, params, upload=(field, file))
            self._remember_file_id(key, field, result)
        return str(result["message_id"])

    def _remember_file_id(self, key: tuple[str, str], field: str, result: Any) -> None:
        """Keep the file id Telegram gave an upload (a photo's largest size), if it gave one."""
        sent = result.get(field) if isinstance(result, dict) else None
        if isinstance(sent, list) and sent:  # a photo: its sizes, the largest last
            sent = sent[-1]
        file_id = sent.get("file_id") if isinstance(sent, dict) else None
        if isinstance(file_id, str) and file_id:
            self._file_ids[key] = file_id
            while len(self._file_ids) > _REMEMBERED:
                self._file_ids.popitem(last=False)

    def _form(self, params: dict[str, Any], field: str, file: FileRef) -> aiohttp.FormData:
        """Build a multipart body: strings as they are, other values as JSON, then the file."""
        if file.data is None:
            raise TransientError(f"telegram: the bytes of file {file.id} were not read")
        form = aiohttp.FormData()
        for name, value in params.items():
            form.add_field(name, value if isinstance(value, str) else json.dumps(value))
        form.add_field(field, file.data, filename=file.filename, content_type=file.content_type)
        return form

    async def edit(self, message: Outgoing, message_id: str) -> None:
        """Replace a sent post's text and buttons, or raise a DeliveryError.

        How the post was sent decides (see the module): a file captioned with its text is
        edited by its caption, cut with an ellipsis if the new text is longer than a caption
        may be; a text message (alone, or after its file) by its text, whatever the length.
        """
        if message_id.startswith(POLL_PREFIX):
            if message.poll is not None and message.poll.closed:
                await self._stop_poll(message.chat_id, _poll_message(message_id))
            return  # a native poll's own counts update themselves
        file_id, text_id = _parts(message_id)
        params: dict[str, Any] = {"chat_id": message.chat_id, "parse_mode": "HTML"}
        if text_id is None:
            method = "editMessageCaption"
            params |= {"message_id": file_id, "caption": fit_caption(message.text)}
        else:
            method = "editMessageText"
            params |= {
                "message_id": text_id,
                "text": message.text,
                "link_preview_options": {"is_disabled": True},
            }
        if message.buttons:  # without reply_markup, Telegram removes the keyboard
            params["reply_markup"] = await self._keyboard(message.buttons)
        try:
            await self._call(method, params)
        except Rejected as exc:
            if _UNCHANGED not in exc.reason.lower():
                raise _refused(exc) from None

    async def _stop_poll(self, chat_id: str, message_id: int) -> None:
        """Stop a native poll; one already stopped counts as stopped."""
        try:
            await self._call("stopPoll", {"chat_id": chat_id, "message_id": message_id})
        except Rejected as exc:
            if "already closed" not in exc.reason.lower():
                raise _refused(exc) from None

    async def delete(self, message: Outgoing, message_id: str) -> None:
        """Delete every message of a sent post (its text, then its file), or raise a DeliveryError.

        A message already gone counts as deleted, so a retry after a partial deletion is safe.
        """
        if message_id.startswith(POLL_PREFIX):
            file_id, text_id = None, _poll_message(message_id)
        else:
            file_id, text_id = _parts(message_id)
        for part in (text_id, file_id):
            if part is None:
                continue
            try:
                await self._call("deleteMessage", {"chat_id": message.chat_id, "message_id": part})
            except Rejected as exc:
                if _ALREADY_DELETED not in exc.reason.lower():
                    raise _refused(exc) from None

    async def _keyboard(self, rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
        """Turn button rows into an inline keyboard (long commands stored under a key)."""
        return {
            "inline_keyboard": [
                [
                    {"text": b.label, "url": b.url}
                    if b.url
                    else {
                        "text": b.label,
                        "callback_data": await self.callbacks.data_for(
                            b.command, expires_at=b.expires_at
                        ),
                    }
                    for b in row
                ]
                for row in rows
            ]
        }

    async def _call(
        self,
        method: str,
        params: dict[str, Any],
        *,
        upload: tuple[str, FileRef] | None = None,
        logged: bool = True,
    ) -> Any:
        if self._session is None:
            raise TransientError("telegram: the target is not started")
        request: dict[str, Any] = {"json": params}
        if upload is not None:  # multipart, with time for the bytes to travel
            field, file = upload
            total = (self._timeout.total or 0) + file.size / UPLOAD_RATE
            request = {
                "data": self._form(params, field, file),
                "timeout": aiohttp.ClientTimeout(total=total, connect=self._timeout.connect),
            }
        try:
            async with self._session.post(self._url + method, **request) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            error = TransientError(f"telegram: network error: {exc!r}")
            raise self._log(error, params, logged=logged) from exc
        if isinstance(body, dict) and body.get("ok"):
            return body["result"]
        error = error_for(status, body if isinstance(body, dict) else {})
        error.status = status
        raise self._log(error, params, logged=logged)

    def _log(
        self, error: DeliveryError, params: dict[str, Any], *, logged: bool = True
    ) -> DeliveryError:
        error.reason = error.reason.replace(self._token, "<token>")
        error.args = (error.reason,)
        if logged:
            log.info("telegram delivery to %s failed: %s", params.get("chat_id"), error.reason)
        return error


def _poll_message(message_id: str) -> int:
    """Read the message id of a native poll's post ("poll:<message id>:<poll id>")."""
    return int(message_id.removeprefix(POLL_PREFIX).partition(":")[0])


def _parts(message_id: str) -> tuple[int | None, int | None]:
    """Read the id `deliver` returned: (the file's message, the text's message)."""
    file_part, slash, text_part = message_id.partition("/")
    if not slash:
        return None, int(message_id)
    return int(file_part), int(text_part) if text_part else None


def _refused(error: Rejected) -> Rejected:
    """Tell Telegram's refusal to edit or delete a message from other refusals."""
    if any(marker in error.reason.lower() for marker in _REFUSED):
        refused = NotAllowed(error.reason)
        refused.status = error.status
        return refused
    return error


def error_for(status: int, body: dict[str, Any]) -> DeliveryError:
    """Translate a Bot API error answer into the outbox's error."""
    code = body.get("error_code") or status
    description = str(body.get("description") or f"HTTP {status}")
    parameters = body.get("parameters") or {}
    if code == 429 or "retry_after" in parameters:
        seconds = float(parameters.get("retry_after") or 1)
        return RetryAfter(f"telegram: flood control, retry after {seconds:g}s", seconds)
    if "migrate_to_chat_id" in parameters:
        new_chat = str(parameters["migrate_to_chat_id"])
        return Moved(f"telegram: chat migrated to supergroup {new_chat}", new_chat)
    if code in (400, 403):
        if any(marker in description.lower() for marker in _CHAT_GONE):
            return PermanentError(f"telegram: chat unavailable: {description}")
        return Rejected(f"telegram: message refused: {description}")
    if code in (401, 404):  # a deployment problem, not this message's fault
        return TransientError(f"telegram: bot token rejected: {description}")
    return TransientError(f"telegram: server error: {description}")
