"""``sfl-opt per-client-gain``: the gain of per-client cut layers over the best common
split per device cohort (:mod:`sfl_opt.experiments.client_gain`), its table and figure.

    sfl-opt per-client-gain --seeds 10                 # docs/figures/per_client_gain.*
    sfl-opt per-client-gain --models gpt2-small --seeds 0-2 --clients 6 --out /tmp/f
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..experiments import client_gain as cg
from .options import add_seeds


def _cmd(args: argparse.Namespace) -> int:
    seeds = args.seeds
    models = [m for m in args.models.split(",") if m] if args.models else None
    cohorts = None
    if args.cohorts:
        names = [c for c in args.cohorts.split(",") if c]
        unknown = [c for c in names if c not in cg.COHORTS]
        if unknown:
            raise ValueError(f"--cohorts: expected names among {sorted(cg.COHORTS)}, got "
                             f"{unknown}")
        cohorts = {c: cg.COHORTS[c] for c in names}
    runs = cg.run(models, cohorts, seeds=seeds, clients=args.clients, server=args.server,
                  progress=not args.no_progress)
    print(cg.format_summary(runs))
    for p in cg.plot(runs, Path(args.out) / "per_client_gain", args.clients, args.server):
        print(f"wrote {p}")
    return 0


def register(subparsers: Any) -> None:
    """Add ``per-client-gain`` to the ``sfl-opt`` command line."""
    p = subparsers.add_parser(
        "per-client-gain", help="gain of per-client cut layers over the best common split, "
                                "per device cohort (table and figure)")
    p.add_argument("--models", default=None,
                   help="comma-separated workloads: gpt2-small (the default), gpt2-shape-LxD "
                        "(analytic GPT-2 shape) or catalogue model names (default: "
                        f"{','.join(cg.MODELS)} with the catalogue, else "
                        f"{','.join(cg.STAND_INS)})")
    p.add_argument("--cohorts", default=None,
                   help=f"comma-separated cohorts (default all: {', '.join(cg.COHORTS)})")
    add_seeds(p, "5")
    p.add_argument("--clients", type=int, default=cg.CLIENTS,
                   help=f"clients per scenario (default {cg.CLIENTS})")
    p.add_argument("--server", default=cg.SERVER, help=f"catalogue server (default {cg.SERVER})")
    p.add_argument("--out", default="docs/figures", help="folder of the figure")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd)
