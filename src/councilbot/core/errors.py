"""Domain failures with a user-facing meaning, turned into a translated reply by the router."""

from __future__ import annotations

from typing import Any, Self

from markupsafe import Markup

from councilbot.core.i18n import Translator


class DomainError(Exception):
    """Fail a command with a message the user should read.

    `message` is an English msgid marked with `N_()`; `values` fill its placeholders.
    A message that shows a number is built with `plural()`, as `t.plural` takes it.
    """

    field: str | None = None  # the argument at fault, when one is (shown beside it in forms)
    # A message that shows a number: its English plural, and the number that fills {count}.
    plural_message: str | None = None
    count: int = 0

    def __init__(self, message: str, /, **values: Any) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

    @classmethod
    def plural(cls, singular: str, plural: str, count: int, /, **values: Any) -> Self:
        """Fail with a message that shows a number, in the form each language needs for it."""
        error = cls(singular, **values)
        error.plural_message, error.count = plural, count
        return error

    def render(self, t: Translator) -> Markup:
        """Return the message in the reader's language, with its values filled in."""
        if self.plural_message is None:
            return t(self.message, **self.values)
        return t.plural(self.message, self.plural_message, self.count, **self.values)

    def about(self, field: str) -> DomainError:
        """Name the argument at fault and return the error, to raise it."""
        self.field = field
        return self


class NotFound(DomainError):
    """Say that what the user named does not exist."""


class Conflict(DomainError):
    """Say that the request clashes with the current state."""


class Forbidden(DomainError):
    """Say that the user lacks the role for this."""


class InvalidInput(DomainError):
    """Say that the arguments cannot be understood."""
