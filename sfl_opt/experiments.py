"""Experiments of the paper: the comparison with the baselines, parameter sweeps and the
figures, as library functions and as the ``sfl-opt compare | sweep | figures``
subcommands (registered by :func:`register`).

    sfl-opt compare --seeds 10                 # SflLLM vs every baseline, default scenario
    sfl-opt sweep clients --values 2 4 8 --out clients.csv
    sfl-opt figures                            # everything into docs/figures/
    sfl-opt figures --quick                    # a small grid (smoke test)
"""

from __future__ import annotations

import argparse
import inspect
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ValidationError
from .methods import METHODS
from .problem import Problem
from .solve import solve
from .sweep import CLIENT_FLOPS_MEAN, PARAMS, SweepTable, sweep

#: the default method and the baselines, in the order of the tables
REFERENCE = "sflllm"
BASELINES = ("random_subchannels", "equal_power", "random_split", "fixed_rank", "random_rank",
             "fully_random")

_SIG = inspect.signature(Problem.default).parameters
#: values of the defaults that ``Problem.default`` leaves as None (GPT-2 small)
_IMPLICIT = {"client_flops": CLIENT_FLOPS_MEAN, "seq": 512}
#: value of each swept parameter in the default scenario (SI units)
DEFAULTS: dict[str, float] = {
    name: (_IMPLICIT[name] if name == "client_flops" or _SIG[name].default is None
           else _SIG[name].default)
    for name in PARAMS
}


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
    name: Grid((g.values[0], DEFAULTS[name], g.values[-1]), g.logx) for name, g in GRIDS.items()
}

REPRODUCE = "sfl-opt compare --seeds 10"


# --------------------------------------------------------------------- comparison


def compare(seeds: int | Iterable[int] = 10, methods: Sequence[str] | None = None,
            executor: Executor | str | None = None, progress: bool = True) -> SweepTable:
    """Run SflLLM and every baseline on seeds ``0..seeds-1`` (or the given seeds) of the
    default scenario; each seed is the scenario's and the method's."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValidationError("seeds", "a number of seeds >= 1", seeds)
        seeds = range(seeds)
    methods = list(methods) if methods is not None else [REFERENCE, *BASELINES]
    return sweep("clients", [DEFAULTS["clients"]], methods, seeds, executor=executor,
                 progress=progress)


def compare_rows(table: SweepTable, reference: str = REFERENCE) -> list[dict[str, Any]]:
    """Per method: mean and std (ddof=0) of the delay (s) and of the reference's relative
    reduction against it (``1 - d_ref / d``, matched by seed), the reference first."""
    from .plots import Summary, ordered, reductions

    red = reductions(table, reference)
    methods = ordered(table.methods())
    if reference in methods:
        methods = [reference] + [m for m in methods if m != reference]
    out = []
    for m in methods:
        s = Summary.of(r.delay for r in table.select(method=m))
        row = {"method": m, "mean": s.mean, "std": s.std, "n": s.n,
               "red_mean": None, "red_std": None, "worse": None}
        if m in red:
            row.update(red_mean=float(red[m].mean()), red_std=float(red[m].std()),
                       worse=int(np.sum(red[m] < 0)))
        out.append(row)
    return out


def format_compare(table: SweepTable, reference: str = REFERENCE) -> str:
    """The comparison as a text table: delay mean ± std and the reference's reduction."""
    from .report import rounds_note

    rows = compare_rows(table, reference)
    n = rows[0]["n"] if rows else 0
    lines = [f"{reference} vs the baselines: default scenario, {n} seeds (scenario seed = "
             f"method seed); rounds(r): {rounds_note(Problem.default(0))}",
             "",
             f"{'method':<20} {'T_total mean ± std [s]':>24} "
             f"{'reduction by ' + reference + ' (mean ± std)':>32} {'seeds worse':>12}",
             "-" * 91]
    for r in rows:
        delay = f"{r['mean']:10,.1f} ± {r['std']:9,.1f}"
        if r["red_mean"] is None:
            red, worse = "—", ""
        else:
            red = f"{100 * r['red_mean']:6.1f}% ± {100 * r['red_std']:4.1f}%"
            worse = f"{r['worse']}/{r['n']}"
        lines.append(f"{r['method']:<20} {delay:>24} {red:>32} {worse:>12}")
    return "\n".join(lines)


def markdown_compare(table: SweepTable, reference: str = REFERENCE) -> str:
    """The comparison as a Markdown table (for the README)."""
    from .plots import method_style

    rows = compare_rows(table, reference)
    lines = ["| method | T_total (s), mean ± std | reduction by SflLLM, mean ± std |",
             "|---|---:|---:|"]
    for r in rows:
        red = "—" if r["red_mean"] is None else \
            f"{100 * r['red_mean']:.1f} % ± {100 * r['red_std']:.1f} %"
        lines.append(f"| {method_style(r['method'])[0]} (`{r['method']}`) | "
                     f"{r['mean']:,.1f} ± {r['std']:,.1f} | {red} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------ figures


def make_figures(out: str | Path = "docs/figures", *, quick: bool = False,
                 seeds: int | None = None, executor: Executor | str | None = None,
                 progress: bool = True, params: Sequence[str] | None = None) -> list[Path]:
    """Regenerate every figure (PNG + PDF + CSV) under ``out``.

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
    own = None
    if executor is None:
        from concurrent.futures import ProcessPoolExecutor

        own = executor = ProcessPoolExecutor(max_workers=2)
    try:
        table = compare(n_seeds, methods, executor=executor, progress=progress)
        table.to_csv(out / "compare_runs.csv")
        paths.append(out / "compare_runs.csv")
        paths += plots.plot_comparison(table, out / "comparison")
        paths += plots.plot_reduction(table, out / "reduction")
        for name in names:
            g = grids[name]
            t = sweep(name, g.values, methods, range(n_seeds), executor=executor,
                      progress=progress)
            t.to_csv(out / f"sweep_{name}_runs.csv")
            paths.append(out / f"sweep_{name}_runs.csv")
            paths += plots.plot_sweep(t, out / f"delay_vs_{name}", default=DEFAULTS[name],
                                      logx=g.logx, logy=True)
    finally:
        if own is not None:
            own.shutdown()
    # the (split, rank) landscape: every pair refined (no pruning), default scenario seed 0
    problem = Problem.default(0)
    res = solve(problem, seed=0, prune=False)
    paths += plots.plot_heatmap(res.grid, problem.splits.tolist(), problem.ranks.tolist(),
                                out / "heatmap_split_rank",
                                title="default scenario, seed 0, SflLLM per pair")
    # convergence: the bcd outer loop (from its lower-bound start and from a cold start)
    # and the nested search, a few scenario seeds
    hist: dict[str, dict[int, list[float]]] = {"bcd": {}, "bcd_cold": {}, "nested": {}}
    cold = (int(problem.splits.max()), int(problem.ranks.min()))
    for s in range(2 if quick else 5):
        p = Problem.default(s)
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


# ---------------------------------------------------------------------------- CLI


def _executor(args: argparse.Namespace) -> tuple[Executor | str | None, Any]:
    """(executor, closer) from --serial / --workers / --dask."""
    if getattr(args, "dask", None):
        from distributed import Client

        client = Client(args.dask)
        return client.get_executor(), client
    if args.serial:
        return "serial", None
    if args.workers != 2:
        from concurrent.futures import ProcessPoolExecutor

        ex = ProcessPoolExecutor(max_workers=args.workers)
        return ex, ex
    return None, None


def _close(closer: Any) -> None:
    if closer is None:
        return
    if hasattr(closer, "shutdown"):
        closer.shutdown()
    else:
        closer.close()


def _cmd_compare(args: argparse.Namespace) -> int:
    ex, closer = _executor(args)
    try:
        table = compare(args.seeds, args.methods, executor=ex, progress=not args.quiet)
    finally:
        _close(closer)
    print(format_compare(table))
    if args.csv:
        print(f"\nruns written to {table.to_csv(args.csv)}")
    if args.markdown:
        print("\n" + markdown_compare(table))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    values = args.values if args.values else list(GRIDS[args.param].values)
    ex, closer = _executor(args)
    t0 = time.perf_counter()
    try:
        table = sweep(args.param, values, args.methods or [REFERENCE, *BASELINES],
                      range(args.seeds), executor=ex, progress=not args.quiet)
    finally:
        _close(closer)
    path = table.to_csv(args.out or f"sweep_{args.param}.csv")
    print(f"{len(table)} runs in {time.perf_counter() - t0:.1f} s written to {path}")
    return 0


def _cmd_figures(args: argparse.Namespace) -> int:
    ex, closer = _executor(args)
    t0 = time.perf_counter()
    try:
        paths = make_figures(args.out, quick=args.quick, seeds=args.seeds, executor=ex,
                             progress=not args.quiet)
    finally:
        _close(closer)
    print(f"{len(paths)} files written to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


def _positive(text: str) -> int:
    n = int(text)
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text}")
    return n


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--serial", action="store_true", help="run in this process")
    g.add_argument("--workers", type=_positive, default=2,
                   help="processes of the local pool (default 2)")
    g.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add ``compare``, ``sweep`` and ``figures`` to the ``sfl-opt`` command line."""
    method_names = sorted(METHODS)
    p = subparsers.add_parser("compare", help="SflLLM vs every baseline on the default "
                                              "scenario (mean ± std over seeds)")
    p.add_argument("--seeds", type=_positive, default=10, help="number of seeds (default 10)")
    p.add_argument("--methods", nargs="+", choices=method_names, default=None,
                   help="methods to run (default: sflllm and every baseline)")
    p.add_argument("--csv", metavar="OUT", help="also write the runs as CSV")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    _add_run_options(p)
    p.set_defaults(func=_cmd_compare)

    p = subparsers.add_parser("sweep", help="vary one scenario parameter over methods and "
                                            "seeds; write a tidy CSV")
    p.add_argument("param", choices=sorted(PARAMS),
                   help="; ".join(f"{k}: {v[0]}" for k, v in PARAMS.items())
                   + " (values in SI units: Hz, W, FLOP/s)")
    p.add_argument("--values", nargs="+", type=float,
                   help="grid values in SI units (default: the figures' grid)")
    p.add_argument("--methods", nargs="+", choices=method_names, default=None)
    p.add_argument("--seeds", type=_positive, default=5, help="number of seeds (default 5)")
    p.add_argument("--out", metavar="CSV", help="output CSV (default sweep_PARAM.csv)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser("figures", help="regenerate the paper's figures (PNG, PDF, CSV)")
    p.add_argument("--out", default="docs/figures", help="output folder (default docs/figures)")
    p.add_argument("--quick", action="store_true", help="a small grid and 2 seeds")
    p.add_argument("--seeds", type=_positive, default=None,
                   help="number of seeds (default 10, or 2 with --quick)")
    _add_run_options(p)
    p.set_defaults(func=_cmd_figures)
