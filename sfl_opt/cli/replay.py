"""``sfl-opt replay``: play a plan in virtual time under perturbations
(:mod:`sfl_opt.replay`) and print predicted vs realised percentiles over seeds."""

from __future__ import annotations

import argparse
import json

import numpy as np

from .._io import write_text
from ..experiments.replay import replay
from ..experiments.replay_figures import make_replay_figures
from ..model.perturbations import Perturbations, load_trace
from ..solve import solve
from .core import load_problem, warm_kernels
from .options import add_seeds


def _cmd_replay(args: argparse.Namespace) -> int:
    problem = load_problem(args.scenario, args.scenario_seed)
    trace = None if args.trace is None else load_trace(args.trace, problem.K)
    pert = Perturbations(rho=args.rho, jitter=args.jitter, straggler_prob=args.straggler_prob,
                         straggler_slowdown=args.straggler_slowdown, dropout=args.dropout,
                         trace=trace)
    warm_kernels()
    kw = ({"fading": "saa", "perturbations": pert, "samples": args.samples, "seed": 0}
          if args.plan == "robust" else {})
    res = solve(problem, **kw)
    out = replay(problem, res, pert, seeds=args.seeds, policy=args.policy,
                 dropouts=args.dropouts, executor="serial" if args.workers <= 1 else None,
                 workers=args.workers, progress=not args.no_progress)
    pc = out.percentiles()
    print(f"plan ({args.plan}): split {res.split}, rank {res.rank}, rounds(r) "
          f"{out.planned_rounds:g}; predicted {out.planned_total:,.2f} s, "
          f"{out.planned_energy:,.1f} J")
    print(f"realised over {out.realised_total.size} seeds (policy {args.policy}, dropouts "
          f"{args.dropouts}): time p5/p50/p95 {pc['time'][5]:,.2f} / {pc['time'][50]:,.2f} / "
          f"{pc['time'][95]:,.2f} s (x{pc['time_ratio'][50]:.3f} the plan at the median); "
          f"energy median {np.median(out.realised_energy):,.1f} J")
    if args.out:
        write_text(args.out, json.dumps(out.to_dict(), indent=1))
        print(f"replays written to {args.out}")
    return 0


def _cmd_replay_figures(args: argparse.Namespace) -> int:
    import sys

    warm_kernels()
    paths = make_replay_figures(args.out, args.seeds,
                                executor="serial" if args.workers <= 1 else None,
                                progress=not args.no_progress, samples=args.samples,
                                command="sfl-opt " + " ".join(sys.argv[1:]))
    print(f"{len(paths)} files written to {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("replay-figures", help="predicted vs realised by perturbation "
                       "strength, and nominal vs robust plans (docs/figures/replay_*)")
    p.add_argument("--out", default="docs/figures")
    add_seeds(p, "20")
    p.add_argument("--samples", type=int, default=32, help="SAA samples of the robust plan")
    p.add_argument("--workers", type=int, default=1, help="processes (1: serial)")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_replay_figures)

    p = sub.add_parser("replay", help="play the plan round by round under perturbations")
    p.add_argument("scenario", nargs="?", default=None, help="scenario JSON (default: the "
                   "default scenario)")
    p.add_argument("--scenario-seed", type=int, default=None)
    p.add_argument("--plan", choices=("nominal", "robust"), default="nominal",
                   help="solve(problem) or the robust SAA plan against the perturbations")
    p.add_argument("--samples", type=int, default=32, help="SAA samples of --plan robust")
    add_seeds(p, "20")
    p.add_argument("--rho", type=float, default=None, help="block-fading correlation in "
                   "[0, 1] (default: no fading)")
    p.add_argument("--jitter", type=float, default=0.0, help="lognormal sigma of the "
                   "per-client, per-round compute time")
    p.add_argument("--straggler-prob", type=float, default=0.0)
    p.add_argument("--straggler-slowdown", type=float, default=1.0)
    p.add_argument("--dropout", type=float, default=0.0, help="probability a client "
                   "misses a round")
    p.add_argument("--trace", default=None, help="availability trace JSON "
                   "(sfl_opt.model.perturbations.load_trace)")
    p.add_argument("--policy", choices=("static", "adaptive"), default="static")
    p.add_argument("--dropouts", choices=("drop", "wait"), default="drop")
    p.add_argument("--workers", type=int, default=1, help="processes (1: serial)")
    p.add_argument("--out", default=None, help="write the replays as JSON")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=_cmd_replay)
