"""Building blocks shared by every method: the prepared problem, link solvers, results.

Methods compose these: a link is solved by an assignment step (greedy, local search,
random, ...) followed by a power step (exact native kernel or a registered backend).
Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kernels as kn
from ..delay import PairTable, evaluate, pair_table
from ..errors import SflOptError
from ..power import PowerBackend, PowerSubproblem
from ..problem import Problem
from ..result import SolveResult

#: relative tolerance of the native bisection
RTOL = 1e-12
#: a move must lower the tightest cap ratio by this much to be applied
MOVE_TOL = 1e-9
#: adaptive kicks: at most this many times ``kicks`` restarts while they keep improving
KICK_GROWTH = 10


@dataclass
class Options:
    """Options every method receives (validated by :func:`sfl_opt.solve`)."""

    power: PowerBackend
    power_name: str = "native"
    mode: str = "nested"
    refine: bool = True
    max_iter: int = 20
    max_moves: int = 10_000
    prune: bool = True
    kicks: int = 0
    time_limit: float | None = None
    seed: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def rng(self) -> np.random.Generator:
        """The method's random generator (seeded from ``seed``)."""
        return np.random.default_rng(self.seed)


@dataclass
class Context:
    """A problem prepared once for a solve: normalised gains and per-pair terms."""

    problem: Problem
    tab: PairTable
    la_s: np.ndarray
    inva_s: np.ndarray
    la_f: np.ndarray
    inva_f: np.ndarray
    fixed_iter: np.ndarray  # (P,) Ts + max_k (S_dn/rate_down_k + TcB_k), s
    order_s: np.ndarray  # (K, M) s-link subchannels of each client by decreasing gain
    order_f: np.ndarray  # (K, N) likewise on the f-link
    started: float = field(default_factory=time.perf_counter)

    @property
    def P(self) -> int:
        return len(self.tab)

    def c(self, p: int) -> np.ndarray:
        """s-link fixed delays TcF_k (K,) of pair p, s."""
        return self.tab.w_client_fwd[p] / self.problem.client_flops

    def pair_index(self, split: int, rank: int) -> int:
        pr = self.problem
        si = int(np.flatnonzero(pr.splits == split)[0])
        ri = int(np.flatnonzero(pr.ranks == rank)[0])
        return si * pr.ranks.size + ri

    def fixed_round(self, tf_unit: float) -> np.ndarray:
        """(P,) S_ad * (max_k 1/Rf_k + 1/rate_bcast), s, for an f-link at ``tf_unit`` s/bit."""
        return self.tab.s_ad * (tf_unit + 1.0 / self.problem.rate_bcast)

    def total(self, p: int | np.ndarray, t_s: float | np.ndarray, tf_unit: float) -> Any:
        """T_total of pair(s) ``p`` with s-link stage ``t_s`` and f-link ``tf_unit``."""
        return self.tab.rounds[p] * (self.problem.local_iters * (t_s + self.fixed_iter[p])
                                     + self.fixed_round(tf_unit)[p])

    def elapsed(self) -> float:
        return time.perf_counter() - self.started


def prepare(problem: Problem) -> Context:
    """Pre-compute everything that does not depend on the allocation."""
    tab = pair_table(problem)
    la_s, inva_s = kn.normalise(problem.gain_s, problem.noise_psd)
    la_f, inva_f = kn.normalise(problem.gain_f, problem.noise_psd)
    tcb = tab.w_client_bwd[:, None] / problem.client_flops[None, :]
    dn = tab.s_dn[:, None] / problem.rate_down[None, :]
    fixed_iter = tab.w_server / problem.server_flops + np.max(dn + tcb, axis=1)
    return Context(problem, tab, la_s, inva_s, la_f, inva_f, fixed_iter,
                   kn.gain_order(la_s), kn.gain_order(la_f))


@dataclass
class LinkPoint:
    """An allocation of one link: ``t`` is the stage delay (s-link, s) or the f-link's
    ``max_k 1/Rf_k`` (s/bit)."""

    assign: np.ndarray
    psd: np.ndarray
    t: float
    moves: int = 0


def link_arrays(ctx: Context, link: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                                   float]:
    """(la, inva, bw, p_max, p_total) of link ``"s"`` or ``"f"``."""
    pr = ctx.problem
    if link == "s":
        return ctx.la_s, ctx.inva_s, pr.bw_s, pr.p_max, pr.p_total_s
    return ctx.la_f, ctx.inva_f, pr.bw_f, pr.p_max, pr.p_total_f


def link_demand(ctx: Context, link: str, p: int | None) -> tuple[np.ndarray, float]:
    """(c, S) of a link: the s-link of pair p, or the f-link per bit (c = 0, S = 1)."""
    if link == "s":
        assert p is not None
        return ctx.c(p), float(ctx.tab.s_up[p])
    return np.zeros(ctx.problem.K), 1.0


def exact_power(ctx: Context, link: str, assign: np.ndarray, p: int | None) -> LinkPoint:
    """Exact (native) power control of a fixed assignment."""
    la, inva, bw, pmax, ptot = link_arrays(ctx, link)
    c, S = link_demand(ctx, link, p)
    t, psd, status, _ = kn.power_control(la, inva, bw, np.ascontiguousarray(assign, np.int64),
                                         c, S, pmax, ptot, RTOL)
    if status != 0:
        raise SflOptError(f"assign_{link}: a client has no subchannel")
    return LinkPoint(np.asarray(assign, np.int64), psd, float(t))


def auto_kicks(K: int, M: int) -> int:
    """Default number of iterated-local-search kicks: many on small links, none on large."""
    return int(min(30, 1000 // (K * M)))


def kick_numbers(seed: int | None, link: str, p: int | None, kicks: int,
                 size: int = 3) -> np.ndarray:
    """Uniform numbers (kicks, 2 * size) for the kicks of one link and pair, derived from
    ``seed`` (0 when None) so that the same seed gives the same answer."""
    key = [0 if seed is None else int(seed), 0 if link == "s" else 1, -1 if p is None else p]
    return np.random.default_rng([k + 1 for k in key]).random((kicks, 2 * size))


def greedy_link(ctx: Context, link: str, p: int | None, refine: bool,
                max_moves: int = 10_000, kicks: int = 0, seed: int | None = None) -> LinkPoint:
    """Straggler-first greedy allocation, optionally refined by local search (with
    ``kicks`` iterated-local-search restarts), exact power."""
    la, inva, bw, pmax, ptot = link_arrays(ctx, link)
    c, S = link_demand(ctx, link, p)
    order = ctx.order_s if link == "s" else ctx.order_f
    assign = kn.greedy_assign(la, inva, bw, c, S, pmax, ptot, order)
    if not refine:
        return exact_power(ctx, link, assign, p)
    return refine_link(ctx, link, assign, p, max_moves, kicks, seed)


def refine_link(ctx: Context, link: str, assign: np.ndarray, p: int | None,
                max_moves: int = 10_000, kicks: int = 0, seed: int | None = None) -> LinkPoint:
    """Move/swap local search from ``assign`` (plus ``kicks`` perturbation restarts),
    re-scored with exact power."""
    la, inva, bw, pmax, ptot = link_arrays(ctx, link)
    c, S = link_demand(ctx, link, p)
    a0 = np.ascontiguousarray(assign, np.int64)
    if kicks > 0 and ctx.problem.K > 1:
        # adaptive: ``kicks`` in a row without improvement end it, at most KICK_GROWTH x
        rand = kick_numbers(seed, link, p, kicks * KICK_GROWTH)
        a, t, psd, moves = kn.perturb_search(la, inva, bw, a0, c, S, pmax, ptot, RTOL, max_moves,
                                             MOVE_TOL, rand, kicks)
    else:
        a, t, psd, moves = kn.refine_assign(la, inva, bw, a0, c, S, pmax, ptot, RTOL, max_moves,
                                            MOVE_TOL)
    return LinkPoint(a, psd, float(t), int(moves))


def power_subproblem(ctx: Context, link: str, assign: np.ndarray,
                     p: int | None) -> PowerSubproblem:
    """The power-control problem of a link with a fixed assignment (s-link of pair p, or
    the f-link per bit)."""
    pr = ctx.problem
    c, S = link_demand(ctx, link, p)
    gain, bw, ptot = ((pr.gain_s, pr.bw_s, pr.p_total_s) if link == "s"
                      else (pr.gain_f, pr.bw_f, pr.p_total_f))
    return PowerSubproblem(gain=gain, bw=bw, assign=np.asarray(assign, np.int64), c=c, S=S,
                           p_max=pr.p_max, p_total=ptot, noise_psd=pr.noise_psd)


def backend_power(ctx: Context, link: str, assign: np.ndarray, p: int | None,
                  backend: PowerBackend) -> tuple[LinkPoint, Any]:
    """Power control of a fixed assignment by a registered backend."""
    sol = backend.solve(power_subproblem(ctx, link, assign, p))
    return LinkPoint(np.asarray(assign, np.int64), np.asarray(sol.psd, float), sol.t), sol


def search_fixed(ctx: Context, assign_s: np.ndarray, tf_unit: float) -> tuple[np.ndarray,
                                                                             np.ndarray]:
    """Totals (P,) and s-link stage (P,) of every pair for a fixed s-link assignment."""
    pr = ctx.problem
    return kn.search_pairs(ctx.la_s, ctx.inva_s, pr.bw_s, np.ascontiguousarray(assign_s, np.int64),
                           pr.p_max, pr.p_total_s, pr.client_flops, ctx.tab.w_client_fwd,
                           ctx.tab.s_up, ctx.tab.rounds, ctx.fixed_iter,
                           ctx.fixed_round(tf_unit), float(pr.local_iters), RTOL)


def stage_lower_bounds(ctx: Context) -> np.ndarray:
    """(P,) lower bounds on the s-link stage of every pair (any assignment and power)."""
    pr = ctx.problem
    rall, rsum = kn.link_rate_bounds(ctx.la_s, ctx.inva_s, pr.bw_s, pr.p_max, pr.p_total_s)
    return np.array([kn.stage_lower_bound(ctx.c(p), float(ctx.tab.s_up[p]), rall, rsum, 1e-12)
                     for p in range(ctx.P)])


def finish(ctx: Context, *, method: str, opts: Options, p: int, s: LinkPoint, f: LinkPoint,
           status: str, termination: str, iterations: int, history: list[float],
           timings: dict[str, float], grid: np.ndarray | None = None,
           lower_bound: float | None = None, info: dict[str, Any] | None = None) -> SolveResult:
    """Evaluate the point exactly (SPEC §2) and pack a :class:`SolveResult`."""
    pr = ctx.problem
    split, rank = int(ctx.tab.split[p]), int(ctx.tab.rank[p])
    bd = evaluate(pr, split, rank, s.assign, s.psd, f.assign, f.psd)
    timings = dict(timings)
    timings["total"] = ctx.elapsed()
    return SolveResult(
        delay=bd.total, split=split, rank=rank, assign_s=s.assign, assign_f=f.assign,
        psd_s=s.psd, psd_f=f.psd, status=status, method=method, iterations=iterations,
        history=[float(h) for h in history], timings=timings, breakdown=bd,
        lower_bound=lower_bound, termination=termination, power=opts.power_name,
        mode=opts.mode, grid=None if grid is None else grid.reshape(pr.splits.size,
                                                                    pr.ranks.size),
        rounds_source=pr.rounds_source, info=dict(info or {}),
    )
