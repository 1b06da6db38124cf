"""Translations: every catalog has every English message, with the same placeholders and tags."""

from __future__ import annotations

import re
import string
from html.parser import HTMLParser

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from sqlalchemy.ext.asyncio import AsyncEngine

from councilbot.adapters.console import ConsoleChat
from councilbot.app import build_app
from councilbot.core.errors import InvalidInput
from councilbot.core.i18n import (
    DOMAIN,
    LANGUAGES,
    LOCALES_DIR,
    Catalog,
    Catalogs,
    Lazy,
    language_name,
    read_catalog,
)
from councilbot.db.session import create_sessionmaker
from councilbot.services.councils import read_seed_file, seed_councils
from councilbot.settings import Settings
from tests.conftest import SEED_FILE, START

SOURCE_DIR = LOCALES_DIR.parent
# As the Makefile's `messages` target: `t.plural(singular, plural, n)` has two msgids.
KEYWORDS = {"N_": None, "t": None, "reply": None, "plural": (1, 2)}
ALLOWED_TAGS = {"b", "i", "code", "pre", "a"}
TRANSLATED = [lang for lang in LANGUAGES if lang != "en"]
NO_BUTTON = (
    "There is no button {number}: my last message has {count} button.",
    "There is no button {number}: my last message has {count} buttons.",
)


def english_messages() -> tuple[set[str], set[tuple[str, str]]]:
    """Extract the msgids straight from the code, as `make messages` does."""
    found = extract_from_dir(str(SOURCE_DIR), method_map=[("**.py", "python")], keywords=KEYWORDS)
    messages = {message for _file, _line, message, _comments, _context in found if message}
    return (
        {m for m in messages if isinstance(m, str)},
        {m for m in messages if isinstance(m, tuple)},
    )


ENGLISH, ENGLISH_PLURALS = english_messages()


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
    assert NO_BUTTON in ENGLISH_PLURALS
    assert len(ENGLISH) > 80


@pytest.mark.parametrize("message", sorted(ENGLISH | {m for pair in ENGLISH_PLURALS for m in pair}))
def test_english_messages_are_well_formed_markup(message: str) -> None:
    checker = _TagChecker()
    checker.feed(message)
    checker.close()
    assert checker.bad == [] and checker.open == [], message


@pytest.mark.parametrize("lang", TRANSLATED)
def test_catalog_has_every_english_message(lang: str) -> None:
    catalog = read_catalog(LOCALES_DIR, lang)
    missing = sorted(ENGLISH - catalog.messages.keys())
    missing += sorted(s for s, _ in ENGLISH_PLURALS if s not in catalog.plurals)
    assert missing == [], f"{lang} misses {len(missing)} messages (run `make messages`)"
    pairs = [(msgid, catalog.messages[msgid]) for msgid in ENGLISH]
    for singular, plural in ENGLISH_PLURALS:
        pairs += [(plural, form) for form in catalog.plurals[singular]]
    for msgid, translated in pairs:
        assert placeholders(translated) == placeholders(msgid), (lang, msgid)
        assert tags(translated) == tags(msgid), (lang, msgid)


def names(text: str) -> set[str]:
    """Return the `{name}` placeholders of a text as str.format reads them."""
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


@pytest.mark.parametrize("lang", TRANSLATED)
def test_po_file_has_no_empty_or_fuzzy_entry_and_keeps_placeholders(lang: str) -> None:
    """Check the file as written, entries the code no longer uses included."""
    with (LOCALES_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as handle:
        po = read_po(handle, locale=lang)
    assert po.num_plurals == 2, "the header's Plural-Forms is missing"
    problems = []
    for message in po:
        if not message.id:
            continue
        if message.fuzzy:
            problems.append(("fuzzy", message.id))
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        strings = message.string if isinstance(message.string, tuple) else (message.string,)
        if not all(strings) or len(strings) != (po.num_plurals if len(ids) > 1 else 1):
            problems.append(("empty", message.id))
        for text in strings:
            if names(text) != names(ids[-1]):  # a plural's forms take the plural's names
                problems.append(("placeholders", message.id, text))
    assert problems == []


# The form each language uses for 0, 1, 2 and 5: French says "0 bouton", Turkish "2 düğme".
PLURAL_FORMS = {
    "en": ("{count} buttons", "{count} button", "{count} buttons", "{count} buttons"),
    "es": ("{count} botones", "{count} botón", "{count} botones", "{count} botones"),
    "it": ("{count} pulsanti", "{count} pulsante", "{count} pulsanti", "{count} pulsanti"),
    "fr": ("{count} bouton", "{count} bouton", "{count} boutons", "{count} boutons"),
    "tr": ("{count} düğme", "{count} düğme", "{count} düğme", "{count} düğme"),
}


@pytest.mark.parametrize("lang", LANGUAGES)
@pytest.mark.parametrize(("index", "n"), list(enumerate([0, 1, 2, 5])))
def test_plural_form_follows_the_catalogs_rule(lang: str, index: int, n: int) -> None:
    t = Catalogs.load().translator(lang)
    text = t.plural(*NO_BUTTON, n, number=9)
    assert PLURAL_FORMS[lang][index].format(count=n) in text
    assert "9" in text


def test_plural_falls_back_to_english_forms() -> None:
    t = Catalogs({}).translator("es")
    assert t.plural("{count} cat", "{count} cats", 1) == "1 cat"
    assert t.plural("{count} cat", "{count} cats", 0) == "0 cats"
    assert t.plural("{count} cat of {who}", "{count} cats of {who}", 1, who="<i>") == (
        "1 cat of &lt;i&gt;"
    )


@pytest.mark.parametrize(("councils", "expected"), [(1, "1 botón."), (2, "2 botones.")])
async def test_reply_with_a_count_is_in_the_speakers_plural(
    engine: AsyncEngine, database_url: str, catalogs: Catalogs, councils: int, expected: str
) -> None:
    """Offer /start's council buttons, then press one too many, speaking Spanish."""
    seed = read_seed_file(SEED_FILE)
    async with create_sessionmaker(engine)() as session, session.begin():
        await seed_councils(
            session, seed.model_copy(update={"councils": seed.councils[:councils]}), now=START
        )
    settings = Settings(database_url=database_url, admins="", default_language="en")
    app = await build_app(settings, engine=engine, catalogs=catalogs, clock=lambda: START)
    try:
        chat = ConsoleChat(app.router, user="ana", chat="dm", council=seed.councils[0].slug)
        await chat.say("/lang es")
        assert len((await chat.say("/start")).button_list) == councils
        reply = await chat.say("7")
    finally:
        await app.aclose()
    assert reply.text == f"No hay ningún botón 7: mi último mensaje tiene {expected}"


TOO_LONG = (
    "The announcement is too long ({count} character; at most {limit}).",
    "The announcement is too long ({count} characters; at most {limit}).",
)


@pytest.mark.parametrize(
    ("lang", "count", "expected"),
    [
        ("en", 1, "The announcement is too long (1 character; at most 3500)."),
        ("en", 0, "The announcement is too long (0 characters; at most 3500)."),
        ("fr", 0, "L'annonce est trop longue (0 caractère ; 3500 au maximum)."),
        ("fr", 3501, "L'annonce est trop longue (3501 caractères ; 3500 au maximum)."),
        ("es", 1, "El anuncio es demasiado largo (1 carácter; máximo 3500)."),
    ],
)
def test_a_domain_error_with_a_number_is_in_the_readers_plural(
    lang: str, count: int, expected: str
) -> None:
    error = InvalidInput.plural(*TOO_LONG, count, limit=3500)
    assert error.render(Catalogs.load().translator(lang)) == expected


def test_translator_escapes_values_but_not_its_template() -> None:
    t = Catalogs({}).translator("en")
    text = t("<b>{name}</b> (member #{id})", name="<b>Tom & Jerry</b>", id=3)
    assert text == "<b>&lt;b&gt;Tom &amp; Jerry&lt;/b&gt;</b> (member #3)"


def test_lazy_values_are_translated_too() -> None:
    catalogs = Catalogs(
        {"es": Catalog({"council": "consejo", "Please give the {name}.": "Indica el {name}."})}
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
