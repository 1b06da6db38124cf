"""Show times and numbers the way each language writes them."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime


def format_when(moment: datetime, tz: ZoneInfo, lang: str) -> str:
    """Show an aware datetime in a council's zone, e.g. `Thu 3 Dec 2026, 14:00`."""
    return format_datetime(moment.astimezone(tz), "EEE d MMM y, HH:mm", locale=lang)


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(markup: str) -> str:
    """Strip the tags of a reply's safe markup and unescape it, for places without markup."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))
