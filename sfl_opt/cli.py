"""``sfl-opt`` command line.

Core subcommands live here (``default``, ``solve``, ``backends``); other layers add
theirs through a ``register(subparsers)`` function in the modules of ``PLUGINS``, which
must not import optional dependencies (torch, cvxpy, ...) at registration time.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from pathlib import Path

from .errors import SflOptError, ValidationError
from .methods import METHODS
from .power import available_backends, registered_backends
from .problem import Problem
from .report import format_report
from .scenario import BANDS, DOWNLINKS
from .solve import ASSIGN, MODES, solve

#: modules that add subcommands (compare/sweep/figures, online, harness)
PLUGINS = ("sfl_opt.experiments", "sfl_opt.online.cli", "sfl_opt.dynamic_cli",
           "sfl_opt.harness.cli")


def load_problem(path: str | None, scenario_seed: int = 0, **radio: str | None) -> Problem:
    """The scenario in a JSON file (``-`` for stdin), or the default one; ``radio``
    (``downlink``, ``band``: SPEC §8.4 options, None = the default) only apply to the
    default scenario."""
    radio = {k: val for k, val in radio.items() if val is not None}
    if path is None:
        return Problem.default(seed=scenario_seed, **radio)
    if radio:
        name = sorted(radio)[0]
        raise ValidationError(name, "no radio option with a scenario file (the file fixes "
                              "the radio model)", radio[name])
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return Problem.from_json(text)


def add_radio_options(p: argparse.ArgumentParser) -> None:
    """``--downlink`` and ``--band`` (SPEC §8.4) for a command that builds the default
    scenario."""
    p.add_argument("--downlink", default=None, choices=DOWNLINKS,
                   help="downlink model of the default scenario: the paper's fixed rates "
                        "(default) or allocated subchannels and base-station power")
    p.add_argument("--band", default=None, choices=BANDS,
                   help="separate s-link and f-link bands (default) or one shared pool")


def _cmd_default(args: argparse.Namespace) -> int:
    radio = {k: val for k, val in (("downlink", args.downlink), ("band", args.band))
             if val is not None}
    print(Problem.default(seed=args.seed, **radio).to_json())
    return 0


def _cmd_solve(args: argparse.Namespace) -> int:
    problem = load_problem(args.scenario, args.scenario_seed, downlink=args.downlink,
                           band=args.band)
    res = solve(problem, args.method, power=args.power, seed=args.seed, mode=args.mode,
                refine=False if args.no_refine else None, bound=args.bound,
                assign=args.assign, time_limit=args.time_limit)
    print(format_report(problem, res))
    if args.json:
        Path(args.json).write_text(res.to_json())
        print(f"\nresult written to {args.json}")
    return 0 if res.success else 1


def _cmd_backends(args: argparse.Namespace) -> int:
    from .power import backend_class

    installed = set(available_backends())
    for name in registered_backends():
        if name in installed:
            cls = backend_class(name)
            print(f"{name:8} installed  [{', '.join(sorted(cls.capabilities))}] {cls.description}")
        else:
            print(f"{name:8} missing    (pip install 'sfl-opt[{name}]')")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="sfl-opt",
        description="Joint subchannel, power, split and LoRA-rank optimisation for split "
                    "federated fine-tuning of LLMs over wireless networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    p = sub.add_parser("default", help="print the default scenario as JSON")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    add_radio_options(p)
    p.set_defaults(func=_cmd_default)

    p = sub.add_parser("solve", help="solve a scenario and print a report")
    p.add_argument("scenario", nargs="?", help="scenario JSON (default: the bundled default; "
                                               "'-' reads stdin)")
    p.add_argument("--scenario-seed", type=int, default=0,
                   help="seed of the default scenario when no file is given (default 0)")
    p.add_argument("--seed", type=int, default=None, help="seed of random methods")
    p.add_argument("--method", default="sflllm", choices=sorted(METHODS))
    p.add_argument("--power", default=None, choices=registered_backends(),
                   help="power-control backend (default native; installed: "
                        f"{', '.join(available_backends())})")
    p.add_argument("--mode", default=None, choices=MODES,
                   help="search mode of methods that have one (default nested)")
    p.add_argument("--assign", default=None, choices=ASSIGN,
                   help="deprecated: --assign exact is --method milp")
    p.add_argument("--no-refine", action="store_true", help="skip the local search")
    p.add_argument("--bound", action="store_true", help="also compute a lower bound")
    p.add_argument("--time-limit", type=float, default=None, help="seconds")
    p.add_argument("--json", metavar="OUT", help="also write the result as JSON")
    add_radio_options(p)
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("backends", help="list the power backends and whether they are installed")
    p.set_defaults(func=_cmd_backends)

    for mod_name in PLUGINS:
        try:
            mod = importlib.import_module(mod_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and mod_name.startswith(exc.name):
                continue  # that layer is not part of this build
            raise
        mod.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (SflOptError, ValueError, OSError) as exc:
        print(f"sfl-opt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
