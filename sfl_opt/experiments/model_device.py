"""Which model on which device: the chosen split and the delay for every catalogue model
(:data:`sfl_opt.models.MODELS`) x client device (:data:`sfl_opt.hardware.DEVICES`).

For each cell and scenario seed: ``solve(Problem.default(seed, model=M, devices=D,
server=SERVER))`` (K clients of device D, SflLLM with memory caps: only (split, rank)
pairs within the device's memory are searched). A cell where no pair fits the device's
memory (the embedding and one block already exceed it) is *memory-infeasible*, marked
in the figure. Per cell: the median T_total over the seeds, the split and rank chosen at
the median seed, the least memory need.

    sfl-opt model-device --seeds 3 --out docs/figures
    python -m sfl_opt.experiments.model_device --seeds 3 --no-progress

writes ``model_device.{png,pdf,csv}`` (one row per run; the CSV's first lines record the
protocol).
"""

from __future__ import annotations

import argparse
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .._io import save_figure, write_text
from ..errors import ValidationError
from ..model.architectures import MODELS
from ..model.hardware import DEVICES
from ..model.memory import memory_table
from ..model.problem import Problem
from ..solve import solve

#: the main server of every scenario (catalogue name)
SERVER = "A100"


def run_cell(model: str, device: str, seed: int, server: str = SERVER,
             **kw: Any) -> dict[str, Any]:
    """One scenario: ``{"model", "device", "seed", "feasible", "delay" (s), "split",
    "rank", "min_need" (bytes, least memory need over the candidates), "memory" (bytes)}``;
    an infeasible cell has ``feasible`` False and NaN delay."""
    dev = DEVICES[device]
    row: dict[str, Any] = {"model": model, "device": device, "seed": seed,
                           "memory": dev.memory, "feasible": False, "delay": math.nan,
                           "split": -1, "rank": -1, "layers": MODELS[model].layers}
    try:
        p = Problem.default(seed, model=model, devices=device, server=server, **kw)
    except ValidationError as exc:
        if exc.field != "client_memory":
            raise
        free = {k: val for k, val in kw.items() if k != "client_memory"}  # no cap
        p = Problem.default(seed, model=model, server=server, **free)
        row["min_need"] = float(memory_table(p.workload, p.batch, p.splits, p.ranks).min())
        return row
    row["min_need"] = float(memory_table(p.workload, p.batch, p.splits, p.ranks).min())
    res = solve(p, seed=seed)
    row.update(feasible=True, delay=float(res.delay), split=int(res.split),
               rank=int(res.rank))
    return row


def model_device_table(seeds: int = 3, models: Sequence[str] | None = None,
                       devices: Sequence[str] | None = None, progress: bool = True,
                       **kw: Any) -> list[dict[str, Any]]:
    """Every (model, device, seed) run of :func:`run_cell` (a progress bar unless
    ``progress`` is False); further ``Problem.default`` keywords ``kw``."""
    from tqdm.auto import tqdm

    models = list(models or MODELS)
    devices = list(devices or DEVICES)
    cells = [(m, d, s) for m in models for d in devices for s in range(seeds)]
    rows = []
    for m, d, s in tqdm(cells, desc="model x device", disable=not progress):
        rows.append(run_cell(m, d, s, **kw))
    return rows


def summarise(rows: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Per (model, device): median delay, the split/rank of the median run, feasibility."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    keys = sorted({(r["model"], r["device"]) for r in rows})
    for key in keys:
        runs = [r for r in rows if (r["model"], r["device"]) == key]
        ok = [r for r in runs if r["feasible"]]
        if not ok:
            out[key] = {"feasible": False, "min_need": runs[0]["min_need"],
                        "memory": runs[0]["memory"]}
            continue
        d = np.array([r["delay"] for r in ok])
        mid = ok[int(np.argsort(d)[len(d) // 2])]
        out[key] = {"feasible": True, "delay": float(np.median(d)), "split": mid["split"],
                    "rank": mid["rank"], "layers": mid["layers"], "n": len(ok)}
    return out


def plot_model_device(rows: list[dict[str, Any]], path: str | Path) -> list[Path]:
    """Heat map: rows models, columns devices, colour log10 median T_total, text the
    split (of L blocks) and rank; memory-infeasible cells hatched and labelled."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    summ = summarise(rows)
    models = [m for m in MODELS if any(k[0] == m for k in summ)]
    devices = [d for d in DEVICES if any(k[1] == d for k in summ)]
    grid = np.full((len(models), len(devices)), np.nan)
    for (m, d), s in summ.items():
        if s["feasible"]:
            grid[models.index(m), devices.index(d)] = math.log10(s["delay"])
    fig, ax = plt.subplots(figsize=(1.7 * len(devices) + 2.5, 0.55 * len(models) + 1.8))
    im = ax.imshow(grid, cmap="viridis_r", aspect="auto")
    for (m, d), s in summ.items():
        i, j = models.index(m), devices.index(d)
        if s["feasible"]:
            ax.text(j, i, f"ℓ={s['split']}/{s['layers']} r={s['rank']}\n"
                          f"{s['delay']:.3g} s", ha="center", va="center", fontsize=7,
                    color="white" if grid[i, j] > np.nanmean(grid) else "black")
        else:
            ax.add_patch(plt.Rectangle((j - 0.5, i - 0.5), 1, 1, fill=False, hatch="xx",
                                       edgecolor="0.6", lw=0))
            ax.text(j, i, f"memory\n{s['min_need'] / 1e9:.1f} > {s['memory'] / 1e9:.0f} GB",
                    ha="center", va="center", fontsize=7, color="0.2")
    ax.set_xticks(range(len(devices)), devices, rotation=25, ha="right", fontsize=8)
    ax.set_yticks(range(len(models)), models, fontsize=8)
    n = max(s.get("n", 0) for s in summ.values())
    ax.set_title(f"Chosen split ℓ/L, rank r and median T_total over {n} seeds "
                 f"(SflLLM, K=5 clients of one device, server {SERVER})", fontsize=9)
    fig.colorbar(im, ax=ax, label="log10 T_total (s)")
    fig.tight_layout()
    path = Path(path)
    out = []
    for ext in ("png", "pdf"):
        save_figure(fig, path.with_suffix(f".{ext}"), dpi=150)
        out.append(path.with_suffix(f".{ext}"))
    plt.close(fig)
    return out


def write_csv(rows: list[dict[str, Any]], path: str | Path, protocol: str) -> Path:
    """One row per run, the protocol in the first (comment) lines."""
    path = Path(path).with_suffix(".csv")
    cols = ["model", "device", "seed", "feasible", "delay", "split", "rank", "layers",
            "min_need", "memory"]
    lines = [f"# {line}" for line in protocol.splitlines()] + [",".join(cols)]
    for r in rows:
        lines.append(",".join(str(r.get(c, "")) for c in cols))
    write_text(path, "\n".join(lines) + "\n")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="sfl-opt model-device", description=__doc__.splitlines()[0])
    add_arguments(ap)
    return run(ap.parse_args(argv))


def add_arguments(ap: argparse.ArgumentParser) -> None:
    ap.add_argument("--seeds", type=int, default=3, help="scenario seeds per cell (0..N-1)")
    ap.add_argument("--out", default="docs/figures", help="folder of model_device.*")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    rows = model_device_table(args.seeds, progress=not args.no_progress)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    cmd = f"sfl-opt model-device --seeds {args.seeds} --out {args.out}"
    protocol = (f"{cmd}\nSflLLM on Problem.default(seed, model=M, devices=D, server={SERVER})"
                ": K=5 clients of device D, memory caps from the device catalogue; "
                "infeasible: no (split, rank) pair within the device's memory")
    write_csv(rows, out / "model_device", protocol)
    for p in plot_model_device(rows, out / "model_device"):
        print(p, file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
