"""The ``cvxpy`` power backend: the convex program with auxiliary rate variables.

For one link and a fixed assignment (see :mod:`.base`)::

    min t  s.t.  c_k + inv_pos(rho_k) <= t,    rho_k <= sum_{m in k} w_m (s_m + log a_m),
                 s_m <= log(x_m + 1/a_m),  s_m <= qcap - log a_m,
                 x >= 0,  sum_{m in k} x_m <= pmax_k,  sum x <= ptot

in the scaled units of :class:`~sfl_opt.power.scaling.Scaling`: ``x_m`` is the power on
subchannel m in units of ``p_scale``, ``a_m`` the owner's SNR per unit x, ``s_m``
nat/s/Hz, ``w_m`` turns it into rate units ``r_unit = S / t_ref`` (bit/s; ``t_ref`` is
the deadline of a feasible reference point, s), and ``c``, ``t`` are in units of
``t_ref``: every number is O(1) (the constraint tolerances of the conic solver are
absolute). ``qcap`` is the spectral-efficiency cap in nat/s/Hz (``lcap ln 2``; without a
cap the bound is set above any reachable ``s``, so it never binds).

The program is built once per (K, M) with :class:`cvxpy.Parameter` for everything that
changes (gains of the owners, the (K, M) 0/1 assignment incidence scaled by ``w``,
c, caps), so that it is DPP and re-solves skip compilation. The returned psd is
repaired onto the caps when the solver overshoots them by its tolerance, and ``t`` is
recomputed from it (``PowerSubproblem.deadline_of``).
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from ..errors import BackendError
from ..status import Status, Termination, TerminationReason
from .base import NO_SUBCHANNEL, PowerBackend, PowerSolution, PowerSubproblem
from .scaling import Scaling, reference_point, repair_caps


class _Compiled:
    """One DPP program for a (K, M) shape."""

    def __init__(self, K: int, M: int) -> None:
        import cvxpy as cp

        self.x = cp.Variable(M, nonneg=True)
        self.s = cp.Variable(M)                        # log(x + 1/a) = log(1 + a x) - log a
        self.rho = cp.Variable(K, nonneg=True)
        self.t = cp.Variable()
        self.inva = cp.Parameter(M, nonneg=True)       # 1 / (SNR per unit x), owner's gain
        self.off = cp.Parameter(K)                     # sum_{m in k} w_m log(a_m), rate units
        self.B = cp.Parameter((K, M), nonneg=True)     # incidence * w (rate units per nat/s/Hz)
        self.A = cp.Parameter((K, M), nonneg=True)     # incidence 0/1
        self.c = cp.Parameter(K)                       # c / t_ref
        self.pmax = cp.Parameter(K, nonneg=True)       # p_max / p_scale
        self.ptot = cp.Parameter(nonneg=True)          # min(p_total, sum p_max) / p_scale
        self.scap = cp.Parameter(M)                    # qcap - log(a_m): the SE cap on s
        cons = [
            self.c + cp.inv_pos(self.rho) <= self.t,
            self.rho <= self.B @ self.s + self.off,
            self.s <= cp.log(self.x + self.inva),
            self.s <= self.scap,
            self.A @ self.x <= self.pmax,
            cp.sum(self.x) <= self.ptot,
        ]
        self.problem = cp.Problem(cp.Minimize(self.t), cons)
        if not self.problem.is_dpp():  # pragma: no cover - a programming error
            raise RuntimeError("cvxpy power program is not DPP")
        self.solves = 0


class CvxpyBackend(PowerBackend):
    """Exponential-cone program solved by cvxpy (Clarabel by default).

    ``solver`` is any installed cvxpy conic solver that handles the exponential cone
    (``"CLARABEL"``, ``"SCS"``, ...); ``solver_options`` are passed to it. Compiled
    programs are cached per (K, M) in the instance, so re-solves of the same shape
    reuse the DPP compilation.
    """

    name = "cvxpy"
    description = "convex program (exponential cone) via cvxpy; Clarabel by default; DPP"
    requires = ("cvxpy",)
    capabilities = frozenset({"parametric", "conic"})

    def __init__(self, solver: str = "CLARABEL", **solver_options: Any) -> None:
        import cvxpy as cp

        if solver.upper() not in cp.installed_solvers():
            raise BackendError(f"cvxpy: solver {solver!r} is not installed; installed: "
                               f"{', '.join(cp.installed_solvers())}")
        self.solver = solver.upper()
        self.solver_options = dict(solver_options)
        self._cache: dict[tuple[int, int], _Compiled] = {}

    def _compiled(self, K: int, M: int) -> _Compiled:
        key = (K, M)
        if key not in self._cache:
            self._cache[key] = _Compiled(K, M)
        return self._cache[key]

    def solve(self, sub: PowerSubproblem) -> PowerSolution:
        import cvxpy as cp

        t0 = time.perf_counter()
        K, M = sub.K, sub.M
        counts = np.bincount(sub.assign, minlength=K)
        if np.any(counts == 0):
            return PowerSolution(np.inf, np.zeros(M), Status.ERROR, NO_SUBCHANNEL,
                                 solve_time=time.perf_counter() - t0)
        prog = self._compiled(K, M)
        m = np.arange(M)
        psd_ref, t_ref = reference_point(sub)
        # r_unit (bit/s): the rate that sends S bits in t_ref
        sc = Scaling.of_subproblem(sub, r_unit=sub.S / t_ref)
        p_scale = sc.p_scale
        inc = np.zeros((K, M))
        inc[sub.assign, m] = 1.0
        a = sc.owner_a(sub.assign)
        prog.inva.value = 1.0 / a
        # the cap, or (none) a bound above every reachable s: log(ub + 1/a) + 1
        reach = np.log(sc.ub[sub.assign] + 1.0 / a) + 1.0
        prog.scap.value = np.minimum(sc.qcap - np.log(a), reach)
        prog.A.value = inc
        prog.B.value = inc * sc.w[None, :]
        prog.off.value = prog.B.value @ np.log(a)
        prog.c.value = np.asarray(sub.c, float) / t_ref
        prog.pmax.value = sc.pmax
        prog.ptot.value = sc.ptot
        termination = Termination(TerminationReason.OPTIMAL)
        info: dict[str, Any] = {"solver": self.solver, "t_ref": t_ref}
        try:
            prog.problem.solve(solver=self.solver, **self.solver_options)
            status = prog.problem.status
        except cp.error.SolverError as exc:
            status, termination = "solver_error", Termination(TerminationReason.NUMERICAL_ERROR)
            info["message"] = str(exc)
        prog.solves += 1
        elapsed = time.perf_counter() - t0
        info.update(solver_status=status, compiled_shapes=len(self._cache))
        stats = prog.problem.solver_stats
        iters = int(getattr(stats, "num_iters", 0) or 0) if stats is not None else 0
        if status in (cp.INFEASIBLE, cp.INFEASIBLE_INACCURATE, cp.UNBOUNDED,
                      cp.UNBOUNDED_INACCURATE):
            # the problem always has a feasible point: this is a numerical failure
            return PowerSolution(sub.deadline_of(psd_ref), psd_ref, Status.FEASIBLE,
                                 Termination(TerminationReason.NUMERICAL_ERROR), iters, elapsed,
                                 violation=sub.violation(psd_ref), info=info)
        if prog.x.value is None or status not in (cp.OPTIMAL, cp.OPTIMAL_INACCURATE):
            info.setdefault("message", f"solver status {status}")
            return PowerSolution(sub.deadline_of(psd_ref), psd_ref, Status.FEASIBLE,
                                 Termination(TerminationReason.NUMERICAL_ERROR), iters, elapsed,
                                 violation=sub.violation(psd_ref), info=info)
        raw = np.asarray(prog.x.value, float) * p_scale / sub.bw
        info["raw_violation"] = sub.violation(np.maximum(raw, 0.0))
        psd = repair_caps(sub, raw)
        t = sub.deadline_of(psd)
        info["solver_t"] = float(prog.t.value) * t_ref
        if not math.isfinite(t):
            return PowerSolution(sub.deadline_of(psd_ref), psd_ref, Status.FEASIBLE,
                                 Termination(TerminationReason.NUMERICAL_ERROR), iters, elapsed,
                                 violation=sub.violation(psd_ref), info=info)
        if t > sub.deadline_of(psd_ref):  # never return worse than the trivial point
            psd, t = psd_ref, sub.deadline_of(psd_ref)
        good = Status.OPTIMAL if status == cp.OPTIMAL else Status.FEASIBLE
        if status != cp.OPTIMAL:
            termination = Termination(TerminationReason.INACCURATE)
        return PowerSolution(t, psd, good, termination, iters, elapsed,
                             violation=sub.violation(psd), info=info)


__all__ = ["CvxpyBackend"]
