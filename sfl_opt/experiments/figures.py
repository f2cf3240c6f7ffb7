"""The paper's figures, end to end: run the comparison and the sweeps (in one executor
scope), then draw every figure with :mod:`sfl_opt.experiments.plots` (PNG + PDF + CSV).

    from sfl_opt.experiments.figures import make_figures
    make_figures("docs/figures", quick=True)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ValidationError
from ..model import hardware
from ..model.problem import Problem
from ..solve import solve
from .analysis import BASELINES, REFERENCE, compare
from .regimes import ablation_shares, rank_by_tokens, split_map
from .sweep import RunMemo, default_value, executor_scope, sweep


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
                 regimes: bool = True, base: dict[str, Any] | None = None) -> list[Path]:
    """Regenerate every figure (PNG + PDF + CSV) under ``out``.

    ``base``: further ``Problem.default`` keywords of every scenario (e.g.
    ``{"profile": path}``, the CLI's ``--profile``).

    ``quick`` uses three values per parameter and 2 seeds (unless ``seeds`` is given);
    the full run uses :data:`GRIDS` and 10 seeds. ``params`` restricts the sweeps;
    ``regimes`` adds the figures of :func:`regime_figures`. Returns the written paths.
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
    memo: RunMemo = {}  # each distinct run once (the default point recurs in the sweeps)
    with executor_scope(executor) as ex:
        table = compare(n_seeds, methods, executor=ex, progress=progress, base=base,
                        memo=memo)
        table.to_csv(out / "compare_runs.csv")
        paths.append(out / "compare_runs.csv")
        paths += plots.plot_comparison(table, out / "comparison")
        paths += plots.plot_reduction(table, out / "reduction")
        for name in names:
            g = grids[name]
            t = sweep(name, g.values, methods, range(n_seeds), executor=ex,
                      progress=progress, base=base, memo=memo)
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
    if regimes:
        paths += regime_figures(out, quick=quick, seeds=min(n_seeds, 5), progress=progress)
    return paths


#: the server of the split map (catalogue name) and the ablation's scenarios
#: (label -> Problem.default keywords): the default, and catalogue presets where the
#: optimum is a split > 1 (README, "When split and rank matter")
SPLIT_MAP_SERVER = "L4"
ABLATION_SCENARIOS: dict[str, dict] = {
    "default (§6)": {},
    "Orin AGX + L4, K = 5": {"devices": "jetson-agx-orin-64gb", "server": "L4"},
    "Orin Nano + L4, K = 20": {"devices": "jetson-orin-nano-8gb", "server": "L4",
                                "clients": 20, "subchannels": 40},
}


def regime_figures(out: str | Path = "docs/figures", *, quick: bool = False, seeds: int = 5,
                   progress: bool = True) -> list[Path]:
    """The figures of "when split and rank matter" (SPEC §8.2, :mod:`sfl_opt.experiments.regimes`):
    ``split_map`` (chosen split over client FLOP/s x K, threshold server/K, catalogue
    devices marked), ``rank_tokens`` (chosen rank over tokens per round I·b·s) and
    ``ablation_shares`` (shares of the reduction against fully_random from rank,
    allocation and split). ``quick``: small grids, one or two seeds."""
    from . import plots
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    server = hardware.server(SPLIT_MAP_SERVER)
    if quick:
        flops, ks = (0.5e12, 2e12, 8e12, 32e12), (2, 5, 20)
        iters, batches, seqs, rank_seeds = (1, 5, 50), (1, 8), (512,), (0,)
        abl_seeds = range(min(seeds, 2))
    else:
        flops = (0.25e12, 0.5e12, 1e12, 2e12, 4e12, 8e12, 16e12, 32e12)
        ks = (1, 2, 3, 5, 8, 12, 20, 30)
        iters, batches, seqs = (1, 2, 5, 10, 20, 50, 100), (1, 8), (64, 512)
        rank_seeds = (0, 1, 2)
        abl_seeds = range(seeds)
    paths: list[Path] = []
    cells = split_map(flops, ks, server_flops=server.flops, progress=progress)
    devices = {n: d.flops for n, d in hardware.DEVICES.items()}
    paths += plots.plot_split_map(cells, out / "split_map", server_flops=server.flops,
                                  server_name=server.name, devices=devices)
    points = [pt for s in seqs for pt in rank_by_tokens(iters, batches, rank_seeds, seq=s,
                                                        progress=progress)]
    paths += plots.plot_rank_tokens(points, out / "rank_tokens",
                                    title="rounds(r, I) of the bundled profile, read per I")
    abl = ablation_shares(ABLATION_SCENARIOS, abl_seeds, progress=progress)
    paths += plots.plot_ablation_shares(abl, out / "ablation_shares")
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


__all__ = ["ABLATION_SCENARIOS", "GRIDS", "QUICK_GRIDS", "SPLIT_MAP_SERVER", "Grid", "bcd_trace",
           "make_figures", "regime_figures"]
