"""One error hierarchy; the CLI turns these into one line on stderr and an exit code.

Exit codes are fixed: 2 for a usage error (the question was malformed: unknown
model, bad size string, invalid file), 1 for a valid question with no answer
(the model does not fit at all).
"""

from __future__ import annotations


class KvcalcError(Exception):
    """Base for every error kvcalc reports to a user."""

    exit_code = 2


class UsageError(KvcalcError):
    """The user asked something malformed: fix the input."""

    exit_code = 2


class UnknownNameError(UsageError):
    """A preset name (model, GPU, dtype) that does not exist; carries close matches."""

    def __init__(self, what: str, name: str, suggestions: list[str], listing_hint: str) -> None:
        self.name = name
        self.suggestions = suggestions
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        super().__init__(f"unknown {what} {shorten(name)}{hint} ({listing_hint})")


def shorten(text: str, limit: int = 80) -> str:
    """A user's text quoted for an error line, cut when long: one line stays readable."""
    if len(text) <= limit:
        return f"'{text}'"
    return f"'{text[: limit - 20]}...' ({len(text):,} characters)"


class SpecError(UsageError):
    """A model or hardware description that fails validation (names file and field)."""


class NoFitError(KvcalcError):
    """A valid question whose answer is 'nothing fits'; the message says what would."""

    exit_code = 1
