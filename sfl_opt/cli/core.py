"""The core subcommands of ``sfl-opt`` (``default``, ``solve``, ``backends``; added by
:func:`register`) and the helpers the other command groups share (``load_problem``,
``add_radio_options``, ``warm_kernels``). The parser is assembled by
:mod:`sfl_opt.cli.main`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from .._io import check_writable, write_text
from ..errors import ValidationError
from ..experiments.report import format_report
from ..methods import METHODS
from ..model.architectures import MODELS
from ..model.hardware import DEVICES, SERVERS
from ..model.problem import Problem
from ..model.scenario import BANDS, DOWNLINKS
from ..power import available_backends, backend_class, registered_backends
from ..solve import ASSIGN, MODES, solve, warmup


def load_problem(path: str | None, scenario_seed: int | None = None,
                 profile: str | None = None, **scenario: Any) -> Problem:
    """The scenario in a JSON file (``-`` for stdin), or the default one (seed
    ``scenario_seed``, default 0; measured ``profile``, default the bundled one; further
    ``Problem.default`` keywords ``scenario``, None values ignored). ``scenario_seed``,
    ``profile`` and ``scenario`` only apply to the default scenario: with a file they are a
    ValidationError."""
    scenario = {k: val for k, val in scenario.items() if val is not None}
    if path is None:
        kw: dict[str, Any] = {} if profile is None else {"profile": profile}
        return Problem.default(seed=0 if scenario_seed is None else scenario_seed, **kw,
                               **scenario)
    if scenario_seed is not None:
        raise ValidationError("--scenario-seed", "no value with a scenario file (it only "
                              "seeds the default scenario)", scenario_seed)
    if profile is not None:
        raise ValidationError("--profile", "no value with a scenario file (it only sets the "
                              "default scenario's workload)", profile)
    if scenario:
        raise ValidationError("scenario", "no default-scenario options (--devices, --server, "
                              "--split-min, --client-memory, --downlink, --band, ...) with a "
                              "scenario file", sorted(scenario))
    text = sys.stdin.read() if path == "-" else Path(path).read_text()
    return Problem.from_json(text)


def _local_iters_arg(text: str) -> int | tuple[int, ...]:
    """``--local-iters``: one integer, or a comma-separated candidate set."""
    try:
        vals = [int(x) for x in str(text).split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an integer or comma-separated integers, got {text!r}") from None
    if not vals:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return vals[0] if len(vals) == 1 else tuple(vals)


#: default-scenario options of ``sfl-opt default`` and ``sfl-opt solve``:
#: flag -> (Problem.default keyword, argparse keywords)
SCENARIO_OPTIONS: dict[str, tuple[str, dict[str, Any]]] = {
    "--devices": ("devices", dict(nargs="+", metavar="DEVICE", choices=sorted(DEVICES),
                                  help="client devices from the catalogue, cycled over the "
                                       "clients (sets client FLOP/s and memory)")),
    "--server": ("server", dict(choices=sorted(SERVERS),
                                help="main server from the catalogue (sets server FLOP/s)")),
    "--model": ("model", dict(choices=sorted(MODELS), metavar="MODEL",
                              help="LLM architecture from the catalogue (analytic workload): "
                                   + ", ".join(sorted(MODELS)))),
    "--clients": ("clients", dict(type=int, metavar="K", help="number of clients (default 5)")),
    "--subchannels": ("subchannels", dict(type=int, metavar="M",
                                          help="subchannels per link (default 20)")),
    "--local-iters": ("local_iters", dict(type=lambda t: _local_iters_arg(t), metavar="I",
                                          help="local iterations per round (default 50; "
                                               "rounds(r, I) from the convergence model), or "
                                               "a comma list of candidates, e.g. 5,20,50,100: "
                                               "solve then chooses I")),
    "--batch": ("batch", dict(type=int, help="samples per local iteration (default 8)")),
    "--split-min": ("split_min", dict(type=int, metavar="L0",
                                      help="privacy floor: candidate splits >= L0")),
    "--client-memory": ("client_memory", dict(type=float, metavar="BYTES",
                                              help="memory per client in bytes (inf: "
                                                   "unlimited; default: the devices' memory)")),
    "--client-energy": ("client_energy", dict(type=float, metavar="J",
                                              help="energy budget per client, J per "
                                                   "training run (default: none)")),
    "--compute-power": ("compute_power", dict(type=float, metavar="W",
                                              help="power each client draws while "
                                                   "computing, W (default: the devices' "
                                                   "catalogue power, else 10 W)")),
    "--noise-figure-db": ("noise_figure_db", dict(type=float, metavar="DB",
                                                  help="receiver noise figure added to "
                                                       "-174 dBm/Hz (default 5)")),
    "--max-se": ("max_se", dict(type=float, metavar="BIT/S/HZ",
                                help="spectral-efficiency cap per subchannel (truncated "
                                     "Shannon; default 7.4, 256-QAM; inf: none)")),
    "--se-attenuation": ("se_attenuation", dict(type=float, metavar="ALPHA",
                                                help="attenuation factor of the truncated "
                                                     "Shannon rate, TR 36.942 (default 1)")),
    "--p-total": ("p_total", dict(type=float, metavar="W",
                                  help="total power cap per link, W (inf: per-device caps "
                                       "only; default 0.6)")),
    "--downlink": ("downlink", dict(choices=DOWNLINKS,
                                    help="downlink model: the paper's fixed rates (default) "
                                         "or allocated subchannels and base-station power")),
    "--band": ("band", dict(choices=BANDS, help="separate s-link and f-link bands (default) "
                                                "or one shared pool")),
}


def add_radio_options(p: argparse.ArgumentParser) -> None:
    """``--downlink`` and ``--band`` (SPEC §8.4) for a command that builds the default
    scenario."""
    p.add_argument("--downlink", default=None, choices=DOWNLINKS,
                   help="downlink model of the default scenario: the paper's fixed rates "
                        "(default) or allocated subchannels and base-station power")
    p.add_argument("--band", default=None, choices=BANDS,
                   help="separate s-link and f-link bands (default) or one shared pool")


def _add_scenario_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("default scenario (Problem.default keywords)")
    for flag, (dest, kw) in SCENARIO_OPTIONS.items():
        g.add_argument(flag, dest=f"scn_{dest}", default=None, **kw)


def scenario_options(args: argparse.Namespace) -> dict[str, Any]:
    """The ``Problem.default`` keywords given on the command line."""
    out = {}
    for dest, _ in SCENARIO_OPTIONS.values():
        val = getattr(args, f"scn_{dest}", None)
        if val is not None:
            out[dest] = val[0] if dest == "devices" and len(val) == 1 else val
    return out


def _cmd_default(args: argparse.Namespace) -> int:
    kw = {} if args.profile is None else {"profile": args.profile}
    print(Problem.default(seed=args.seed, **kw, **scenario_options(args)).to_json())
    return 0


def warm_kernels() -> float:
    """Compile (or load) the Numba kernels; :func:`sfl_opt.solve.warmup` says so on
    stderr (the ``sfl_opt`` logger) when it compiles."""
    return warmup()


def _power_option(text: str) -> tuple[str, Any]:
    """argparse type of ``--power-option KEY=VALUE`` (VALUE parsed as JSON if it can be)."""
    key, sep, raw = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, json.loads(raw)
    except json.JSONDecodeError:
        return key, raw


def _exact_progress(d: dict[str, float]) -> None:
    """One stderr line per progress report of ``method="exact"``."""
    print(f"sfl-opt: exact {d['elapsed']:.0f} s: best {d['delay']:.6g} s, bound "
          f"{d['lower']:.6g} s, gap {d['gap']:.3%}, {d['nodes']:.0f} nodes", file=sys.stderr)


def _cmd_solve(args: argparse.Namespace) -> int:
    if args.json:  # fail before solving, not after
        folder = Path(args.json).resolve().parent
        if not folder.is_dir():
            raise ValidationError("--json", "a path in an existing folder", str(folder))
        check_writable(args.json, "--json")
    problem = load_problem(args.scenario, args.scenario_seed, args.profile,
                           **scenario_options(args))
    spec = METHODS[args.method]
    seed = args.seed
    if seed is None and spec.random:
        seed = 0
        print(f"sfl-opt: method {args.method} is random; using --seed 0 (pass --seed N for "
              "another draw)", file=sys.stderr)
    options: dict[str, Any] = {}
    if args.rank is not None:
        options["rank"] = args.rank
    if args.power_option:
        options["power_options"] = dict(args.power_option)
    if args.method == "exact" and not args.no_progress:
        options["progress"] = _exact_progress
    warm_kernels()
    res = solve(problem, args.method, power=args.power, seed=seed, mode=args.mode,
                refine=False if args.no_refine else None,
                bound=False if args.bound == "none" else args.bound,
                assign=args.assign, time_limit=args.time_limit, kicks=args.kicks,
                max_iter=args.max_iter, max_moves=args.max_moves,
                split_mode=args.split_mode.replace("-", "_"), **options)
    print(format_report(problem, res, show_bound=args.bound != "none"))
    if args.json:
        write_text(args.json, res.to_json())
        print(f"\nresult written to {args.json}")
    return 0 if res.success else 1


def _cmd_backends(args: argparse.Namespace) -> int:
    installed = set(available_backends())
    for name in registered_backends():
        if name in installed:
            cls = backend_class(name)
            print(f"{name:8} installed  [{', '.join(sorted(cls.capabilities))}] {cls.description}")
        else:
            print(f"{name:8} missing    (pip install 'sfl-opt[{name}]')")
    return 0


def register(sub: Any) -> None:
    """Add ``default``, ``solve`` and ``backends`` to an ``argparse`` subparsers object."""
    p = sub.add_parser("default", help="print the default scenario as JSON")
    p.add_argument("--seed", type=int, default=0, help="scenario seed (default 0)")
    _add_scenario_options(p)
    p.add_argument("--profile", metavar="PATH", default=None,
                   help="measured profile JSON (default: the bundled cpu-gpt2-small profile)")
    p.set_defaults(func=_cmd_default)

    p = sub.add_parser("solve", help="solve a scenario and print a report")
    p.add_argument("scenario", nargs="?", help="scenario JSON (default: the bundled default; "
                                               "'-' reads stdin)")
    p.add_argument("--scenario-seed", type=int, default=None,
                   help="seed of the default scenario when no file is given (default 0)")
    p.add_argument("--profile", metavar="PATH", default=None,
                   help="measured profile JSON of the default scenario (default: the bundled "
                        "cpu-gpt2-small profile)")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of random methods and kicks (default 0)")
    p.add_argument("--method", default="sflllm", choices=sorted(METHODS))
    p.add_argument("--power", default=None, choices=registered_backends(),
                   help="power-control backend (default native; installed: "
                        f"{', '.join(available_backends())})")
    p.add_argument("--mode", default=None, choices=MODES,
                   help="search mode of methods that have one (default nested)")
    p.add_argument("--assign", default=None, choices=ASSIGN,
                   help="deprecated: --assign exact is --method milp")
    p.add_argument("--no-refine", action="store_true", help="skip the local search")
    p.add_argument("--bound", default="native", choices=("native", "relaxation", "none"),
                   help="the lower bound (certificate) on the result: the native bound "
                        "(default), the cvxpy time-sharing relaxation, or none")
    p.add_argument("--time-limit", type=float, default=None,
                   help="seconds for the whole solve (the best point and its certified gap "
                        "are reported when it expires)")
    p.add_argument("--no-progress", action="store_true",
                   help="no progress lines on stderr (method exact prints one a second)")
    p.add_argument("--split-mode", default="common", choices=("common", "per-client"),
                   help="one cut for all clients (default) or one per client within its "
                        "own memory (method sflllm)")
    p.add_argument("--rank", type=int, default=None,
                   help="the rank of method fixed_rank (default: the median candidate)")
    p.add_argument("--kicks", type=int, default=None,
                   help="iterated-local-search restarts per link and pair (default automatic)")
    p.add_argument("--max-iter", type=int, default=None,
                   help="outer iterations of mode bcd (default 20)")
    p.add_argument("--max-moves", type=int, default=None,
                   help="local-search moves per link (default 10000)")
    p.add_argument("--power-option", type=_power_option, action="append", metavar="KEY=VALUE",
                   help="an option of the power backend (repeatable; VALUE read as JSON)")
    p.add_argument("--json", metavar="OUT", help="also write the result as JSON")
    _add_scenario_options(p)
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("backends", help="list the power backends and whether they are installed")
    p.set_defaults(func=_cmd_backends)
