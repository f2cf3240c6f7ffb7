"""The scaled units of the convex power formulation, shared by every module that hands
the power problem to a numerical solver: the ``cvxpy`` and ``pyomo`` backends, the
time-sharing lower bound (:mod:`sfl_opt.engine.bounds`) and the MILP
(:mod:`sfl_opt.methods.milp`).

Conic and LP solvers use absolute tolerances, so they must see numbers near 1:

- power in units of ``p_scale = max p_max`` (W): ``x_m = psd_m bw_m / p_scale``;
- ``a[k, m] = p_scale gain[k, m] / (bw_m noise_psd)``: SNR of client k on subchannel m
  per unit of x, so that ``log(1 + a x)`` is the spectral efficiency in nat/s/Hz;
- rates in units of ``r_unit`` (bit/s), with ``w_m = bw_m / (r_unit ln 2)`` turning
  nat/s/Hz on subchannel m into rate units;
- caps ``pmax = p_max / p_scale``, ``ptot = min(p_total, sum p_max) / p_scale`` and the
  per-client bound on a subchannel's x, ``ub_k = min(p_max_k, p_total_eff) / p_scale``;
- the spectral-efficiency cap ``lcap`` (log2(1 + SNR) per subchannel, inf: none) as
  ``qcap = lcap ln 2`` nat/s/Hz: a subchannel's rate term ``log(1 + a x)`` is capped at it.

Also here: a feasible reference point of a fixed assignment (its deadline ``t_ref``
sets the time unit, ``r_unit = S / t_ref``) and the repair of a solver's psd onto the
caps. Units: W, W/Hz, Hz, bit/s, s.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from .base import PowerSubproblem

LN2 = math.log(2.0)


@dataclass(frozen=True, eq=False)
class Scaling:
    """Scaled units of one link (module docstring). Arrays: ``a (K, M)``, ``pmax (K,)``,
    ``ub (K,)``, ``bw (M,)`` Hz, ``w (M,)``; ``p_scale`` W, ``ptot`` (scaled),
    ``r_unit`` bit/s."""

    p_scale: float
    a: np.ndarray
    pmax: np.ndarray
    ptot: float
    ub: np.ndarray
    bw: np.ndarray
    r_unit: float
    w: np.ndarray
    lcap: float = math.inf

    @property
    def qcap(self) -> float:
        """The spectral-efficiency cap in nat/s/Hz, ``lcap ln 2`` (inf: none)."""
        return self.lcap * LN2

    @classmethod
    def of(cls, gain: np.ndarray, bw: np.ndarray, noise_psd: float, p_max: np.ndarray,
           p_total: float, r_unit: float = 1.0, lcap: float = math.inf) -> Scaling:
        """The scaling of a link with gains ``gain (K, M)``, bandwidths ``bw (M,)`` Hz,
        ``noise_psd`` W/Hz, caps ``p_max (K,)`` and ``p_total`` W, rate unit ``r_unit``,
        spectral-efficiency cap ``lcap`` (log2(1 + SNR))."""
        bw = np.asarray(bw, float)
        p_max = np.asarray(p_max, float)
        p_scale = float(np.max(p_max))
        a = p_scale * np.asarray(gain, float) / (bw[None, :] * noise_psd)
        ptot_eff = min(float(p_total), float(np.sum(p_max)))
        return cls(p_scale=p_scale, a=a, pmax=p_max / p_scale, ptot=ptot_eff / p_scale,
                   ub=np.minimum(p_max, ptot_eff) / p_scale, bw=bw, r_unit=float(r_unit),
                   w=cls.weights(bw, r_unit), lcap=float(lcap))

    @classmethod
    def of_subproblem(cls, sub: PowerSubproblem, r_unit: float = 1.0) -> Scaling:
        """The scaling of a power subproblem's link."""
        return cls.of(sub.gain, sub.bw, sub.noise_psd, sub.p_max, sub.p_total, r_unit,
                      sub.lcap)

    @staticmethod
    def weights(bw: np.ndarray, r_unit: float) -> np.ndarray:
        """``bw / (r_unit ln 2)``: nat/s/Hz on each subchannel to rate units."""
        return np.asarray(bw, float) / (r_unit * LN2)

    def with_rate_unit(self, r_unit: float) -> Scaling:
        """The same scaling with another rate unit (bit/s)."""
        return dataclasses.replace(self, r_unit=float(r_unit), w=self.weights(self.bw, r_unit))

    def owner_a(self, assign: np.ndarray) -> np.ndarray:
        """(M,) ``a`` of each subchannel's owner under ``assign``."""
        return self.a[np.asarray(assign, np.int64), np.arange(self.bw.size)]

    def to_psd(self, x: np.ndarray) -> np.ndarray:
        """psd (W/Hz) of scaled subchannel powers ``x (M,)``."""
        return np.asarray(x, float) * self.p_scale / self.bw

    def to_x(self, psd: np.ndarray) -> np.ndarray:
        """Scaled subchannel powers of ``psd (M,)`` W/Hz."""
        return np.asarray(psd, float) * self.bw / self.p_scale


def reference_point(sub: PowerSubproblem) -> tuple[np.ndarray, float]:
    """A feasible psd (W/Hz) and its deadline (s): each client spreads
    ``min(p_max_k, p_total / K)`` over its subchannels in proportion to bandwidth."""
    K = sub.K
    q = np.minimum(sub.p_max, sub.p_total / K if math.isfinite(sub.p_total) else np.inf)
    bw_k = np.bincount(sub.assign, weights=sub.bw, minlength=K)
    with np.errstate(divide="ignore", invalid="ignore"):
        psd = np.where(bw_k[sub.assign] > 0, q[sub.assign] / bw_k[sub.assign], 0.0)
    return psd, sub.deadline_of(psd)


def repair_caps(sub: PowerSubproblem, psd: np.ndarray) -> np.ndarray:
    """Clip psd at 0 and scale it down onto the per-client and total power caps."""
    psd = np.maximum(np.asarray(psd, float), 0.0)
    power = np.bincount(sub.assign, weights=psd * sub.bw, minlength=sub.K)
    with np.errstate(divide="ignore", invalid="ignore"):
        f = np.where(power > sub.p_max, sub.p_max / power, 1.0)
    psd = psd * f[sub.assign]
    tot = float(np.sum(psd * sub.bw))
    if math.isfinite(sub.p_total) and tot > sub.p_total:
        psd = psd * (sub.p_total / tot)
    # a last rounding step: the caps must hold in floating point
    for _ in range(3):
        if sub.violation(psd) <= 0.0:
            break
        psd = psd * (1.0 - 1e-15)
    return psd


__all__ = ["LN2", "Scaling", "reference_point", "repair_caps"]
