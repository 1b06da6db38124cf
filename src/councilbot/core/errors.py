"""Domain failures with a user-facing meaning, turned into a translated reply by the router."""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    """Fail a command with a message the user should read.

    `message` is an English msgid marked with `N_()`; `values` fill its placeholders.
    """

    field: str | None = None  # the argument at fault, when one is (shown beside it in forms)

    def __init__(self, message: str, /, **values: Any) -> None:
        super().__init__(message)
        self.message = message
        self.values = values

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
