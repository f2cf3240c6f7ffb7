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

:func:`solve_problem_bnb` runs it for the f-link once and for the s-link of every
(split, rank) pair, in order of the pairs' root bounds, with the heuristic
(greedy + local search + kicks) as incumbent; a pair whose bound cannot beat the best
total delay by more than ``rtol`` is dropped, and a node is pruned as soon as its
pair could not win. The lower bound is the least total delay over the pairs of the
bounds proved for them. Status ``optimal`` only when the relative gap is <= ``GAP_TOL``
(1e-6). :func:`solve_exact_bnb` adapts it to the method interface. Units: s, bits, W,
W/Hz, Hz.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kernels as kn
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

#: relative prune tolerance (each link); the certified gap is at most about twice this
PRUNE_RTOL = 1e-7
#: a result is "optimal" when the relative gap between it and its bound is at most this
GAP_TOL = 1e-6
#: BFGS iterations of the bound at the root of a link / at a node
ROOT_ITER = 1000
#: BFGS iterations per link of :func:`native_lower_bound` (the bound on a result)
BOUND_ITER = 300
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
                                             self.S, self.pmax, self.ptot, PC_RTOL)
        return (float(t) if status == 0 else math.inf), psd

    def root_bound(self, max_iter: int = ROOT_ITER) -> tuple[float, np.ndarray]:
        """Native bound (s) of the whole link and its multipliers."""
        fixed = -np.ones(self.M, np.int64)
        z = initial_multipliers(self.la, self.inva, self.bw, fixed, self.pmax, self.ptot)
        b, _ = link_dual_bound(self.la, self.inva, self.bw, fixed, self.c, self.S, self.pmax,
                               self.ptot, z, max_iter, math.inf)
        cheap = self.cheap_bound()
        return max(float(b), cheap), z

    def cheap_bound(self) -> float:
        """Closed-form bound (``kernels.bounds``)."""
        rall, rsum = kn.link_rate_bounds(self.la, self.inva, self.bw, self.pmax, self.ptot)
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
        z0 = initial_multipliers(arr.la, arr.inva, arr.bw, fixed, arr.pmax, arr.ptot)
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
                            gorder, equal_bw) or (
                cap_binds and power_count_infeasible(arr.la, arr.inva, arr.bw, fixed, arr.c,
                                                     arr.S, arr.pmax, arr.ptot, thr, gorder)):
            out.counted += 1
            lower = min(lower, max(thr, pbound))
            continue
        z = z.copy()
        b, ev = node_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot,
                           z, node_iter, thr)
        out.bound_evals += int(ev)
        b = max(float(b), pbound)
        if b >= thr:
            lower = min(lower, b)
            continue
        # children: the most contested subchannel to each client; the relaxation's
        # favourite is popped first
        forced = int(order[depth]) if branching == "static" else -1
        mb, cands = branch_choice(arr.inva, arr.bw, fixed, z, arr.pmax, arr.ptot, forced)
        for k in cands[::-1]:
            k = int(k)
            if child_allowed(fixed, count, mb, k, sub_prev, cli_prev):
                stack.append((depth + 1, int(mb), k, z, b))
    out.assign, out.t, out.psd = best_a, best_t, best_psd
    out.lower = min(lower, best_t)
    return out


# ---------------------------------------------------------------------------- problem level
def _stage_target(ctx: Any, p: int, total: float, tf: float) -> float:
    """The s-link stage (s) at which pair p's total delay equals ``total``."""
    pr = ctx.problem
    per_round = total / ctx.tab.rounds[p] - ctx.fixed_round(tf)[p]
    return float(per_round / pr.local_iters - ctx.fixed_iter[p])


def link_of(ctx: Any, link: str, p: int | None) -> LinkArrays:
    """:class:`LinkArrays` of link ``"s"`` (pair p) or ``"f"`` from a prepared problem."""
    from ..methods.common import link_arrays, link_demand

    la, inva, bw, pmax, ptot = link_arrays(ctx, link)
    c, S = link_demand(ctx, link, p)
    return LinkArrays(la, inva, np.asarray(bw, float), np.asarray(pmax, float), float(ptot),
                      np.asarray(c, float), float(S))


def native_link_bounds(ctx: Any, max_iter: int = ROOT_ITER,
                       pairs: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``(tf, ts)``: native bounds on the f-link's ``max_k 1/R_k`` (s/bit) and on the s-link
    stage (s) of every pair (NaN for pairs not in ``pairs``)."""
    tf, _ = link_of(ctx, "f", None).root_bound(max_iter)
    ts = np.full(ctx.P, np.nan)
    for p in (range(ctx.P) if pairs is None else pairs):
        ts[int(p)], _ = link_of(ctx, "s", int(p)).root_bound(max_iter)
    return tf, ts


def native_lower_bound_details(ctx: Any, upper: float = math.inf,
                               max_iter: int = BOUND_ITER) -> dict[str, Any]:
    """The native bound on T_total with its parts: ``bound`` (s), ``tf`` (s/bit), ``ts``
    (P,) certified stage bounds (s; NaN where skipped), ``cheap`` (P,) closed-form stage
    bounds, ``pair`` (the minimising pair) and ``solved`` (pairs bounded natively).

    The bound is ``min_p total(p, ts_p, tf)``. Pairs are visited in order of their
    closed-form bound, each warm-started from the previous pair's multipliers, and a
    pair's optimisation stops as soon as it certifies a stage at which the pair's total
    reaches the least total so far (or ``upper``, e.g. a known solution's delay): the pair
    cannot lower the minimum, and its certified value is still valid. Once the
    closed-form bound reaches the minimum, the remaining pairs are skipped. Valid for
    every instance (module :mod:`..kernels.lagrange`)."""
    from ..methods.common import stage_lower_bounds

    tf, _ = link_of(ctx, "f", None).root_bound(max_iter)
    cheap = stage_lower_bounds(ctx) * (1 - 1e-12)
    cheap_tot = ctx.total(np.arange(ctx.P), cheap, tf)
    ts = np.full(ctx.P, np.nan)
    best, best_p, solved = math.inf, -1, 0
    z = None
    for p in np.argsort(cheap_tot, kind="stable"):
        p = int(p)
        ref = min(best, upper)
        if cheap_tot[p] >= ref:
            if cheap_tot[p] < best:
                best, best_p = float(cheap_tot[p]), p
            break
        arr = link_of(ctx, "s", p)
        fixed = -np.ones(arr.M, np.int64)
        if z is None:
            z = initial_multipliers(arr.la, arr.inva, arr.bw, fixed, arr.pmax, arr.ptot)
        target = _stage_target(ctx, p, ref, tf) if ref < math.inf else math.inf
        t, _ = link_dual_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax,
                               arr.ptot, z, max_iter, target)
        ts[p] = max(float(t), float(cheap[p]))
        solved += 1
        tot = float(ctx.total(p, ts[p], tf))
        if tot < best:
            best, best_p = tot, p
    return {"bound": best, "tf": tf, "ts": ts, "cheap": cheap, "pair": best_p,
            "solved": solved}


def native_lower_bound(ctx: Any, upper: float = math.inf) -> float:
    """A lower bound (s) on the optimal T_total over all pairs (native, no solver).
    ``upper``: a known achievable total delay (s) lets pairs that cannot matter be
    skipped; the result is then ``min(bound, upper)``-safe: it never exceeds the true
    optimum."""
    return float(native_lower_bound_details(ctx, upper)["bound"])


@dataclass
class ProblemOutcome:
    """Result of :func:`solve_problem_bnb` (pair index, both links, bound, status)."""

    p: int
    s: LinkOutcome
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


def solve_problem_bnb(ctx: Any, *, time_limit: float | None = None,
                      prune_rtol: float = PRUNE_RTOL, seed: int | None = 0,
                      kicks: int = 30, max_moves: int = 10_000) -> ProblemOutcome:
    """Certified optimum of the whole problem (module doc). ``time_limit`` s from now."""
    from ..methods.common import greedy_link

    t_start = time.perf_counter()
    deadline = None if time_limit is None else t_start + time_limit
    timings: dict[str, float] = {}
    P = ctx.P
    # f-link: heuristic incumbent, then branch-and-bound
    f_arr = link_of(ctx, "f", None)
    f_heur = greedy_link(ctx, "f", None, True, max_moves, kicks, seed)
    tf_root, zf = f_arr.root_bound()
    f_out = bnb_link(f_arr, f_heur.assign, lambda tb: tb * (1 - prune_rtol), z0=zf,
                     deadline=deadline)
    f_out.lower = max(f_out.lower, tf_root) if f_out.finished else max(
        min(f_out.lower, f_out.t), tf_root)
    timings["f_link"] = time.perf_counter() - t_start
    tf, tf_lo = f_out.t, min(f_out.lower, f_out.t)
    # s-link: root bounds and heuristic incumbents of every pair
    t0 = time.perf_counter()
    s_arr = [link_of(ctx, "s", p) for p in range(P)]
    roots = []
    for p in range(P):
        b, z = s_arr[p].root_bound()
        roots.append((b, z))
    root_b = np.array([r[0] for r in roots])
    timings["root_bounds"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    heur = [greedy_link(ctx, "s", p, True, max_moves, kicks, seed) for p in range(P)]
    heur_t = np.array([h.t for h in heur])
    timings["heuristic"] = time.perf_counter() - t0
    grid = ctx.total(np.arange(P), heur_t, tf)
    heuristic_delay = float(np.min(ctx.total(np.arange(P), heur_t, f_heur.t)))
    best = {"total": float(np.min(grid)), "p": int(np.argmin(grid))}
    s_best: list[LinkOutcome | None] = [None] * P
    pair_lower = ctx.total(np.arange(P), root_b, tf_lo)
    lo_stage = root_b.copy()
    finished = f_out.finished
    nodes = f_out.nodes
    searched = 0
    t0 = time.perf_counter()
    for p in np.argsort(pair_lower, kind="stable"):
        p = int(p)
        if pair_lower[p] >= best["total"] * (1 - prune_rtol):
            break
        if deadline is not None and time.perf_counter() > deadline:
            finished = False
            break
        searched += 1

        def threshold(t_best: float, p: int = p) -> float:
            # prune a node that cannot beat the best total by more than prune_rtol
            return min(t_best * (1 - prune_rtol),
                       _stage_target(ctx, p, best["total"] * (1 - prune_rtol), tf))

        def improved(t: float, p: int = p) -> None:
            tot = float(ctx.total(p, t, tf))
            if tot < best["total"]:
                best["total"], best["p"] = tot, p

        out = bnb_link(s_arr[p], heur[p].assign, threshold, z0=roots[p][1], deadline=deadline,
                       on_improve=improved)
        nodes += out.nodes
        s_best[p] = out
        grid[p] = ctx.total(p, out.t, tf)
        lo_stage[p] = max(lo_stage[p], out.lower)
        pair_lower[p] = ctx.total(p, lo_stage[p], tf_lo)
        if not out.finished:
            finished = False
            break
    timings["s_links"] = time.perf_counter() - t0
    pb = int(np.argmin(grid))
    s_out = s_best[pb]
    if s_out is None:
        t, psd = s_arr[pb].exact(heur[pb].assign)
        s_out = LinkOutcome(heur[pb].assign, t, psd, float(root_b[pb]), False)
    delay = float(grid[pb])
    lower = float(min(np.min(ctx.total(np.arange(P), lo_stage, tf_lo)), delay))
    gap = (delay - lower) / delay
    timings["total"] = time.perf_counter() - t_start
    return ProblemOutcome(pb, s_out, f_out, delay, lower, gap, finished, heuristic_delay,
                          searched, ctx.total(np.arange(P), lo_stage, tf_lo), grid, timings,
                          nodes)


def solve_exact_bnb(ctx: Any, opts: Any, method: str = "sflllm") -> Any:
    """Adapter for today's method interface (``Context``, ``Options``): the certified
    optimum by :func:`solve_problem_bnb`, packed by ``methods.common.finish``.
    ``status="optimal"`` only when the relative gap is <= ``GAP_TOL``; on a time limit
    the best point with its proven ``lower_bound`` and ``termination="time_limit"``."""
    from ..methods.common import LinkPoint, finish

    remaining = None if opts.time_limit is None else max(0.0, opts.time_limit - ctx.elapsed())
    out = solve_problem_bnb(ctx, time_limit=remaining, seed=opts.seed,
                            max_moves=opts.max_moves)
    s = LinkPoint(out.s.assign, out.s.psd, out.s.t)
    f = LinkPoint(out.f.assign, out.f.psd, out.f.t)
    status = "optimal" if out.gap <= GAP_TOL else "feasible"
    termination = "converged" if out.finished else "time_limit"
    info = {"assign": "exact-bnb", "heuristic_delay": out.heuristic_delay,
            "certified_gap": out.gap, "nodes": out.nodes, "pairs_searched": out.pairs_searched,
            "power": "native (exact power of the assignment)"}
    return finish(ctx, method=method, opts=opts, p=out.p, s=s, f=f, status=status,
                  termination=termination, iterations=out.nodes,
                  history=[out.heuristic_delay, out.delay], timings=out.timings,
                  grid=out.grid, lower_bound=out.lower, info=info)


__all__ = ["GAP_TOL", "LinkArrays", "LinkOutcome", "ProblemOutcome", "bnb_link", "link_of",
           "native_link_bounds", "native_lower_bound", "native_lower_bound_details",
           "solve_exact_bnb", "solve_problem_bnb"]
