"""Deliver outbox messages to Telegram: `sendMessage` on the Bot API, over aiohttp.

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
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp

from councilbot.adapters.telegram.render import CallbackStore
from councilbot.core.messages import Button, Platform
from councilbot.delivery.targets import (
    DeliveryError,
    Moved,
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


class TelegramTarget:
    """Send outbox messages to Telegram chats."""

    platform = Platform.TELEGRAM

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        connections: int = 32,
        timeout: float = 10.0,
        callbacks: CallbackStore | None = None,
    ) -> None:
        """Prepare a target; start() opens its connection pool."""
        self._token = token
        # Shared with the adapter, which turns a pressed button's data back into its command;
        # cli.py gives one backed by the database, so that buttons outlive a restart.
        self.callbacks = callbacks or CallbackStore()
        self._url = f"{base_url}{token}/"
        self._connections = connections
        self._timeout = aiohttp.ClientTimeout(total=timeout, connect=min(timeout, 5.0))
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        """Open the connection pool and check the token (one getMe)."""
        self._session = aiohttp.ClientSession(
            timeout=self._timeout, connector=aiohttp.TCPConnector(limit=self._connections)
        )
        await self._call("getMe", {})

    async def stop(self) -> None:
        """Close the connection pool."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def deliver(self, message: Outgoing) -> str | None:
        """Send one HTML message; return Telegram's message id or raise a DeliveryError."""
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

    async def _keyboard(self, rows: tuple[tuple[Button, ...], ...]) -> dict[str, Any]:
        """Turn button rows into an inline keyboard (long commands stored under a key)."""
        return {
            "inline_keyboard": [
                [
                    {
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

    async def _call(self, method: str, params: dict[str, Any]) -> Any:
        if self._session is None:
            raise TransientError("telegram: the target is not started")
        try:
            async with self._session.post(self._url + method, json=params) as response:
                body = await response.json(content_type=None)
                status = response.status
        except (aiohttp.ClientError, TimeoutError, ValueError, OSError) as exc:
            raise self._log(TransientError(f"telegram: network error: {exc!r}"), params) from exc
        if isinstance(body, dict) and body.get("ok"):
            return body["result"]
        error = error_for(status, body if isinstance(body, dict) else {})
        error.status = status
        raise self._log(error, params)

    def _log(self, error: DeliveryError, params: dict[str, Any]) -> DeliveryError:
        error.reason = error.reason.replace(self._token, "<token>")
        error.args = (error.reason,)
        log.info("telegram delivery to %s failed: %s", params.get("chat_id"), error.reason)
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
