"""The paper's figures, end to end: run the comparison and the sweeps (in one executor
scope), then draw every figure with :mod:`sfl_opt.plots` (PNG + PDF + CSV).

    from sfl_opt.figures import make_figures
    make_figures("docs/figures", quick=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import BASELINES, REFERENCE, compare
from .errors import ValidationError
from .problem import Problem
from .solve import solve
from .sweep import default_value, executor_scope, sweep


@dataclass(frozen=True)
class Grid:
    """Values (SI units) of one swept parameter and whether to draw them on a log axis."""

    values: tuple[float, ...]
    logx: bool = False


#: the figures' grids
GRIDS: dict[str, Grid] = {
    "clients": Grid((2, 4, 6, 8, 10, 12, 14, 16)),
    "subchannel_bw": Grid((0.25e6, 0.5e6, 1e6, 2e6, 4e6), logx=True),
    "p_max": Grid((0.05, 0.1, 0.2, 0.4, 0.8), logx=True),
    "client_flops": Grid((0.15e12, 0.3e12, 0.6e12, 1.2e12, 2.4e12), logx=True),
    "server_flops": Grid((5e12, 10e12, 25e12, 50e12, 100e12, 200e12), logx=True),
    "local_iters": Grid((5, 10, 25, 50, 100), logx=True),
    "seq": Grid((128, 256, 512, 1024, 2048), logx=True),
}
#: ``--quick``: three values per parameter
QUICK_GRIDS: dict[str, Grid] = {
    name: Grid((g.values[0], default_value(name), g.values[-1]), g.logx)
    for name, g in GRIDS.items()
}


def make_figures(out: str | Path = "docs/figures", *, quick: bool = False,
                 seeds: int | None = None, executor: Executor | str | None = None,
                 progress: bool = True, params: Sequence[str] | None = None,
                 base: dict[str, Any] | None = None) -> list[Path]:
    """Regenerate every figure (PNG + PDF + CSV) under ``out``.

    ``base``: further ``Problem.default`` keywords of every scenario (e.g.
    ``{"profile": path}``, the CLI's ``--profile``).

    ``quick`` uses three values per parameter and 2 seeds (unless ``seeds`` is given);
    the full run uses :data:`GRIDS` and 10 seeds. ``params`` restricts the sweeps.
    Returns the written paths.
    """
    from . import plots

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    n_seeds = seeds if seeds is not None else (2 if quick else 10)
    if isinstance(n_seeds, bool) or not isinstance(n_seeds, int) or n_seeds < 1:
        raise ValidationError("seeds", "a number of seeds >= 1", seeds)
    grids = QUICK_GRIDS if quick else GRIDS
    names = list(params) if params is not None else list(grids)
    for name in names:
        if name not in grids:
            raise ValidationError("params", f"swept parameters {sorted(grids)}", name)
    methods = [REFERENCE, *BASELINES]
    paths: list[Path] = []
    with executor_scope(executor) as ex:
        table = compare(n_seeds, methods, executor=ex, progress=progress, base=base)
        table.to_csv(out / "compare_runs.csv")
        paths.append(out / "compare_runs.csv")
        paths += plots.plot_comparison(table, out / "comparison")
        paths += plots.plot_reduction(table, out / "reduction")
        for name in names:
            g = grids[name]
            t = sweep(name, g.values, methods, range(n_seeds), executor=ex,
                      progress=progress, base=base)
            t.to_csv(out / f"sweep_{name}_runs.csv")
            paths.append(out / f"sweep_{name}_runs.csv")
            paths += plots.plot_sweep(t, out / f"delay_vs_{name}", default=default_value(name),
                                      logx=g.logx, logy=True)
    # the (split, rank) landscape: every pair refined (no pruning), default scenario seed 0
    base = dict(base or {})
    problem = Problem.default(0, **base)
    res = solve(problem, seed=0, prune=False)
    paths += plots.plot_heatmap(res.grid, problem.splits.tolist(), problem.ranks.tolist(),
                                out / "heatmap_split_rank",
                                title="default scenario, seed 0, SflLLM per pair")
    # convergence: the bcd outer loop (from its lower-bound start and from a cold start)
    # and the nested search, a few scenario seeds
    hist: dict[str, dict[int, list[float]]] = {"bcd": {}, "bcd_cold": {}, "nested": {}}
    cold = (int(problem.splits.max()), int(problem.ranks.min()))
    for s in range(2 if quick else 5):
        p = Problem.default(s, **base)
        hist["bcd"][s] = bcd_trace(p, seed=s)
        hist["bcd_cold"][s] = bcd_trace(p, start=cold, seed=s)
        hist["nested"][s] = solve(p, seed=s, mode="nested").history
    paths += plots.plot_convergence(
        hist, out / "convergence", first_iteration={"bcd": 0, "bcd_cold": 0},
        labels={"bcd": "start: least lower bound (solve's bcd)",
                "bcd_cold": f"cold start: ℓ={cold[0]}, r={cold[1]}"})
    return paths


def bcd_trace(problem: Problem, start: tuple[int, int] | None = None, seed: int = 0,
              max_iter: int = 20) -> list[float]:
    """The objective (s) along SflLLM's bcd outer loop, starting from ``start`` =
    (split, rank) — by default the pair with the least lower bound, as
    ``solve(mode="bcd")`` does. Entry 0 is the start point (greedy + local search +
    exact power for the start pair); entry i >= 1 is the best total after the i-th
    (split, rank) search with the allocation held (``SolveResult.history``)."""
    res = solve(problem, mode="bcd", seed=seed, max_iter=max_iter, start=start)
    return [float(res.info["start_delay"]), *res.history]


__all__ = ["GRIDS", "QUICK_GRIDS", "Grid", "bcd_trace", "make_figures"]
