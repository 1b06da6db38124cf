"""Deliver outbox messages to Telegram through the Bot API (python-telegram-bot 22).

Telegram failures are translated into the outbox's errors: flood control becomes
`RetryAfter`, network trouble and 5xx become `TransientError`, and chats that are gone
for us (kicked, blocked, not found, migrated) or messages Telegram will never accept
become `PermanentError`. The bot token never appears in a reason or a log line.
"""

from __future__ import annotations

import logging
import warnings
from datetime import timedelta
from types import TracebackType
from typing import Self

import httpx
import telegram
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions
from telegram import error as tg
from telegram.constants import ParseMode
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from councilbot.core.messages import Button, Platform
from councilbot.delivery.targets import (
    DeliveryError,
    Outgoing,
    PermanentError,
    RetryAfter,
    TransientError,
)

log = logging.getLogger(__name__)

_CALLBACK_DATA_LIMIT = 64  # bytes, Bot API limit for callback_data
_CHAT_GONE = (
    "chat not found",
    "group chat was upgraded to a supergroup",
    "chat is deactivated",
    "user not found",
    "have no rights to send",
    "not enough rights to send",
)


class TelegramTarget:
    """Send outbox messages to Telegram chats with a `telegram.Bot`."""

    platform = Platform.TELEGRAM

    def __init__(self, bot: telegram.Bot) -> None:
        self._bot = bot

    @classmethod
    def create(
        cls, token: str, base_url: str, *, connection_pool_size: int = 64, timeout: float = 10.0
    ) -> TelegramTarget:
        """Build a target with its own HTTP connection pool and bounded timeouts."""
        request = HTTPXRequest(
            connection_pool_size=connection_pool_size,
            connect_timeout=min(timeout, 5.0),
            read_timeout=timeout,
            write_timeout=timeout,
            pool_timeout=timeout,
        )
        return cls(telegram.Bot(token, base_url=base_url, request=request))

    async def start(self) -> None:
        """Open the HTTP pools and check the token (one getMe)."""
        await self._bot.initialize()

    async def stop(self) -> None:
        """Close the HTTP pools."""
        await self._bot.shutdown()

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

    async def deliver(self, message: Outgoing) -> str | None:
        """Send one HTML message; return Telegram's message id or raise a DeliveryError."""
        try:
            sent = await self._bot.send_message(
                chat_id=message.chat_id,
                text=message.text,
                parse_mode=ParseMode.HTML,
                link_preview_options=LinkPreviewOptions(is_disabled=True),
                reply_markup=_keyboard(message.buttons) if message.buttons else None,
            )
        except tg.RetryAfter as exc:
            seconds = _retry_seconds(exc)
            raise RetryAfter(f"telegram: flood control, retry after {seconds:g}s", seconds) from exc
        except tg.ChatMigrated as exc:
            reason = f"telegram: chat migrated to supergroup {exc.new_chat_id}"
            raise PermanentError(reason) from exc
        except tg.Forbidden as exc:
            raise self._fail(PermanentError, "forbidden", exc, message) from exc
        except tg.BadRequest as exc:  # before NetworkError: BadRequest subclasses it
            gone = any(marker in exc.message.lower() for marker in _CHAT_GONE)
            kind = "chat unavailable" if gone else "rejected"
            raise self._fail(PermanentError, kind, exc, message) from exc
        except tg.InvalidToken as exc:  # a deployment problem, not this message's fault
            raise self._fail(TransientError, "bot token rejected", exc, message) from exc
        except (tg.TelegramError, httpx.HTTPError, OSError) as exc:
            # TimedOut, NetworkError (including 5xx answers) and anything the transport leaks.
            raise self._fail(TransientError, "network error", exc, message) from exc
        return str(sent.message_id)

    def _fail(
        self, kind: type[DeliveryError], what: str, exc: BaseException, message: Outgoing
    ) -> DeliveryError:
        """Build the error to raise, with a token-free reason, and log it."""
        detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        reason = f"telegram: {what}: {detail}".replace(self._bot.token, "<token>")
        log.info("telegram delivery to %s failed: %s", message.chat_id, reason)
        return kind(reason)


def _keyboard(rows: tuple[tuple[Button, ...], ...]) -> InlineKeyboardMarkup:
    """Turn button rows into an inline keyboard."""
    # Temporary: callback_data carries the command itself; short callback ids replace it later.
    return InlineKeyboardMarkup(
        [
            [InlineKeyboardButton(b.label, callback_data=_callback_data(b.command)) for b in row]
            for row in rows
        ]
    )


def _callback_data(command: str) -> str:
    """Cut a command to the 64 bytes of UTF-8 Telegram allows, never splitting a character."""
    return command.encode()[:_CALLBACK_DATA_LIMIT].decode(errors="ignore")


def _retry_seconds(exc: tg.RetryAfter) -> float:
    """Read retry_after, an int or a timedelta depending on PTB_TIMEDELTA."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
