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


def test_callback_data_fits_in_64_bytes_and_resolves() -> None:
    store = CallbackStore()
    short = "/start malaga"
    long = "/rsvp " + "é" * 80
    assert store.data_for(short) == "c:/start malaga"
    data = store.data_for(long)
    assert data.startswith("k:")
    assert len(data.encode()) <= 64
    assert store.data_for(long) == data
    assert store.resolve(data) == long
    assert store.resolve("c:/start malaga") == short
    assert store.resolve("k:unknown") is None
    assert store.resolve("") is None
    assert store.resolve("c:") is None


def test_callback_data_of_exactly_62_bytes_is_kept_inline() -> None:
    store = CallbackStore()
    command = "/" + "a" * 61
    assert store.data_for(command) == "c:" + command
    assert store.data_for(command + "a").startswith("k:")


def test_callback_store_forgets_the_least_recently_used() -> None:
    store = CallbackStore(capacity=2)
    first, second, third = (f"/vote {i} " + "x" * 70 for i in range(3))
    keys = [store.data_for(first), store.data_for(second)]
    assert store.resolve(keys[0]) == first  # now the most recently used
    store.data_for(third)
    assert store.resolve(keys[1]) is None
    assert store.resolve(keys[0]) == first


def test_bare_or_cut_commands_are_not_trusted() -> None:
    store = CallbackStore()
    assert store.resolve("/rsvp 7 yes") is None
    cut = ("/rsvp " + "é" * 80).encode()[:64].decode(errors="ignore")
    assert store.resolve(cut) is None


def test_keyboard_keeps_rows_and_labels() -> None:
    store = CallbackStore()
    rows = (
        (Button(label="Yes", command="/rsvp 7 yes"), Button(label="No", command="/rsvp 7 no")),
        (Button(label="Long", command="/rsvp " + "é" * 80),),
    )
    markup = keyboard(rows, store)
    assert markup is not None
    labels = [[b.text for b in row] for row in markup.inline_keyboard]
    assert labels == [["Yes", "No"], ["Long"]]
    data = [b.callback_data for row in markup.inline_keyboard for b in row]
    assert [store.resolve(str(d)) for d in data] == [b.command for row in rows for b in row]
    assert keyboard((), store) is None


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
