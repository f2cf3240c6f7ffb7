"""The experiment subcommands of ``sfl-opt`` (registered by :func:`register`):

    sfl-opt compare --seeds 10                 # SflLLM vs every baseline, default scenario
    sfl-opt compare --downlink allocated --band shared   # ... with the §8.4 radio options
    sfl-opt sweep clients --values 2,4,8 --out clients.csv
    sfl-opt figures                            # everything into docs/figures/
    sfl-opt figures --quick                    # a small grid (smoke test)

The work is done by :mod:`sfl_opt.experiments.analysis` (comparison, summaries),
:mod:`sfl_opt.experiments.report` (tables), :mod:`sfl_opt.experiments.figures` (figures)
and :mod:`sfl_opt.experiments.sweep` (runs, executor scope).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import Executor
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

from .._io import check_writable
from ..errors import ValidationError
from ..experiments import model_device
from ..experiments.analysis import BASELINES, REFERENCE, compare
from ..experiments.figures import GRIDS, make_figures
from ..experiments.report import format_compare, markdown_compare
from ..experiments.sweep import PARAMS, SweepTable, executor_scope, implausible, sweep
from ..methods import METHODS
from ..model.problem import Problem
from .core import add_radio_options
from .options import (
    SEEDS_HELP,
    add_no_progress,
    add_out,
    add_seeds,
    comma_list,
    float_list,
    seed_count,
)
from .options import seeds as seeds_type

#: the command that reproduces the README's comparison table
REPRODUCE = "sfl-opt compare --seeds 10"
#: the command that reproduces the README's second table (SPEC §8.4 radio options)
REPRODUCE_RADIO = "sfl-opt compare --seeds 10 --downlink allocated --band shared --markdown"


def _scope(args: argparse.Namespace) -> AbstractContextManager[Executor | str]:
    """The executor scope of --serial / --workers / --dask."""
    return executor_scope("serial" if args.serial else None, workers=args.workers,
                          dask=getattr(args, "dask", None))


def _base(args: argparse.Namespace) -> dict[str, Any] | None:
    """``Problem.default`` keywords of the scenario options (``--profile``, and
    ``--downlink``/``--band`` where the command has them)."""
    out = {k: val for k in ("downlink", "band", "profile")
           if (val := getattr(args, k, None)) is not None}
    return out or None


def _check_before_run(args: argparse.Namespace, out: str | Path | None = None,
                      option: str = "--out") -> Problem:
    """What can fail for every task fails once, before any task runs: the scenario
    options (a bad ``--profile`` is one error, not one per run) and the output path."""
    scenario = Problem.default(0, **(_base(args) or {}))
    if out is not None:
        check_writable(out, option)
    return scenario


def _report_failures(table: SweepTable) -> int:
    """Print the failed runs (one line each) to stderr; 1 if there are any, else 0."""
    bad = table.failed()
    for r in bad:
        print(f"sfl-opt: run {r.param}={r.value:g} {r.method} seed {r.seed} failed: {r.error}",
              file=sys.stderr)
    return 1 if bad else 0


def _cmd_compare(args: argparse.Namespace) -> int:
    radio = {k: val for k, val in (("downlink", args.downlink), ("band", args.band))
             if val is not None}
    scenario = _check_before_run(args, args.out, "--out")
    with _scope(args) as ex:
        table = compare(args.seeds, _methods(args.methods), executor=ex,
                        progress=not args.no_progress, base=_base(args))
    if _report_failures(table):
        return 1
    print(format_compare(table, scenario=scenario))
    if radio:
        print("radio options: " + ", ".join(f"{k}={val}" for k, val in radio.items()))
    if args.out:
        print(f"\nruns written to {table.to_csv(args.out)}")
    if args.markdown:
        print("\n" + markdown_compare(table))
    return 0


def _cmd_sweep(args: argparse.Namespace) -> int:
    values = [x for part in args.values for x in part] if args.values \
        else list(GRIDS[args.param].values)
    for x in values:
        warning = implausible(args.param, x)
        if warning:
            print(f"sfl-opt: warning: {warning}", file=sys.stderr)
    out = args.out or f"sweep_{args.param}.csv"
    _check_before_run(args, out)
    t0 = time.perf_counter()
    with _scope(args) as ex:
        table = sweep(args.param, values, _methods(args.methods) or [REFERENCE, *BASELINES],
                      args.seeds, executor=ex, progress=not args.no_progress,
                      base=_base(args))
    path = table.to_csv(out)
    print(f"{len(table)} runs in {time.perf_counter() - t0:.1f} s written to {path}")
    if table.failed():
        print(f"{len(table.failed())} run(s) failed (status 'error', message in the error "
              "column)")
    return _report_failures(table)


def _cmd_figures(args: argparse.Namespace) -> int:
    _check_before_run(args, Path(args.out) / "comparison.png")
    t0 = time.perf_counter()
    with _scope(args) as ex:
        n = None if args.seeds is None else seed_count(args.seeds)
        paths = make_figures(args.out, quick=args.quick, seeds=n, executor=ex,
                             progress=not args.no_progress, base=_base(args))
    print(f"{len(paths)} files written to {args.out} in {time.perf_counter() - t0:.1f} s")
    return 0


#: argparse type of ``--methods`` (comma-separated; several words are joined)
_METHOD_LIST = comma_list(str, "method names")


def _methods(given: list[list[str]] | None) -> list[str] | None:
    """The ``--methods`` given (comma lists, also as several words), each registered."""
    if not given:
        return None
    names = [m for part in given for m in part]
    unknown = [m for m in names if m not in METHODS]
    if unknown:
        raise ValidationError("--methods", f"registered methods {sorted(METHODS)}", unknown)
    return names


def _positive(text: str) -> int:
    """argparse type: an integer >= 1 (argparse prefixes the option's name)."""
    try:
        n = int(text)
    except ValueError:
        n = 0
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1, got {text!r}")
    return n


#: unit of each swept parameter's values on the command line (SI, as everywhere)
SI_UNITS = {"clients": "count", "subchannel_bw": "Hz", "p_max": "W",
            "client_flops": "mean FLOP/s", "server_flops": "FLOP/s", "local_iters": "count",
            "seq": "tokens"}


def add_profile_option(p: argparse.ArgumentParser) -> None:
    """``--profile PATH``: the measured profile of the default scenario."""
    p.add_argument("--profile", metavar="PATH", default=None,
                   help="measured profile JSON of the default scenario (default: the "
                        "bundled cpu-gpt2-small profile)")


def _add_run_options(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument("--serial", action="store_true", help="run in this process")
    g.add_argument("--workers", type=_positive, default=2,
                   help="processes of the local pool (default %(default)s)")
    g.add_argument("--dask", metavar="ADDRESS",
                   help="run on a Dask cluster (scheduler address, e.g. tcp://host:8786)")
    add_no_progress(p)


def register(subparsers: Any) -> None:
    """Add ``compare``, ``sweep`` and ``figures`` to the ``sfl-opt`` command line."""
    method_names = sorted(METHODS)
    p = subparsers.add_parser("compare", help="SflLLM vs every baseline on the default "
                                              "scenario (mean ± std over seeds)")
    add_seeds(p, "10")
    p.add_argument("--methods", nargs="+", type=_METHOD_LIST, default=None,
                   help=f"comma-separated methods to run, of {','.join(method_names)} "
                        "(default: sflllm and every baseline)")
    add_out(p, "the runs as CSV", old="--csv", metavar="CSV")
    p.add_argument("--markdown", action="store_true", help="also print a Markdown table")
    add_radio_options(p)
    add_profile_option(p)
    _add_run_options(p)
    p.set_defaults(func=_cmd_compare)

    p = subparsers.add_parser("model-device", help="chosen split and delay per catalogue "
                              "model x client device, memory-infeasible cells marked "
                              "(model_device.png/pdf/csv)")
    model_device.add_arguments(p)
    p.set_defaults(func=model_device.run)

    p = subparsers.add_parser(
        "sweep", help="vary one scenario parameter over methods and seeds; write a tidy CSV",
        description="Vary one scenario parameter of the default scenario over methods and "
                    "seeds. Every value is in SI units (Hz, W, FLOP/s): 1 MHz is 1e6; a "
                    "value far outside the plausible range draws a warning.")
    p.add_argument("param", choices=sorted(PARAMS),
                   help="; ".join(f"{k} ({SI_UNITS[k]})" for k in PARAMS))
    p.add_argument("--values", nargs="+", type=float_list,
                   help="comma-separated grid values in SI units, e.g. 5e5,1e6,2e6 for "
                        "subchannel_bw in Hz (default: the figures' grid)")
    p.add_argument("--methods", nargs="+", type=_METHOD_LIST, default=None,
                   help=f"comma-separated methods, of {','.join(method_names)}")
    add_seeds(p, "5")
    p.add_argument("--out", metavar="CSV", help="output CSV (default sweep_PARAM.csv)")
    add_profile_option(p)
    _add_run_options(p)
    p.set_defaults(func=_cmd_sweep)

    p = subparsers.add_parser("figures", help="regenerate the paper's figures (PNG, PDF, CSV)")
    p.add_argument("--out", default="docs/figures", help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="a small grid and 2 seeds")
    p.add_argument("--seeds", type=seeds_type, default=None,
                   help=f"{SEEDS_HELP}, of the form 0..N-1 (default 10, or 2 with --quick)")
    add_profile_option(p)
    _add_run_options(p)
    p.set_defaults(func=_cmd_figures)


__all__ = ["REPRODUCE", "register"]
