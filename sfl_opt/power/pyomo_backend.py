"""The ``pyomo`` power backend: outer approximation with LPs solved by HiGHS.

HiGHS solves LPs and MILPs only, so the convex program of :mod:`.cvxpy_backend` is
solved by Kelley's cutting planes. In the scaled units of
:class:`~sfl_opt.power.scaling.Scaling` (``x`` power in units of ``p_scale``,
``s_m = log(x_m + 1/a_m)`` nat, rates ``rho`` in units of
``r_unit = S / t_ref``, times in units of ``t_ref``)::

    min t  s.t.  t >= c_k + 1/rho_k                (convex:  tangent cuts at rho0)
                 rho_k <= sum_{m in k} w_m (s_m + log a_m)
                 s_m <= log(x_m + 1/a_m)            (concave: tangent cuts at x0)
                 s_m <= qcap - log a_m              (spectral-efficiency cap, a bound)
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

from ..status import Limit, Status, Termination, TerminationReason
from .base import NO_SUBCHANNEL, PowerBackend, PowerSolution, PowerSubproblem
from .highs import INITIAL_X, highs_solver, inv_cut, log_cut
from .scaling import Scaling, reference_point, repair_caps


class PyomoBackend(PowerBackend):
    """Outer approximation of the power program, LPs on HiGHS through Pyomo (appsi).

    ``tol``: stop when the largest violation of a linearised constraint at the LP point
    is below ``tol`` (in nat for the rate cuts and in units of the reference deadline
    for the deadline cuts); ``gap_tol``: or when the relative gap between the LP bound
    and the best feasible deadline is below it; ``max_iter`` LPs at most;
    ``time_limit`` seconds per solve; ``highs_options`` passed to HiGHS.
    """

    #: Relative precision to which the LP's optimal value is trusted: HiGHS's default
    #: primal and dual feasibility tolerance. The reported ``bound`` is the best LP value
    #: shrunk by it (or by the larger of ``primal_feasibility_tolerance`` and
    #: ``dual_feasibility_tolerance`` given in ``highs_options``), because an LP solved to
    #: those tolerances can report a value slightly above the true minimum (2e-9 relative
    #: was seen), which would not be a valid lower bound.
    LP_TRUST = 1e-7

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
            return PowerSolution(np.inf, np.zeros(M), Status.ERROR, NO_SUBCHANNEL,
                                 solve_time=time.perf_counter() - t0)
        owner = np.asarray(sub.assign, np.int64)
        psd_ref, t_ref = reference_point(sub)
        best_psd, best_t = psd_ref, t_ref
        sc = Scaling.of_subproblem(sub, r_unit=sub.S / t_ref)
        p_scale = sc.p_scale
        a = sc.owner_a(owner)
        inva = 1.0 / a
        loga = np.log(a)
        w = sc.w
        c = np.asarray(sub.c, float) / t_ref
        ub = sc.ub[owner]
        pmax = sc.pmax
        ptot = sc.ptot
        members = [np.flatnonzero(owner == k) for k in range(K)]
        s_hi = np.minimum(np.log(ub + inva), sc.qcap - loga)  # qcap: the SE cap, nat/s/Hz
        rho_hi = np.array([float(np.sum(w[mk] * (s_hi[mk] + loga[mk]))) for mk in members])
        rho_lo = 1.0 / (1.0 - c)  # the reference point (t = 1) is feasible

        mdl = pyo.ConcreteModel()
        mdl.M = pyo.RangeSet(0, M - 1)
        mdl.K = pyo.RangeSet(0, K - 1)
        mdl.x = pyo.Var(mdl.M, bounds=lambda _, m: (0.0, float(ub[m])))
        mdl.s = pyo.Var(mdl.M, bounds=lambda _, m: (math.log(inva[m]), float(s_hi[m])))
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

        status, termination = Status.FEASIBLE, Termination.at_limit(Limit.ITERATION)
        message = None
        lb = -np.inf
        viol = np.inf
        it = 0
        lp_time = 0.0
        while it < self.max_iter:
            it += 1
            if self.time_limit is not None and time.perf_counter() - t0 > self.time_limit:
                termination = Termination.at_limit(Limit.TIME)
                break
            ts = time.perf_counter()
            res = opt.solve(mdl)
            lp_time += time.perf_counter() - ts
            if res.termination_condition != TC.optimal:
                if res.termination_condition == TC.maxTimeLimit:
                    termination = Termination.at_limit(Limit.TIME)
                else:
                    termination = Termination(TerminationReason.SOLVER_ERROR)
                    message = f"HiGHS stopped with {res.termination_condition.name}"
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
                status, termination = Status.OPTIMAL, Termination(TerminationReason.OPTIMAL)
                break
            new = []
            for m in np.flatnonzero(v_log > 0.1 * self.tol):
                k0, k1 = log_cut(float(x[m]), float(inva[m]))
                new.append(mdl.cuts.add(mdl.s[int(m)] <= k0 + k1 * mdl.x[int(m)]))
            for k in np.flatnonzero(v_inv > 0.1 * self.tol):
                k0, k1 = inv_cut(float(rho[k]))
                new.append(mdl.cuts.add(mdl.t >= float(c[k]) + k0 + k1 * mdl.rho[int(k)]))
            if not new:  # nothing left to cut: the LP point is feasible to round-off
                status, termination = Status.OPTIMAL, Termination(TerminationReason.OPTIMAL)
                break
            opt.add_constraints(new)
        elapsed = time.perf_counter() - t0
        trust = max([self.LP_TRUST] + [float(self.highs_options[key]) for key in
                     ("primal_feasibility_tolerance", "dual_feasibility_tolerance")
                     if key in self.highs_options])
        bound = lb * t_ref * (1.0 - trust) if np.isfinite(lb) else None
        info = {"oa_violation": viol, "lp_bound": bound, "lp_time": lp_time,
                "cuts": len(mdl.cuts), "gap": None if bound is None else
                (best_t - bound) / best_t, "t_ref": t_ref}
        if message is not None:
            info["message"] = message
        return PowerSolution(best_t, best_psd, status, termination, it, elapsed,
                             bound=bound, violation=sub.violation(best_psd), info=info)


__all__ = ["PyomoBackend"]
