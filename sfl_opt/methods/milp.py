"""Certified joint subchannel assignment and power by MILPs (``solve(p, "milp")``).

For one link and a deadline t, "is there an assignment and a psd meeting t?" is a
convex MINLP: client k needs ``R_k >= S / (t - c_k)``. It is decided by outer
approximation MILPs on HiGHS through Pyomo (class :class:`LinkMILP`), in the scaled
units of :class:`~sfl_opt.power.scaling.Scaling` (``x`` power in units of
``p_scale = max p_max``, rates in units of ``r_unit`` = the mean bandwidth, bit/s):

- ``z[k,m]`` binary (subchannel m to client k), ``sum_k z[k,m] = 1``,
  ``sum_m z[k,m] >= 1``;
- ``0 <= x[k,m] <= ub_km z[k,m]`` (big-M power coupling), ``sum_m x[k,m] <= p_max_k``,
  ``sum x <= p_total``;
- ``0 <= q[k,m] <= qmax_km z[k,m]`` with tangent cuts of the concave ``log(1 + a_km x)``
  in perspective form, ``q <= (log(1 + a x0) - g x0) z + g x`` with ``g = a / (1 + a x0)``
  (the tangent at z = 1; at z = 0 it reads q <= 0; for fractional z it is a tangent
  of the perspective ``z log(1 + a x / z)``, so the LP relaxation is the time-sharing
  relaxation of :mod:`.bound`);
- ``sum_m w_m q[k,m] >= need_k(t)`` (mutable parameters: one model serves every t and
  every (split, rank) pair of the link).

Every cut relaxes the MINLP, so an infeasible MILP certifies that no assignment meets t.
A feasible MILP gives an assignment z whose exact power (the ``native`` kernel) is
computed: if it meets t the incumbent improves; otherwise the tangent cuts at the MILP
point and at z's own optimal power are added (the latter make z's relaxation exact, by
the KKT conditions, so z cannot return for any deadline below its own), together with
a no-good cut on z (valid because every later probe is below the incumbent, which is
not above z's deadline). The MILP is re-solved until it is infeasible or yields an
assignment meeting t.

Around this feasibility oracle runs a bisection on the deadline of each (split, rank)
pair with the bracket ``[lo, hi]`` (lo: a certified infeasible deadline or a cheap
lower bound; hi: the incumbent's exact deadline, from the greedy + refinement
heuristic). Because the heuristic incumbent is usually optimal, the probe is placed at
the top of the bracket, ``hi (1 - rtol)``, unless the bracket is wide and
``probe="mid"`` is asked. A pair is abandoned as soon as a probe certifies that it cannot
beat the best total delay found by more than ``rtol``; pairs whose cheap bound
(``kernels.bounds``) already cannot are skipped. The certified optimum is reported with
``status="optimal"`` and its ``lower_bound``; on a time limit the best point so far is
returned with ``status="feasible"``, ``termination.limit="time"`` and the bound proved
so far. Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.prepared import TIMED_LINK, Link, LinkPoint, PairBounds, PreparedProblem
from ..errors import SflOptError, ValidationError
from ..power.highs import INITIAL_X, highs_solver
from ..status import GAP_TOL, Limit, Status, Termination, TerminationReason
from .registry import Options, Outcome

#: default relative tolerance of the search on each link's deadline; the certified gap
#: of the total delay is at most about twice it, so this keeps it within GAP_TOL (1e-6)
RTOL = 4e-7


#: with a time limit, the heuristic incumbents get this share of it
HEURISTIC_SHARE = 0.3
#: seconds per client-subchannel entry to build a link's MILP (Pyomo, a few variables
#: and constraints per entry; generous): a model expected to take longer than the time
#: left is not built (the heuristic point is returned with its bound, time_limit)
BUILD_COST = 1e-3


def _check_build_time(ln: Link, deadline: float | None) -> None:
    """Raise :class:`ExactTimeout` when the link's MILP would not be built in time."""
    if deadline is not None and time.perf_counter() + BUILD_COST * ln.K * ln.M > deadline:
        raise ExactTimeout


class ExactTimeout(Exception):
    """Raised inside the oracle when the time limit expires."""


@dataclass
class ProbeStats:
    milps: int = 0
    cuts: int = 0
    nogoods: int = 0
    milp_time: float = 0.0
    probes: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


class LinkMILP:
    """The outer-approximation MILP of one link (module docstring), reusable across
    deadlines and (split, rank) pairs; HiGHS through a persistent Pyomo appsi solver."""

    def __init__(self, ctx: PreparedProblem, link: str, deadline: float | None = None,
                 highs_options: dict[str, Any] | None = None) -> None:
        import pyomo.environ as pyo

        self.ctx, self.link = ctx, ctx.link(link)
        self.deadline = deadline
        ln = self.link
        K, M = ln.K, ln.M
        self.K, self.M = K, M
        sc = ln.scaling(r_unit=float(np.mean(ln.bw)))
        self.bw = sc.bw
        self.p_scale = sc.p_scale
        self.a = sc.a  # (K, M)
        self.r_unit = sc.r_unit
        self.w = sc.w
        self.ub = sc.ub[:, None] * np.ones((1, M))
        # the spectral-efficiency cap bounds q (nat/s/Hz) as well: q <= qcap z
        qmax = np.minimum(np.log1p(self.a * self.ub), sc.qcap)
        self.stats = ProbeStats()
        self.pool: dict[tuple[int, ...], None] = {}
        self._cut_points: set[tuple[int, int, float]] = set()

        mdl = pyo.ConcreteModel()
        mdl.K = pyo.RangeSet(0, K - 1)
        mdl.M = pyo.RangeSet(0, M - 1)
        mdl.z = pyo.Var(mdl.K, mdl.M, domain=pyo.Binary)
        mdl.x = pyo.Var(mdl.K, mdl.M, bounds=lambda _, k, m: (0.0, float(self.ub[k, m])))
        mdl.q = pyo.Var(mdl.K, mdl.M, bounds=lambda _, k, m: (0.0, float(qmax[k, m])))
        mdl.need = pyo.Param(mdl.K, mutable=True, initialize=0.0)
        mdl.one = pyo.Constraint(mdl.M, rule=lambda mm, m: sum(mm.z[k, m] for k in mm.K) == 1)
        mdl.each = pyo.Constraint(mdl.K, rule=lambda mm, k: sum(mm.z[k, m] for m in mm.M) >= 1)
        mdl.xz = pyo.Constraint(mdl.K, mdl.M, rule=lambda mm, k, m:
                                mm.x[k, m] <= float(self.ub[k, m]) * mm.z[k, m])
        mdl.qz = pyo.Constraint(mdl.K, mdl.M, rule=lambda mm, k, m:
                                mm.q[k, m] <= float(qmax[k, m]) * mm.z[k, m])
        mdl.cap = pyo.Constraint(mdl.K, rule=lambda mm, k: sum(mm.x[k, m] for m in mm.M)
                                 <= float(sc.pmax[k]))
        mdl.tot = pyo.Constraint(expr=sum(mdl.x[k, m] for k in mdl.K for m in mdl.M)
                                 <= sc.ptot)
        mdl.rate = pyo.Constraint(mdl.K, rule=lambda mm, k: sum(
            float(self.w[m]) * mm.q[k, m] for m in mm.M) >= mm.need[k])
        mdl.cuts = pyo.ConstraintList()
        mdl.nogood = pyo.ConstraintList()
        mdl.obj = pyo.Objective(expr=0.0)
        self.mdl = mdl
        for k in range(K):
            for m in range(M):
                for f in INITIAL_X:
                    self._cut(k, m, f * float(self.ub[k, m]), register=False)
        self.opt = highs_solver(None, {"mip_feasibility_tolerance": 1e-9,
                                       **(highs_options or {})})
        self.opt.set_instance(mdl)

    # -- cuts -----------------------------------------------------------------------
    def _cut(self, k: int, m: int, x0: float, register: bool = True) -> None:
        """Tangent of ``log(1 + a x)`` at ``x0`` for (k, m) (skipped if already there)."""
        key = (k, m, round(float(x0), 12))
        if key in self._cut_points:
            return
        self._cut_points.add(key)
        a = float(self.a[k, m])
        slope = a / (1.0 + a * x0)
        const = math.log1p(a * x0) - slope * x0
        # perspective form: const * z instead of const (valid at z = 0, where x = q = 0;
        # tight for fractional z: the time-sharing relaxation)
        con = self.mdl.cuts.add(self.mdl.q[k, m] <= const * self.mdl.z[k, m]
                                + slope * self.mdl.x[k, m])
        self.stats.cuts += 1
        if register:
            self.opt.add_constraints([con])

    def cut_at_power(self, assign: np.ndarray, psd: np.ndarray) -> None:
        """Tangent cuts at the point ``psd`` (W/Hz) of assignment ``assign``."""
        x = psd * self.bw / self.p_scale
        for m in range(self.M):
            self._cut(int(assign[m]), m, float(max(x[m], 0.0)))

    def nogood(self, assign: np.ndarray) -> None:
        """Exclude assignment ``assign``."""
        key = tuple(int(v) for v in assign)
        if key in self.pool:
            return
        self.pool[key] = None
        con = self.mdl.nogood.add(sum(self.mdl.z[int(assign[m]), m] for m in range(self.M))
                                  <= self.M - 1)
        self.stats.nogoods += 1
        self.opt.add_constraints([con])

    # -- the oracle -----------------------------------------------------------------
    def probe(self, p: int | None, t: float) -> tuple[bool, LinkPoint | None]:
        """Decide whether some assignment meets deadline ``t`` (s, or s/bit on the
        f-link) for pair ``p``; ``t`` must be below the deadline of every assignment in
        ``pool`` (their no-good cuts are active). Returns ``(ok, best)``: ``ok`` False
        certifies that no assignment meets t, True that ``best`` (exact power) does;
        ``best`` is the best assignment met on the way (None if none), to be used as
        the incumbent. Raises :class:`ExactTimeout`."""
        from pyomo.contrib.appsi.base import TerminationCondition as TC

        c, S = self.link.demand(p)
        if np.any(t <= c):
            return False, None
        need = S / (t - c) / self.r_unit
        for k in range(self.K):
            self.mdl.need[k] = float(need[k])
        self.stats.probes += 1
        best: LinkPoint | None = None
        while True:
            remaining = None
            if self.deadline is not None:
                remaining = self.deadline - time.perf_counter()
                if remaining <= 0:
                    raise ExactTimeout
                self.opt.config.time_limit = remaining
            ts = time.perf_counter()
            res = self.opt.solve(self.mdl)
            self.stats.milp_time += time.perf_counter() - ts
            self.stats.milps += 1
            tc = res.termination_condition
            if tc in (TC.infeasible, TC.infeasibleOrUnbounded):
                # every variable is bounded and the objective is 0: never unbounded
                return False, best
            if tc == TC.maxTimeLimit:
                raise ExactTimeout
            if tc != TC.optimal:
                raise SflOptError(f"exact assignment: HiGHS stopped with {tc.name} on the "
                                  f"{self.link.name}-link MILP")
            res.solution_loader.load_vars()
            z = np.array([[self.mdl.z[k, m].value for m in range(self.M)]
                          for k in range(self.K)])
            x = np.array([[self.mdl.x[k, m].value for m in range(self.M)]
                          for k in range(self.K)])
            assign = np.argmax(z, axis=0).astype(np.int64)
            if np.bincount(assign, minlength=self.K).min() == 0:  # pragma: no cover
                raise SflOptError("exact assignment: MILP returned a client without a "
                                  "subchannel")
            pt = self.link.exact_power(assign, p)
            if best is None or pt.t < best.t:
                best = pt
            if pt.t <= t:
                return True, pt
            # z cannot meet t (nor any later probe, all below the incumbent <= pt.t):
            # cut off its relaxation (cuts at its optimal power and at the MILP point)
            # and the assignment itself, and re-solve
            self.cut_at_power(assign, pt.psd)
            for m in range(self.M):
                k = int(assign[m])
                self._cut(k, m, float(np.clip(x[k, m], 0.0, self.ub[k, m])))
            self.nogood(assign)


def exact_link(milp: LinkMILP, p: int | None, incumbent: LinkPoint, lo: float,
               rtol: float, stop_at: float | None = None, probe: str = "top"
               ) -> tuple[LinkPoint, float, bool]:
    """Certified optimum of one link (pair ``p``, or the f-link with ``p=None``).

    ``incumbent``: a feasible point (its ``t`` is the upper end); ``lo``: a valid lower
    bound on the optimal deadline. Stops when ``hi - lo <= rtol hi`` or, with
    ``stop_at``, as soon as ``lo >= stop_at`` (the pair cannot win). Returns
    ``(best point, certified lower bound, finished)``; raises :class:`ExactTimeout`
    (after which ``milp`` keeps its cuts).
    """
    best = incumbent
    # assignments seen before (other pairs) are candidates; their no-goods stay valid
    for key in list(milp.pool):
        pt = milp.link.exact_power(np.array(key, np.int64), p)
        if pt.t < best.t:
            best = pt
    milp.cut_at_power(best.assign, best.psd)
    while best.t - lo > rtol * best.t:
        if stop_at is not None and lo >= stop_at:
            return best, lo, True
        top = best.t * (1 - rtol)
        t = top if probe == "top" or (best.t - lo) < 4 * rtol * best.t else 0.5 * (lo + best.t)
        if stop_at is not None:
            t = min(t, max(stop_at, lo))
        if t <= lo:
            break
        ok, pt = milp.probe(p, t)
        if pt is not None and pt.t < best.t:
            best = pt
            milp.cut_at_power(best.assign, best.psd)
        milp.nogood(best.assign)
        if not ok:
            lo = t
    return best, min(lo, best.t), True


def solve_milp(ctx: PreparedProblem, opts: Options) -> Outcome:
    """Method ``"milp"``: :func:`solve_exact` with the method options ``rtol`` and
    ``probe`` (defaults :data:`RTOL`, ``"top"``)."""
    return solve_exact(ctx, opts, rtol=opts.extra.get("rtol", RTOL),
                       probe=opts.extra.get("probe", "top"))


def solve_exact(ctx: PreparedProblem, opts: Options, rtol: float = RTOL,
                probe: str = "top") -> Outcome:
    """The certified optimum of the whole problem (small instances; see module doc).

    ``rtol``: relative tolerance of the certificate on the total delay. The returned
    ``lower_bound`` (s) is certified; ``status="optimal"`` when the gap is <= GAP_TOL (1e-6).
    Power is the exact (native kernel) power of each assignment.
    """
    if not (isinstance(rtol, float) and 0 < rtol < 1):
        raise ValidationError("rtol", "a float in (0, 1)", rtol)
    if probe not in ("top", "mid"):
        raise ValidationError("probe", "'top' or 'mid'", probe)
    if ctx.stage_links != ("s",):
        raise SflOptError("milp: certifies problems whose only per-pair link is the s-link; "
                          f"this one has {list(ctx.stage_links)}")
    t_start = time.perf_counter()
    deadline = None if opts.time_limit is None else ctx.started + opts.time_limit
    timings: dict[str, float] = {}
    P = ctx.P
    s_link, f_link = ctx.link("s"), ctx.link("f")
    # heuristic incumbents (with a time limit: the pairs reached in HEURISTIC_SHARE of it,
    # each local search stopped there; a pair not reached gets its point when searched)
    heur = None if deadline is None else t_start + HEURISTIC_SHARE * max(deadline - t_start,
                                                                        0.0)
    f0 = f_link.greedy(None, True, opts.max_moves, deadline=heur)
    s_heur: list[LinkPoint | None] = [None] * P
    large = s_link.K * s_link.M > TIMED_LINK  # a small link's heuristics take milliseconds
    for p in range(P):
        if p and heur is not None and time.perf_counter() > heur and large:
            break
        s_heur[p] = s_link.greedy(p, True, opts.max_moves, deadline=heur)
    timings["heuristic"] = time.perf_counter() - t_start
    # f-link: max-min rate; t_f = max_k 1/R_k >= max(max_k 1/Rall_k, K/Rsum)
    tf_lo0 = f_link.cheap_bound(None)
    stats: dict[str, Any] = {}
    termination = Termination(TerminationReason.OPTIMAL)
    tf_known = math.nan  # no round-link bound until the f-link MILP finishes
    f_milp = s_milp = None
    f, tf_lo = f0, tf_lo0
    lo_pair = np.full(P, np.nan)
    s_best: list[LinkPoint | None] = list(s_heur)
    try:
        t0 = time.perf_counter()
        _check_build_time(f_link, deadline)
        f_milp = LinkMILP(ctx, "f", deadline)
        f, tf_lo, _ = exact_link(f_milp, None, f0, tf_lo0, rtol, probe=probe)
        tf_known = tf_lo  # the f-link MILP's bound (the certificate need not redo it)
        timings["f_link"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        cheap = ctx.stage_bounds()
        lo_pair[:] = cheap
        totals = ctx.total(np.arange(P), np.array([np.inf if pt is None else pt.t
                                                   for pt in s_heur]), f.t)
        best_total = float(np.min(totals))
        _check_build_time(s_link, deadline)
        s_milp = LinkMILP(ctx, "s", deadline)
        for p in np.argsort(totals, kind="stable"):
            p = int(p)
            if ctx.total(p, lo_pair[p], tf_lo) >= best_total * (1 - rtol):
                continue  # cannot beat the best by more than rtol
            if deadline is not None and time.perf_counter() > deadline:
                raise ExactTimeout
            start = s_best[p]
            if start is None:
                start = s_link.greedy(p, True, opts.max_moves, deadline=deadline)
            stop = ctx.stage_for_total(p, best_total * (1 - rtol), f.t)
            pt, lo, _ = exact_link(s_milp, p, start, float(lo_pair[p]), rtol,
                                   stop_at=stop, probe=probe)
            s_best[p], lo_pair[p] = pt, lo
            tot = float(ctx.total(p, pt.t, f.t))
            best_total = min(best_total, tot)
        timings["s_link"] = time.perf_counter() - t0
    except ExactTimeout:
        termination = Termination.at_limit(Limit.TIME)
    except SflOptError as exc:  # solver trouble: keep the best point, say why
        termination = Termination(TerminationReason.SOLVER_ERROR)
        stats["error"] = str(exc)
    for name, milp in (("f_milp", f_milp), ("s_milp", s_milp)):
        if milp is not None:
            st = milp.stats
            stats[name] = {"milps": st.milps, "probes": st.probes, "cuts": st.cuts,
                           "nogoods": st.nogoods, "milp_time": st.milp_time}
    if np.isnan(lo_pair).any():
        lo_pair = np.where(np.isnan(lo_pair), ctx.stage_bounds(), lo_pair)
    grid = np.array([np.inf if pt is None else ctx.total(p, pt.t, f.t)
                     for p, pt in enumerate(s_best)])
    best = int(np.argmin(grid))
    lower = float(np.min(ctx.total(np.arange(P), lo_pair, tf_lo)))
    chosen = s_best[best]
    assert chosen is not None  # pair 0 always has its heuristic point
    s_pt = s_link.exact_power(chosen.assign, best)
    f_pt = f_link.exact_power(f.assign, None)
    heur = float(np.min(ctx.total(np.arange(P), np.array([np.inf if pt is None else pt.t
                                                          for pt in s_heur]), f0.t)))
    gap = (grid[best] - lower) / grid[best]
    if termination.reason == TerminationReason.OPTIMAL and gap > GAP_TOL:
        termination = Termination(TerminationReason.CONVERGED)  # finished, gap not closed
    status = (Status.OPTIMAL if termination.reason == TerminationReason.OPTIMAL
              else Status.FEASIBLE)
    info = {"rtol": rtol, "probe": probe, "heuristic_delay": heur,
            "certified_gap": float(gap), **stats}
    probes = sum(v["probes"] for v in stats.values() if isinstance(v, dict))
    return Outcome(best, {"s": s_pt, "f": f_pt}, status, termination, iterations=probes,
                   history=[heur, float(grid[best])], timings=timings, grid=grid,
                   lower_bound=min(lower, float(grid[best])), info=info, power="native",
                   pair_bounds=PairBounds(tf_known, lo_pair))


__all__ = ["ExactTimeout", "LinkMILP", "RTOL", "exact_link", "solve_exact", "solve_milp"]
