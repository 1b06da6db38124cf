"""Rendering replies for Telegram: chunks, callback data, keyboards and toasts."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

from councilbot.adapters.telegram.render import (
    CallbackStore,
    keyboard,
    split_html,
    toast,
)
from councilbot.core.formatting import plain_text
from councilbot.core.messages import Button


class _Balance(HTMLParser):
    """Check that every tag opened in a chunk is closed in it, in order."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack}"
        self.stack.pop()


def assert_well_formed(chunk: str) -> None:
    parser = _Balance()
    parser.feed(chunk)
    parser.close()
    assert parser.stack == []
    assert not re.search(r"&[#\w]*$", chunk), "an entity was cut"
    assert not re.search(r"<[^>]*$", chunk), "a tag was cut"


def test_short_text_is_one_chunk() -> None:
    assert split_html("<b>Hi</b> &amp; bye") == ["<b>Hi</b> &amp; bye"]
    assert split_html("") == [""]


def test_cuts_at_newlines_when_it_can() -> None:
    lines = [f"line {i:03d} " + "x" * 40 for i in range(300)]
    chunks = split_html("\n".join(lines))
    assert len(chunks) > 1
    assert all(len(c) <= 4096 for c in chunks)
    assert all(c.endswith("\n") for c in chunks[:-1])
    assert "".join(chunks) == "\n".join(lines)


def test_long_markup_closes_and_reopens_tags() -> None:
    item = '<b>Event &amp; talk</b> at <a href="https://example.org/?a=1&amp;b=2">the <i>park</i></a>\n'
    text = "<pre>" + item * 5 + "</pre>" + "<b>" + item * 200 + "</b>"
    chunks = split_html(text, limit=500)
    assert len(chunks) > 10
    for chunk in chunks:
        assert len(chunk) <= 500
        assert_well_formed(chunk)
    assert "".join(plain_text(c) for c in chunks) == plain_text(text)


def test_text_without_newlines_is_cut_at_spaces_or_anywhere() -> None:
    words = " ".join(["word&amp;word"] * 1000)
    chunks = split_html(f"<i>{words}</i>", limit=300)
    assert all(len(c) <= 300 and c.startswith("<i>") and c.endswith("</i>") for c in chunks)
    assert all(plain_text(c).rstrip().endswith("word&word") for c in chunks)
    unbroken = "é" * 1000
    chunks = split_html(unbroken, limit=100)
    assert [len(c) for c in chunks] == [100] * 10


async def command_of(store: CallbackStore, data: str) -> str | None:
    pressed = await store.resolve(data)
    return None if pressed.expired else pressed.command


async def test_callback_data_fits_in_64_bytes_and_resolves() -> None:
    store = CallbackStore()
    short = "/start malaga"
    long = "/rsvp " + "é" * 80
    assert await store.data_for(short) == "c:/start malaga"
    data = await store.data_for(long)
    assert data.startswith("k:")
    assert len(data.encode()) <= 64
    assert await store.data_for(long) == data
    assert await command_of(store, data) == long
    assert await command_of(store, "c:/start malaga") == short
    assert await command_of(store, "k:unknown") is None
    assert await command_of(store, "") is None
    assert await command_of(store, "c:") is None


async def test_callback_data_of_exactly_62_bytes_is_kept_inline() -> None:
    store = CallbackStore()
    command = "/" + "a" * 61
    assert await store.data_for(command) == "c:" + command
    assert (await store.data_for(command + "a")).startswith("k:")


async def test_callback_store_without_a_database_forgets_the_least_recently_used() -> None:
    store = CallbackStore(capacity=2)
    first, second, third = (f"/vote {i} " + "x" * 70 for i in range(3))
    keys = [await store.data_for(first), await store.data_for(second)]
    assert await command_of(store, keys[0]) == first  # now the most recently used
    await store.data_for(third)
    assert await command_of(store, keys[1]) is None
    assert await command_of(store, keys[0]) == first


async def test_bare_or_cut_commands_are_not_trusted() -> None:
    store = CallbackStore()
    assert await command_of(store, "/rsvp 7 yes") is None
    cut = ("/rsvp " + "é" * 80).encode()[:64].decode(errors="ignore")
    assert await command_of(store, cut) is None


async def test_keyboard_keeps_rows_and_labels() -> None:
    store = CallbackStore()
    rows = (
        (Button(label="Yes", command="/rsvp 7 yes"), Button(label="No", command="/rsvp 7 no")),
        (Button(label="Long", command="/rsvp " + "é" * 80),),
    )
    markup = await keyboard(rows, store)
    assert markup is not None
    labels = [[b.text for b in row] for row in markup.inline_keyboard]
    assert labels == [["Yes", "No"], ["Long"]]
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert [await command_of(store, str(d)) for d in data] == [
        b.command for row in rows for b in row
    ]
    assert await keyboard((), store) is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<b>Done</b>: Tom &amp; Jerry\nsecond line", "Done: Tom & Jerry"),
        ("\n\n  <i>late</i> start", "late start"),
        ("", ""),
    ],
)
def test_toast_is_the_plain_first_line(text: str, expected: str) -> None:
    assert toast(text) == expected


def test_toast_is_cut_to_200_characters() -> None:
    shown = toast("<b>" + "a" * 500 + "</b>")
    assert len(shown) == 200
    assert shown.endswith("…")
