"""Exception types. Every error the package raises for bad input is a ``ValueError``.

Every exception here pickles (``pickle.loads(pickle.dumps(e))`` keeps the message and
the fields), so an error raised in a process-pool or Dask worker reaches the caller.
"""

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
        self.got = None if got is None else _short(got)
        msg = f"{field}: expected {expected}"
        if got is not None:
            msg += f", got {self.got}"
        super().__init__(msg)

    def __reduce__(self):  # the message is rebuilt from the fields (``got`` as text)
        return (_rebuild_validation_error, (type(self), self.field, self.expected, self.got))


def _rebuild_validation_error(cls: type, field: str, expected: str,
                              got: str | None) -> ValidationError:
    err = cls.__new__(cls)
    err.field, err.expected, err.got = field, expected, got
    msg = f"{field}: expected {expected}" + ("" if got is None else f", got {got}")
    Exception.__init__(err, msg)
    return err


class NumericalRangeError(ValidationError):
    """Input magnitudes outside what the model can compute in float64 (e.g. a delay
    that overflows, a rate that underflows); ``field`` names the field(s) to change."""


class InfeasiblePointError(SflOptError, ValueError):
    """A candidate point breaks a constraint of the model (see ``evaluate``)."""


class InfeasibleProblemError(SflOptError, ValueError):
    """The problem has no feasible point a method could find (e.g. a client energy
    budget below the least energy the client needs); the message names the field."""


class BackendError(SflOptError, ValueError):
    """An unknown or unavailable backend or method was asked for."""


class MissingDependencyError(SflOptError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""

    def __init__(self, feature: str, module: str, extra: str) -> None:
        self.feature, self.module, self.extra = feature, module, extra
        super().__init__(f"{feature} needs {module}, which is not installed: "
                         f"pip install 'sfl-opt[{extra}]'")

    def __reduce__(self):
        return (type(self), (self.feature, self.module, self.extra))


def require(module: str, feature: str, extra: str):
    """Import and return ``module``; raise :class:`MissingDependencyError` naming ``extra``
    if it (or a module it needs) is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(feature, module, extra) from exc


def _short(value: object, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
