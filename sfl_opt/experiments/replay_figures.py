"""Predicted vs realised training time (``docs/figures/replay_*``) and the measured
comparison of the nominal and the robust plan under the same replays.

- ``replay_strength.{csv,png}``: the default scenario's nominal plan replayed
  (:func:`sfl_opt.replay.replay`) under one perturbation kind at a time, by strength:
  block fading (i.i.d. Rayleigh per round, strength = 1 − rho), compute jitter
  (lognormal sigma = strength), stragglers (probability strength/2, slowdown x4) and
  dropouts (probability strength/2, drop-and-continue), each with the ``static`` and
  ``adaptive`` policies; realised / predicted time, median and 5–95 % over seeds;
- ``replay_robust.csv``: for each scenario of :data:`ROBUST_SCENARIOS`, the nominal plan
  ``solve(problem)`` and the robust plan ``solve(problem, fading="saa",
  perturbations=P, samples=S)`` replayed under the same perturbations ``P`` and the same
  seeds (common random numbers; seeds disjoint from the SAA's samples), adaptive policy:
  median realised time and the paired per-seed difference (mean with a 95 % normal
  interval, and the seeds where the robust plan is faster).

Every CSV starts with ``#`` lines recording the command, seeds and settings.
Units: s.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np

from .._io import atomic_write, save_figure
from ..model.perturbations import Perturbations
from ..model.problem import Problem
from ..solve import solve
from .replay import replay

#: perturbation kinds of the strength figure: name -> strength -> Perturbations
KINDS = {
    "fading": lambda s: Perturbations(rho=1.0 - s) if s > 0 else Perturbations(),
    "jitter": lambda s: Perturbations(jitter=s),
    "stragglers": lambda s: Perturbations(straggler_prob=s / 2, straggler_slowdown=4.0),
    "dropouts": lambda s: Perturbations(dropout=s / 2),
}
STRENGTHS = (0.0, 0.25, 0.5, 0.75, 1.0)
#: scenarios of the robust comparison: label -> Problem.default keywords
ROBUST_SCENARIOS: dict[str, dict[str, Any]] = {
    "default": {},
    "jetson-agx-orin-64gb + L4": {"devices": "jetson-agx-orin-64gb", "server": "L4"},
    "laptop-rtx-4060 + L4, K=10": {"devices": "laptop-rtx-4060", "server": "L4",
                                   "clients": 10},
}
#: the perturbations of the robust comparison
ROBUST_PERTURBATIONS = Perturbations(rho=0.0, jitter=0.5, straggler_prob=0.1,
                                     straggler_slowdown=4.0, dropout=0.1)


def _write_csv(path: Path, header: Sequence[str], rows: list[dict[str, Any]],
               notes: Sequence[str]) -> None:
    with atomic_write(path, "w", newline="") as fh:
        for n in notes:
            fh.write(f"# {n}\n")
        w = csv.DictWriter(fh, fieldnames=list(header))
        w.writeheader()
        for r in rows:
            w.writerow({k: (f"{x:.6g}" if isinstance(x, float) else x) for k, x in r.items()})


def strength_rows(problem: Problem, seeds: Sequence[int], strengths: Sequence[float] =
                  STRENGTHS, executor: Executor | str | None = "serial",
                  progress: bool = False) -> list[dict[str, Any]]:
    """Rows (kind, strength, policy, predicted, realised median/p5/p95, ratios) of the
    nominal plan of ``problem`` replayed under each kind and strength."""
    res = solve(problem)
    rows = []
    for kind, make in KINDS.items():
        for s in strengths:
            for policy in ("static", "adaptive"):
                out = replay(problem, res, make(float(s)), seeds=seeds, policy=policy,
                             executor=executor, progress=progress)
                t = out.realised_total
                rows.append({"kind": kind, "strength": float(s), "policy": policy,
                             "predicted_s": out.planned_total,
                             "realised_median_s": float(np.median(t)),
                             "realised_p5_s": float(np.percentile(t, 5)),
                             "realised_p95_s": float(np.percentile(t, 95)),
                             "ratio_median": float(np.median(t) / out.planned_total),
                             "energy_median_j": float(np.median(out.realised_energy)),
                             "predicted_energy_j": out.planned_energy})
    return rows


def robust_rows(seeds: Sequence[int], samples: int = 32,
                pert: Perturbations = ROBUST_PERTURBATIONS,
                scenarios: dict[str, dict[str, Any]] | None = None,
                executor: Executor | str | None = "serial",
                progress: bool = False) -> list[dict[str, Any]]:
    """Rows of the nominal-vs-robust comparison (module docstring)."""
    rows = []
    for label, kw in (ROBUST_SCENARIOS if scenarios is None else scenarios).items():
        p = Problem.default(0, **kw)
        plans = {"nominal": solve(p),
                 "robust": solve(p, fading="saa", perturbations=pert, samples=samples,
                                 seed=0)}
        real = {}
        for name, res in plans.items():
            out = replay(p, res, pert, seeds=seeds, policy="adaptive", executor=executor,
                         progress=progress)
            real[name] = out.realised_total
        diff = real["robust"] - real["nominal"]
        half = 1.96 * float(np.std(diff, ddof=1)) / math.sqrt(diff.size) if diff.size > 1 \
            else float("nan")
        for name, res in plans.items():
            rows.append({"scenario": label, "plan": name, "split": res.split,
                         "rank": res.rank, "predicted_s": res.delay,
                         "realised_median_s": float(np.median(real[name])),
                         "realised_p5_s": float(np.percentile(real[name], 5)),
                         "realised_p95_s": float(np.percentile(real[name], 95)),
                         "robust_minus_nominal_mean_s": float(diff.mean()),
                         "ci95_half_s": half,
                         "robust_faster_seeds": int((diff < 0).sum()),
                         "seeds": diff.size})
    return rows


def make_replay_figures(out: str | Path, seeds: int | Sequence[int] = 20,
                        executor: Executor | str | None = "serial", progress: bool = True,
                        samples: int = 32, command: str = "") -> list[Path]:
    """Write ``replay_strength.{csv,png}`` and ``replay_robust.csv`` into ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    seeds = list(range(seeds)) if isinstance(seeds, int) else list(seeds)
    problem = Problem.default(0)
    rows = strength_rows(problem, seeds, executor=executor, progress=progress)
    notes = [f"command: {command or 'make_replay_figures'}",
             f"scenario: Problem.default(0) ({problem.rounds_source}); plan solve(problem); "
             f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)})",
             "kinds: fading rho = 1 - strength (0: none); jitter lognormal sigma = strength; "
             "stragglers prob strength/2 slowdown 4; dropouts prob strength/2 "
             "(drop-and-continue, a round with K' of K clients adds K'/K of a round)"]
    paths = [folder / "replay_strength.csv", folder / "replay_strength.png",
             folder / "replay_robust.csv"]
    _write_csv(paths[0], list(rows[0]), rows, notes)
    fig, axes = plt.subplots(1, len(KINDS), figsize=(3.2 * len(KINDS), 3.2), sharey=True)
    for ax, kind in zip(axes, KINDS, strict=True):
        for policy, colour in (("static", "C0"), ("adaptive", "C1")):
            rs = [r for r in rows if r["kind"] == kind and r["policy"] == policy]
            x = [r["strength"] for r in rs]
            pred = rs[0]["predicted_s"]
            ax.plot(x, [r["realised_median_s"] / pred for r in rs], "o-", color=colour,
                    label=policy)
            ax.fill_between(x, [r["realised_p5_s"] / pred for r in rs],
                            [r["realised_p95_s"] / pred for r in rs], color=colour,
                            alpha=0.2)
        ax.axhline(1.0, color="k", lw=0.8, ls="--")
        ax.set_title(kind)
        ax.set_xlabel("perturbation strength")
    axes[0].set_ylabel("realised / predicted time\n(median, 5-95 % over seeds)")
    axes[0].legend()
    fig.tight_layout()
    save_figure(fig, paths[1], dpi=120)
    plt.close(fig)
    rrows = robust_rows(seeds[: max(1, len(seeds))], samples=samples, executor=executor,
                        progress=progress)
    _write_csv(paths[2], list(rrows[0]), rrows, [
        f"command: {command or 'make_replay_figures'}",
        f"perturbations: {ROBUST_PERTURBATIONS.to_dict()}; policy adaptive; SAA samples "
        f"{samples} (seed 0, its own streams); replay seeds {seeds[0]}..{seeds[-1]}",
        "robust_minus_nominal_mean_s: paired mean over seeds (same seeds for both plans), "
        "ci95_half_s: 1.96 sd / sqrt(n)"])
    return paths


__all__ = ["KINDS", "ROBUST_PERTURBATIONS", "ROBUST_SCENARIOS", "STRENGTHS",
           "make_replay_figures", "robust_rows", "strength_rows"]
