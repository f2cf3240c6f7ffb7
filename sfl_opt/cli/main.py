"""``sfl-opt``: the parser assembled from the command groups, and :func:`main`.

Each command group is a module of this package with a ``register(subparsers)`` function
(which must not import optional dependencies such as torch or cvxpy):
:mod:`.core` (``default``, ``solve``, ``backends``), :mod:`.experiments` (``compare``,
``sweep``, ``figures``), :mod:`.client_gain` (``per-client-gain``), :mod:`.online`
(``online``), :mod:`.dynamic` (``dynamic``,
``radio-figures``), :mod:`.replay` (``replay``, ``replay-figures``) and :mod:`.harness`
(``profile``, ``measure-rounds``, ``measure-accuracy``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from ..errors import MissingDependencyError, SflOptError
from . import client_gain, core, dynamic, experiments, harness, online, replay
from .options import Parser

#: the command groups, in the order of ``sfl-opt --help``
GROUPS = (core, experiments, client_gain, online, dynamic, replay, harness)

#: optional module -> the extra that installs it (for the one-line error message)
EXTRAS = {"cvxpy": "cvxpy", "clarabel": "cvxpy", "pyomo": "pyomo", "highspy": "pyomo",
          "distributed": "dask", "dask": "dask", "torch": "harness",
          "transformers": "harness", "peft": "harness"}


def build_parser() -> argparse.ArgumentParser:
    """The ``sfl-opt`` parser with every command group's subcommands."""
    parser = Parser(
        prog="sfl-opt",
        description="Joint subchannel, power, split and LoRA-rank optimisation for split "
                    "federated fine-tuning of LLMs over wireless networks.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for group in GROUPS:
        group.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``sfl-opt`` with ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except MissingDependencyError as exc:
        print(f"sfl-opt: error: {exc}", file=sys.stderr)
        return 2
    except ImportError as exc:  # an optional dependency imported deep inside a feature
        top = (exc.name or "").split(".")[0]
        if top not in EXTRAS:
            raise
        print(f"sfl-opt: error: {args.command} needs {top}, which is not installed: "
              f"pip install 'sfl-opt[{EXTRAS[top]}]'", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader went away (``sfl-opt solve | head -2``): stop quietly, as cat does;
        # stdout goes to devnull so the interpreter's final flush does not complain
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (SflOptError, ValueError, OSError) as exc:
        print(f"sfl-opt: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
