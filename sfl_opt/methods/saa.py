"""(split, rank) by sample-average approximation over block fading (SPEC §8.4):
``solve(problem, fading="saa", samples=S)``.

Split and rank are chosen once for a training run while the small-scale fading changes
every round and the allocation and power follow it (the ``adaptive`` policy of
:mod:`sfl_opt.experiments.dynamic`). The run's expected delay for pair p is then

    E[T_total(p)] = rounds_p (I (E[sum_l t_l(p)] + fixed_iter_p) + S_ad,p (E[t_f] + 1/R_bc))

(T_total is linear in the stages), with ``t_l(p)`` the optimised stage of link l in a
round. SAA replaces each expectation by the mean over S i.i.d. drawn rounds
(:func:`sfl_opt.model.fading.iid_samples`, large-scale gains fixed), the stages optimised per
sample by greedy allocation, local search and exact power (as the nested search), and
picks the pair with the least estimate. Pairs are visited in order of a lower bound
(the same estimate over the kernels' cheap stage bounds) and skipped once the bound
reaches the best estimate. The returned point is the nominal problem's optimum at the
chosen pair (nested or bcd search restricted to it), so ``delay`` is still
``evaluate`` of that point on the problem's own gains; ``grid`` holds the SAA estimates
(s) and ``info["saa"]`` the details.

Options (``solve(..., fading=, samples=, large_scale=)``): ``fading`` ``"saa"`` (None:
plain nested/bcd on the nominal gains), ``samples`` (default 32), ``large_scale``
(link -> (K,) linear gains; default: estimated from the problem, see
:func:`sfl_opt.model.fading.estimate_large_scale`). The samples derive from ``seed`` (0 when
None).

Robust planning: ``solve(problem, fading="saa", perturbations=Perturbations(...))``
plans against the replay's perturbations (:mod:`sfl_opt.replay`): the samples also draw
compute-speed jitter, stragglers and dropouts (:func:`robust_estimates`), and the pair
minimises the estimated expected realised time under the adaptive policy.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import _validation as v
from ..engine.prepared import PreparedProblem, prepare
from ..errors import ValidationError
from ..model.fading import GAIN_FIELDS, faded_links, iter_samples
from ..model.perturbations import Perturbations, draw_multipliers
from ..status import Limit, Termination
from .registry import Options, Outcome
from .sflllm import deadline_of, solve_sflllm

#: ``fading`` options
FADING = ("saa",)
#: default number of SAA samples
SAMPLES = 32
#: with a time limit, the SAA estimates get this share of the method's time left (the
#: nominal search of the chosen pair the rest)
SAA_SHARE = 0.5


def solve_sflllm_fading(ctx: PreparedProblem, opts: Options) -> Outcome:
    """SflLLM, with ``fading="saa"``: the pair by sample-average approximation."""
    fading = opts.extra.get("fading")
    if fading is None:
        for name in ("samples", "large_scale", "perturbations"):
            if opts.extra.get(name) is not None:
                raise ValidationError(name, "None unless fading='saa'", opts.extra[name])
        return solve_sflllm(ctx, opts)
    v.choice("fading", fading, FADING)
    if opts.extra.get("start") is not None:
        raise ValidationError("start", "no start pair with fading='saa' (SAA picks the pair)",
                              opts.extra["start"])
    given = opts.extra.get("samples")
    samples = SAMPLES if given is None else v.positive_int("samples", given)
    t0 = time.perf_counter()
    deadline = deadline_of(ctx, opts)
    saa_deadline = None if deadline is None else t0 + SAA_SHARE * max(deadline - t0, 0.0)
    pert = opts.extra.get("perturbations")
    if pert is not None and not isinstance(pert, Perturbations):
        raise ValidationError("perturbations", "None or a sfl_opt.replay.Perturbations",
                              type(pert).__name__)
    if saa_deadline is not None and t0 + (t0 - ctx.started) > saa_deadline:
        # a sample's links cost about what preparing the problem did: no time for one,
        # the plain search on the nominal gains instead (said in info["saa"])
        out = solve_sflllm(ctx, opts)
        out.termination = Termination.at_limit(Limit.TIME)
        out.info = {**out.info, "saa": {"samples": 0, "evaluated": 0, "timed_out": True}}
        return out
    if pert is not None:
        grid, info = robust_estimates(ctx, opts, samples, pert, saa_deadline)
    else:
        grid, info = saa_estimates(ctx, opts, samples, opts.extra.get("large_scale"),
                                   saa_deadline)
    t_saa = time.perf_counter() - t0
    best = int(np.argmin(grid))
    out = solve_sflllm(ctx, opts, pairs=np.array([best]))
    if info["timed_out"]:
        out.termination = Termination.at_limit(Limit.TIME)
    out.timings = {"saa": t_saa, **out.timings}
    out.grid = grid
    out.info = {**out.info, "saa": info}
    return out


def _late(deadline: float | None, cost: float) -> bool:
    """Whether a step of ``cost`` seconds started now would end after ``deadline``."""
    return deadline is not None and time.perf_counter() + cost > deadline


class Paced:
    """Iterates ``items`` while the next one, at the speed of the previous one, would
    end before ``deadline`` (``time.perf_counter()`` value, None: none); the first item
    always comes. After the loop, ``timed_out`` tells whether it stopped early and
    ``used`` how many items it handed out. The speed is the time the caller's loop body
    took (from one item handed out to the request for the next)."""

    def __init__(self, items: Any, deadline: float | None) -> None:
        self.items = items
        self.deadline = deadline
        self.timed_out = False
        self.used = 0

    def __iter__(self):
        cost = 0.0
        for item in self.items:
            if self.used and _late(self.deadline, cost):
                self.timed_out = True
                return
            t0 = time.perf_counter()
            self.used += 1
            yield item
            cost = time.perf_counter() - t0


def saa_estimates(ctx: PreparedProblem, opts: Options, samples: int,
                  large: Any = None, deadline: float | None = None
                  ) -> tuple[np.ndarray, dict[str, Any]]:
    """(P,) SAA estimates of the expected total delay (s; inf for a pair skipped by its
    bound) and details: ``samples``, ``evaluated``, ``skipped``, ``lower`` (P,) the
    bounds (s), ``std`` (P,) the standard error of each estimate (s), ``timed_out``.

    ``deadline`` (``time.perf_counter()`` value, None: none): no sample is prepared and
    no pair evaluated that is expected to end after it, at the speed of the previous
    one (the first sample and the first pair always are); ``samples`` is then the
    number drawn and used, the pairs not reached stay ``inf``."""
    rng = np.random.default_rng([0 if opts.seed is None else int(opts.seed), 14])
    draws = Paced(iter_samples(ctx.problem, samples, rng, large), deadline)  # as used
    rounds, tf_list = [], []
    for g in draws:
        r = ctx.with_gains(g)
        tf_list.append(r.link(r.round_link).greedy(None, opts.refine, opts.max_moves,
                                                   deadline=deadline).t)
        rounds.append(r)
    timed_out = draws.timed_out
    used = len(rounds)
    tf = np.array(tf_list)
    P = ctx.P
    cheap = np.mean([r.stage_bounds() for r in rounds], axis=0)
    lower = ctx.total(np.arange(P), cheap, float(tf.mean()))
    grid = np.full(P, np.inf)
    std = np.full(P, np.nan)
    best = np.inf
    evaluated = 0
    cost = 0.0
    for p in np.argsort(lower, kind="stable"):
        p = int(p)
        if opts.prune and lower[p] >= best:
            continue
        if evaluated and _late(deadline, cost):
            timed_out = True
            break
        t0 = time.perf_counter()
        stages = np.array([sum(r.link(n).greedy(p, opts.refine, opts.max_moves,
                                                deadline=deadline).t
                               for n in r.stage_links) for r in rounds])
        per = np.array([ctx.total(p, st, t) for st, t in zip(stages, tf, strict=True)])
        grid[p] = float(np.mean(per))
        std[p] = float(np.std(per, ddof=1) / np.sqrt(used)) if used > 1 else np.nan
        best = min(best, grid[p])
        evaluated += 1
        cost = time.perf_counter() - t0
    return grid, {"samples": used, "evaluated": evaluated, "skipped": P - evaluated,
                  "lower": lower, "std": std, "tf_mean": float(tf.mean()),
                  "timed_out": timed_out}


def robust_estimates(ctx: PreparedProblem, opts: Options, samples: int,
                     pert: Perturbations, deadline: float | None = None
                     ) -> tuple[np.ndarray, dict[str, Any]]:
    """(P,) SAA estimates of the expected realised training time (s) under the replay's
    perturbations ``pert`` (:class:`sfl_opt.model.perturbations.Perturbations`) with the
    ``adaptive`` policy and drop-and-continue, and details (as :func:`saa_estimates`).

    Each of the ``samples`` drawn rounds has its own gains (i.i.d. Rayleigh fading over
    the large-scale gains when ``pert.rho`` is not None, else the nominal gains), compute
    times multiplied by the jitter and straggler draws, and participants (Bernoulli
    ``pert.dropout``, at least one); the round's allocation and power are optimised per
    pair as the nested search does, on the participants. Under the replay's charging (a
    round with K' of K clients adds K'/K of a round) the expected time of pair p is
    estimated by ``rounds_p · mean_s T_round,s(p) / mean_s (K'_s / K)`` (a ratio
    estimator). An availability trace is not sampled (use ``dropout``). ``deadline``:
    as :func:`saa_estimates`, sample by sample (every pair of a sample, at least one
    sample; ``samples`` is then the number used)."""
    pr = ctx.problem
    rng = np.random.default_rng([0 if opts.seed is None else int(opts.seed), 21])
    jit, strag, drop, fade = rng.spawn(4)
    gains = Paced(iter_samples(pr, samples, fade, pert.large_scale) if pert.rho is not None
                  else iter([None] * samples), deadline)
    K = pr.K
    P = ctx.P
    rounds, share, per_rows, tf_list = [], [], [], []
    for g in gains:
        mult = draw_multipliers(pert, jit, strag, K)
        who = np.ones(K, dtype=bool)
        if pert.dropout > 0:
            who = drop.random(K) >= pert.dropout
            while not who.any():
                who = drop.random(K) >= pert.dropout
        idx = np.flatnonzero(who)
        ch: dict[str, Any] = {}
        for name in faded_links(pr):
            base = getattr(pr, GAIN_FIELDS[name]) if g is None else g[name]
            ch[GAIN_FIELDS[name]] = np.asarray(base, float)[idx]
        sub = pr.replace(**ch, p_max=pr.p_max[idx], client_flops=pr.client_flops[idx]
                         / mult[idx], rate_down=pr.rate_down[idx],
                         client_memory=pr.client_memory[idx],
                         compute_power=pr.compute_power[idx], client_energy=None,
                         rounds=np.ones(pr.ranks.size))
        r = prepare(sub)
        if r.P != P or not (np.array_equal(r.tab.split, ctx.tab.split)
                            and np.array_equal(r.tab.rank, ctx.tab.rank)):
            raise ValidationError("perturbations", "samples with the problem's pairs", r.P)
        tf_i = r.link(r.round_link).greedy(None, opts.refine, opts.max_moves,
                                           deadline=deadline).t
        row = np.empty(P)
        for p in range(P):
            st = sum(r.link(n).greedy(p, opts.refine, opts.max_moves, deadline=deadline).t
                     for n in r.stage_links)
            row[p] = float(r.total(p, st, tf_i))  # T_round (rounds = 1)
        rounds.append(r)
        share.append(idx.size / K)
        per_rows.append(row)
        tf_list.append(tf_i)
    timed_out = gains.timed_out
    samples = len(rounds)
    tf = np.array(tf_list)
    per = np.array(per_rows)
    mean_share = float(np.mean(share))
    grid = ctx.tab.rounds * per.mean(axis=0) / mean_share
    std = (ctx.tab.rounds * per.std(axis=0, ddof=1) / np.sqrt(samples) / mean_share
           if samples > 1 else np.full(P, np.nan))
    return grid, {"samples": samples, "evaluated": P, "skipped": 0, "std": std,
                  "perturbations": pert.to_dict(), "mean_share": mean_share,
                  "tf_mean": float(tf.mean()), "timed_out": timed_out}


__all__ = ["FADING", "SAMPLES", "robust_estimates", "saa_estimates", "solve_sflllm_fading"]
