"""Safe markup to Slack mrkdwn and Block Kit."""

from __future__ import annotations

import pytest

from councilbot.adapters.slack.render import blocks_for, to_mrkdwn
from councilbot.core.messages import Button


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("plain text", "plain text"),
        ("<b>bold</b>", "*bold*"),
        ("<i>italic</i>", "_italic_"),
        ("<code>x = 1</code>", "`x = 1`"),
        ("<pre>line 1\nline 2</pre>", "```line 1\nline 2```"),
        ('<a href="https://example.org/e/1">the event</a>', "<https://example.org/e/1|the event>"),
        ("Hi <b>Ana</b>, see <i>this</i>.", "Hi *Ana*, see _this_."),
        ("<b>bold <i>and italic</i></b>", "*bold _and italic_*"),
        ('<b><a href="https://x.org">link</a></b>', "*<https://x.org|link>*"),
        ('<a href="https://x.org"><b>bold link</b></a>', "<https://x.org|*bold link*>"),
    ],
)
def test_conversions(markup: str, expected: str) -> None:
    assert to_mrkdwn(markup) == expected


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        ("&lt;@U123&gt; hello", "&lt;@U123&gt; hello"),
        ("&lt;!channel&gt;", "&lt;!channel&gt;"),
        ("&lt;!here|here&gt;", "&lt;!here|here&gt;"),
        ("Tom &amp; Jerry", "Tom &amp; Jerry"),
        ("<b>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</b>", "*&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;*"),
        ("&lt;https://evil.example|click&gt;", "&lt;https://evil.example|click&gt;"),
        ("&quot;quoted&quot; &#39;x&#39;", "\"quoted\" 'x'"),
        ("<code>&lt;@U1&gt;</code>", "`&lt;@U1&gt;`"),
    ],
)
def test_user_text_is_escaped_for_slack(markup: str, expected: str) -> None:
    assert to_mrkdwn(markup) == expected


def test_no_raw_angle_brackets_survive_outside_links() -> None:
    rendered = to_mrkdwn("&lt;@U1&gt; &lt;!channel&gt; &lt;#C1&gt; &lt;!subteam^S1&gt;")
    assert "<" not in rendered
    assert ">" not in rendered


def test_link_url_and_text_are_escaped() -> None:
    markup = '<a href="https://x.org/?a=1&amp;b=2|3">&lt;!channel&gt; &amp; co</a>'
    assert to_mrkdwn(markup) == "<https://x.org/?a=1&amp;b=2%7C3|&lt;!channel&gt; &amp; co>"


def test_unsafe_or_missing_href_keeps_only_the_text() -> None:
    assert to_mrkdwn('<a href="javascript:alert(1)">click</a>') == "click"
    assert to_mrkdwn("<a>no href</a>") == "no href"


def test_link_without_text_shows_the_url() -> None:
    assert to_mrkdwn('<a href="https://x.org"></a>') == "<https://x.org>"


def test_markers_hug_the_text() -> None:
    assert to_mrkdwn("a<b> bold </b>b") == "a *bold* b"
    assert to_mrkdwn("<b> </b>") == " "
    assert to_mrkdwn("<i></i>x") == "x"


def test_no_formatting_inside_code() -> None:
    assert to_mrkdwn("<pre><b>x</b> &amp; y</pre>") == "```x &amp; y```"
    assert to_mrkdwn("<code><i>x</i></code>") == "`x`"


def test_unclosed_and_stray_tags_are_tolerated() -> None:
    assert to_mrkdwn("<b>open") == "*open*"
    assert to_mrkdwn("text</i> more") == "text more"
    assert to_mrkdwn("<b>x<i>y</b>z") == "*x_y_*z"
    assert to_mrkdwn("one<br>two") == "one\ntwo"


def test_blocks_without_buttons() -> None:
    assert blocks_for("<b>Hi</b> &amp; bye") == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Hi* &amp; bye"}}
    ]


def test_blocks_with_button_rows() -> None:
    rows = (
        (Button(label="Yes", command="/rsvp 7 yes"), Button(label="No", command="/rsvp 7 no")),
        (Button(label="Maybe", command="/rsvp 7 maybe"),),
    )
    blocks = blocks_for("Coming?", rows)
    assert blocks[0] == {"type": "section", "text": {"type": "mrkdwn", "text": "Coming?"}}
    assert blocks[1]["type"] == "actions"
    elements = blocks[1]["elements"]
    assert [e["type"] for e in elements] == ["button"] * 3
    assert [e["action_id"] for e in elements] == ["cmd_0", "cmd_1", "cmd_2"]
    assert [e["value"] for e in elements] == ["/rsvp 7 yes", "/rsvp 7 no", "/rsvp 7 maybe"]
    assert elements[0]["text"] == {"type": "plain_text", "text": "Yes", "emoji": True}


def test_flat_buttons_are_accepted() -> None:
    blocks = blocks_for("x", [Button(label="A", command="/a"), Button(label="B", command="/b")])
    assert [e["value"] for e in blocks[1]["elements"]] == ["/a", "/b"]


def test_long_labels_and_values_are_truncated() -> None:
    button = Button(label="L" * 100, command="/say " + "v" * 3000)
    element = blocks_for("x", [button])[1]["elements"][0]
    label = element["text"]["text"]
    assert len(label) == 75
    assert label.endswith("…")
    assert label.startswith("L" * 74)
    assert len(element["value"]) == 2000
    assert element["value"].startswith("/say v")


def test_label_is_plain_text_not_escaped() -> None:
    element = blocks_for("x", [Button(label="Tom & <Jerry>", command="/x")])[1]["elements"][0]
    assert element["text"]["text"] == "Tom & <Jerry>"


def test_many_buttons_split_into_actions_blocks_of_25() -> None:
    buttons = [Button(label=str(n), command=f"/n {n}") for n in range(30)]
    blocks = blocks_for("x", buttons)
    assert [len(b["elements"]) for b in blocks[1:]] == [25, 5]
    action_ids = [e["action_id"] for b in blocks[1:] for e in b["elements"]]
    assert len(set(action_ids)) == 30


def test_long_text_is_split_into_sections() -> None:
    markup = "\n".join(f"line {n} " + "x" * 90 for n in range(100))
    blocks = blocks_for(markup)
    texts = [b["text"]["text"] for b in blocks]
    assert len(texts) > 1
    assert all(len(t) <= 3000 for t in texts)
    assert "\n".join(texts) == to_mrkdwn(markup)


def test_empty_text_has_no_section() -> None:
    assert blocks_for("", [Button(label="Go", command="/go")])[0]["type"] == "actions"


def test_lines_wholly_in_italics_become_context_blocks() -> None:
    text = (
        "Please give the councils.\n<i>Usage: /announce &lt;councils&gt; [--at <b>when</b>]</i>"
        "\n<i>Times are in Europe/Dublin.</i>\nThanks, <i>really</i>.\n\n"
    )
    assert blocks_for(text) == [
        {"type": "section", "text": {"type": "mrkdwn", "text": "Please give the councils."}},
        {
            "type": "context",
            "elements": [
                {
                    "type": "mrkdwn",
                    "text": "Usage: /announce &lt;councils&gt; [--at *when*]\n"
                    "Times are in Europe/Dublin.",
                }
            ],
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": "Thanks, _really_."}},
    ]
