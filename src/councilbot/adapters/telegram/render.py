"""Render replies for Telegram: message chunks, inline keyboards, callback data and toasts.

Replies are already Telegram's HTML subset (see core.messages.Reply), so rendering is
mostly about Telegram's limits: 4096 characters a message, 64 bytes of callback data,
200 characters of a callback answer.
"""

from __future__ import annotations

import hashlib
import re
from base64 import urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Iterable, Sequence

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from councilbot.core.formatting import plain_text, truncate
from councilbot.core.messages import Button

MESSAGE_LIMIT = 4096  # characters of one message
CAPTION_LIMIT = 1024  # characters of a photo's or document's caption, markup left out
PHOTO_TYPES = frozenset({"image/png", "image/jpeg"})  # what Telegram shows as a photo
PHOTO_LIMIT = 10 * 1024 * 1024  # bytes; bigger pictures go as documents
CALLBACK_DATA_LIMIT = 64  # bytes of UTF-8
TOAST_LIMIT = 200  # characters of an answerCallbackQuery text

# A tag, an entity, or one character: the units a chunk may never be cut inside.
_TOKEN = re.compile(r"<[^<>]*>|&#?\w+;|.", re.DOTALL)
_TAG = re.compile(r"<\s*(/?)\s*([a-zA-Z][\w-]*)")
_PAIRED = frozenset(
    {"b", "strong", "i", "em", "u", "ins", "s", "strike", "del", "code", "pre", "a", "span"}
    | {"tg-spoiler", "tg-emoji", "blockquote"}
)


def _tag(token: str) -> tuple[str, bool] | None:
    """Return (name, closing) for a paired tag token, None for text and anything else."""
    if not token.startswith("<"):
        return None
    match = _TAG.match(token)
    if match is None or match[2].lower() not in _PAIRED or token.endswith("/>"):
        return None
    return match[2].lower(), bool(match[1])


def _apply(stack: tuple[tuple[str, str], ...], token: str) -> tuple[tuple[str, str], ...]:
    """Return the open tags (name, opening token) after a token."""
    tag = _tag(token)
    if tag is None:
        return stack
    name, closing = tag
    if not closing:
        return (*stack, (name, token))
    for depth in range(len(stack) - 1, -1, -1):
        if stack[depth][0] == name:
            return stack[:depth]
    return stack


def _closing(stack: Sequence[tuple[str, str]]) -> str:
    return "".join(f"</{name}>" for name, _ in reversed(stack))


def split_html(text: str, limit: int = MESSAGE_LIMIT) -> list[str]:
    """Split markup into chunks of at most `limit` characters, cutting at newlines if possible."""
    if len(text) <= limit:
        return [text]
    tokens = _TOKEN.findall(text)
    chunks: list[str] = []
    start, stack = 0, ()
    while start < len(tokens):
        opening = "".join(token for _, token in stack)
        size, open_tags, end = len(opening), stack, start
        at_newline = at_space = at_any = None
        while end < len(tokens):
            token = tokens[end]
            after = _apply(open_tags, token)
            if size + len(token) + len(_closing(after)) > limit:
                break
            size, open_tags, end = size + len(token), after, end + 1
            at_any = (end, open_tags)
            if token == "\n":
                at_newline = at_any
            elif token.isspace():
                at_space = at_any
        if end == len(tokens):
            cut = (end, open_tags)
        else:
            # Nothing fits when a single tag is longer than the limit: take it anyway.
            cut = at_newline or at_space or at_any or (start + 1, _apply(stack, tokens[start]))
        end, open_tags = cut
        chunk = opening + "".join(tokens[start:end]) + _closing(open_tags)
        if plain_text(chunk).strip():  # Telegram refuses messages with no visible text
            chunks.append(chunk)
        start, stack = end, open_tags
    return chunks or [text[:limit]]


def caption_fits(text: str) -> bool:
    """Tell whether markup fits in a caption (Telegram counts its visible UTF-16 units)."""
    return len(plain_text(text).encode("utf-16-le")) // 2 <= CAPTION_LIMIT


def is_photo(content_type: str, size: int) -> bool:
    """Tell whether a file goes as a photo (shown inline) rather than as a document."""
    return content_type in PHOTO_TYPES and size <= PHOTO_LIMIT


def toast(text: str) -> str:
    """Return the first line of a reply as plain text short enough for a callback answer."""
    lines = [line.strip() for line in plain_text(text).splitlines()]
    first = next((line for line in lines if line), "")
    return truncate(first, TOAST_LIMIT)


class CallbackStore:
    """Map button commands to callback data of at most 64 bytes, and back."""

    def __init__(self, capacity: int = 10_000) -> None:
        self.capacity = capacity
        self._commands: OrderedDict[str, str] = OrderedDict()

    def data_for(self, command: str) -> str:
        """Return the callback data that stands for a command."""
        data = "c:" + command
        if len(data.encode()) <= CALLBACK_DATA_LIMIT:
            return data
        # The same command always gets the same key, so re-sent keyboards don't fill the store.
        digest = hashlib.sha256(command.encode()).digest()[:12]
        key = urlsafe_b64encode(digest).decode()
        self._commands[key] = command
        self._commands.move_to_end(key)
        while len(self._commands) > self.capacity:
            self._commands.popitem(last=False)
        return "k:" + key

    def resolve(self, data: str) -> str | None:
        """Return the command behind callback data, or None when it is unknown or expired."""
        kind, _, value = data.partition(":")
        if kind == "c" and value:
            return value
        if kind == "k":
            command = self._commands.get(value)
            if command is not None:
                self._commands.move_to_end(value)
            return command
        return None


def keyboard(
    buttons: Iterable[Iterable[Button]], store: CallbackStore
) -> InlineKeyboardMarkup | None:
    """Turn a reply's button rows into an inline keyboard, or None when there are none."""
    rows = [
        [InlineKeyboardButton(b.label, callback_data=store.data_for(b.command)) for b in row]
        for row in buttons
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
