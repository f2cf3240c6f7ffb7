"""``sfl-opt online``: simulate the online scheduler, sweep V, write the figures.

The lead wires :func:`register` into the top-level parser; ``python -m
sfl_opt.online.cli`` runs the subcommand on its own.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

import numpy as np

from .problem import OnlineProblem
from .simulate import POLICIES, simulate, summarize

DEFAULT_SWEEP = "1e2,1e3,1e4,1e5"


def _floats(text: str) -> list[float]:
    try:
        vals = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated numbers, got {text!r}") from None
    if not vals or any(not np.isfinite(x) or x < 0 for x in vals):
        raise argparse.ArgumentTypeError(f"expected finite numbers >= 0, got {text!r}")
    return vals


def register(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``online`` subcommand to ``subparsers`` (sets ``func``)."""
    p = subparsers.add_parser(
        "online", help="online device scheduling and bandwidth allocation (online split "
                       "federated LoRA, arXiv:2407.02924)",
        description="Simulate split federated LoRA with Lyapunov device scheduling and "
                    "exact bandwidth allocation; compare policies and sweep V.")
    p.add_argument("--devices", type=int, default=20, help="number of devices K (default 20)")
    p.add_argument("--seed", type=int, default=0, help="scenario and channel seed (default 0)")
    p.add_argument("--rounds", type=int, default=2000, help="rounds T (default 2000)")
    p.add_argument("--V", type=float, default=1e4,
                   help="penalty weight V, J² per loss unit (default 1e4)")
    p.add_argument("--policy", default="compare", choices=POLICIES + ("compare",),
                   help="policy to run, or 'compare' for all of them (default)")
    p.add_argument("--sweep", type=_floats, default=None, metavar="V1,V2,...",
                   help=f"also run lyapunov for each V (figures default: {DEFAULT_SWEEP})")
    p.add_argument("--budget", type=float, default=None,
                   help="energy budget of every device, J per round (default 0.15)")
    p.add_argument("--figures", action="store_true",
                   help="write online_energy/tradeoff/queues figures and CSVs")
    p.add_argument("--outdir", default="docs/figures", help="figure directory")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bars")
    p.set_defaults(func=run)
    return p


def _row(name: str, tr) -> str:
    s = summarize(tr)
    return (f"{name:<16}{s.penalty:>11.3e}{s.weighted_penalty:>11.4f}{s.participation:>8.2f}"
            f"{s.mean_queue:>10.3f}{s.max_budget_ratio:>10.3f}{tr.deadline_violations:>6d}")


_HEADER = (f"{'policy':<16}{'mean Ψ':>11}{'Σ w_t Ψ':>11}{'N_t':>8}{'mean Q':>10}"
           f"{'E/budget':>10}{'late':>6}")


def run(args: argparse.Namespace) -> int:
    """Execute the subcommand; returns the exit status."""
    kw = {} if args.budget is None else {"energy_budget": args.budget}
    try:
        problem = OnlineProblem.default(seed=args.seed, devices=args.devices, **kw)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    progress = False if args.no_progress else None
    print(f"online scenario: K={problem.K} devices, B={problem.bandwidth / 1e6:g} MHz, "
          f"deadline {problem.deadline:g} s, budget {problem.energy_budget.mean():g} J/round, "
          f"uplink {problem.bits_up / 1e6:.2f} Mbit/round, T={args.rounds} rounds, "
          f"seed {args.seed}")
    print(f"penalty Ψ(N) (loss units): Ψ(0)={problem.psi(0):.3g}, Ψ(1)={problem.psi(1):.3g}, "
          f"Ψ(K)={problem.psi(problem.K):.3g}; E/budget = worst device's time-average "
          "energy over its budget; late = deadline misses")
    try:
        policies = POLICIES if args.policy == "compare" else (args.policy,)
        print(_HEADER)
        runs = {}
        for name in policies:
            tr = simulate(problem, name, args.V, args.rounds, args.seed, progress=progress)
            runs[name] = tr
            label = f"{name}" + (f" V={args.V:g}" if name == "lyapunov" else "")
            print(_row(label[:16], tr))
        sweep = None
        if args.sweep:
            sweep = []
            print(f"\nV sweep (lyapunov)\n{'V':<16}" + _HEADER[16:])
            for V in args.sweep:
                tr = (runs["lyapunov"] if "lyapunov" in runs and V == args.V else
                      simulate(problem, "lyapunov", V, args.rounds, args.seed,
                               progress=progress))
                sweep.append(tr)
                print(_row(f"{V:g}", tr))
        if args.figures:
            from .plots import make_figures

            Vs = args.sweep or _floats(DEFAULT_SWEEP)
            paths = make_figures(problem, Vs, args.rounds, args.seed, args.outdir,
                                 V_energy=args.V, progress=progress, sweep=sweep,
                                 baselines=runs, lyapunov=runs.get("lyapunov"))
            print("\nwrote " + ", ".join(str(p) for p in paths))
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """The ``sfl-opt online [options]`` command on its own (``main(["--devices", "5"])``);
    from the shell use ``sfl-opt online``."""
    parser = argparse.ArgumentParser(prog="sfl-opt")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    args = parser.parse_args(["online", *(sys.argv[1:] if argv is None else argv)])
    return int(args.func(args))


if __name__ == "__main__":
    raise SystemExit(main())
