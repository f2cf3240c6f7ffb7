"""(split, rank) by sample-average approximation over block fading (SPEC §8.4):
``solve(problem, fading="saa", samples=S)``.

Split and rank are chosen once for a training run while the small-scale fading changes
every round and the allocation and power follow it (the ``adaptive`` policy of
:mod:`sfl_opt.dynamic`). The run's expected delay for pair p is then

    E[T_total(p)] = rounds_p (I (E[sum_l t_l(p)] + fixed_iter_p) + S_ad,p (E[t_f] + 1/R_bc))

(T_total is linear in the stages), with ``t_l(p)`` the optimised stage of link l in a
round. SAA replaces each expectation by the mean over S i.i.d. drawn rounds
(:func:`sfl_opt.fading.iid_samples`, large-scale gains fixed), the stages optimised per
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
:func:`sfl_opt.fading.estimate_large_scale`). The samples derive from ``seed`` (0 when
None).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from ..fading import iid_samples
from ..prepared import PreparedProblem
from .registry import Options, Outcome
from .sflllm import solve_sflllm

#: ``fading`` options
FADING = ("saa",)
#: default number of SAA samples
SAMPLES = 32


def solve_sflllm_fading(ctx: PreparedProblem, opts: Options) -> Outcome:
    """SflLLM, with ``fading="saa"``: the pair by sample-average approximation."""
    fading = opts.extra.get("fading")
    if fading is None:
        for name in ("samples", "large_scale"):
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
    grid, info = saa_estimates(ctx, opts, samples, opts.extra.get("large_scale"))
    t_saa = time.perf_counter() - t0
    best = int(np.argmin(grid))
    out = solve_sflllm(ctx, opts, pairs=np.array([best]))
    out.timings = {"saa": t_saa, **out.timings}
    out.grid = grid
    out.info = {**out.info, "saa": info}
    return out


def saa_estimates(ctx: PreparedProblem, opts: Options, samples: int,
                  large: Any = None) -> tuple[np.ndarray, dict[str, Any]]:
    """(P,) SAA estimates of the expected total delay (s; inf for a pair skipped by its
    bound) and details: ``samples``, ``evaluated``, ``skipped``, ``lower`` (P,) the
    bounds (s), ``std`` (P,) the standard error of each estimate (s)."""
    rng = np.random.default_rng([0 if opts.seed is None else int(opts.seed), 14])
    draws = iid_samples(ctx.problem, samples, rng, large)
    rounds = [ctx.with_gains(g) for g in draws]
    P = ctx.P
    tf = np.array([r.link(r.round_link).greedy(None, opts.refine, opts.max_moves).t
                   for r in rounds])
    cheap = np.mean([r.stage_bounds() for r in rounds], axis=0)
    lower = ctx.total(np.arange(P), cheap, float(tf.mean()))
    grid = np.full(P, np.inf)
    std = np.full(P, np.nan)
    best = np.inf
    evaluated = 0
    for p in np.argsort(lower, kind="stable"):
        p = int(p)
        if opts.prune and lower[p] >= best:
            continue
        stages = np.array([sum(r.link(n).greedy(p, opts.refine, opts.max_moves).t
                               for n in r.stage_links) for r in rounds])
        per = np.array([ctx.total(p, st, t) for st, t in zip(stages, tf, strict=True)])
        grid[p] = float(np.mean(per))
        std[p] = float(np.std(per, ddof=1) / np.sqrt(samples)) if samples > 1 else np.nan
        best = min(best, grid[p])
        evaluated += 1
    return grid, {"samples": samples, "evaluated": evaluated, "skipped": P - evaluated,
                  "lower": lower, "std": std, "tf_mean": float(tf.mean())}


__all__ = ["FADING", "SAMPLES", "saa_estimates", "solve_sflllm_fading"]
