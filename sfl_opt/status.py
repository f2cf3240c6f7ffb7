"""The one vocabulary of outcomes, shared by :func:`sfl_opt.solve`, its methods and the
power backends.

Three separate questions, three separate values (the scheme of OR-Tools MathOpt):

- :class:`Status` — *how good* the returned answer is (optimal / feasible / infeasible /
  error);
- :class:`TerminationReason` — *why* the algorithm (or the backend) stopped (it proved
  its point optimal, its own stopping rule fired, a limit was reached, ...);
- :class:`Limit` — *which* limit stopped it, when the reason is a limit
  (:attr:`Limit.NONE` otherwise).

A :class:`Termination` holds a reason, a limit and a free-text ``detail``; it is what
``SolveResult.termination`` and ``PowerSolution.termination`` hold
(``res.termination.reason``, ``res.termination.limit``). The enums are
:class:`enum.StrEnum`, so they compare equal to their plain string values
(``TerminationReason.OPTIMAL == "optimal"``) and serialise as strings. Messages (solver
errors, solver statuses) go to the ``info`` of a result, never into these values.

The first edition had one enum ``Termination`` mixing reasons with limits
(``"converged"``, ``"time_limit"``, ...). Those spellings still work and warn
(``DeprecationWarning``): ``Termination.TIME_LIMIT`` is
``Termination(TerminationReason.LIMIT_REACHED, Limit.TIME)``, ``Termination("time_limit")``
builds the same, and ``res.termination == "time_limit"`` compares with the old name
(:attr:`Termination.legacy_name`).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """How good an answer is."""

    #: certified optimum (within the method's stated tolerance)
    OPTIMAL = "optimal"
    #: a valid point without a certificate of optimality
    FEASIBLE = "feasible"
    #: no valid point exists
    INFEASIBLE = "infeasible"
    #: no valid point was found (a solver failed)
    ERROR = "error"

    @property
    def success(self) -> bool:
        """True for a valid point (optimal or feasible)."""
        return self in (Status.OPTIMAL, Status.FEASIBLE)


class TerminationReason(StrEnum):
    """Why an algorithm or a backend stopped (how good its answer is, is the
    :class:`Status`; which limit stopped it, the :class:`Limit`)."""

    #: the method proved its own point optimal (a closed gap: exact branch and bound,
    #: the MILP, a power backend's certified optimum) and stopped
    OPTIMAL = "optimal"
    #: a heuristic's own stopping rule fired (no improving move, a fixed point of the
    #: alternation) with no proof of its own; ``solve``'s certificate may still make the
    #: point's status ``optimal``
    CONVERGED = "converged"
    #: a one-shot method evaluated every candidate it considers (the baselines)
    ENUMERATED = "enumerated"
    #: a limit (:attr:`Termination.limit`) stopped it with a valid point: the best point
    #: so far is returned (MathOpt's ``FEASIBLE``)
    LIMIT_REACHED = "limit_reached"
    #: a limit (:attr:`Termination.limit`) stopped it before any valid point was found
    #: (status ``error``); the built-in methods start from a heuristic point and never end
    #: here, a registered method may
    NO_SOLUTION_FOUND = "no_solution_found"
    #: the problem (or the backend's subproblem) has no valid point, e.g. a client
    #: without a subchannel (``detail="no_subchannel"``)
    INFEASIBLE = "infeasible"
    #: the solver's answer is only accurate to a reduced tolerance (MathOpt's
    #: ``IMPRECISE``)
    INACCURATE = "inaccurate"
    #: the solver returned an unusable answer (details in ``info``)
    NUMERICAL_ERROR = "numerical_error"
    #: an external solver reported an error, or a backend failed and the method kept its
    #: own point (details in ``info``)
    SOLVER_ERROR = "solver_error"


class Limit(StrEnum):
    """Which limit stopped an algorithm (only with the reasons
    :attr:`~TerminationReason.LIMIT_REACHED` and
    :attr:`~TerminationReason.NO_SOLUTION_FOUND`)."""

    #: no limit stopped it (every other reason)
    NONE = "none"
    #: the wall-clock limit (``time_limit``, s; a backend's own time limit)
    TIME = "time"
    #: an iteration cap (``max_iter`` of mode ``bcd``, a backend's iteration cap)
    ITERATION = "iteration"


_LIMIT_REASONS = (TerminationReason.LIMIT_REACHED, TerminationReason.NO_SOLUTION_FOUND)

#: the first edition's single enum: old value -> (reason, limit, detail)
_LEGACY: dict[str, tuple[TerminationReason, Limit, str]] = {
    "converged": (TerminationReason.CONVERGED, Limit.NONE, ""),
    "enumerated": (TerminationReason.ENUMERATED, Limit.NONE, ""),
    "iteration_limit": (TerminationReason.LIMIT_REACHED, Limit.ITERATION, ""),
    "time_limit": (TerminationReason.LIMIT_REACHED, Limit.TIME, ""),
    "solver_error": (TerminationReason.SOLVER_ERROR, Limit.NONE, ""),
    "numerical_error": (TerminationReason.NUMERICAL_ERROR, Limit.NONE, ""),
    "inaccurate": (TerminationReason.INACCURATE, Limit.NONE, ""),
    "no_subchannel": (TerminationReason.INFEASIBLE, Limit.NONE, "no_subchannel"),
    "infeasible": (TerminationReason.INFEASIBLE, Limit.NONE, ""),
}


def _spelled(reason: TerminationReason, limit: Limit) -> str:
    """How the new API spells ``reason`` and ``limit``."""
    lim = "" if limit == Limit.NONE else f", Limit.{limit.name}"
    return f"Termination(TerminationReason.{reason.name}{lim})"


def _deprecated(what: str, instead: str) -> None:
    warnings.warn(f"{what} is deprecated: use {instead} (sfl_opt.status)",
                  DeprecationWarning, stacklevel=3)


class _LegacyMembers(type):
    """``Termination.TIME_LIMIT`` etc.: the first edition's enum members, deprecated."""

    def __getattr__(cls, name: str) -> Termination:
        value = name.lower()
        if name.isupper() and value in _LEGACY:
            reason, limit, detail = _LEGACY[value]
            _deprecated(f"Termination.{name}", _spelled(reason, limit))
            return cls(reason, limit, detail)  # type: ignore[call-arg]
        raise AttributeError(f"type object 'Termination' has no attribute {name!r}")


@dataclass(frozen=True, eq=False)
class Termination(metaclass=_LegacyMembers):
    """Why an algorithm or a backend stopped: the ``reason``
    (:class:`TerminationReason`), the ``limit`` that stopped it (:class:`Limit`;
    :attr:`Limit.NONE` unless the reason is ``limit_reached`` or ``no_solution_found``)
    and a free-text ``detail`` (``""`` or a short code such as ``"no_subchannel"``).

    ``Termination(TerminationReason.CONVERGED)``,
    ``Termination(TerminationReason.LIMIT_REACHED, Limit.TIME)``; :meth:`at_limit` builds
    the limit reasons. A reason that needs a limit without one (or the opposite) is a
    ``ValueError``. ``str()`` is ``"converged"`` or ``"limit_reached (time limit)"``;
    :meth:`to_dict` is the JSON form.
    """

    reason: TerminationReason
    limit: Limit = Limit.NONE
    detail: str = ""

    def __post_init__(self) -> None:
        reason: Any = self.reason
        if isinstance(reason, Termination):  # Termination(t): a copy
            object.__setattr__(self, "limit", reason.limit)
            object.__setattr__(self, "detail", reason.detail)
            reason = reason.reason
        elif isinstance(reason, str) and not isinstance(reason, TerminationReason) \
                and reason not in TerminationReason.__members__.values() \
                and reason in _LEGACY:  # the first edition's value, e.g. "time_limit"
            reason, limit, detail = _LEGACY[reason]
            _deprecated(f"Termination({self.reason!r})", _spelled(reason, limit))
            object.__setattr__(self, "limit", limit)
            object.__setattr__(self, "detail", detail or self.detail)
        try:
            reason = TerminationReason(reason)
        except ValueError:
            raise ValueError(f"Termination reason: expected one of "
                             f"{[str(r) for r in TerminationReason]}, got {reason!r}") from None
        try:
            limit = Limit(self.limit)
        except ValueError:
            raise ValueError(f"Termination limit: expected one of {[str(x) for x in Limit]}, "
                             f"got {self.limit!r}") from None
        if (reason in _LIMIT_REASONS) != (limit != Limit.NONE):
            raise ValueError(f"Termination limit: reason {reason!s} "
                             + ("needs a limit (time, iteration)" if reason in _LIMIT_REASONS
                                else f"takes no limit, got {limit!s}"))
        object.__setattr__(self, "reason", reason)
        object.__setattr__(self, "limit", limit)
        object.__setattr__(self, "detail", str(self.detail))

    @classmethod
    def at_limit(cls, limit: Limit | str, found: bool = True) -> Termination:
        """Stopped by ``limit``: ``limit_reached`` with a valid point (``found``), else
        ``no_solution_found``."""
        return cls(TerminationReason.LIMIT_REACHED if found
                   else TerminationReason.NO_SOLUTION_FOUND, Limit(limit))

    @property
    def by_limit(self) -> bool:
        """True when a limit stopped it (``limit != Limit.NONE``)."""
        return self.limit != Limit.NONE

    @property
    def legacy_name(self) -> str:
        """The first edition's single value (``"converged"``, ``"time_limit"``, ...); the
        reason ``optimal`` was ``"converged"`` then."""
        if self.limit != Limit.NONE:
            return f"{self.limit}_limit"
        if self.detail == "no_subchannel":
            return "no_subchannel"
        if self.reason == TerminationReason.OPTIMAL:
            return "converged"
        return str(self.reason)

    def to_dict(self) -> dict[str, str]:
        """``{"reason": ..., "limit": ..., "detail": ...}`` (plain strings)."""
        return {"reason": str(self.reason), "limit": str(self.limit), "detail": self.detail}

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Termination):
            return (self.reason, self.limit, self.detail) == \
                (other.reason, other.limit, other.detail)
        if isinstance(other, str):  # the first edition's comparison with a plain value
            _deprecated(f"comparing a Termination with {other!r}",
                        "termination.reason / termination.limit")
            return self.legacy_name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.reason, self.limit, self.detail))

    def __str__(self) -> str:
        if self.limit != Limit.NONE:
            return f"{self.reason} ({self.limit} limit)"
        return str(self.reason)

    def __repr__(self) -> str:
        extra = "" if self.limit == Limit.NONE else f", limit={str(self.limit)!r}"
        extra += f", detail={self.detail!r}" if self.detail else ""
        return f"Termination(reason={str(self.reason)!r}{extra})"


#: the one tolerance of "optimal": a result is certified when its relative gap
#: ``(delay - lower_bound) / delay`` is at most this, whatever method or bound proved it
GAP_TOL = 1e-6


def relative_gap(delay: float, lower: float) -> float:
    """The relative optimality gap ``max(0, (delay - lower) / delay)`` (the one formula
    of :attr:`SolveResult.gap` and of every method's certificate)."""
    return max(0.0, (float(delay) - float(lower)) / float(delay))


def certifies(delay: float, lower: float | None) -> bool:
    """True when ``lower`` proves ``delay`` optimal: ``relative_gap <= GAP_TOL``, compared
    in float64 without rounding (a gap of 1.0007e-6 is *not* optimal)."""
    return lower is not None and relative_gap(delay, lower) <= GAP_TOL


__all__ = ["GAP_TOL", "Limit", "Status", "Termination", "TerminationReason", "certifies",
           "relative_gap"]
