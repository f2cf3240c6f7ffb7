"""The core subcommands of ``sfl-opt`` (``default``, ``solve``, ``backends``; added by
:func:`register`) and the helpers the other command groups share (``load_problem``,
``add_radio_options``, ``warm_kernels``). The parser is assembled by
:mod:`sfl_opt.cli.main`.
"""

from __future__ import annotations

import argparse
import inspect
import json
import sys
from pathlib import Path
from typing import Any

from .._io import check_writable, write_text
from ..errors import ValidationError
from ..experiments.report import format_report
from ..methods import METHODS
from ..methods.registry import COMMON_OPTIONS
from ..methods.registry import DEFAULTS as METHOD_DEFAULTS
from ..model.architectures import MODELS
from ..model.hardware import DEVICES, SERVERS
from ..model.problem import Problem
from ..model.scenario import BANDS, DOWNLINKS, default_problem
from ..model.scenario import DEFAULTS as SCENARIO
from ..power import available_backends, backend_class, registered_backends
from ..solve import ASSIGN, BOUNDS, DEFAULT_METHOD, DEFAULT_POWER, MODES, solve, warmup
from .options import add_no_progress, add_out, with_default

#: the seed of the default scenario when none is given (``Problem.default``'s)
SCENARIO_SEED: int = inspect.signature(default_problem).parameters["seed"].default


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
        return Problem.default(seed=SCENARIO_SEED if scenario_seed is None else scenario_seed,
                               **kw,
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
    "--clients": ("clients", dict(type=int, metavar="K", help=with_default(
        "number of clients", SCENARIO["clients"]))),
    "--subchannels": ("subchannels", dict(type=int, metavar="M", help=with_default(
        "subchannels per link", SCENARIO["subchannels"]))),
    "--local-iters": ("local_iters", dict(type=lambda t: _local_iters_arg(t), metavar="I",
                                          help=with_default(
                                              "local iterations per round (rounds(r, I) from "
                                              "the convergence model), or a comma list of "
                                              "candidates, e.g. 5,20,50,100: solve then "
                                              "chooses I", SCENARIO["local_iters"]))),
    "--batch": ("batch", dict(type=int, help=with_default("samples per local iteration",
                                                          SCENARIO["batch"]))),
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
    "--noise-figure-db": ("noise_figure_db", dict(type=float, metavar="DB", help=with_default(
        "receiver noise figure added to -174 dBm/Hz", SCENARIO["noise_figure_db"]))),
    "--max-se": ("max_se", dict(type=float, metavar="BIT/S/HZ", help=with_default(
        "spectral-efficiency cap per subchannel (truncated Shannon; 7.4 is 256-QAM; inf: "
        "none)", SCENARIO["max_se"]))),
    "--se-attenuation": ("se_attenuation", dict(type=float, metavar="ALPHA", help=with_default(
        "attenuation factor of the truncated Shannon rate, TR 36.942",
        SCENARIO["se_attenuation"]))),
    "--p-total": ("p_total", dict(type=float, metavar="W", help=with_default(
        "total power cap per link, W (inf: per-device caps only)", SCENARIO["p_total"]))),
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
    if args.out:  # fail before solving, not after
        folder = Path(args.out).resolve().parent
        if not folder.is_dir():
            raise ValidationError("--out", "a path in an existing folder", str(folder))
        check_writable(args.out, "--out")
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
    if args.out:
        write_text(args.out, res.to_json())
        print(f"\nresult written to {args.out}")
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


def _method_help(name: str, method: str | None = None) -> str:
    """The help of a ``solve`` option from its one declaration (``COMMON_OPTIONS``, or
    ``method``'s own ``Option``): its doc, unit and default."""
    if method is None:
        opt = COMMON_OPTIONS[name]
    else:
        opt = next(o for o in METHODS[method].own if o.name == name)
    unit = f", {opt.unit}" if opt.unit else ""
    scope = f"method {method}: " if method else ""
    return with_default(f"{scope}{opt.doc}{unit}", opt.default)


def register(sub: Any) -> None:
    """Add ``default``, ``solve`` and ``backends`` to an ``argparse`` subparsers object."""
    p = sub.add_parser("default", help="print the default scenario as JSON")
    p.add_argument("--seed", type=int, default=SCENARIO_SEED,
                   help=with_default("scenario seed", SCENARIO_SEED))
    _add_scenario_options(p)
    p.add_argument("--profile", metavar="PATH", default=None,
                   help="measured profile JSON (default: the bundled cpu-gpt2-small profile)")
    p.set_defaults(func=_cmd_default)

    p = sub.add_parser("solve", help="solve a scenario and print a report")
    p.add_argument("scenario", nargs="?", help="scenario JSON (default: the bundled default; "
                                               "'-' reads stdin)")
    p.add_argument("--scenario-seed", type=int, default=None, help=with_default(
        "seed of the default scenario when no file is given", SCENARIO_SEED))
    p.add_argument("--profile", metavar="PATH", default=None,
                   help="measured profile JSON of the default scenario (default: the bundled "
                        "cpu-gpt2-small profile)")
    p.add_argument("--seed", type=int, default=None, help=_method_help("seed"))
    p.add_argument("--method", default=DEFAULT_METHOD, choices=sorted(METHODS),
                   help=with_default("the method (sfl_opt.available_methods())",
                                     DEFAULT_METHOD))
    p.add_argument("--power", default=None, choices=registered_backends(), help=with_default(
        f"power-control backend (installed: {', '.join(available_backends())})",
        DEFAULT_POWER))
    p.add_argument("--mode", default=None, choices=MODES, help=with_default(
        "search mode of methods that have one", METHODS["sflllm"].modes[0]))
    p.add_argument("--assign", default=None, choices=ASSIGN,
                   help="deprecated: --assign exact is --method milp")
    p.add_argument("--no-refine", action="store_true",
                   help=f"no {COMMON_OPTIONS['refine'].doc} (refine is "
                        f"{METHOD_DEFAULTS['refine']} by default)")
    p.add_argument("--bound", default=BOUNDS[0], choices=(*BOUNDS, "none"),
                   help="the lower bound (certificate) on the result: the native bound "
                        "(default), the cvxpy time-sharing relaxation, or none")
    p.add_argument("--time-limit", type=float, default=None, help=_method_help("time_limit"))
    add_no_progress(p, "no progress lines on stderr (method exact prints one a second)")
    p.add_argument("--split-mode", default="common", choices=("common", "per-client"),
                   help="one cut for all clients (default) or one per client within its "
                        "own memory (method sflllm)")
    p.add_argument("--rank", type=int, default=None, help=_method_help("rank", "fixed_rank"))
    p.add_argument("--kicks", type=int, default=None, help=_method_help("kicks"))
    p.add_argument("--max-iter", type=int, default=None, help=_method_help("max_iter"))
    p.add_argument("--max-moves", type=int, default=None, help=_method_help("max_moves"))
    p.add_argument("--power-option", type=_power_option, action="append", metavar="KEY=VALUE",
                   help="an option of the power backend (repeatable; VALUE read as JSON)")
    add_out(p, "the result as JSON", old="--json")
    _add_scenario_options(p)
    p.set_defaults(func=_cmd_solve)

    p = sub.add_parser("backends", help="list the power backends and whether they are installed")
    p.set_defaults(func=_cmd_backends)
