"""Logging that never writes a configured secret, whichever library logs it."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from urllib.parse import quote

# These log every request URL at INFO, and Telegram's URLs hold the bot token.
QUIET_LOGGERS = ("httpx", "httpcore")


class SecretFilter(logging.Filter):
    """Replace each secret in a record's message, traceback and stack with its name."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        """Mask each value of `secrets` (by environment name), as written and URL-quoted."""
        super().__init__()
        forms: dict[str, str] = {}
        for name, value in secrets.items():
            for form in (value, quote(value, safe=""), _telegram_key(value)):
                if form:  # an empty pattern would match between every character
                    forms.setdefault(form, f"[{name}]")
        # Longest first, so a secret that contains another is masked whole.
        self._forms = sorted(forms.items(), key=lambda item: -len(item[0]))

    def mask(self, text: str) -> str:
        """Return `text` with every secret replaced by its name."""
        for form, name in self._forms:
            text = text.replace(form, name)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        """Mask the record in place; never drop it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):  # a malformed call must not raise where it logged
            message = f"{record.msg} % {record.args!r}"
        record.msg, record.args = self.mask(message), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.mask(record.exc_text)
        if record.stack_info:
            record.stack_info = self.mask(record.stack_info)
        return True


def _telegram_key(token: str) -> str:
    """Return the secret half of a Telegram token (`<bot id>:<key>`), or ''."""
    bot_id, colon, key = token.partition(":")
    return key if colon and bot_id.isdigit() else ""


def configure_logging(level: str, secrets: Mapping[str, str]) -> None:
    """Log to stderr at `level` through a handler that masks `secrets`; quiet the URL loggers."""
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    secret_filter = SecretFilter(secrets)
    for handler in logging.getLogger().handlers:
        handler.addFilter(secret_filter)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
