"""The ``pyomo`` power backend: outer approximation with LPs solved by HiGHS.

HiGHS solves LPs and MILPs only, so the convex program of :mod:`.cvxpy_backend` is
solved by Kelley's cutting planes. In the scaled units of that module (``x`` power in
units of ``p_scale``, ``s_m = log(x_m + 1/a_m)`` nat, rates ``rho`` in units of
``r_unit = S / t_ref``, times in units of ``t_ref``)::

    min t  s.t.  t >= c_k + 1/rho_k                (convex:  tangent cuts at rho0)
                 rho_k <= sum_{m in k} w_m (s_m + log a_m)
                 s_m <= log(x_m + 1/a_m)            (concave: tangent cuts at x0)
                 caps on x

Every tangent cut relaxes its constraint, so each LP's optimum is a lower bound on the
optimum; its x, repaired onto the caps, is a feasible point whose true deadline is an
upper bound. Cuts are added at each LP solution until the largest violation of a
nonlinear constraint at the LP point is below ``tol`` (or the bound gap is below
``gap_tol``). The solution reports the iterations, the final violation and the gap.
Units: s, W, W/Hz, Hz.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from .base import ERROR, FEASIBLE, OPTIMAL, PowerBackend, PowerSolution, PowerSubproblem
from .cvxpy_backend import reference_point, repair_caps

#: initial tangent points of the log cuts, as fractions of the subchannel's power cap
INITIAL_X = (0.0, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def log_cut(x0: float, inva: float) -> tuple[float, float]:
    """Tangent of ``log(x + inva)`` at ``x0``: ``(const, slope)`` with
    ``log(x + inva) <= const + slope * x`` for every x > -inva."""
    slope = 1.0 / (x0 + inva)
    return math.log(x0 + inva) - slope * x0, slope


def inv_cut(r0: float) -> tuple[float, float]:
    """Tangent of ``1/r`` at ``r0 > 0``: ``(const, slope)`` with ``1/r >= const + slope r``."""
    return 2.0 / r0, -1.0 / (r0 * r0)


def highs_solver(time_limit: float | None = None, options: dict[str, Any] | None = None):
    """A persistent appsi HiGHS solver that is told about model changes explicitly."""
    from pyomo.contrib.appsi.solvers.highs import Highs

    opt = Highs()
    opt.config.load_solution = False
    opt.config.stream_solver = False
    if time_limit is not None:
        opt.config.time_limit = float(time_limit)
    uc = opt.update_config
    uc.check_for_new_or_removed_constraints = False
    uc.check_for_new_or_removed_vars = False
    uc.check_for_new_or_removed_params = False
    uc.check_for_new_objective = False
    uc.update_constraints = False
    uc.update_vars = False
    uc.update_named_expressions = False
    uc.update_objective = False
    uc.update_params = True
    opts = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}
    opts.update(options or {})
    opt.highs_options = opts
    return opt


class PyomoBackend(PowerBackend):
    """Outer approximation of the power program, LPs on HiGHS through Pyomo (appsi).

    ``tol``: stop when the largest violation of a linearised constraint at the LP point
    is below ``tol`` (in nat for the rate cuts and in units of the reference deadline
    for the deadline cuts); ``gap_tol``: or when the relative gap between the LP bound
    and the best feasible deadline is below it; ``max_iter`` LPs at most;
    ``time_limit`` seconds per solve; ``highs_options`` passed to HiGHS.
    """

    name = "pyomo"
    description = "outer approximation (tangent cuts) with LPs on HiGHS via Pyomo appsi"
    requires = ("pyomo", "highspy")
    capabilities = frozenset({"bound", "lp", "outer_approximation"})

    def __init__(self, tol: float = 1e-9, gap_tol: float = 1e-9, max_iter: int = 300,
                 time_limit: float | None = None,
                 highs_options: dict[str, Any] | None = None) -> None:
        if not tol > 0 or not gap_tol > 0:
            raise ValueError("tol, gap_tol: expected positive numbers")
        if int(max_iter) < 1:
            raise ValueError(f"max_iter: expected an integer >= 1, got {max_iter!r}")
        self.tol = float(tol)
        self.gap_tol = float(gap_tol)
        self.max_iter = int(max_iter)
        self.time_limit = time_limit
        self.highs_options = dict(highs_options or {})

    def solve(self, sub: PowerSubproblem) -> PowerSolution:
        import pyomo.environ as pyo
        from pyomo.contrib.appsi.base import TerminationCondition as TC

        t0 = time.perf_counter()
        K, M = sub.K, sub.M
        if np.any(np.bincount(sub.assign, minlength=K) == 0):
            return PowerSolution(np.inf, np.zeros(M), ERROR, "no_subchannel",
                                 solve_time=time.perf_counter() - t0)
        m_idx = np.arange(M)
        owner = np.asarray(sub.assign, np.int64)
        p_scale = float(np.max(sub.p_max))
        psd_ref, t_ref = reference_point(sub)
        best_psd, best_t = psd_ref, t_ref
        a = p_scale * sub.gain[owner, m_idx] / (sub.bw * sub.noise_psd)
        inva = 1.0 / a
        loga = np.log(a)
        r_unit = sub.S / t_ref
        w = sub.bw / (r_unit * math.log(2.0))
        c = np.asarray(sub.c, float) / t_ref
        ub = np.minimum(sub.p_max[owner], sub.p_total) / p_scale
        pmax = sub.p_max / p_scale
        ptot = min(sub.p_total, float(np.sum(sub.p_max))) / p_scale
        members = [np.flatnonzero(owner == k) for k in range(K)]
        rho_hi = np.array([float(np.sum(w[mk] * (np.log(ub[mk] + inva[mk]) + loga[mk])))
                           for mk in members])
        rho_lo = 1.0 / (1.0 - c)  # the reference point (t = 1) is feasible

        mdl = pyo.ConcreteModel()
        mdl.M = pyo.RangeSet(0, M - 1)
        mdl.K = pyo.RangeSet(0, K - 1)
        mdl.x = pyo.Var(mdl.M, bounds=lambda _, m: (0.0, float(ub[m])))
        mdl.s = pyo.Var(mdl.M, bounds=lambda _, m: (math.log(inva[m]),
                                                     math.log(ub[m] + inva[m])))
        mdl.rho = pyo.Var(mdl.K, bounds=lambda _, k: (float(rho_lo[k]),
                                                       float(max(rho_hi[k], rho_lo[k]))))
        mdl.t = pyo.Var(bounds=(float(np.max(c)), None))
        mdl.rate = pyo.Constraint(mdl.K, rule=lambda mm, k: mm.rho[k] <= sum(
            float(w[m]) * (mm.s[m] + float(loga[m])) for m in members[k]))
        mdl.cap = pyo.Constraint(mdl.K, rule=lambda mm, k: sum(
            mm.x[m] for m in members[k]) <= float(pmax[k]))
        mdl.tot = pyo.Constraint(expr=sum(mdl.x[m] for m in mdl.M) <= ptot)
        mdl.cuts = pyo.ConstraintList()
        for m in range(M):
            for f in INITIAL_X:
                k0, k1 = log_cut(f * ub[m], inva[m])
                mdl.cuts.add(mdl.s[m] <= k0 + k1 * mdl.x[m])
        for k in range(K):
            for r0 in np.geomspace(rho_lo[k], max(rho_hi[k], rho_lo[k] * (1 + 1e-9)), 6):
                k0, k1 = inv_cut(float(r0))
                mdl.cuts.add(mdl.t >= float(c[k]) + k0 + k1 * mdl.rho[k])
        mdl.obj = pyo.Objective(expr=mdl.t)
        opt = highs_solver(self.time_limit, self.highs_options)
        opt.set_instance(mdl)

        status, termination = FEASIBLE, "iteration_limit"
        lb = -np.inf
        viol = np.inf
        it = 0
        lp_time = 0.0
        while it < self.max_iter:
            it += 1
            if self.time_limit is not None and time.perf_counter() - t0 > self.time_limit:
                termination = "time_limit"
                break
            ts = time.perf_counter()
            res = opt.solve(mdl)
            lp_time += time.perf_counter() - ts
            if res.termination_condition != TC.optimal:
                termination = ("time_limit" if res.termination_condition == TC.maxTimeLimit
                               else f"solver_error: {res.termination_condition.name}")
                break
            res.solution_loader.load_vars()
            x = np.array([mdl.x[m].value for m in range(M)], float)
            s = np.array([mdl.s[m].value for m in range(M)], float)
            rho = np.array([mdl.rho[k].value for k in range(K)], float)
            t_lp = float(mdl.t.value)
            lb = max(lb, t_lp)
            x = np.clip(x, 0.0, ub)
            psd = repair_caps(sub, x * p_scale / sub.bw)
            t_feas = sub.deadline_of(psd)
            if t_feas < best_t:
                best_t, best_psd = t_feas, psd
            v_log = s - np.log(x + inva)
            v_inv = c + 1.0 / rho - t_lp
            viol = float(max(np.max(v_log), np.max(v_inv), 0.0))
            gap = (best_t / t_ref - lb) / (best_t / t_ref)
            if viol <= self.tol or gap <= self.gap_tol:
                status, termination = OPTIMAL, "converged"
                break
            new = []
            for m in np.flatnonzero(v_log > 0.1 * self.tol):
                k0, k1 = log_cut(float(x[m]), float(inva[m]))
                new.append(mdl.cuts.add(mdl.s[int(m)] <= k0 + k1 * mdl.x[int(m)]))
            for k in np.flatnonzero(v_inv > 0.1 * self.tol):
                k0, k1 = inv_cut(float(rho[k]))
                new.append(mdl.cuts.add(mdl.t >= float(c[k]) + k0 + k1 * mdl.rho[int(k)]))
            if not new:  # nothing left to cut: the LP point is feasible to round-off
                status, termination = OPTIMAL, "converged"
                break
            opt.add_constraints(new)
        elapsed = time.perf_counter() - t0
        bound = lb * t_ref if np.isfinite(lb) else None
        info = {"oa_violation": viol, "lp_bound": bound, "lp_time": lp_time,
                "cuts": len(mdl.cuts), "gap": None if bound is None else
                (best_t - bound) / best_t, "t_ref": t_ref}
        return PowerSolution(best_t, best_psd, status, termination, it, elapsed,
                             bound=bound, violation=sub.violation(best_psd), info=info)


__all__ = ["INITIAL_X", "PyomoBackend", "highs_solver", "inv_cut", "log_cut"]
