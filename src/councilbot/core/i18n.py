"""Translation layer: gettext catalogs (.po, read with Babel) keyed by the English text.

`t(msgid, **values)` translates a message. A message that shows a number takes the
English singular and plural and the number, `t.plural(singular, plural, n, **values)`;
the number is `{count}` in the text (`"{count} subscriber"`, `"{count} subscribers"`),
and each catalog's `Plural-Forms` header picks the form (French says "1 inscrit", "0
inscrit"). A sentence with several counts is built from pluralised parts, each its own
message, joined by a message of its own: `t("{sent}, {pending}", sent=t.plural(...), ...)`.
"""

from __future__ import annotations

import functools
import gettext
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel import Locale
from markupsafe import Markup, escape

log = logging.getLogger(__name__)

LANGUAGES: tuple[str, ...] = ("en", "es", "it", "fr", "tr")
LANGUAGE_NAMES: Mapping[str, str] = {
    "en": "English",
    "es": "Español",
    "it": "Italiano",
    "fr": "Français",
    "tr": "Türkçe",
}


@functools.cache
def language_name(code: str, reader: str) -> str:
    """Name a language as a reader of `reader` writes it mid-sentence (`espagnol` in French).

    Language pickers show each language's own name (LANGUAGE_NAMES) instead.
    """
    return Locale.parse(reader).languages.get(code) or LANGUAGE_NAMES.get(code, code)


LOCALES_DIR = Path(__file__).resolve().parent.parent / "locales"
DOMAIN = "councilbot"


def N_(message: str) -> str:
    """Mark a message for extraction; it is translated later, where the language is known."""
    return message


class Lazy(str):
    """A msgid used as a placeholder value, translated when the message is rendered."""

    __slots__ = ()


def normalise_language(code: str | None) -> str | None:
    """Map a platform's language tag (`es-ES`, `pt_BR`) to a supported language, if any."""
    if not code:
        return None
    base = code.replace("_", "-").split("-", 1)[0].lower()
    return base if base in LANGUAGES else None


def english_plural(n: int) -> int:
    """Pick English's plural form: 0 for one, 1 for any other number."""
    return int(n != 1)


@dataclass(frozen=True, slots=True)
class Catalog:
    """Hold one language's translations and its rule for choosing a plural form."""

    messages: Mapping[str, str] = field(default_factory=dict)
    # Keyed by the English singular, as gettext does; one text per plural form.
    plurals: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    plural_form: Callable[[int], int] = english_plural


_NUMBERS = frozenset({int, float, bool})


class Translator:
    """Translate msgids into one language and fill their placeholders safely.

    Templates are safe markup; every value is HTML-escaped unless it is already
    `Markup`, so user text can never inject formatting.
    """

    __slots__ = ("_catalog", "lang")

    def __init__(self, lang: str, catalog: Catalog) -> None:
        self.lang = lang
        self._catalog = catalog

    def __call__(self, message: str, /, **values: Any) -> Markup:
        """Return the translated, filled-in message."""
        return self._fill(self._catalog.messages.get(message) or message, values)

    def plural(self, singular: str, plural: str, n: int, /, **values: Any) -> Markup:
        """Return the form of a message for the number `n`, which fills `{count}`."""
        forms = self._catalog.plurals.get(singular)
        if forms:
            template = forms[min(self._catalog.plural_form(n), len(forms) - 1)]
        else:
            template = (singular, plural)[english_plural(n)]
        return self._fill(template, {"count": n, **values})

    def _fill(self, template: str, values: Mapping[str, Any]) -> Markup:
        if not values:
            return Markup(template)
        filled = {k: self(v) if isinstance(v, Lazy) else v for k, v in values.items()}
        # Escape the values first and let str.format fill them in: the same text as
        # Markup.format, whose Python-level formatter cost most of a reply's rendering.
        # Numbers and None have nothing to escape; anything else takes markupsafe's path.
        safe: dict[str, Any] = {}
        for key, value in filled.items():
            if isinstance(value, str):
                safe[key] = escape(value)  # Markup stays as it is
            elif value is None or type(value) in _NUMBERS:
                safe[key] = value
            else:
                return Markup(template).format(**filled)
        return Markup(template.format(**safe))


class Catalogs:
    """Hold every language's catalog, loaded once at start-up."""

    def __init__(self, catalogs: Mapping[str, Catalog]) -> None:
        self._translators = {
            lang: Translator(lang, catalogs.get(lang) or Catalog()) for lang in LANGUAGES
        }

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalogs:
        """Read `<lang>/LC_MESSAGES/councilbot.po` for every supported language."""
        return cls({lang: read_catalog(directory, lang) for lang in LANGUAGES if lang != "en"})

    def translator(self, lang: str | None) -> Translator:
        """Return the translator for a language, falling back to English."""
        return self._translators.get(lang or "en") or self._translators["en"]


def read_catalog(directory: Path, lang: str) -> Catalog:
    """Read one .po file, skipping fuzzy and empty entries."""
    from babel.messages.pofile import read_po

    path = directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        log.warning("no catalog for %s at %s; English will be used", lang, path)
        return Catalog()
    with path.open("rb") as handle:
        po = read_po(handle, locale=lang, domain=DOMAIN)
    messages: dict[str, str] = {}
    plurals: dict[str, tuple[str, ...]] = {}
    for message in po:
        if not message.id or message.fuzzy:
            continue
        if isinstance(message.id, tuple):
            forms = tuple(str(form) for form in message.string)
            if all(forms):
                plurals[str(message.id[0])] = forms
        elif message.string:
            messages[str(message.id)] = str(message.string)
    # The header's Plural-Forms (Babel falls back to CLDR's rule when it is missing).
    return Catalog(messages, plurals, gettext.c2py(po.plural_expr))
