"""The power-control subproblem shared by every backend, and its result type.

For one link and a fixed subchannel assignment: minimise the deadline t (s) over psd >= 0
(W/Hz) subject to ``c_k + S / R_k <= t`` for every client k, per-client power
``sum_{m in k} psd_m bw_m <= p_max[k]`` and total power ``<= p_total`` (W), with
``R_k = sum_{m in k} bw_m min(log2(1 + psd_m gain_km / noise_psd), lcap)`` (bit/s; ``lcap``
the spectral-efficiency cap, inf for plain Shannon).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from ..kernels.power import link_check
from ..status import Status, Termination, TerminationReason


@dataclass(frozen=True, eq=False)
class PowerSubproblem:
    """One link's power-control problem for a fixed assignment (SI units).

    ``gain (K, M)`` linear gains, ``bw (M,)`` Hz, ``assign (M,)`` client per subchannel,
    ``c (K,)`` s, ``S`` bits, ``p_max (K,)`` W, ``p_total`` W (inf allowed),
    ``noise_psd`` W/Hz, ``lcap`` the cap on log2(1 + SNR) of a subchannel (inf: none;
    a problem's attenuation α is folded into ``S``, see :mod:`sfl_opt.prepared`).
    """

    gain: np.ndarray
    bw: np.ndarray
    assign: np.ndarray
    c: np.ndarray
    S: float
    p_max: np.ndarray
    p_total: float
    noise_psd: float
    lcap: float = math.inf

    @property
    def K(self) -> int:
        return int(self.gain.shape[0])

    @property
    def M(self) -> int:
        return int(self.gain.shape[1])

    def check(self, psd: np.ndarray) -> tuple[float, float]:
        """``(deadline, violation)`` at ``psd``: the objective ``max_k (c_k + S / R_k)``
        (s) and the largest relative excess over a power cap (0 when every cap holds)."""
        t, v = link_check(np.asarray(self.gain, float), np.asarray(self.bw, float),
                          np.asarray(self.assign, np.int64), np.asarray(psd, float),
                          float(self.noise_psd), np.asarray(self.c, float), float(self.S),
                          np.asarray(self.p_max, float), float(self.p_total),
                          float(self.lcap))
        return float(t), float(v)

    def deadline_of(self, psd: np.ndarray) -> float:
        """The objective ``max_k (c_k + S / R_k)`` (s) at ``psd``."""
        return self.check(psd)[0]

    def violation(self, psd: np.ndarray) -> float:
        """Largest relative excess over a power cap (0 when every cap holds)."""
        return self.check(psd)[1]


#: the termination of a backend given a client without a subchannel (no valid power)
NO_SUBCHANNEL = Termination(TerminationReason.INFEASIBLE, detail="no_subchannel")


@dataclass
class PowerSolution:
    """A backend's answer. ``status`` (:class:`~sfl_opt.Status`) says how good it is;
    ``termination`` (:class:`~sfl_opt.Termination`) says why the backend stopped; any
    message (a solver's own status or error text) is in ``info["message"]``. ``t`` is the
    deadline (s) that ``psd`` achieves, recomputed from psd; ``bound`` a lower bound on
    the optimum when the backend has one."""

    t: float
    psd: np.ndarray
    status: Status
    termination: Termination
    iterations: int = 0
    solve_time: float = 0.0
    bound: float | None = None
    violation: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


class PowerBackend:
    """Base class of power backends. Subclasses set ``name``, ``description``,
    ``requires`` (importable module names) and ``capabilities``, and implement
    :meth:`solve`."""

    name: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[tuple[str, ...]] = ()
    #: Capability flags, e.g. "exact" (certified optimum), "parametric" (re-solves
    #: without recompiling), "bound" (reports a lower bound), "jit" (Numba), "kernel"
    #: (its answer is the exact power of the Numba kernels that the methods already
    #: use while searching, so a method need not re-solve its final point with it).
    capabilities: ClassVar[frozenset[str]] = frozenset()

    @classmethod
    def available(cls) -> bool:
        """True when every module in ``requires`` can be imported."""
        import importlib.util

        return all(importlib.util.find_spec(mod) is not None for mod in cls.requires)

    def solve(self, sub: PowerSubproblem) -> PowerSolution:  # pragma: no cover - abstract
        raise NotImplementedError
