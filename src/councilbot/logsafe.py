"""Logging that never writes a configured secret or a message's text: JSON lines or readable lines."""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO
from urllib.parse import quote

# These log every request URL at INFO, and Telegram's URLs hold the bot token (aiohttp's
# access log, off in the web server, would hold the secrets of personal calendar feeds).
QUIET_LOGGERS = ("httpx", "httpcore", "aiohttp.access")
# A member's private calendar feed: its path is its secret (web/server.py).
CALENDAR_SECRET = re.compile(r"(/calendar/me/)[A-Za-z0-9_-]+")
# These log at DEBUG what people wrote: updates and API parameters, SQL parameters.
TEXT_LOGGERS = (
    *("telegram.Bot", "telegram.ext.ExtBot", "telegram.ext.Application"),
    *("slack_bolt", "slack_sdk", "aiosqlite"),
)
LOG_FORMATS = ("auto", "json", "text")
MIN_MASKED = 8  # characters: shorter secrets are not masked
# The id of the command being answered, stamped on every record logged meanwhile.
correlation_id: ContextVar[str | None] = ContextVar("correlation_id", default=None)
# What every record has; any other attribute was given as `extra=`.
_STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class SecretFilter(logging.Filter):
    """Replace each secret in a record's message, extras, traceback and stack with its name."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        """Mask each value of `secrets` (by environment name), as written and URL-quoted."""
        super().__init__()
        forms: dict[str, str] = {}
        for name, value in secrets.items():
            for form in (value, quote(value, safe=""), _telegram_key(value)):
                # A form this short would shred every line it occurs in; no real token or
                # secret is that short (settings refuse a short webhook secret).
                if len(form) >= MIN_MASKED:
                    forms.setdefault(form, f"[{name}]")
        # Longest first, so a secret that contains another is masked whole.
        self._forms = sorted(forms.items(), key=lambda item: -len(item[0]))

    def mask(self, text: str) -> str:
        """Return `text` with every secret replaced by its name."""
        for form, name in self._forms:
            text = text.replace(form, name)
        return CALENDAR_SECRET.sub(r"\1[calendar token]", text)

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drop it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call must not raise where it logged
            message = f"{record.msg} % {record.args!r}"
        record.msg, record.args = self.mask(message), None
        for name, value in _extras(record).items():
            if not isinstance(value, bool | int | float | None):
                setattr(record, name, self.mask(str(value)))
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


class FloorFilter(logging.Filter):
    """Drop the records of the held loggers (and their children) below each one's floor."""

    def __init__(self, floors: Mapping[str, int]) -> None:
        """Hold each logger named in `floors` at that level."""
        super().__init__()
        self._floors = dict(floors)

    def filter(self, record: logging.LogRecord) -> bool:
        """Keep the record unless a held logger's floor is above its level."""
        name = record.name
        while name:
            if name in self._floors:
                return record.levelno >= self._floors[name]
            name = name.rpartition(".")[0]
        return True


class CorrelationFilter(logging.Filter):
    """Stamp a record with the id of the command running where it was logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add `correlation_id` when a command is running; never drop the record."""
        current = correlation_id.get()
        if current is not None and not hasattr(record, "correlation_id"):
            record.correlation_id = current
        return True


class JsonFormatter(logging.Formatter):
    """Write a record as one JSON object: time, level, logger, message, extras, traceback."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as one line of JSON."""
        entry: dict[str, Any] = {
            "time": _utc(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry |= {name: value for name, value in _extras(record).items() if name not in entry}
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["traceback"] = record.exc_text
        if record.stack_info:
            entry["stack"] = record.stack_info
        return json.dumps(entry, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Write `time LEVEL logger [correlation id]: message`, any traceback below it."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        """Return the record's first line."""
        current = getattr(record, "correlation_id", None)
        where = f"{record.name} [{current}]" if current else record.name
        return f"{_utc(record)} {record.levelname} {where}: {record.message}"


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    """Return what the record was given as `extra=` (and the correlation id)."""
    return {name: value for name, value in record.__dict__.items() if name not in _STANDARD}


def _utc(record: logging.LogRecord) -> str:
    """Return when the record was made, in UTC, ISO 8601 to the millisecond."""
    moment = datetime.fromtimestamp(record.created, UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _telegram_key(token: str) -> str:
    """Return the secret half of a Telegram token (`<bot id>:<key>`), or ''."""
    bot_id, colon, key = token.partition(":")
    return key if colon and bot_id.isdigit() else ""


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or closed
        return False


def configure_logging(
    level: str, secrets: Mapping[str, str], log_format: str = "auto", stream: TextIO | None = None
) -> None:
    """Log to `stream` (stderr) at `level`, as JSON lines unless it is a terminal or `text`.

    Every line is stamped with the running command's id and masks `secrets`; the loggers
    that write URLs or what people wrote are held above DEBUG. They are filtered at the
    handler, since some libraries set their loggers' levels themselves (slack_bolt does).
    """
    stream = stream or sys.stderr
    text = log_format == "text" or (log_format == "auto" and _is_terminal(stream))
    handler = logging.StreamHandler(stream)
    handler.setFormatter(TextFormatter() if text else JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler])
    floors = dict.fromkeys(QUIET_LOGGERS, logging.WARNING) | dict.fromkeys(
        TEXT_LOGGERS, logging.INFO
    )
    filters = (FloorFilter(floors), CorrelationFilter(), SecretFilter(secrets))
    for each in logging.getLogger().handlers:
        for log_filter in filters:
            each.addFilter(log_filter)
