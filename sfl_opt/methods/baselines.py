"""Baselines of SPEC §3: ablations of the SflLLM method, one decision at a time.

Each baseline replaces one or more of the four decisions — subchannel assignment,
power control, split point, LoRA rank — by a naive choice and optimises the rest as
the default method (:mod:`.sflllm`) does:

- ``random_subchannels``: a random assignment on both links (every client at least one
  subchannel per link), held; exact power and the exhaustive (split, rank) search;
- ``equal_power``: greedy (+ local search) assignment per (split, rank) pair, but every
  subchannel of a link gets the same psd, the largest within each client's cap and the
  link's total cap; the best pair under that power is kept;
- ``random_split``: a random split point, then SflLLM over the ranks;
- ``fixed_rank``: the rank given by the ``rank`` option (default: the median
  candidate), then SflLLM over the splits;
- ``random_rank``: a random rank, then SflLLM over the splits;
- ``fully_random``: random split, rank and assignment on both links, equal power.

Splits and ranks are drawn from the pairs of the prepared problem, which fit the
clients' memory (``PreparedProblem.splits``, ``ranks``, ``ranks_at``; without caps these
are the problem's candidates, in the same order). Random baselines draw from
``opts.rng()`` (seeded by ``solve(..., seed=)``) in a fixed order, so the same seed
gives the same answer. Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import time

import numpy as np

from ..engine.prepared import Link, LinkPoint, PreparedProblem
from ..errors import ValidationError
from ..status import Limit, Status, Termination, TerminationReason
from .registry import Option, Options, Outcome
from .sflllm import deadline_of, solve_f_link, solve_sflllm

#: why a one-shot baseline stops: it evaluated every candidate
ENUMERATED = Termination(TerminationReason.ENUMERATED)

# ---------------------------------------------------------------- building blocks


def random_assignment(rng: np.random.Generator, n_sub: int, clients: int) -> np.ndarray:
    """(n_sub,) client per subchannel, uniformly random with every client served.

    A random permutation of the subchannels gives the first ``clients`` of them one to
    each client (in random order); every other subchannel goes to a uniformly random
    client. Needs ``clients <= n_sub``.
    """
    if clients > n_sub:
        raise ValidationError("clients", f"at most {n_sub} clients (one subchannel each)",
                              clients)
    order = rng.permutation(n_sub)
    assign = np.empty(n_sub, dtype=np.int64)
    assign[order[:clients]] = rng.permutation(clients)
    assign[order[clients:]] = rng.integers(0, clients, size=n_sub - clients)
    return assign


def equal_psd(bw: np.ndarray, assign: np.ndarray, p_max: np.ndarray, p_total: float) -> float:
    """The one psd (W/Hz) used on every subchannel of a link under equal power.

    ``min(p_total / sum(bw), min_k p_max[k] / B_k)`` with ``B_k`` the bandwidth (Hz)
    held by client k: the largest common psd within every client's cap and the total.
    """
    held = np.bincount(assign, weights=bw, minlength=p_max.size)
    per_client = np.min(p_max[held > 0] / held[held > 0])
    return float(min(p_total / float(np.sum(bw)), per_client))


def equal_power_link(link: Link, assign: np.ndarray, p: int | None) -> LinkPoint:
    """Equal-psd power on a fixed assignment; ``t`` as in :class:`LinkPoint` (the s-link
    stage max_k (TcF_k + S_up/Rs_k) in s for pair p, or the f-link max_k 1/Rf_k in s/bit),
    computed with the rates of the delay model (``PowerSubproblem.deadline_of``)."""
    sub = link.power_subproblem(assign, p)
    psd = np.full(sub.M, equal_psd(sub.bw, sub.assign, sub.p_max, sub.p_total))
    return LinkPoint(sub.assign, psd, sub.deadline_of(psd))


def _pair_indices(ctx: PreparedProblem, *, split: int | None = None,
                  rank: int | None = None) -> np.ndarray:
    """Indices of the pairs with the given split and/or rank."""
    keep = np.ones(ctx.P, dtype=bool)
    if split is not None:
        keep &= ctx.tab.split == split
    if rank is not None:
        keep &= ctx.tab.rank == rank
    return np.flatnonzero(keep)


def _tag(out: Outcome, **info: object) -> Outcome:
    out.info.update(info)
    return out


# ---------------------------------------------------------------------- baselines


def solve_random_subchannels(ctx: PreparedProblem, opts: Options) -> Outcome:
    """Random assignment on both links, held; exact power; exhaustive (split, rank)."""
    pr = ctx.problem
    rng = opts.rng()
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    held = {n: random_assignment(rng, ctx.link(n).M, pr.K) for n in ctx.stage_links}
    f_link = ctx.link(ctx.round_link)
    f = f_link.exact_power(random_assignment(rng, f_link.M, pr.K), None)
    timings["f_link"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    deadline = deadline_of(ctx, opts)
    termination = ENUMERATED
    per_pair = 0.0
    if deadline is not None:  # time one pair's exact power
        now = time.perf_counter()
        for n, a in held.items():
            ctx.link(n).exact_power(a, 0)
        per_pair = time.perf_counter() - now
    if deadline is None or time.perf_counter() + per_pair * ctx.P <= deadline:
        totals = ctx.search(held, f.t)  # every pair in one kernel call
    else:  # pair by pair (exact power of the held assignments) until the time limit
        totals = np.full(ctx.P, np.inf)
        for p in range(ctx.P):
            now = time.perf_counter()
            if p and now + per_pair > deadline:
                termination = Termination.at_limit(Limit.TIME)
                break
            stage = sum(ctx.link(n).exact_power(a, p).t for n, a in held.items())
            totals[p] = float(ctx.total(p, stage, f.t))
            per_pair = time.perf_counter() - now
    p = int(np.argmin(totals))
    points = {n: ctx.link(n).exact_power(a, p) for n, a in held.items()}
    timings["search"] = time.perf_counter() - t0
    return Outcome(p, {**points, ctx.round_link: f}, Status.FEASIBLE, termination,
                   history=[float(totals[p])], timings=timings, grid=totals,
                   info={"pairs": ctx.P, "searched": int(np.isfinite(totals).sum()),
                         "seed": opts.seed})


def solve_equal_power(ctx: PreparedProblem, opts: Options) -> Outcome:
    """Greedy (+ refine) assignment per pair, equal psd on each link, best pair."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    f = equal_power_link(ctx.link(ctx.round_link), solve_f_link(ctx, opts).assign, None)
    timings["f_link"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    deadline = deadline_of(ctx, opts)
    termination = ENUMERATED
    points: dict[str, list[LinkPoint]] = {name: [] for name in ctx.stage_links}
    per_pair = 0.0
    for p in range(ctx.P):  # with a time limit: the pairs that fit (at least one)
        now = time.perf_counter()
        if p and deadline is not None and now + per_pair > deadline:
            termination = Termination.at_limit(Limit.TIME)
            break
        for name in ctx.stage_links:
            link = ctx.link(name)
            a = link.greedy(p, opts.refine, opts.max_moves, deadline=deadline).assign
            points[name].append(equal_power_link(link, a, p))
        per_pair = time.perf_counter() - now
    n = len(points[ctx.stage_links[0]])
    t_s = np.array([sum(pts[p].t for pts in points.values()) for p in range(n)])
    grid = np.full(ctx.P, np.inf)
    grid[:n] = ctx.total(np.arange(n), t_s, f.t)
    timings["search"] = time.perf_counter() - t0
    p = int(np.argmin(grid))
    chosen = {name: pts[p] for name, pts in points.items()}
    return Outcome(p, {**chosen, ctx.round_link: f}, Status.FEASIBLE, termination,
                   history=[float(grid[p])], timings=timings, grid=grid,
                   info={"pairs": ctx.P, "searched": n}, power="equal")


def solve_random_split(ctx: PreparedProblem, opts: Options) -> Outcome:
    """A uniformly random split point; SflLLM over the ranks."""
    split = int(opts.rng().choice(ctx.splits))
    res = solve_sflllm(ctx, opts, pairs=_pair_indices(ctx, split=split))
    return _tag(res, fixed_split=split, seed=opts.seed)


def median_rank(ranks: np.ndarray) -> int:
    """The median candidate rank (the lower one of the two middle ranks for an even count)."""
    r = np.sort(np.asarray(ranks))
    return int(r[(r.size - 1) // 2])


def solve_fixed_rank(ctx: PreparedProblem, opts: Options) -> Outcome:
    """The rank of option ``rank`` (default: the median candidate); SflLLM over the splits."""
    ranks = ctx.problem.ranks
    rank = opts.extra.get("rank")
    if rank is None:
        rank = median_rank(ctx.ranks)
    elif (isinstance(rank, bool) or not isinstance(rank, (int, np.integer))
          or int(rank) not in ranks.tolist()):
        raise ValidationError("rank", f"one of the candidate ranks {ranks.tolist()}", rank)
    rank = int(rank)
    if rank not in ctx.ranks.tolist():
        raise ValidationError("rank", f"a rank that fits the clients' memory (client_memory) "
                              f"at some split: {ctx.ranks.tolist()}", rank)
    res = solve_sflllm(ctx, opts, pairs=_pair_indices(ctx, rank=rank))
    return _tag(res, fixed_rank=rank)


def solve_random_rank(ctx: PreparedProblem, opts: Options) -> Outcome:
    """A uniformly random rank; SflLLM over the splits."""
    rank = int(opts.rng().choice(ctx.ranks))
    res = solve_sflllm(ctx, opts, pairs=_pair_indices(ctx, rank=rank))
    return _tag(res, fixed_rank=rank, seed=opts.seed)


def solve_fully_random(ctx: PreparedProblem, opts: Options) -> Outcome:
    """Random split, rank and assignments (drawn in that order), equal power."""
    pr = ctx.problem
    rng = opts.rng()
    t0 = time.perf_counter()
    split = int(rng.choice(ctx.splits))
    rank = int(rng.choice(ctx.ranks_at(split)))
    p = int(_pair_indices(ctx, split=split, rank=rank)[0])
    names = (*ctx.stage_links, ctx.round_link)
    assigns = {n: random_assignment(rng, ctx.link(n).M, pr.K) for n in names}
    points = {n: equal_power_link(ctx.link(n), a, p if ctx.link(n).per_pair else None)
              for n, a in assigns.items()}
    t = float(ctx.total(p, sum(points[n].t for n in ctx.stage_links),
                        points[ctx.round_link].t))
    return Outcome(p, points, Status.FEASIBLE, ENUMERATED, history=[t],
                   timings={"draw": time.perf_counter() - t0}, info={"seed": opts.seed},
                   power="equal")


#: the SflLLM arguments a baseline built on it honours
_SFLLLM_ARGS = ("seed", "refine", "max_iter", "max_moves", "prune", "kicks", "time_limit")
_SFLLLM_MODE_ONLY = {"max_iter": "bcd", "prune": "nested"}

#: name -> keyword arguments of ``register_method`` (registered in ``methods/__init__``)
BASELINES: dict[str, dict] = {
    "random_subchannels": dict(
        fn=solve_random_subchannels, power="native", honours=("seed", "time_limit"),
        random=True,
        description="baseline: random subchannels, exact power, (split, rank) search"),
    "equal_power": dict(
        fn=solve_equal_power, power="equal",
        honours=("seed", "refine", "max_moves", "kicks", "time_limit"),
        description="baseline: greedy subchannels, equal psd, (split, rank) search"),
    "random_split": dict(
        fn=solve_random_split, modes=("nested", "bcd"), honours=_SFLLLM_ARGS,
        mode_only=_SFLLLM_MODE_ONLY, random=True,
        description="baseline: random split, SflLLM for the rest"),
    "fixed_rank": dict(
        fn=solve_fixed_rank, modes=("nested", "bcd"), honours=_SFLLLM_ARGS,
        mode_only=_SFLLLM_MODE_ONLY,
        options=(Option("rank", None, "", "the LoRA rank (a candidate of the problem); "
                        "None: the median candidate"),),
        description="baseline: rank given by option 'rank' (default median), SflLLM for "
                    "the rest"),
    "random_rank": dict(
        fn=solve_random_rank, modes=("nested", "bcd"), honours=_SFLLLM_ARGS,
        mode_only=_SFLLLM_MODE_ONLY, random=True,
        description="baseline: random rank, SflLLM for the rest"),
    "fully_random": dict(
        fn=solve_fully_random, power="equal", honours=("seed", "time_limit"), random=True,
        description="baseline: random subchannels, split and rank; equal power"),
}
