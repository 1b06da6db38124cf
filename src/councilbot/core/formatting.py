"""Show times and numbers the way each language writes them."""

from __future__ import annotations

import html
import re
from datetime import datetime
from zoneinfo import ZoneInfo

from babel.dates import format_datetime


def format_when(moment: datetime, tz: ZoneInfo, lang: str, *, now: datetime | None = None) -> str:
    """Show an aware datetime in a zone, named: `Thu 3 Dec, 09:00 CET`.

    The year is shown unless `now` is given and falls in the same year there.
    """
    local = moment.astimezone(tz)
    same_year = now is not None and now.astimezone(tz).year == local.year
    pattern = "EEE d MMM, HH:mm" if same_year else "EEE d MMM y, HH:mm"
    return f"{format_datetime(local, pattern, locale=lang)} {zone_abbreviation(local)}"


def zone_abbreviation(local: datetime) -> str:
    """Name the zone of a local time as people write it: `CET`, `GMT`, `UTC+03`."""
    name = local.tzname() or "UTC"
    # Zones without a common abbreviation (Istanbul) are named by their offset alone.
    return f"UTC{name}" if name[0] in "+-" else name


def truncate(text: str, limit: int) -> str:
    """Cut text to at most `limit` characters, marking the cut with an ellipsis."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def plain_text(markup: str) -> str:
    """Strip the tags of a reply's safe markup and unescape it, for places without markup."""
    return html.unescape(re.sub(r"<[^<>]*>", "", markup))
