"""Per-client cut layers (``solve(problem, split_mode="per_client")``).

The search alternates two exact or heuristic steps, starting from the best common split
found by the method's own search (so the answer is never worse than it):

1. **Split vector for the allocation held** (exact): with every rate fixed, each rank's
   best split vector is :func:`sfl_opt.kernels.split.best_split_vector` (a threshold
   search over O(K·n) values per delay term, never the n^K vectors; docs/model.md,
   "Per-client cut layers");
   the best (rank, vector) over the ranks is kept.
   Then coordinate moves (:func:`coordinate_moves`): one client's cut, or the rank, at
   a time, with the assignments held and the power re-solved exactly — a binding total
   power cap couples the clients, which the held-rate step cannot see.
2. **Allocation for the split vector held**: each stage link's demands are per client
   (``c_k = TcF_k(l_k)`` on the s-link, ``TcB_k(l_k)`` on an allocated downlink, the
   payloads of client k's cut): straggler-first greedy, local search (with the solve's
   kicks) from it and from the current assignment, exact power
   (:func:`sfl_opt.kernels.demand_power.demand_power_control`, which also re-solves the
   f-link's power for the per-client adapter payloads ``S_ad,k``).

A step is kept only when it lowers T_total; the loop stops when neither does (or at
``max_iter`` alternations, or the time limit). ``info``: ``common_delay`` (the start),
``alternations``, ``split_nodes`` (threshold-search nodes), ``split_moves`` (coordinate
moves kept). Units: s, bits, FLOP.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from .. import kernels as kn
from ..engine.prepared import (
    RTOL,
    Link,
    LinkPoint,
    PreparedProblem,
)
from ..kernels.demand_power import demand_power_control
from ..kernels.split import best_split_vector_budget, vector_objective
from ..model.client_splits import ClientTerms, client_terms
from ..model.delay import link_rates
from ..status import Limit, Termination
from .registry import Options, Outcome

#: a step must lower T_total by this (relative) to be kept
IMPROVE_TOL = 1e-12
#: alternations at most (each: the exact split step, then the allocation step)
MAX_ALTERNATIONS = 20
#: seconds per unit of work of the split-vector search
#: (:func:`~sfl_opt.kernels.split.best_split_vector_budget`: one client visited in an
#: inner loop), the last one measured in this process (starts at a generous guess; a
#: tiny instance's call, overhead included, over-estimates it)
SPLIT_COST = {"unit": 1e-6}
#: with a deadline, the exact split step (every rank) gets this share of the time left
SPLIT_SHARE = 0.5
#: with a time limit, the common-split search gets this share of the method's time left
#: (the per-client alternation the rest)
COMMON_SHARE = 0.5


@dataclass
class Point:
    """A per-client point: split indices ``idx (K,)`` (into the candidate splits), rank
    index ``q``, one :class:`LinkPoint` per link, and its total delay (s)."""

    idx: np.ndarray
    q: int
    links: dict[str, LinkPoint]
    total: float


def _rates(ctx: PreparedProblem, links: dict[str, LinkPoint]) -> dict[str, np.ndarray]:
    """Rates (K,) bit/s of each allocated link of a point (``"d"``: the fixed
    ``rate_down`` when the downlink is not allocated)."""
    pr = ctx.problem
    out = {}
    for name, pt in links.items():
        ln = ctx.link(name)
        out[name] = link_rates(ln.gain, ln.bw, pt.assign, pt.psd, pr.noise_psd, pr.K,
                               pr.max_se, pr.se_attenuation)
    if "d" not in out:
        out["d"] = pr.rate_down
    return out


def split_problem(ctx: PreparedProblem, terms: ClientTerms, rates: dict[str, np.ndarray],
                  q: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(V (H, K, n), lam (H,), W (K, n), feasible (K, n))`` of rank index ``q`` with the
    rates held (see :mod:`sfl_opt.kernels.split`): the terms up stage, down stage,
    broadcast (when ``rate_bcast`` is finite) and adapter upload, then the server work;
    T_total / rounds(r) of a vector is its objective."""
    pr = ctx.problem
    I = float(pr.local_iters)
    fl = pr.client_flops[:, None]
    with np.errstate(divide="ignore"):
        a = terms.wcf[None, :, q] / fl + terms.s_up[None, :] / rates["s"][:, None]
        d = terms.s_dn[None, :] / rates["d"][:, None] + terms.wcb[None, :, q] / fl
        f = terms.s_ad[None, :, q] / rates["f"][:, None]
    rows = [a, d]
    lam = [I, I]
    if np.isfinite(pr.rate_bcast):
        rows.append(np.broadcast_to(terms.s_ad[None, :, q] / pr.rate_bcast, a.shape))
        lam.append(1.0)
    rows.append(f)
    lam.append(1.0)
    feas = np.ascontiguousarray(terms.fits[:, :, q])
    V = np.where(feas[None], np.stack(rows), np.inf)
    W = np.broadcast_to(I * terms.ws[None, :, q] / pr.server_flops, a.shape)
    return (np.ascontiguousarray(V), np.asarray(lam, float), np.ascontiguousarray(W), feas)


def point_total(ctx: PreparedProblem, terms: ClientTerms, links: dict[str, LinkPoint],
                idx: np.ndarray, q: int) -> float:
    """T_total (s) of a per-client point (the formula of :mod:`sfl_opt.model.client_splits`)."""
    V, lam, W, _ = split_problem(ctx, terms, _rates(ctx, links), q)
    return float(terms.rounds[q] * vector_objective(V, lam, W, np.asarray(idx, np.int64)))


def best_vector(ctx: PreparedProblem, terms: ClientTerms, links: dict[str, LinkPoint],
                ranks: np.ndarray, deadline: float | None = None,
                first: int | None = None) -> tuple[float, np.ndarray, int, int]:
    """Step 1: the best ``(total, idx, q, nodes)`` over the rank indices ``ranks`` with
    the allocation of ``links`` held, exact without a deadline. ``deadline``
    (``time.perf_counter()`` value): the ranks share :data:`SPLIT_SHARE` of the time
    left, rank ``first`` (e.g. the current one) first; each rank's search gets a cap on
    its work sized to its share at the measured speed (:data:`SPLIT_COST`) and returns
    the best vector it found by then; a rank whose least search (one descent) would
    not fit is not searched; ``total`` is inf when none was."""
    rates = _rates(ctx, links)
    best = (np.inf, np.zeros(ctx.K, np.int64), -1, 0)
    nodes = 0
    order = [int(q) for q in ranks]
    if first is not None and first in order:
        order.remove(first)
        order.insert(0, first)
    H = 4 if np.isfinite(ctx.problem.rate_bcast) else 3
    least = (H + 2) * ctx.K * terms.splits.size  # the work of one descent and sweep
    end = None if deadline is None else \
        time.perf_counter() + SPLIT_SHARE * max(deadline - time.perf_counter(), 0.0)
    for i, q in enumerate(order):
        t0 = time.perf_counter()
        cap = -1
        if end is not None:
            cap = int((end - t0) / (len(order) - i) / SPLIT_COST["unit"])
            if cap < least:
                break
        V, lam, W, feas = split_problem(ctx, terms, rates, q)
        val, choice, _, nd, work = best_split_vector_budget(V, lam, W, feas, cap)
        SPLIT_COST["unit"] = (time.perf_counter() - t0) / max(int(work), least)
        nodes += int(nd)
        tot = float(terms.rounds[q] * val)
        if tot < best[0]:
            best = (tot, choice, q, 0)
    return best[0], best[1], best[2], nodes


def _demand(ctx: PreparedProblem, terms: ClientTerms, name: str, idx: np.ndarray,
            q: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-client ``(c (K,) s, S (K,))`` of link ``name`` at a split vector: S in bits over
    the link's attenuation α (``prepared``: the kernels see the unattenuated rate)."""
    pr = ctx.problem
    alpha = ctx.link(name).alpha
    if name == "s":
        return terms.wcf[idx, q] / pr.client_flops, terms.s_up[idx] / alpha
    if name == "d":
        return terms.wcb[idx, q] / pr.client_flops, terms.s_dn[idx] / alpha
    return np.zeros(pr.K), terms.s_ad[idx, q] / alpha  # the round link


def _exact(ln: Link, assign: np.ndarray, c: np.ndarray, S: np.ndarray) -> LinkPoint:
    a = np.ascontiguousarray(assign, np.int64)
    t, psd, _ = demand_power_control(ln.la, ln.inva, ln.bw, a, c, np.ascontiguousarray(S),
                                     ln.p_max, ln.p_total, RTOL, ln.lcap)
    return LinkPoint(a, psd, float(t))


def reallocate(ctx: PreparedProblem, terms: ClientTerms, cur: dict[str, LinkPoint],
               idx: np.ndarray, q: int, opts: Options,
               deadline: float | None = None) -> dict[str, LinkPoint]:
    """Step 2: each stage link re-allocated for the per-client demands of ``(idx, q)``
    (greedy, local search from it and from the current assignment, exact power); the
    round link keeps its assignment, its power re-solved for the payloads ``S_ad,k``.
    The assignment search scores a link with one payload, the largest ``S_k`` (equal to
    every ``S_k`` when the cut activations have one size, as in every transformer), and
    the final power is exact for the per-client payloads. ``deadline``
    (``time.perf_counter()`` value): the local search of a large link stops there
    (:meth:`~sfl_opt.engine.prepared.Link.refine`)."""
    out: dict[str, LinkPoint] = {}
    for name, pt in cur.items():
        ln = ctx.link(name)
        c, S = _demand(ctx, terms, name, idx, q)
        if name == ctx.round_link:  # exact for its assignment: never worse than before
            out[name] = _exact(ln, pt.assign, c, S)
            continue
        s1 = float(np.max(S))
        starts = [kn.greedy_assign(ln.la, ln.inva, ln.bw, c, s1, ln.p_max, ln.p_total,
                                   ln.order, ln.lcap), pt.assign]
        cands = []
        for a0 in starts:
            a0 = np.ascontiguousarray(a0, np.int64)
            if opts.refine:  # (a large link's search stops at the deadline)
                a0 = ln.refine(a0, q, opts.max_moves, opts.kicks, opts.seed, deadline,
                               demand=(c, s1)).assign
            cands.append(_exact(ln, a0, c, S))
        out[name] = min(cands, key=lambda x: x.t)
    return out


def _fast_total(ctx: PreparedProblem, terms: ClientTerms, links: dict[str, LinkPoint],
                idx: np.ndarray, q: int) -> float:
    """T_total (s) of a per-client point, the same formula as :func:`point_total` on
    (K,) arrays (no (H, K, n) tables)."""
    pr = ctx.problem
    r = _rates(ctx, links)
    fl = pr.client_flops
    s_ad = terms.s_ad[idx, q]
    with np.errstate(divide="ignore"):
        up = np.max(terms.wcf[idx, q] / fl + terms.s_up[idx] / r["s"])
        dn = np.max(terms.s_dn[idx] / r["d"] + terms.wcb[idx, q] / fl)
        fed = np.max(s_ad / r["f"])
    ts = np.sum(terms.ws[idx, q]) / pr.server_flops
    return float(terms.rounds[q] * (pr.local_iters * (up + ts + dn) + fed
                                    + np.max(s_ad) / pr.rate_bcast))


def repower(ctx: PreparedProblem, terms: ClientTerms, links: dict[str, LinkPoint],
            idx: np.ndarray, q: int) -> dict[str, LinkPoint]:
    """Every link's assignment held, its power exact for the demands of ``(idx, q)``."""
    out = {}
    for name, pt in links.items():
        c, S = _demand(ctx, terms, name, idx, q)
        out[name] = _exact(ctx.link(name), pt.assign, c, S)
    return out


def coordinate_moves(ctx: PreparedProblem, terms: ClientTerms, cur: Point,
                     ranks: np.ndarray, max_sweeps: int = 20,
                     time_limit: float | None = None) -> tuple[Point, int]:
    """Step 1b: the assignments held and the power re-solved exactly, move one client's
    cut (or every client's rank) while T_total drops (first improvement, sweeps over
    every client and cut); returns the point and the number of moves. Catches what the
    held-rate step cannot: a deeper cut for a client that needs power another client
    frees (a binding total power cap). Stops (before any re-solve) once
    ``ctx.elapsed()`` passes ``time_limit`` (s)."""
    moves = 0
    K = ctx.K
    for _ in range(max_sweeps):
        if time_limit is not None and ctx.elapsed() > time_limit:
            break
        improved = False
        for q in ranks:
            q = int(q)
            if time_limit is not None and ctx.elapsed() > time_limit:
                return cur, moves
            if q != cur.q and terms.fits[np.arange(K), cur.idx, q].all():
                links = repower(ctx, terms, cur.links, cur.idx, q)
                tot = _fast_total(ctx, terms, links, cur.idx, q)
                if tot < cur.total * (1 - IMPROVE_TOL):
                    cur = Point(cur.idx, q, links, tot)
                    improved = True
                    moves += 1
        for k in range(K):
            if time_limit is not None and ctx.elapsed() > time_limit:
                return cur, moves
            for j in np.flatnonzero(terms.fits[k, :, cur.q]):
                if j == cur.idx[k]:
                    continue
                if time_limit is not None and ctx.elapsed() > time_limit:
                    return cur, moves
                idx = cur.idx.copy()
                idx[k] = j
                links = repower(ctx, terms, cur.links, idx, cur.q)
                tot = _fast_total(ctx, terms, links, idx, cur.q)
                if tot < cur.total * (1 - IMPROVE_TOL):
                    cur = Point(idx, cur.q, links, tot)
                    improved = True
                    moves += 1
        if not improved:
            break
    return cur, moves


def solve_per_client(ctx: PreparedProblem, opts: Options,
                     common: Callable[[PreparedProblem, Options], Outcome]) -> Outcome:
    """Per-client cut layers from the best common split that ``common`` finds (module
    docstring). Returns an :class:`Outcome` whose ``split`` is the vector (K,)."""
    t0 = time.perf_counter()
    limit = opts.time_limit
    if limit is not None:  # the common search gets a share of the time left
        elapsed = ctx.elapsed()
        opts = replace(opts, time_limit=elapsed + COMMON_SHARE * max(limit - elapsed, 0.0))
    base = common(ctx, opts)
    if limit is not None:
        opts = replace(opts, time_limit=limit)
    deadline = None if limit is None else ctx.started + limit
    timings = {f"common_{k}": v for k, v in base.timings.items()}
    timings["common"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    pr = ctx.problem
    terms = client_terms(pr, ctx.full_table())
    split0, rank0 = ctx.pair(base.pair)
    i0 = int(np.flatnonzero(terms.splits == split0)[0])
    q0 = int(np.flatnonzero(terms.ranks == rank0)[0])
    ranks = np.flatnonzero(np.isin(terms.ranks, ctx.ranks))  # ranks every client can run
    links = {n: base.points[n] for n in (*ctx.stage_links, ctx.round_link)}
    cur = Point(np.full(pr.K, i0, np.int64), q0, links,
                point_total(ctx, terms, links, np.full(pr.K, i0, np.int64), q0))
    common_delay = cur.total
    history = [cur.total]
    nodes = 0
    moves = 0
    alternations = 0
    termination = base.termination
    rounds = min(opts.max_iter, MAX_ALTERNATIONS) if opts.mode == "bcd" else MAX_ALTERNATIONS
    for _ in range(rounds):
        if opts.time_limit is not None and ctx.elapsed() > opts.time_limit:
            termination = Termination.at_limit(Limit.TIME)
            break
        alternations += 1
        improved = False
        tot, idx, q, nd = best_vector(ctx, terms, cur.links, ranks, deadline,  # step 1
                                      first=None if deadline is None else cur.q)
        nodes += nd
        if tot < cur.total * (1 - IMPROVE_TOL):
            cur = Point(idx, q, cur.links, tot)
            improved = True
        cur, mv = coordinate_moves(ctx, terms, cur, ranks,  # step 1b
                                   time_limit=opts.time_limit)
        moves += mv
        improved = improved or mv > 0
        if opts.time_limit is not None and ctx.elapsed() > opts.time_limit:
            termination = Termination.at_limit(Limit.TIME)
            break
        new = reallocate(ctx, terms, cur.links, cur.idx, cur.q, opts, deadline)  # step 2
        tot = point_total(ctx, terms, new, cur.idx, cur.q)
        if tot < cur.total * (1 - IMPROVE_TOL):
            cur = Point(cur.idx, cur.q, new, tot)
            improved = True
        history.append(cur.total)
        if not improved:
            break
    timings["per_client"] = time.perf_counter() - t0
    p = int(np.flatnonzero(ctx.tab.rank == terms.ranks[cur.q])[0])
    info = dict(base.info)
    info.update(split_mode="per_client", common_delay=common_delay,
                common_split=split0, common_rank=rank0, alternations=alternations,
                split_nodes=nodes, split_moves=moves)
    return Outcome(p, cur.links, base.status, termination,
                   iterations=base.iterations + alternations,
                   history=list(base.history) + history[1:], timings=timings, grid=None,
                   info=info, power=base.power, split=terms.splits[cur.idx].astype(np.int64))


__all__ = ["best_vector", "point_total", "reallocate", "solve_per_client", "split_problem"]
