"""A lower bound on the optimal total delay of any instance (``solve(..., bound="relaxation")``).

Relaxation: subchannels may be *time-shared* between clients. Client k uses a fraction
``theta[k,m]`` of subchannel m (``sum_k theta[k,m] <= 1``) with average power
``P[k,m]`` W; its rate is the perspective

    R_k = sum_m bw_m theta_km log2(1 + P_km gain_km / (theta_km bw_m noise_psd))

which is jointly concave in (theta, P). Every integral assignment with its psd is a
point of this relaxation (theta = 0/1, P = psd bw) with the same rates and the same
power caps, so for each (split, rank) pair

    min t  s.t.  c_k + S / R_k <= t,  sum_m P[k,m] <= p_max[k],  sum P <= p_total

is a lower bound on the s-link stage, and with c = 0, S = 1 on the f-link's
``max_k 1/R_k`` (s/bit). With an allocated downlink (SPEC §8.4) the down stage is a
link of the same form (``c = TcB``, ``S = S_dn``, the base station's budget); the stages
add in an iteration, so the per-pair bound is the sum of the per-link bounds. The bound
on T_total is ``min_p ctx.total(p, ts_p, tf)`` (T_total increases with both stages).
Each stage bound is the larger of this convex relaxation (cvxpy, exponential cone,
Clarabel; DPP so that the per-pair re-solves skip compilation) and the cheap
closed-form bounds of :mod:`sfl_opt.kernels.bounds`; the solver's objective is shaved
by ``SHAVE`` (relative, far above the solver tolerance) so that the bound stays valid,
and a pair whose solve fails keeps its cheap bound.
Pairs whose cheap bound already exceeds the best relaxed total are skipped.

In scaled form (``y = P / p_scale``, ``a = p_scale gain / (bw noise_psd)``, rates in units
of ``r_unit = S / t_ref``, times in units of ``t_ref``): ``theta log(1 + a y / theta) =
-rel_entr(theta, y + theta / a) + theta log a``. A spectral-efficiency cap (``lcap``,
log2(1 + SNR) per subchannel) adds ``u <= lcap ln 2 theta``, the perspective of the
capped rate. Units: s, bits, W, Hz.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..model.problem import Problem
from .prepared import PreparedProblem, prepare

#: relative amount by which a solver objective is lowered before it is used as a bound
SHAVE = 1e-6


class TimeSharingRelaxation:
    """The time-sharing relaxation of one link as a DPP cvxpy program (module doc)."""

    def __init__(self, ctx: PreparedProblem, link: str, solver: str = "CLARABEL",
                 **solver_options: Any) -> None:
        import cvxpy as cp

        self.ctx, self.link = ctx, ctx.link(link)
        K, M = self.link.K, self.link.M
        self.sc = self.link.scaling()
        self.bw = self.sc.bw
        a = self.sc.a
        self.theta = cp.Variable((K, M), nonneg=True)
        self.y = cp.Variable((K, M), nonneg=True)
        self.u = cp.Variable((K, M))
        self.t = cp.Variable()
        self.c = cp.Parameter(K)            # c / t_ref
        self.W = cp.Parameter(M, nonneg=True)  # bw / (ln 2 r_unit)
        rate = self.u @ self.W
        cons = [
            cp.sum(self.theta, axis=0) <= 1,
            self.u <= -cp.rel_entr(self.theta, self.y + cp.multiply(1.0 / a, self.theta))
            + cp.multiply(np.log(a), self.theta),
            cp.sum(self.y, axis=1) <= self.sc.pmax,
            self.c + cp.inv_pos(rate) <= self.t,
        ]
        cons.append(cp.sum(self.y) <= self.sc.ptot)
        if math.isfinite(self.sc.qcap):  # the spectral-efficiency cap, perspective form
            cons.append(self.u <= self.sc.qcap * self.theta)
        self.problem = cp.Problem(cp.Minimize(self.t), cons)
        assert self.problem.is_dpp()
        self.solver = solver
        self.solver_options = solver_options

    def stage(self, p: int | None, t_ref: float) -> float | None:
        """Lower bound (s, or s/bit on the f-link) on the stage of pair ``p``, or None
        when the solver fails. ``t_ref`` (> 0, same unit) scales the program."""
        import cvxpy as cp

        c, S = self.link.demand(p)
        self.c.value = np.asarray(c, float) / t_ref
        self.W.value = self.sc.weights(self.bw, S / t_ref)
        try:
            self.problem.solve(solver=self.solver, **self.solver_options)
        except cp.error.SolverError:
            return None
        if self.problem.status != cp.OPTIMAL or self.t.value is None:
            return None
        return float(self.t.value) * t_ref * (1.0 - SHAVE)


def f_link_cheap(ctx: PreparedProblem) -> float:
    """Closed-form lower bound on the f-link's ``max_k 1/R_k`` (s/bit): each client
    alone with every subchannel, and the link's sum rate shared by K clients."""
    return ctx.link("f").cheap_bound(None)


def lower_bound_details(problem: Problem, ctx: PreparedProblem | None = None) -> dict[str, Any]:
    """The bound with its parts: ``bound`` (s), ``tf`` (s/bit), ``ts`` (P,) stage bounds
    (s; NaN where the pair was skipped), ``cheap`` (P,) cheap stage bounds (s),
    ``pair`` (the minimising pair index), ``solved`` and ``failed`` counts of relaxations
    (one per stage link and pair)."""
    ctx = prepare(problem) if ctx is None else ctx
    P = ctx.P
    tf_cheap = f_link_cheap(ctx)
    tf_rel = TimeSharingRelaxation(ctx, "f").stage(None, tf_cheap)
    failed = int(tf_rel is None)
    tf = max(tf_cheap, tf_rel or 0.0)
    per_link = {n: ctx.link(n).cheap_bounds() for n in ctx.stage_links}
    cheap = sum(per_link.values())
    cheap_tot = ctx.total(np.arange(P), cheap, tf)
    ts = np.full(P, np.nan)
    best, best_p = math.inf, -1
    relax: dict[str, TimeSharingRelaxation] = {}
    solved = 0
    for p in np.argsort(cheap_tot, kind="stable"):
        p = int(p)
        if cheap_tot[p] >= best:
            break  # every remaining pair has a cheap bound >= best
        # the stages of the stage links add (each link has its own subchannels and
        # budget), so the sum of per-link bounds bounds the summed stage
        ts[p] = 0.0
        for n, cb in per_link.items():
            if n not in relax:
                relax[n] = TimeSharingRelaxation(ctx, n)
            r = relax[n].stage(p, float(cb[p]))
            solved += 1
            if r is None:
                failed += 1
            ts[p] += max(float(cb[p]), r or 0.0)
        tot = float(ctx.total(p, ts[p], tf))
        if tot < best:
            best, best_p = tot, p
    return {"bound": best, "tf": tf, "ts": ts, "cheap": cheap, "pair": best_p,
            "solved": solved, "failed": failed}


def lower_bound(problem: Problem) -> float:
    """A lower bound (s) on the optimal T_total of ``problem`` (time-sharing relaxation)."""
    return float(lower_bound_details(problem)["bound"])


__all__ = ["SHAVE", "TimeSharingRelaxation", "f_link_cheap", "lower_bound",
           "lower_bound_details"]
