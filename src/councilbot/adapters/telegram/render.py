"""Render replies for Telegram: message chunks, inline keyboards, callback data and toasts.

Replies are already Telegram's HTML subset (see core.messages.Reply), so rendering is
mostly about Telegram's limits: 4096 characters a message, 1024 a file's caption, 64 bytes
of callback data, 200 characters of a callback answer.
"""

from __future__ import annotations

import hashlib
import html
import logging
import re
from base64 import urlsafe_b64encode
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from councilbot.core.formatting import plain_text, truncate
from councilbot.core.messages import Button
from councilbot.services import buttons

log = logging.getLogger(__name__)

MESSAGE_LIMIT = 4096  # characters of one message
CAPTION_LIMIT = 1024  # characters of a photo's or document's caption, markup left out
PHOTO_TYPES = frozenset({"image/png", "image/jpeg"})  # what Telegram shows as a photo
PHOTO_LIMIT = 10 * 1024 * 1024  # bytes; bigger pictures go as documents
CALLBACK_DATA_LIMIT = 64  # bytes of UTF-8
TOAST_LIMIT = 200  # characters of an answerCallbackQuery text
# How long a button with a long command works when its sender names no end (a reply, an
# announcement); an event's buttons are given the event's end instead.
DEFAULT_TTL = timedelta(days=30)
REFRESH = timedelta(days=1)  # a default expiry is pushed back at most this often
PURGE_INTERVAL = timedelta(hours=1)  # each process deletes long-expired keys this often

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


def fit_caption(text: str) -> str:
    """Return markup as a caption: itself if it fits, else cut with an ellipsis, tags closed.

    The cut falls at the last space or newline of the caption's second half when there is
    one, never inside a tag or an entity.
    """
    if caption_fits(text):
        return text
    budget = CAPTION_LIMIT - 1  # room for the ellipsis
    kept: list[str] = []
    stack: tuple[tuple[str, str], ...] = ()
    used = 0
    at_space: tuple[int, tuple[tuple[str, str], ...]] | None = None
    for token in _TOKEN.findall(text):
        visible = "" if token.startswith("<") and token.endswith(">") else html.unescape(token)
        units = len(visible.encode("utf-16-le")) // 2
        if used + units > budget:
            break
        if visible.isspace() and used >= budget // 2:
            at_space = (len(kept), stack)  # cut before it
        kept.append(token)
        used += units
        stack = _apply(stack, token)
    end, open_tags = at_space or (len(kept), stack)
    return "".join(kept[:end]).rstrip() + "…" + _closing(open_tags)


def is_photo(content_type: str, size: int) -> bool:
    """Tell whether a file goes as a photo (shown inline) rather than as a document."""
    return content_type in PHOTO_TYPES and size <= PHOTO_LIMIT


def toast(text: str) -> str:
    """Return the first line of a reply as plain text short enough for a callback answer."""
    lines = [line.strip() for line in plain_text(text).splitlines()]
    first = next((line for line in lines if line), "")
    return truncate(first, TOAST_LIMIT)


@dataclass(frozen=True, slots=True)
class Pressed:
    """What a pressed button's data stands for: its command, and whether it expired."""

    command: str | None  # None: unknown (never stored, or expired long ago)
    expired: bool = False


class CallbackStore:
    """Map button commands to callback data of at most 64 bytes, and back.

    A command that fits goes in the data itself (`c:/rsvp 7 yes`), with no database work.
    A longer one is stored under a key (`k:<16 characters>`) in the database, shared by
    every process, until the button expires: when the caller says (an event's buttons live
    until the event ends), else DEFAULT_TTL after it was last sent. Without a sessionmaker
    (tests, tools) the keys live in this process's memory only.
    """

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession] | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        ttl: timedelta = DEFAULT_TTL,
        capacity: int = 10_000,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.clock = clock
        self.ttl = ttl
        self.capacity = capacity
        # The keys this process wrote or read lately, with their expiry: a broadcast of one
        # keyboard to 10,000 chats writes its key once, and presses are mostly read here.
        self._known: OrderedDict[str, buttons.StoredCommand] = OrderedDict()
        self._purged_at: datetime | None = None

    async def data_for(self, command: str, *, expires_at: datetime | None = None) -> str:
        """Return the callback data that stands for a command, storing it when it is long."""
        data = "c:" + command
        if len(data.encode()) <= CALLBACK_DATA_LIMIT:
            return data
        # The same command always gets the same key, so re-sent keyboards add no rows.
        digest = hashlib.sha256(command.encode()).digest()[:12]
        key = urlsafe_b64encode(digest).decode()
        now = self.clock()
        wanted = expires_at or now + self.ttl
        known = self._known.get(key)
        # A default expiry moves with every send; refreshing it once a day is enough.
        slack = REFRESH if expires_at is None else timedelta(0)
        if known is None or known.expires_at < wanted - slack:
            if self.sessionmaker is not None:
                async with self.sessionmaker() as session, session.begin():
                    await buttons.keep_command(session, key, command, expires_at=wanted, now=now)
                    await self._purge(session, now)
            latest = wanted if known is None else max(wanted, known.expires_at)
            self._remember(key, buttons.StoredCommand(command, latest))
        return "k:" + key

    async def resolve(self, data: str) -> Pressed:
        """Return the command behind callback data, or say that it is unknown or expired."""
        kind, _, value = data.partition(":")
        if kind == "c" and value:
            return Pressed(value)
        if kind != "k" or not value:
            return Pressed(None)
        now = self.clock()
        stored = self._known.get(value)
        if (stored is None or stored.expires_at <= now) and self.sessionmaker is not None:
            # Unknown here, or expired here: another process may have stored or extended it.
            async with self.sessionmaker() as session:
                stored = await buttons.find_command(session, value)
        if stored is None:
            return Pressed(None)
        self._remember(value, stored)
        return Pressed(stored.command, expired=stored.expires_at <= now)

    def _remember(self, key: str, stored: buttons.StoredCommand) -> None:
        self._known[key] = stored
        self._known.move_to_end(key)
        while len(self._known) > self.capacity:
            self._known.popitem(last=False)

    async def _purge(self, session: AsyncSession, now: datetime) -> None:
        """Delete long-expired keys, at most once per PURGE_INTERVAL in this process."""
        if self._purged_at is not None and now - self._purged_at < PURGE_INTERVAL:
            return
        self._purged_at = now
        purged = await buttons.purge_expired(session, now=now)
        if purged:
            log.info("forgot %d expired button keys", purged)


async def keyboard(
    rows_of_buttons: Iterable[Iterable[Button]], store: CallbackStore
) -> InlineKeyboardMarkup | None:
    """Turn a reply's button rows into an inline keyboard, or None when there are none."""
    rows = [
        [
            InlineKeyboardButton(b.label, url=b.url)
            if b.url
            else InlineKeyboardButton(
                b.label, callback_data=await store.data_for(b.command, expires_at=b.expires_at)
            )
            for b in row
        ]
        for row in rows_of_buttons
    ]
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
