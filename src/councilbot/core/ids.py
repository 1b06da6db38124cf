"""Ids as members type them: `E12`, `e12`, `#12` or `12`, read the same way everywhere."""

from __future__ import annotations

from councilbot.core.errors import InvalidInput, NotFound
from councilbot.core.i18n import N_

# The largest id an INTEGER column holds (PostgreSQL's int4); a larger number names nothing.
MAX_ID = 2**31 - 1
_SHOWN_DIGITS = 12  # an oversized number is echoed back cut to this many digits


def parse_prefixed_id(
    text: str | int | None,
    prefix: str,
    *,
    what: str,
    missing: str | None = None,
    field: str = "id",
) -> int:
    """Read an id typed with its kind's letter or without: `E12`, `e12`, `#12`, `12`.

    `what` is the refusal of a word that is no such id (a msgid with `{value}`); `missing`
    the question asked when nothing was given (else `what`). A number too large for any id
    column names nothing: one message says so, whatever the kind.
    """
    if text is None or not str(text).strip():
        raise InvalidInput(missing or what, value="").about(field)
    raw = str(text).strip().lstrip("#")
    if prefix and raw[: len(prefix)].lower() == prefix.lower():
        raw = raw[len(prefix) :]
    if not (raw.isascii() and raw.isdecimal()):
        raise InvalidInput(what, value=str(text).strip()).about(field)
    number = int(raw)
    if number > MAX_ID:
        digits = raw.lstrip("0")
        shown = digits if len(digits) <= _SHOWN_DIGITS else digits[:_SHOWN_DIGITS] + "…"
        raise NotFound(
            N_("There is no {id}: ids go up to {most}."), id=f"{prefix}{shown}", most=MAX_ID
        )
    return number
