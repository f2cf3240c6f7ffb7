"""Certified optimum by branch-and-bound over subchannel assignments (``method="exact"``).

The algorithm (:func:`bnb_link`) works on one link's plain arrays: normalised gains
``la``/``inva`` (K, M), bandwidths ``bw`` (M,) Hz, caps ``p_max`` (K,) W and ``p_total`` W,
demand ``c`` (K,) s and ``S`` bits (the f-link is c = 0, S = 1). It is a depth-first
search that fixes one subchannel per level (strongest first by default, or the one the
relaxation contests most, :func:`~sfl_opt.kernels.bnb.branch_choice`), tries the
relaxation's favourite owner first, breaks symmetry between identical subchannels and
clients, and prunes a node when the native Lagrangian bound of its partial assignment
(:mod:`sfl_opt.kernels.lagrange`, warm-started from the parent's multipliers) reaches
the prune threshold. Leaves are scored by the exact water-filling power control
(``kernels.power_control``): the decisions use exact arithmetic (plus safe rounding in
the bound), never a solver tolerance.

:func:`solve_problem_bnb` runs it on a :class:`~sfl_opt.engine.prepared.PreparedProblem`:
once for the round link (``"f"``) and, for every (split, rank) pair of the
(memory-filtered) pair table, for each of ``prep.stage_links`` (``"s"``, and ``"d"``
with an allocated downlink: for a fixed pair the stage links are independent and their
stages add in ``prep.total``). Pairs are visited in order of their root bounds (the
bound on the pair's whole T_total, summed over its stage links), with the heuristic
(greedy + local search + kicks) as incumbent; a pair whose bound cannot beat the best
total delay by more than ``rtol`` is dropped, and a node of one stage link is pruned
as soon as its bound plus the proven bounds of the pair's other stage links shows the
pair could not win. The lower bound is the least total delay over the pairs of the
bounds proved for them. Status ``optimal`` only when the relative gap is <= ``GAP_TOL``
(1e-6). :func:`solve_exact_bnb` is the registered ``method="exact"``.
:func:`native_lower_bound` is the bound ``solve`` puts on every result. Units: s, bits,
W, W/Hz, Hz.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kernels as kn
from ..engine.prepared import LinkPoint, PreparedProblem
from ..kernels.bnb import (
    branch_choice,
    branch_order,
    child_allowed,
    count_infeasible,
    node_bound,
    power_count_infeasible,
    symmetry_classes,
)
from ..kernels.lagrange import initial_multipliers, link_dual_bound
from ..status import GAP_TOL, Status, Termination
from .registry import Options, Outcome

#: relative prune tolerance (each link); the certified gap is at most about twice this
PRUNE_RTOL = 1e-7
#: BFGS iterations of the bound at the root of a link / at a node
ROOT_ITER = 1000
#: :func:`native_lower_bound` stops improving once the bound is within this (relative)
#: of ``upper``: such a bound already certifies a gap far below ``GAP_TOL``
RESULT_RTOL = 1e-9
#: BFGS iterations per link of :func:`native_lower_bound` (the bound on a result) on
#: links with K * M <= ``BOUND_LARGE``; larger links get ``BOUND_ITER_LARGE`` (there the
#: multiplier snapping and dense BFGS updates dominate: K = 200, M = 1024 took 6.1 s at
#: 300 iterations and 0.39 s at 20, for the same gap)
BOUND_ITER = 300
BOUND_ITER_CAPPED = 1000
BOUND_LARGE = 2000
BOUND_ITER_LARGE = 20
NODE_ITER = 8
#: branching rule of :func:`bnb_link`
BRANCHING = "static"
#: relative tolerance of the exact power control at the leaves
PC_RTOL = 1e-13


@dataclass
class LinkArrays:
    """One link's data for a fixed demand (see module doc)."""

    la: np.ndarray
    inva: np.ndarray
    bw: np.ndarray
    pmax: np.ndarray
    ptot: float
    c: np.ndarray
    S: float
    lcap: float = math.inf  # the spectral-efficiency cap, log2(1 + SNR) per subchannel

    @property
    def K(self) -> int:
        return int(self.la.shape[0])

    @property
    def M(self) -> int:
        return int(self.la.shape[1])

    def exact(self, assign: np.ndarray) -> tuple[float, np.ndarray]:
        """Exact optimal deadline (s) and psd of an assignment (inf if a client has none)."""
        t, psd, status, _ = kn.power_control(self.la, self.inva, self.bw,
                                             np.ascontiguousarray(assign, np.int64), self.c,
                                             self.S, self.pmax, self.ptot, PC_RTOL, self.lcap)
        return (float(t) if status == 0 else math.inf), psd

    def root_bound(self, max_iter: int = ROOT_ITER) -> tuple[float, np.ndarray]:
        """Native bound (s) of the whole link and its multipliers."""
        fixed = -np.ones(self.M, np.int64)
        z = initial_multipliers(self.la, self.inva, self.bw, fixed, self.pmax, self.ptot,
                                self.lcap)
        b, _ = link_dual_bound(self.la, self.inva, self.bw, fixed, self.c, self.S, self.pmax,
                               self.ptot, z, max_iter, math.inf, self.lcap)
        cheap = self.cheap_bound()
        return max(float(b), cheap), z

    def cheap_bound(self) -> float:
        """Closed-form bound (``kernels.bounds``)."""
        rall, rsum = kn.link_rate_bounds(self.la, self.inva, self.bw, self.pmax, self.ptot,
                                         self.lcap)
        return float(kn.stage_lower_bound(self.c, self.S, rall, rsum, 1e-12)) * (1 - 1e-12)


@dataclass
class LinkOutcome:
    """Result of :func:`bnb_link`: best assignment and deadline, the bound proved (s),
    whether the search finished, and counters."""

    assign: np.ndarray
    t: float
    psd: np.ndarray
    lower: float
    finished: bool
    nodes: int = 0
    leaves: int = 0
    bound_evals: int = 0
    improved: int = 0
    counted: int = 0
    info: dict[str, Any] = field(default_factory=dict)


def bnb_link(arr: LinkArrays, incumbent: np.ndarray, threshold: Callable[[float], float],
             *, z0: np.ndarray | None = None, deadline: float | None = None,
             node_iter: int = NODE_ITER, on_improve: Callable[[float], None] | None = None,
             branching: str | None = None) -> LinkOutcome:
    """Depth-first branch-and-bound over the assignments of one link.

    ``incumbent``: a feasible assignment (every client has a subchannel).
    ``threshold(t_best)``: the prune level (s) given the best deadline so far: a node
    whose bound reaches it is dropped (e.g. ``t_best (1 - rtol)``, or lower when the
    pair cannot win). ``branching``: ``"static"`` (strongest subchannel first) or
    ``"contested"`` (the subchannel the relaxation shares most). ``deadline``:
    ``time.perf_counter()`` value at which to stop.
    ``on_improve(t)`` is called when a better assignment is found. ``lower`` is the
    least bound over every dropped or unexplored node (capped at the best deadline):
    no assignment has a deadline below it.
    """
    K, M = arr.K, arr.M
    best_a = np.ascontiguousarray(incumbent, np.int64).copy()
    best_t, best_psd = arr.exact(best_a)
    sub_prev, cli_prev = symmetry_classes(arr.la, arr.bw, arr.c, arr.pmax)
    order = branch_order(arr.la, arr.bw)
    gorder = kn.gain_order(arr.la)
    equal_bw = bool(np.all(arr.bw == arr.bw[0]))
    cap_binds = equal_bw and arr.ptot < float(np.sum(arr.pmax))
    branching = BRANCHING if branching is None else branching
    fixed = -np.ones(M, np.int64)
    if z0 is None:
        z0 = initial_multipliers(arr.la, arr.inva, arr.bw, fixed, arr.pmax, arr.ptot, arr.lcap)
    out = LinkOutcome(best_a, best_t, best_psd, math.inf, True)
    lower = math.inf
    # explicit DFS stack: (depth, subchannel, owner, parent's z, parent's bound)
    stack: list[tuple[int, int, int, np.ndarray, float]] = [(0, -1, -1, z0.copy(), -math.inf)]
    count = np.zeros(K, np.int64)
    path: list[int] = []  # subchannels fixed along the current path, by depth
    while stack:
        depth, m, owner, z, pbound = stack.pop()
        if deadline is not None and time.perf_counter() > deadline:
            out.finished = False
            lower = min(lower, pbound)
            for item in stack:
                lower = min(lower, item[4])
            break
        # rewind the path to the parent and apply this node's decision
        while len(path) > max(depth - 1, 0):
            m_old = path.pop()
            count[fixed[m_old]] -= 1
            fixed[m_old] = -1
        if depth > 0:
            fixed[m] = owner
            count[owner] += 1
            path.append(m)
        out.nodes += 1
        thr = threshold(best_t)
        if depth == M:
            out.leaves += 1
            t, psd = arr.exact(fixed)
            if t < best_t:
                best_t, best_a, best_psd = t, fixed.copy(), psd
                out.improved += 1
                if on_improve is not None:
                    on_improve(t)
            continue
        if count_infeasible(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, thr,
                            gorder, equal_bw, arr.lcap) or (
                cap_binds and power_count_infeasible(arr.la, arr.inva, arr.bw, fixed, arr.c,
                                                     arr.S, arr.pmax, arr.ptot, thr, gorder,
                                                     arr.lcap)):
            out.counted += 1
            lower = min(lower, max(thr, pbound))
            continue
        z = z.copy()
        b, ev = node_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot,
                           z, node_iter, thr, arr.lcap)
        out.bound_evals += int(ev)
        b = max(float(b), pbound)
        if b >= thr:
            lower = min(lower, b)
            continue
        # children: the most contested subchannel to each client; the relaxation's
        # favourite is popped first
        forced = int(order[depth]) if branching == "static" else -1
        mb, cands = branch_choice(arr.inva, arr.bw, fixed, z, arr.pmax, arr.ptot, forced,
                                  arr.lcap)
        for k in cands[::-1]:
            k = int(k)
            if child_allowed(fixed, count, mb, k, sub_prev, cli_prev):
                stack.append((depth + 1, int(mb), k, z, b))
    out.assign, out.t, out.psd = best_a, best_t, best_psd
    out.lower = min(lower, best_t)
    return out


# ---------------------------------------------------------------------------- problem level
def link_of(prep: PreparedProblem, link: str, p: int | None) -> LinkArrays:
    """:class:`LinkArrays` of ``link`` of a prepared problem (pair ``p`` for a per-pair
    link, None for the per-bit round link)."""
    ln = prep.link(link)
    la, inva, bw, pmax, ptot = ln.arrays()
    c, S = ln.demand(p)
    return LinkArrays(la, inva, np.asarray(bw, float), np.asarray(pmax, float), float(ptot),
                      np.asarray(c, float), float(S), ln.lcap)


def native_link_bounds(prep: PreparedProblem, max_iter: int = ROOT_ITER,
                       pairs: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``(tf, ts)``: native bounds on the round link's ``max_k 1/R_k`` (s/bit) and on the
    summed stage of ``prep.stage_links`` (s) of every pair (NaN for pairs not in
    ``pairs``)."""
    tf, _ = link_of(prep, prep.round_link, None).root_bound(max_iter)
    ts = np.full(prep.P, np.nan)
    for p in (range(prep.P) if pairs is None else pairs):
        ts[int(p)] = sum(link_of(prep, n, int(p)).root_bound(max_iter)[0]
                         for n in prep.stage_links)
    return tf, ts


def bound_iterations(prep: PreparedProblem) -> int:
    """BFGS iterations per link of the bound on a result: ``BOUND_ITER`` unless a link
    has more than ``BOUND_LARGE`` client-subchannel entries (then ``BOUND_ITER_LARGE``);
    ``BOUND_ITER_CAPPED`` on small links with a spectral-efficiency cap (where the dual
    is piecewise linear in the multipliers of saturated subchannels and BFGS needs more
    steps: 1.4e-4 short of the relaxation's optimum at 300 on tests' small problems)."""
    size = max(ln.K * ln.M for ln in prep.links.values())
    if size > BOUND_LARGE:
        return BOUND_ITER_LARGE
    capped = any(math.isfinite(ln.lcap) for ln in prep.links.values())
    return BOUND_ITER_CAPPED if capped else BOUND_ITER


def native_lower_bound_details(prep: PreparedProblem, upper: float = math.inf,
                               max_iter: int | None = None) -> dict[str, Any]:
    """The native bound on T_total with its parts: ``bound`` (s), ``tf`` (s/bit), ``ts``
    (P,) certified bounds on the summed stage of the stage links (s; NaN where skipped),
    ``cheap`` (P,) closed-form summed stage bounds, ``pair`` (the minimising pair) and
    ``solved`` (pairs bounded natively).

    The bound is ``min_p total(p, ts_p, tf)`` over the pairs of the (memory-filtered)
    pair table; every link (each stage link, the round link) is bounded on its own
    arrays (with a shared band, each link's own pool). Pairs are visited in order of
    their closed-form bound, each link warm-started from the previous pair's
    multipliers, and a link's optimisation stops as soon as it certifies a stage at
    which the pair's total (with the other stage links at their bounds) reaches the
    least total so far (or ``upper`` (1 - ``RESULT_RTOL``), ``upper`` e.g. a known
    solution's delay): the pair cannot
    lower the minimum, and its certified value is still valid. Once the closed-form bound
    reaches the minimum, the remaining pairs are skipped (and when the closed forms
    alone reach ``upper``, no dual is solved at all). Valid for every instance
    (module :mod:`..kernels.lagrange`). ``max_iter``: BFGS iterations per link (None:
    :func:`bound_iterations`); fewer iterations give a looser but still valid bound."""
    if max_iter is None:
        max_iter = bound_iterations(prep)
    names = prep.stage_links
    P = prep.P
    cheap_l = {n: prep.link(n).cheap_bounds() * (1 - 1e-12) for n in names}
    cheap = sum(cheap_l.values())
    f_arr = link_of(prep, prep.round_link, None)
    tf = f_arr.cheap_bound()
    # ``upper`` less a hair: a bound within RESULT_RTOL of it certifies enough
    upper = upper * (1 - RESULT_RTOL)
    if float(np.min(prep.total(np.arange(P), cheap, tf))) < upper:
        # the closed forms alone do not reach ``upper``: the round link's dual bound
        tf = max(tf, f_arr.root_bound(max_iter)[0])
    cheap_tot = prep.total(np.arange(P), cheap, tf)
    ts = np.full(P, np.nan)
    best, best_p, solved = math.inf, -1, 0
    zs: dict[str, np.ndarray] = {}
    for p in np.argsort(cheap_tot, kind="stable"):
        p = int(p)
        ref = min(best, upper)
        if cheap_tot[p] >= ref:
            if cheap_tot[p] < best:
                best, best_p = float(cheap_tot[p]), p
            break
        stage_ref = prep.stage_for_total(p, ref, tf) if ref < math.inf else math.inf
        lo = {n: float(cheap_l[n][p]) for n in names}
        for n in names:
            arr = link_of(prep, n, p)
            if n not in zs:
                zs[n] = initial_multipliers(arr.la, arr.inva, arr.bw, -np.ones(arr.M, np.int64),
                                            arr.pmax, arr.ptot, arr.lcap)
            others = sum(lo[m] for m in names if m != n)
            t, _ = link_dual_bound(arr.la, arr.inva, arr.bw, -np.ones(arr.M, np.int64), arr.c,
                                   arr.S, arr.pmax, arr.ptot, zs[n], max_iter,
                                   stage_ref - others, arr.lcap)
            lo[n] = max(float(t), lo[n])
        ts[p] = sum(lo.values())
        solved += 1
        tot = float(prep.total(p, ts[p], tf))
        if tot < best:
            best, best_p = tot, p
    return {"bound": best, "tf": tf, "ts": ts, "cheap": cheap, "pair": best_p,
            "solved": solved}


def native_lower_bound(prep: PreparedProblem, upper: float = math.inf) -> float:
    """A lower bound (s) on the optimal T_total over all pairs (native, no solver).
    ``upper``: a known achievable total delay (s) lets pairs that cannot matter be
    skipped; the result is then ``min(bound, upper)``-safe: it never exceeds the true
    optimum."""
    return float(native_lower_bound_details(prep, upper)["bound"])


@dataclass
class ProblemOutcome:
    """Result of :func:`solve_problem_bnb`: the pair index, the round link's outcome
    ``f``, one outcome per stage link ``stages`` (name -> :class:`LinkOutcome`), the
    delay and its bound (s), the gap, and counters."""

    p: int
    stages: dict[str, LinkOutcome]
    f: LinkOutcome
    delay: float
    lower: float
    gap: float
    finished: bool
    heuristic_delay: float
    pairs_searched: int
    pair_lower: np.ndarray
    grid: np.ndarray
    timings: dict[str, float]
    nodes: int

    @property
    def s(self) -> LinkOutcome:
        """The s-link's outcome."""
        return self.stages["s"]


def solve_problem_bnb(prep: PreparedProblem, *, time_limit: float | None = None,
                      prune_rtol: float = PRUNE_RTOL, seed: int | None = 0,
                      kicks: int = 30, max_moves: int = 10_000) -> ProblemOutcome:
    """Certified optimum of the whole problem (module doc). ``time_limit`` s from now."""
    t_start = time.perf_counter()
    deadline = None if time_limit is None else t_start + time_limit
    timings: dict[str, float] = {}
    P = prep.P
    names = prep.stage_links
    keep = 1 - prune_rtol
    # round link: heuristic incumbent, then branch-and-bound
    f_arr = link_of(prep, prep.round_link, None)
    f_heur = prep.link(prep.round_link).greedy(None, True, max_moves, kicks, seed)
    tf_root, zf = f_arr.root_bound()
    f_out = bnb_link(f_arr, f_heur.assign, lambda tb: tb * keep, z0=zf, deadline=deadline)
    f_out.lower = max(f_out.lower, tf_root) if f_out.finished else max(
        min(f_out.lower, f_out.t), tf_root)
    timings["f_link"] = time.perf_counter() - t_start
    tf, tf_lo = f_out.t, min(f_out.lower, f_out.t)
    # stage links: root bounds and heuristic incumbents of every pair
    t0 = time.perf_counter()
    arrs = {n: [link_of(prep, n, p) for p in range(P)] for n in names}
    roots = {n: [arrs[n][p].root_bound() for p in range(P)] for n in names}
    lo = {n: np.array([r[0] for r in roots[n]]) for n in names}
    timings["root_bounds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    heur = {n: [prep.link(n).greedy(p, True, max_moves, kicks, seed) for p in range(P)]
            for n in names}
    timings["heuristic"] = time.perf_counter() - t0
    cur_t = {n: np.array([h.t for h in heur[n]]) for n in names}
    found: dict[str, list[LinkOutcome | None]] = {n: [None] * P for n in names}

    def stage_sum(d: dict[str, np.ndarray], p: Any = slice(None)) -> Any:
        return sum(d[n][p] for n in names)

    grid = prep.total(np.arange(P), stage_sum(cur_t), tf)
    heuristic_delay = float(np.min(prep.total(np.arange(P), stage_sum(cur_t), f_heur.t)))
    best = {"total": float(np.min(grid))}
    pair_lower = prep.total(np.arange(P), stage_sum(lo), tf_lo)
    finished = f_out.finished
    nodes = f_out.nodes
    searched = 0
    t0 = time.perf_counter()
    for p in np.argsort(pair_lower, kind="stable"):
        p = int(p)
        if pair_lower[p] >= best["total"] * keep:
            break
        if deadline is not None and time.perf_counter() > deadline:
            finished = False
            break
        searched += 1
        for n in names:
            others_lo = float(sum(lo[m][p] for m in names if m != n))

            def threshold(t_best: float, p: int = p, others_lo: float = others_lo) -> float:
                # prune a node whose pair cannot beat the best total by more than rtol
                return min(t_best * keep,
                           prep.stage_for_total(p, best["total"] * keep, tf) - others_lo)

            def improved(t: float, p: int = p, n: str = n) -> None:
                tot = float(prep.total(p, t + sum(cur_t[m][p] for m in names if m != n), tf))
                best["total"] = min(best["total"], tot)

            out = bnb_link(arrs[n][p], heur[n][p].assign, threshold, z0=roots[n][p][1],
                           deadline=deadline, on_improve=improved)
            nodes += out.nodes
            found[n][p] = out
            cur_t[n][p] = min(cur_t[n][p], out.t)
            lo[n][p] = max(lo[n][p], out.lower)
            grid[p] = prep.total(p, stage_sum(cur_t, p), tf)
            pair_lower[p] = prep.total(p, stage_sum(lo, p), tf_lo)
            if not out.finished:
                finished = False
                break
        if not finished:
            break
    timings["stage_links"] = time.perf_counter() - t0
    pb = int(np.argmin(grid))
    stages: dict[str, LinkOutcome] = {}
    for n in names:
        out = found[n][pb]
        if out is None or out.t > heur[n][pb].t:
            h = heur[n][pb]
            out = LinkOutcome(h.assign, h.t, h.psd, float(lo[n][pb]), False)
        stages[n] = out
    delay = float(grid[pb])
    lower = float(min(np.min(pair_lower), delay))
    gap = (delay - lower) / delay
    timings["total"] = time.perf_counter() - t_start
    return ProblemOutcome(pb, stages, f_out, delay, lower, gap, finished, heuristic_delay,
                          searched, pair_lower, grid, timings, nodes)


def solve_exact_bnb(prep: PreparedProblem, opts: Options) -> Outcome:
    """``method="exact"``: the certified optimum by :func:`solve_problem_bnb`.
    ``status="optimal"`` only when the relative gap is <= ``GAP_TOL``; on a time limit
    the best point with its proven ``lower_bound`` and ``termination="time_limit"``."""
    remaining = None if opts.time_limit is None else max(0.0, opts.time_limit - prep.elapsed())
    out = solve_problem_bnb(prep, time_limit=remaining, seed=opts.seed, kicks=opts.kicks,
                            max_moves=opts.max_moves)
    points = {n: LinkPoint(o.assign, o.psd, o.t) for n, o in out.stages.items()}
    points[prep.round_link] = LinkPoint(out.f.assign, out.f.psd, out.f.t)
    status = Status.OPTIMAL if out.gap <= GAP_TOL else Status.FEASIBLE
    termination = Termination.CONVERGED if out.finished else Termination.TIME_LIMIT
    info = {"assign": "exact-bnb", "heuristic_delay": out.heuristic_delay,
            "certified_gap": out.gap, "nodes": out.nodes, "pairs_searched": out.pairs_searched}
    return Outcome(out.p, points, status, termination, iterations=out.nodes,
                   history=[out.heuristic_delay, out.delay], timings=out.timings,
                   grid=out.grid, lower_bound=out.lower, info=info, power="native")


__all__ = ["GAP_TOL", "LinkArrays", "LinkOutcome", "ProblemOutcome", "bnb_link",
           "bound_iterations", "link_of",
           "native_link_bounds", "native_lower_bound", "native_lower_bound_details",
           "solve_exact_bnb", "solve_problem_bnb"]
