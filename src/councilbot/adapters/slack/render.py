"""Render the bot's safe markup (see core.messages.Reply) as Slack mrkdwn and Block Kit.

Text is unescaped from HTML and escaped again for Slack (`&`, `<`, `>` only), so user
text such as `<@U123>` or `<!channel>` is shown literally and can never ping anyone
or smuggle in a link.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urlsplit

from councilbot.core.formatting import truncate
from councilbot.core.messages import Button

TEXT_LIMIT = 40_000  # characters of a message's fallback `text`
SECTION_LIMIT = 3000  # characters of mrkdwn in one section block
LABEL_LIMIT = 75  # characters of a button's plain_text label
VALUE_LIMIT = 2000  # characters of a button's value
ACTIONS_LIMIT = 25  # elements in one actions block
URL_LIMIT = 3000  # characters of a button's url, and of an image block's image_url
ALT_LIMIT = 2000  # characters of an image block's alt_text
_INLINE = {"b": "*", "i": "_", "code": "`"}
_VERBATIM = {"code", "pre"}
_LINK_SCHEMES = {"http", "https", "mailto", "tel", "slack"}
_ITALIC_LINE = re.compile(r"^\s*<i>((?:(?!</?i>).)*)</i>\s*$")


def escape(text: str) -> str:
    """Escape the three characters Slack treats as control characters."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


class _Frame:
    """Collect the rendered content of one open tag."""

    __slots__ = ("href", "parts", "tag", "verbatim")

    def __init__(self, tag: str, *, verbatim: bool, href: str | None = None) -> None:
        self.tag = tag
        self.verbatim = verbatim
        self.href = href
        self.parts: list[str] = []


def _wrap(marker: str, content: str) -> str:
    """Put a marker around content, keeping outer whitespace outside so Slack formats it."""
    core = content.strip()
    if not core:
        return content
    start = len(content) - len(content.lstrip())
    end = start + len(core)
    return f"{content[:start]}{marker}{core}{marker}{content[end:]}"


def _link(href: str | None, content: str) -> str:
    """Render a link as <url|text>, or just the text when the URL is unusable."""
    if not href or urlsplit(href).scheme.lower() not in _LINK_SCHEMES:
        return content
    url = escape(href.strip()).replace("|", "%7C")
    if not content.strip():
        return f"<{url}>"
    return f"<{url}|{content}>"


class _Mrkdwn(HTMLParser):
    """Turn safe markup into Slack mrkdwn."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self._stack = [_Frame("", verbatim=False)]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._stack[-1].parts.append("\n")
            return
        verbatim = self._stack[-1].verbatim or tag in _VERBATIM
        href = dict(attrs).get("href") if tag == "a" else None
        self._stack.append(_Frame(tag, verbatim=verbatim, href=href))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br":
            self._stack[-1].parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if not any(frame.tag == tag for frame in self._stack[1:]):
            return  # a stray closing tag: ignore it
        while True:
            frame = self._pop()
            if frame.tag == tag:
                return

    def handle_data(self, data: str) -> None:
        self._stack[-1].parts.append(escape(data))

    def _pop(self) -> _Frame:
        """Close the innermost open tag and hand its rendering to its parent."""
        frame = self._stack.pop()
        content = "".join(frame.parts)
        parent = self._stack[-1]
        if parent.verbatim:
            rendered = content  # no formatting inside code
        elif frame.tag == "pre":
            rendered = f"```{content}```" if content else ""
        elif frame.tag in _INLINE:
            rendered = _wrap(_INLINE[frame.tag], content)
        elif frame.tag == "a":
            rendered = _link(frame.href, content)
        else:
            rendered = content
        parent.parts.append(rendered)
        return frame

    def result(self) -> str:
        """Close whatever is still open and return the mrkdwn."""
        self.close()
        while len(self._stack) > 1:
            self._pop()
        return "".join(self._stack[0].parts)


def fallback_text(markup: str) -> str:
    """Return a message's plain `text`, shown in notifications: mrkdwn, cut to Slack's limit."""
    return to_mrkdwn(markup)[:TEXT_LIMIT]


@functools.lru_cache(maxsize=256)
def to_mrkdwn(markup: str) -> str:
    """Convert safe markup to Slack mrkdwn (the same replies recur: the latest 256 are kept)."""
    parser = _Mrkdwn()
    parser.feed(markup)
    return parser.result()


def _chunks(text: str, limit: int) -> list[str]:
    """Split text into pieces of at most `limit` characters, preferably at line breaks."""
    pieces: list[str] = []
    while len(text) > limit:
        cut = text.rfind("\n", 0, limit + 1)
        if cut <= 0:
            cut = limit
        pieces.append(text[:cut])
        text = text[cut:].lstrip("\n")
    if text:
        pieces.append(text)
    return pieces


def _runs(markup: str) -> list[tuple[bool, str]]:
    """Split markup into runs of lines: (True, italic lines' content) or (False, other lines)."""
    runs: list[tuple[bool, list[str]]] = []
    for line in markup.split("\n"):
        match = _ITALIC_LINE.match(line)
        context = match is not None
        content = match[1] if match is not None else line
        if runs and runs[-1][0] == context:
            runs[-1][1].append(content)
        else:
            runs.append((context, [content]))
    return [(context, "\n".join(lines)) for context, lines in runs]


def _flatten(buttons: Iterable[Button | Iterable[Button]]) -> list[Button]:
    """Accept buttons flat or in rows, as in Reply.buttons and Outgoing.buttons."""
    flat: list[Button] = []
    for item in buttons:
        if isinstance(item, Button):
            flat.append(item)
        else:
            flat.extend(item)
    return flat


def button_element(button: Button, index: int) -> dict[str, Any]:
    """Build one Block Kit button that runs the button's command, or opens its page."""
    label = button.label.strip() or button.command
    if button.url:  # Slack opens it, and still sends an action the app only acknowledges
        return {
            "type": "button",
            "action_id": f"url_{index}",
            "text": {"type": "plain_text", "text": truncate(label, LABEL_LIMIT), "emoji": True},
            "url": button.url[:URL_LIMIT],
        }
    return {
        "type": "button",
        "action_id": f"cmd_{index}",
        "text": {"type": "plain_text", "text": truncate(label, LABEL_LIMIT), "emoji": True},
        "value": button.command[:VALUE_LIMIT],
    }


def blocks_for(
    text: str,
    buttons: Iterable[Button | Iterable[Button]] = (),
    *,
    image_url: str | None = None,
    image_alt: str = "",
) -> list[dict]:
    """Build Block Kit blocks for safe-markup text, a picture and its buttons (flat or in rows).

    Lines wholly in italics (usage lines, hints) become context blocks: Slack's small grey
    print for secondary text. Everything else goes in sections; the picture (an image
    block, by its address) comes after the text, the buttons last.
    """
    blocks: list[dict] = []
    for context, markup in _runs(text):
        mrkdwn = to_mrkdwn(markup).strip("\n")
        if not mrkdwn.strip():
            continue
        if context:
            element = {"type": "mrkdwn", "text": truncate(mrkdwn, SECTION_LIMIT)}
            blocks.append({"type": "context", "elements": [element]})
        else:
            blocks += [
                {"type": "section", "text": {"type": "mrkdwn", "text": piece}}
                for piece in _chunks(mrkdwn, SECTION_LIMIT)
            ]
    if image_url:
        alt = truncate(image_alt.strip() or "image", ALT_LIMIT)
        blocks.append({"type": "image", "image_url": image_url[:URL_LIMIT], "alt_text": alt})
    elements = [button_element(b, n) for n, b in enumerate(_flatten(buttons))]
    for start in range(0, len(elements), ACTIONS_LIMIT):
        blocks.append({"type": "actions", "elements": elements[start : start + ACTIONS_LIMIT]})
    return blocks
