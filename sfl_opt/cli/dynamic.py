"""The radio model's subcommands (SPEC §8.4): ``sfl-opt dynamic`` (one training run
under block fading, :mod:`sfl_opt.experiments.dynamic`) and ``sfl-opt radio-figures``
(:mod:`sfl_opt.experiments.radio_figures`)."""

from __future__ import annotations

import argparse
import csv
import io
import json
from typing import Any

import numpy as np

from .._io import check_writable, write_text
from ..experiments.dynamic import simulate_training
from ..experiments.radio_figures import format_shares, make_radio_figures, stage_share_rows
from ..model.scenario import large_scale_gains
from .core import SCENARIO_SEED, add_radio_options, load_problem
from .options import (
    SEEDS_HELP,
    add_no_progress,
    add_out,
    add_seeds,
    fail,
    seed_count,
    seeds,
    with_default,
)


def _cmd_dynamic(args: argparse.Namespace) -> int:
    problem = load_problem(args.scenario, args.scenario_seed, downlink=args.downlink,
                           band=args.band)
    extra: dict[str, Any] = {}
    if args.scenario is None:  # the default scenario's exact large-scale gains
        ls = large_scale_gains(args.scenario_seed or 0)
        extra["large_scale"] = {n: ls[n] for n in ("s", "f", "d")}
        extra["distance"] = ls["distance"]
    elif args.mobility_step > 0:
        fail("--mobility-step needs the default scenario (client distances)")
    policies = ("static", "adaptive") if args.policy == "both" else (args.policy,)
    out = []
    for policy in policies:
        run = simulate_training(problem, seed=args.seed, policy=policy, rounds=args.rounds,
                                rho=args.rho, pair=args.pair, mobility_step=args.mobility_step,
                                static_power=args.static_power, samples=args.samples,
                                **extra)
        out.append(run)
        print(f"{policy:>8}: split {run.split}, rank {run.rank}, {run.round_delays.size} "
              f"rounds simulated (rounds(r) = {run.rounds_r:g}), total {run.total:,.1f} s, "
              f"certified bound {run.bound:,.1f} s, round delay "
              f"{np.median(run.round_delays):,.2f} s median, re-optimisation "
              f"{1e3 * run.reopt_time.mean():.3f} ms/round")
    if args.out:
        write_text(args.out, json.dumps([r.to_dict() for r in out], indent=1))
        print(f"runs written to {args.out}")
    return 0


def _cmd_radio_figures(args: argparse.Namespace) -> int:
    n = None if args.seeds is None else seed_count(args.seeds)
    paths = make_radio_figures(args.out, quick=args.quick, seeds=n,
                               executor="serial" if args.serial else None,
                               progress=not args.no_progress)
    print(f"{len(paths)} files written to {args.out}")
    return 0


def _cmd_radio_shares(args: argparse.Namespace) -> int:
    if args.out is not None:
        check_writable(args.out, "--out")
    rows = stage_share_rows(args.seeds)
    print(f"SflLLM on the default scenario, mean over {len(args.seeds)} seeds "
          "(scenario seed = method seed); share of T_total per stage")
    print(format_shares(rows))
    if args.out is not None:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        write_text(args.out, buf.getvalue())
        print(f"wrote {args.out}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``dynamic`` to the ``sfl-opt`` command line."""
    p = sub.add_parser("dynamic", help="simulate a training run under block fading")
    p.add_argument("scenario", nargs="?", help="scenario JSON (default: the bundled default)")
    p.add_argument("--scenario-seed", type=int, default=None,
                   help=with_default("seed of the default scenario", SCENARIO_SEED))
    p.add_argument("--seed", type=int, default=0,
                   help="seed of the fading draws (default %(default)s)")
    p.add_argument("--policy", default="both", choices=("adaptive", "static", "both"))
    p.add_argument("--rho", type=float, default=0.0,
                   help="round-to-round fading correlation in [0, 1] (default 0: i.i.d.)")
    p.add_argument("--rounds", type=int, default=None,
                   help="rounds to simulate (default ceil(rounds(r)))")
    p.add_argument("--pair", default="nominal", choices=("nominal", "saa"),
                   help="(split, rank) from the nominal channel or by sample-average "
                        "approximation")
    p.add_argument("--samples", type=int, default=32, help="SAA samples (default %(default)s)")
    p.add_argument("--static-power", default="fixed", choices=("fixed", "resolved"))
    p.add_argument("--mobility-step", type=float, default=0.0,
                   help="random-walk step of the client distances, m per round")
    add_out(p, "the runs as JSON", old="--json")
    add_radio_options(p)
    p.set_defaults(func=_cmd_dynamic)

    p = sub.add_parser("radio-figures", help="figures of the radio options: shared vs "
                                             "separate band, block fading policies")
    p.add_argument("--out", default="docs/figures", help="output folder (default %(default)s)")
    p.add_argument("--quick", action="store_true", help="3 seeds, fewer points")
    p.add_argument("--seeds", type=seeds, default=None,
                   help=f"{SEEDS_HELP}, of the form 0..N-1 (default 10)")
    p.add_argument("--serial", action="store_true", help="run the sweeps in this process")
    add_no_progress(p)
    p.set_defaults(func=_cmd_radio_figures)

    p = sub.add_parser("radio-shares", help="delay share of each stage under each radio "
                                            "model (default scenario, mean over seeds)")
    add_seeds(p, "10")
    add_out(p, "the table as CSV (one row per radio model; shares are fractions)")
    p.set_defaults(func=_cmd_radio_shares)
