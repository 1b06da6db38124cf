"""Translation layer: gettext catalogs (.po, read with Babel) keyed by the English text."""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from babel import Locale
from markupsafe import Markup

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


class Translator:
    """Translate msgids into one language and fill their placeholders safely.

    Templates are safe markup; every value is HTML-escaped unless it is already
    `Markup`, so user text can never inject formatting.
    """

    __slots__ = ("_catalog", "lang")

    def __init__(self, lang: str, catalog: Mapping[str, str]) -> None:
        self.lang = lang
        self._catalog = catalog

    def __call__(self, message: str, /, **values: Any) -> Markup:
        """Return the translated, filled-in message."""
        template = Markup(self._catalog.get(message) or message)
        if not values:
            return template
        return template.format(
            **{k: self(v) if isinstance(v, Lazy) else v for k, v in values.items()}
        )


class Catalogs:
    """Hold every language's catalog, loaded once at start-up."""

    def __init__(self, catalogs: Mapping[str, Mapping[str, str]]) -> None:
        self._translators = {lang: Translator(lang, catalogs.get(lang, {})) for lang in LANGUAGES}

    @classmethod
    def load(cls, directory: Path = LOCALES_DIR) -> Catalogs:
        """Read `<lang>/LC_MESSAGES/councilbot.po` for every supported language."""
        return cls({lang: read_catalog(directory, lang) for lang in LANGUAGES if lang != "en"})

    def translator(self, lang: str | None) -> Translator:
        """Return the translator for a language, falling back to English."""
        return self._translators.get(lang or "en") or self._translators["en"]


def read_catalog(directory: Path, lang: str) -> dict[str, str]:
    """Read one .po file into {msgid: msgstr}, skipping fuzzy and empty entries."""
    from babel.messages.pofile import read_po

    path = directory / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if not path.exists():
        log.warning("no catalog for %s at %s; English will be used", lang, path)
        return {}
    with path.open("rb") as handle:
        catalog = read_po(handle, locale=lang, domain=DOMAIN)
    return {
        str(message.id): str(message.string)
        for message in catalog
        if message.id and message.string and not message.fuzzy
    }
