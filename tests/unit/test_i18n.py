"""Translations: every catalog has every English message, with the same placeholders and tags."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from babel.messages.extract import extract_from_dir

from councilbot.core.i18n import (
    LANGUAGES,
    LOCALES_DIR,
    Catalogs,
    Lazy,
    language_name,
    read_catalog,
)

SOURCE_DIR = LOCALES_DIR.parent
KEYWORDS = {"N_": None, "t": None, "reply": None}
ALLOWED_TAGS = {"b", "i", "code", "pre", "a"}


def english_messages() -> set[str]:
    """Extract the msgids straight from the code, as `make messages` does."""
    found = extract_from_dir(str(SOURCE_DIR), method_map=[("**.py", "python")], keywords=KEYWORDS)
    return {message for _file, _line, message, _comments, _context in found if message}


ENGLISH = english_messages()


def placeholders(text: str) -> list[str]:
    return sorted(re.findall(r"\{(\w*)\}", text))


def tags(text: str) -> list[str]:
    return sorted(re.findall(r"</?\w+", text))


class _TagChecker(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.open: list[str] = []
        self.bad: list[str] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag not in ALLOWED_TAGS:
            self.bad.append(tag)
        self.open.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.open or self.open.pop() != tag:
            self.bad.append(f"/{tag}")


def test_extraction_finds_the_messages() -> None:
    assert "Only admins can use /{command}." in ENGLISH
    assert "Here is what I can do. Send {usage} for details." in ENGLISH
    assert len(ENGLISH) > 80


@pytest.mark.parametrize("message", sorted(ENGLISH))
def test_english_messages_are_well_formed_markup(message: str) -> None:
    checker = _TagChecker()
    checker.feed(message)
    checker.close()
    assert checker.bad == [] and checker.open == [], message


@pytest.mark.parametrize("lang", [lang for lang in LANGUAGES if lang != "en"])
def test_catalog_has_every_english_message(lang: str) -> None:
    catalog = read_catalog(LOCALES_DIR, lang)
    missing = sorted(ENGLISH - catalog.keys())
    assert missing == [], f"{lang} misses {len(missing)} messages (run `make messages`)"
    for msgid in ENGLISH:
        translated = catalog[msgid]
        assert placeholders(translated) == placeholders(msgid), (lang, msgid)
        assert tags(translated) == tags(msgid), (lang, msgid)


def test_translator_escapes_values_but_not_its_template() -> None:
    t = Catalogs({}).translator("en")
    text = t("<b>{name}</b> (member #{id})", name="<b>Tom & Jerry</b>", id=3)
    assert text == "<b>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</b> (member #3)"


def test_lazy_values_are_translated_too() -> None:
    catalogs = Catalogs(
        {"es": {"council": "consejo", "Please give the {name}.": "Indica el {name}."}}
    )
    assert catalogs.translator("es")("Please give the {name}.", name=Lazy("council")) == (
        "Indica el consejo."
    )


def test_unknown_language_falls_back_to_english() -> None:
    catalogs = Catalogs({})
    assert catalogs.translator("de").lang == "en"
    assert catalogs.translator(None)("Only admins can do that.") == "Only admins can do that."


@pytest.mark.parametrize(
    ("code", "reader", "name"),
    [
        ("fr", "fr", "français"),
        ("es", "fr", "espagnol"),
        ("tr", "it", "turco"),
        ("en", "tr", "İngilizce"),
        ("it", "en", "Italian"),
    ],
)
def test_languages_are_named_in_the_readers_language(code: str, reader: str, name: str) -> None:
    assert language_name(code, reader) == name
