"""Subcommands ``sfl-opt profile``, ``measure-rounds`` and ``measure-accuracy``.

``register(subparsers)`` adds them to an argparse subparsers object; torch is imported
only when a command runs, so registering works without the [harness] extra.
"""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path
from typing import Any

from .._io import write_text
from ..errors import ValidationError
from ..harness import require_torch
from ..harness.data import WordTokenizer
from ..harness.rounds import measure_rounds
from ..model.profiles import PROFILES_DIR
from .options import PathList, add_no_progress, add_seeds, float_list, format_seeds, int_list

#: Named model sizes for ``--model`` (``vocab=None``: the bundled task's tokenizer).
MODELS: dict[str, dict[str, Any]] = {
    "gpt2-small": {"layers": 12, "hidden": 768, "heads": 12, "seq": 512, "vocab": 50257},
    "gpt2-tiny": {"layers": 4, "hidden": 64, "heads": 4, "seq": 64, "vocab": None},
    # the rounds(r, I) proxy of SPEC §8.1: rank 16 is 1/8 of the width
    "gpt2-proxy128": {"layers": 4, "hidden": 128, "heads": 4, "seq": 64, "vocab": None},
}

_DEFAULT_DIR = PROFILES_DIR


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", default="gpt2-tiny",
                   help=f"named size: {', '.join(MODELS)} (default gpt2-tiny); "
                        "--layers/--hidden/--heads/--seq/--vocab override it")
    for name in ("layers", "hidden", "heads", "seq", "vocab"):
        p.add_argument(f"--{name}", type=int, default=None)


def _model_config(args: argparse.Namespace) -> Any:
    from ..harness.model import ModelConfig

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
            parts += [flag, shlex.quote(",".join(str(x) for x in val))]
        elif key == "seeds":  # read back by the shared --seeds syntax
            parts += [flag, format_seeds(val)]
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
    p.add_argument("--ranks", type=int_list, default=[1, 8],
                   help="two LoRA ranks r1<r2 for the per-rank FLOPs (default 1,8)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs (median)")
    p.add_argument("--warmup", type=int, default=2, help="untimed runs first")
    p.add_argument("--threads", type=int, default=None, help="torch threads (default torch's)")
    p.add_argument("--seed", type=int, default=0, help="model initialisation seed")
    p.add_argument("--out", default=None, help="output path (default profiles/<device>-<model>"
                                               ".json); an existing rounds table is kept")
    add_no_progress(p)
    p.set_defaults(func=cmd_profile)

    q = subparsers.add_parser(
        "measure-rounds", help="train split federated LoRA per rank and local-iteration count "
                               "to a target validation loss, learning rate tuned per rank, and "
                               "store the rounds(r, I) table in profiles (needs [harness])",
        description="SPEC §8.1: for each rank, tune the AdamW rate over --lr-grid (least mean "
                    "fractional rounds to --target-loss over --seeds, early-stopped), then "
                    "measure fractional rounds at every --local-iters; store rounds[r][I] "
                    "(schema 2) in the 'rounds' entry of each --profile file. Runs are saved "
                    "to the first profile under 'rounds_partial' as they finish and a rerun "
                    "with the same settings resumes from them.")
    _model_args(q)
    q.add_argument("--profile", nargs="+", required=True, action=PathList,
                   help="profile JSON file(s) to update (comma-separated)")
    q.add_argument("--ranks", type=int_list, default=[1, 2, 4, 8, 16])
    add_seeds(q, "3", " of the training runs")
    q.add_argument("--local-iters", type=int_list, default=[1, 5, 20, 50],
                   help="local iterations per round I (default 1,5,20,50)")
    q.add_argument("--lr-grid", type=float_list, default=[1e-3, 3e-3, 1e-2, 3e-2, 1e-1],
                   help="AdamW learning rates tried per rank (default 1e-3..1e-1, 5 values)")
    q.add_argument("--tune-local-iters", default="5",
                   help="the I at which the rate is tuned and reused at the others, or 'each'")
    q.add_argument("--scaling", choices=["fixed-alpha", "rslora"], default="fixed-alpha",
                   help="LoRA scaling alpha/r (peft default) or alpha/sqrt(r) (rsLoRA)")
    q.add_argument("--alpha", type=float, default=8.0, help="LoRA alpha (default 8, peft's)")
    q.add_argument("--target-loss", type=float, required=True)
    q.add_argument("--max-rounds", type=int, default=100, help="round cap of a run")
    q.add_argument("--max-iters", type=int, default=None,
                   help="iteration cap of a run (rounds cap ceil(max_iters / I))")
    q.add_argument("--clients", type=int, default=3)
    q.add_argument("--split", type=int, default=1)
    q.add_argument("--batch", type=int, default=8)
    q.add_argument("--n-train", type=int, default=1200)
    q.add_argument("--n-val", type=int, default=128)
    q.add_argument("--pretrain-steps", type=int, default=300,
                   help="full-parameter pre-training steps of the base on unpaired task text")
    q.add_argument("--eval-every", default="auto",
                   help="within-round evaluation of the virtual FedAvg model every N local "
                        "iterations: an integer, 'auto' (default: ~10 points per round, "
                        "max(1, round(I/10))) or 'none' (round ends only)")
    q.add_argument("--lr-from-profile", action="store_true",
                   help="no learning-rate sweep: reuse the per-rank rates of the first "
                        "profile's rounds.protocol.lr (and record its lr_grid)")
    q.add_argument("--threads", type=int, default=None)
    add_no_progress(q)
    q.set_defaults(func=cmd_measure_rounds)

    c = subparsers.add_parser(
        "measure-convergence", help="the convergence measurement of issue 22 (needs "
                                    "[harness]): centralised 5-epoch references, a target "
                                    "per seed, iterations to target per rank and I; writes "
                                    "the profile's rounds section (schema 3)",
        description="Run sfl_opt.harness.convergence.run_measurement with the bundled plan "
                    "into --out (records.jsonl, progress.log; a rerun resumes), then "
                    "assemble the schema-3 rounds section (table, references, power-law fit, "
                    "calibrated scale, accuracy claim) into each --profile.")
    c.add_argument("--out", required=True, help="measurement folder (resumable)")
    c.add_argument("--profile", nargs="+", required=True, action=PathList,
                   help="profile JSON file(s) to update (comma-separated)")
    c.add_argument("--assemble-only", action="store_true",
                   help="do not run anything: assemble the runs already in --out")
    c.set_defaults(func=cmd_measure_convergence)

    a = subparsers.add_parser(
        "measure-accuracy", help="final validation loss and token accuracy of split federated "
                                 "LoRA vs centralised LoRA at the same rank and sample budget "
                                 "(needs [harness])",
        description="Train SFL (K clients, FedAvg, non-IID) at each --splits and centralised "
                    "LoRA on the union of the data (same rank, rate, number of samples seen) "
                    "from the same pre-trained base; store rows under 'accuracy' in each "
                    "--profile file.")
    _model_args(a)
    a.add_argument("--profile", nargs="+", required=True, action=PathList,
                   help="profile JSON file(s) to update (comma-separated)")
    a.add_argument("--splits", type=int_list, default=[1, 3])
    a.add_argument("--rank", type=int, default=4)
    add_seeds(a, "2", " of the training runs")
    a.add_argument("--rounds", type=int, default=40)
    a.add_argument("--local-iters", type=int, default=5)
    a.add_argument("--lr", type=float, required=True)
    a.add_argument("--scaling", choices=["fixed-alpha", "rslora"], default="fixed-alpha")
    a.add_argument("--alpha", type=float, default=8.0)
    a.add_argument("--clients", type=int, default=3)
    a.add_argument("--batch", type=int, default=8)
    a.add_argument("--n-train", type=int, default=1200)
    a.add_argument("--n-val", type=int, default=128)
    a.add_argument("--pretrain-steps", type=int, default=300)
    a.add_argument("--threads", type=int, default=None)
    add_no_progress(a)
    a.set_defaults(func=cmd_measure_accuracy)


def cmd_profile(args: argparse.Namespace) -> int:
    """Run the profiler and write the profile JSON."""
    require_torch()
    import torch

    from ..harness.profiler import profile_model

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
    write_text(out, json.dumps(prof, indent=1) + "\n")
    w, t = prof["workload"], prof["times"]
    print(f"wrote {out}")
    print(f"  block 2 forward {w['fwd'][1]:.4g} FLOP, backward {w['bwd'][1]:.4g} FLOP per sample;"
          f" effective {t['effective_flops'] / 1e9:.3g} GFLOP/s")
    return 0


def _write_json(path: Path, data: dict[str, Any]) -> None:
    """Write ``data`` to ``path`` atomically (a temporary file, then rename)."""
    write_text(path, json.dumps(data, indent=1) + "\n")


def cmd_measure_rounds(args: argparse.Namespace) -> int:
    """Measure rounds(r, I) and store the table (schema 2) in each profile."""
    require_torch()
    import torch


    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _model_config(args)
    tune = None if args.tune_local_iters == "each" else int(args.tune_local_iters)
    command = _command_line("measure-rounds", args)
    paths = [Path(p) for p in args.profile]
    profs = [json.loads(p.read_text()) for p in paths]
    eval_every = _eval_every(args.eval_every)
    old_protocol: dict[str, Any] = {}
    lr_per_rank = None
    lr_grid = args.lr_grid
    if args.lr_from_profile:
        old_protocol = dict((profs[0].get("rounds") or {}).get("protocol") or {})
        if not isinstance(old_protocol.get("lr"), dict):
            raise ValidationError("lr_from_profile", f"a rounds.protocol.lr table (rank -> "
                                  f"rate) in {paths[0]}", old_protocol.get("lr"))
        lr_per_rank = {int(r): float(v) for r, v in old_protocol["lr"].items()}
        lr_grid = old_protocol.get("lr_grid", lr_grid)
        tune = old_protocol.get("lr_tuned_at_local_iters", tune)
    # Resume: runs saved by an earlier invocation with the same settings (everything but
    # the output files, threads and progress display).
    fingerprint = {k: v for k, v in sorted(vars(args).items())
                   if k not in ("func", "command", "cmd", "profile", "threads", "no_progress")}
    fingerprint["model_dims"] = cfg.to_dict()
    partial = profs[0].get("rounds_partial") or {}
    records = dict(partial.get("runs", {})) if partial.get("fingerprint") == fingerprint else {}
    if records:
        print(f"resuming from {len(records)} saved runs in {paths[0]}")
    store = {"fingerprint": fingerprint, "runs": records}

    def on_record(key: str, rec: dict[str, Any]) -> None:
        store["runs"][key] = rec
        profs[0]["rounds_partial"] = store
        _write_json(paths[0], profs[0])

    table = measure_rounds(
        cfg, ranks=args.ranks, seeds=args.seeds, target_loss=args.target_loss,
        local_iters=args.local_iters, lr_grid=lr_grid,
        tune_local_iters=tune if not args.lr_from_profile or tune in args.local_iters else None,
        scaling=args.scaling, alpha=args.alpha, max_rounds=args.max_rounds,
        max_iters=args.max_iters, clients=args.clients, split=args.split, batch=args.batch,
        n_train=args.n_train, n_val=args.n_val, pretrain_steps=args.pretrain_steps,
        progress=not args.no_progress, records=records, on_record=on_record,
        eval_every=eval_every, lr_per_rank=lr_per_rank)
    if args.lr_from_profile:
        proto = table["protocol"]
        proto["lr_tuned_at_local_iters"] = old_protocol.get("lr_tuned_at_local_iters")
        for k in ("lr_selection", "lr_candidates"):
            if k in old_protocol:
                proto[k] = old_protocol[k]
        proto["lr_source"] = (
            f"read from {paths[0].name} rounds.protocol.lr (no new sweep): tuned per rank at "
            f"I = {old_protocol.get('lr_tuned_at_local_iters')} with round-end evaluation "
            f"(interpolation: {old_protocol.get('interpolation', 'round ends')}) over "
            f"lr_grid")
    table["measured_on"]["name"] = args.model
    table["settings"]["threads"] = torch.get_num_threads()
    table["command"] = command
    for path, prof in zip(paths, profs, strict=True):
        old = prof.get("rounds")
        if old and old.get("schema") != 2:
            table["previous"] = {**{k: old[k] for k in ("ranks", "rounds", "spread", "per_seed",
                                                       "target_loss", "seeds", "measured_on",
                                                       "settings") if k in old},
                                 "superseded_because": _SUPERSEDED}
        elif old and "previous" in old:
            table["previous"] = old["previous"]
        if old and old.get("schema") == 2:
            if "round_end_table" in old:
                table["round_end_table"] = old["round_end_table"]
            elif not (old.get("protocol") or {}).get("eval_every"):
                table["round_end_table"] = {
                    **{k: old[k] for k in ("ranks", "local_iters", "table", "spread",
                                           "per_seed", "target_loss", "seeds", "wall_seconds",
                                           "command") if k in old},
                    "interpolation": (old.get("protocol") or {}).get("interpolation"),
                    "superseded_because": _ROUND_END}
        prof["rounds"] = dict(table)
        prof.pop("rounds_partial", None)
        _write_json(path, prof)
        print(f"updated {path}")
    print("  rounds[r][I] (mean fractional rounds over seeds):")
    print("  rank " + " ".join(f"I={i:<6d}" for i in table["local_iters"]))
    for r in table["ranks"]:
        print(f"  {r:4d} " + " ".join(f"{table['table'][str(r)][str(i)]:8.2f}"
                                      for i in table["local_iters"]))
    return 0


_SUPERSEDED = ("measured with lora_alpha = r (scaling 1) and one learning rate (5e-3) for "
               "every rank, at I = 5 only, with integer rounds on a 64-wide proxy (rank 16 = "
               "1/4 of the width); SPEC §8.1 replaced it by a per-rank tuned rate, fixed-alpha "
               "scaling, fractional rounds and a table over I.")


_ROUND_END = ("validation loss at round ends only, interpolated linearly between them: at "
              "I = 20 and 50 most runs reach the target inside the first round, so the count "
              "was the chord from the loss before training to the loss after round 1, an "
              "upper bound that hid the rank effect; replaced by within-round evaluation of "
              "the virtual FedAvg model (protocol.eval_every).")


def _eval_every(text: str) -> int | str | None:
    """``--eval-every``: 'auto', 'none' or a positive integer."""
    t = str(text).strip().lower()
    if t == "auto":
        return "auto"
    if t == "none":
        return None
    try:
        n = int(t)
    except ValueError:
        n = 0
    if n < 1:
        raise ValidationError("eval_every", "a positive integer, 'auto' or 'none'", text)
    return n


def cmd_measure_convergence(args: argparse.Namespace) -> int:
    """Run (or resume) the convergence measurement and write the profiles' rounds section."""
    require_torch()
    from ..harness import convergence as conv

    if not args.assemble_only:
        conv.main([args.out])
    for path in args.profile:
        sec = conv.write_profile(args.out, path)
        print(f"updated {path}: iterations to target (proxy), scale {sec['scale']:.4g}")
        for r in sec["ranks"]:
            row = sec["iterations"][str(r)]
            print(f"  rank {r:3d} " + " ".join(f"I={i}: {row[str(i)]:.1f}"
                                              for i in sec["local_iters"]))
    return 0


def cmd_measure_accuracy(args: argparse.Namespace) -> int:
    """Measure SFL vs centralised accuracy and store the rows under ``accuracy``."""
    require_torch()
    import torch

    from ..harness.accuracy import measure_accuracy

    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = _model_config(args)
    out = measure_accuracy(
        cfg, splits=args.splits, rank=args.rank, seeds=args.seeds, rounds=args.rounds,
        local_iters=args.local_iters, lr=args.lr, alpha=args.alpha,
        rslora=args.scaling == "rslora", clients=args.clients, batch=args.batch,
        n_train=args.n_train, n_val=args.n_val, pretrain_steps=args.pretrain_steps,
        progress=not args.no_progress)
    out["measured_on"]["name"] = args.model
    out["protocol"]["threads"] = torch.get_num_threads()
    out["command"] = _command_line("measure-accuracy", args)
    for path in args.profile:
        path = Path(path)
        prof = json.loads(path.read_text())
        prof["accuracy"] = out
        _write_json(path, prof)
        print(f"updated {path}")
    for row in out["summary"]:
        print(f"  {row['setting']:12s} split {str(row['split']):4s} rank {row['rank']}: "
              f"val loss {row['val_loss']:.4f}, token accuracy {row['accuracy']:.4f}")
    return 0
