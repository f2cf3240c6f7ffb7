"""Subcommands ``sfl-opt profile`` and ``sfl-opt measure-rounds``.

``register(subparsers)`` adds them to an argparse subparsers object; torch is imported
only when a command runs, so registering works without the [harness] extra.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from ..profiles import PROFILES_DIR

#: Named model sizes for ``--model`` (``vocab=None``: the bundled task's tokenizer).
MODELS: dict[str, dict[str, Any]] = {
    "gpt2-small": {"layers": 12, "hidden": 768, "heads": 12, "seq": 512, "vocab": 50257},
    "gpt2-tiny": {"layers": 4, "hidden": 64, "heads": 4, "seq": 64, "vocab": None},
}

_DEFAULT_DIR = PROFILES_DIR


def _int_list(text: str) -> list[int]:
    try:
        out = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated integers, got {text!r}") from None
    if not out:
        raise argparse.ArgumentTypeError("expected at least one integer")
    return out


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gpt2-tiny",
                   help=f"named size: {', '.join(MODELS)} (default gpt2-tiny); "
                        "--layers/--hidden/--heads/--seq/--vocab override it")
    for name in ("layers", "hidden", "heads", "seq", "vocab"):
        p.add_argument(f"--{name}", type=int, default=None)


def _model_config(args: argparse.Namespace) -> Any:
    from .data import WordTokenizer
    from .model import ModelConfig

    if args.model not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {args.model!r}")
    dims = dict(MODELS[args.model])
    for name in ("layers", "hidden", "heads", "seq", "vocab"):
        if getattr(args, name) is not None:
            dims[name] = getattr(args, name)
    if dims["vocab"] is None:
        dims["vocab"] = WordTokenizer().vocab_size
    return ModelConfig(**dims)


def _command_line(name: str, args: argparse.Namespace) -> str:
    """The ``sfl-opt`` command line that reproduces ``args`` (every option spelled out)."""
    parts = ["sfl-opt", name]
    for key, val in sorted(vars(args).items()):
        if key in ("func", "command", "cmd") or val is None or val is False:
            continue
        flag = "--" + key.replace("_", "-")
        if val is True:
            parts.append(flag)
        elif isinstance(val, list) and key == "profile":
            parts += [flag, *(shlex.quote(str(x)) for x in val)]
        elif isinstance(val, list):
            parts += [flag, ",".join(str(x) for x in val)]
        else:
            parts += [flag, shlex.quote(str(val))]
    return " ".join(parts)


def register(subparsers: Any) -> None:
    """Add ``profile`` and ``measure-rounds`` to an ``argparse`` subparsers object."""
    p = subparsers.add_parser(
        "profile", help="measure FLOPs, times, activation/adapter sizes and memory per block "
                        "(needs sfl-opt[harness])",
        description="Measure the per-sample workload (SPEC §2) of a GPT-2-architecture model "
                    "with LoRA on q/v on this machine and write profiles/<device>-<model>.json.")
    _model_args(p)
    p.add_argument("--device", default="cpu", help="device label used in the file name")
    p.add_argument("--batch", type=int, default=1, help="samples per measurement")
    p.add_argument("--ranks", type=_int_list, default=[1, 8],
                   help="two LoRA ranks r1<r2 for the per-rank FLOPs (default 1,8)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    p.add_argument("--seed", type=int, default=0, help="model initialisation seed")
    p.add_argument("--out", default=None, help="output path (default profiles/<device>-<model>"
                                               ".json); an existing rounds table is kept")
    p.add_argument("--no-progress", action="store_true")
    p.set_defaults(func=cmd_profile)

    q = subparsers.add_parser(
        "measure-rounds", help="train split federated LoRA per rank to a target validation "
                               "loss and store the rounds table in profiles (needs [harness])",
        description="For each rank and seed, train the split federated setup on the bundled "
                    "task until the validation loss reaches --target-loss; store mean rounds "
                    "per rank (and spread) in the 'rounds' table of each --profile file.")
    _model_args(q)
    q.add_argument("--profile", nargs="+", required=True, help="profile JSON file(s) to update")
    q.add_argument("--ranks", type=_int_list, default=[1, 2, 4, 8, 16])
    q.add_argument("--seeds", type=_int_list, default=[0, 1, 2])
    q.add_argument("--target-loss", type=float, required=True)
    q.add_argument("--max-rounds", type=int, default=100)
    q.add_argument("--clients", type=int, default=3)
    q.add_argument("--split", type=int, default=1)
    q.add_argument("--local-iters", type=int, default=5)
    q.add_argument("--batch", type=int, default=8)
    q.add_argument("--lr", type=float, default=5e-3)
    q.add_argument("--n-train", type=int, default=1200)
    q.add_argument("--n-val", type=int, default=128)
    q.add_argument("--pretrain-steps", type=int, default=300,
                   help="full-parameter pre-training steps of the base on unpaired task text")
    q.add_argument("--threads", type=int, default=None)
    q.add_argument("--no-progress", action="store_true")
    q.set_defaults(func=cmd_measure_rounds)


def cmd_profile(args: argparse.Namespace) -> int:
    """Run the profiler and write the profile JSON."""
    from . import require_torch

    require_torch()
    import torch

    from .profiler import profile_model

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _model_config(args)
    if len(args.ranks) != 2:
        raise ValueError(f"ranks: expected two ranks r1,r2, got {args.ranks}")
    prof = profile_model(cfg, batch=args.batch, ranks=tuple(args.ranks), repeats=args.repeats,
                         warmup=args.warmup, seed=args.seed, progress=not args.no_progress,
                         device=args.device, command=_command_line("profile", args))
    prof["model"]["name"] = args.model
    out = Path(args.out) if args.out else _DEFAULT_DIR / f"{args.device}-{args.model}.json"
    if out.exists():
        old = json.loads(out.read_text())
        if "rounds" in old:
            prof["rounds"] = old["rounds"]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(prof, indent=1) + "\n")
    w, t = prof["workload"], prof["times"]
    print(f"wrote {out}")
    print(f"  block 2 forward {w['fwd'][1]:.4g} FLOP, backward {w['bwd'][1]:.4g} FLOP per sample;"
          f" effective {t['effective_flops'] / 1e9:.3g} GFLOP/s")
    return 0


def cmd_measure_rounds(args: argparse.Namespace) -> int:
    """Measure rounds-to-target per rank and store the table in each profile."""
    from . import require_torch

    require_torch()
    import torch

    from .rounds import measure_rounds

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _model_config(args)
    table = measure_rounds(
        cfg, ranks=args.ranks, seeds=args.seeds, target_loss=args.target_loss,
        max_rounds=args.max_rounds, clients=args.clients, split=args.split,
        local_iters=args.local_iters, batch=args.batch, lr=args.lr, n_train=args.n_train,
        n_val=args.n_val, pretrain_steps=args.pretrain_steps, progress=not args.no_progress)
    table["measured_on"]["name"] = args.model
    table["command"] = _command_line("measure-rounds", args)
    for path in args.profile:
        path = Path(path)
        prof = json.loads(path.read_text())
        prof["rounds"] = table
        path.write_text(json.dumps(prof, indent=1) + "\n")
        print(f"updated {path}")
    for r, m, s in zip(table["ranks"], table["rounds"], table["spread"], strict=True):
        print(f"  rank {r:3d}: {m:7.2f} rounds (std {s:.2f})")
    return 0
