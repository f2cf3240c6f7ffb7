"""The one vocabulary of outcomes, shared by :func:`sfl_opt.solve`, its methods and the
power backends.

``Status`` says how good an answer is; ``Termination`` says why the algorithm (or the
backend) stopped. Both are :class:`enum.StrEnum`, so they compare equal to their plain
string values (``Status.OPTIMAL == "optimal"``) and serialise as strings. Messages
(solver errors, solver statuses) go to the ``info`` of a result, never into these values.
"""

from __future__ import annotations

from enum import StrEnum


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


class Termination(StrEnum):
    """Why an algorithm or a backend stopped."""

    CONVERGED = "converged"
    #: every candidate was evaluated (one-shot methods)
    ENUMERATED = "enumerated"
    ITERATION_LIMIT = "iteration_limit"
    TIME_LIMIT = "time_limit"
    #: an external solver reported an error (details in ``info``)
    SOLVER_ERROR = "solver_error"
    #: the solver returned an unusable answer (details in ``info``)
    NUMERICAL_ERROR = "numerical_error"
    #: the solver's answer is only accurate to a reduced tolerance
    INACCURATE = "inaccurate"
    #: the input has a client without a subchannel
    NO_SUBCHANNEL = "no_subchannel"
    INFEASIBLE = "infeasible"


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


__all__ = ["GAP_TOL", "Status", "Termination", "certifies", "relative_gap"]
