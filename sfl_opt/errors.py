"""Exception types. Every error the package raises for bad input is a ``ValueError``."""

from __future__ import annotations


class SflOptError(Exception):
    """Base class of the package's own errors."""


class ValidationError(SflOptError, ValueError):
    """An argument or field has the wrong shape, type, sign or value.

    The message starts with the field's name and says what was expected.
    """

    def __init__(self, field: str, expected: str, got: object | None = None) -> None:
        self.field = field
        self.expected = expected
        msg = f"{field}: expected {expected}"
        if got is not None:
            msg += f", got {_short(got)}"
        super().__init__(msg)


class InfeasiblePointError(SflOptError, ValueError):
    """A candidate point breaks a constraint of the model (see ``evaluate``)."""


class BackendError(SflOptError, ValueError):
    """An unknown or unavailable backend or method was asked for."""


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
