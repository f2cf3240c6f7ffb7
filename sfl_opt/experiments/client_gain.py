"""The gain of per-client cut layers over the best common split, per device cohort.

For each model, cohort (catalogue devices cycled over the clients,
:mod:`sfl_opt.model.hardware`) and scenario seed: ``solve(p)`` (one cut for all clients)
and ``solve(p, split_mode="per_client")`` (each client its own cut within its own
memory; the search starts from that common optimum, so it is never worse). The
per-client search also re-allocates the subchannels, which on its own can beat the
common search's allocation, so the common baseline is the better of ``solve(p)`` and the
best common split on the per-client result's assignments (:func:`common_on_allocation`):
the gain ``1 - T_pc / T_common`` is what the per-client cuts add. Per (model, cohort)
the mean with a 95 % Student-t interval over the seeds, the largest gain, and how many
seeds gained at all.

    sfl-opt per-client-gain --seeds 10                  # the committed figure
    sfl-opt per-client-gain --seeds 3 --no-progress --out /tmp/figs

writes ``per_client_gain.{png,pdf,csv}`` (one row per run; the CSV's first lines record
the protocol).
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._io import write_text
from ..engine.prepared import prepare
from ..model.problem import Problem
from ..model.scenario import default_problem
from ..solve import solve

#: cohort name -> catalogue devices, cycled over the clients
COHORTS: dict[str, tuple[str, ...]] = {
    "phones+jetsons": ("iphone-15-pro-npu", "jetson-orin-nano-8gb"),
    "phones+laptops": ("iphone-15-pro-npu", "laptop-rtx-4060"),
    "jetsons+laptops": ("jetson-orin-nano-8gb", "laptop-rtx-4060"),
    "phones+jetsons+laptops": ("iphone-15-pro-npu", "jetson-orin-nano-8gb", "laptop-rtx-4060"),
    "all six devices": ("iphone-15-pro-npu", "ipad-pro-m2-gpu", "raspberry-pi-5",
                        "jetson-orin-nano-8gb", "jetson-agx-orin-64gb", "laptop-rtx-4060"),
}
#: the models: "gpt2-small" is the default scenario's workload; "gpt2-shape-LxD" is the
#: analytic GPT-2-shaped workload with L blocks of width D (``Problem.default(layers=L,
#: hidden=D, profile=None)``: GELU FFN, full multi-head attention, GPT-2's vocabulary);
#: any other name is a model of the catalogue (``Problem.default(model=NAME)``)
MODELS = ("gpt2-small", "llama-3.2-1b", "llama-3.2-3b")
#: GPT-2-shaped stand-ins at the depth and width of Llama-3.2-1B / -3B, used when the
#: catalogue is not installed
STAND_INS = ("gpt2-small", "gpt2-shape-16x2048", "gpt2-shape-28x3072")
CLIENTS = 10
SERVER = "L4"


@dataclass(frozen=True)
class GainRun:
    """One scenario: delays (s) of the common and the per-client split, the splits."""

    model: str
    cohort: str
    seed: int
    common: float
    per_client: float
    common_solve: float
    common_split: int
    splits: tuple[int, ...]
    rank_common: int
    rank: int

    @property
    def gain(self) -> float:
        """``1 - per_client / common`` (>= 0)."""
        return 1.0 - self.per_client / self.common


def scenario(model: str, devices: Sequence[str], seed: int, clients: int = CLIENTS,
             server: str = SERVER) -> Problem:
    """The default scenario for ``model`` on ``devices`` (cycled over ``clients``), M = N
    = max(20, K) subchannels, ``server`` from the catalogue."""
    kw: dict[str, Any] = {"devices": list(devices), "server": server, "clients": clients,
                          "subchannels": max(20, clients)}
    if model.startswith("gpt2-shape-"):
        L, D = model.removeprefix("gpt2-shape-").split("x")
        kw.update(layers=int(L), hidden=int(D), profile=None)
    elif model != "gpt2-small":
        kw["model"] = model
    return Problem.default(seed=seed, **kw)


def default_models() -> tuple[str, ...]:
    """:data:`MODELS` when ``Problem.default`` takes a catalogue ``model``, else
    :data:`STAND_INS`."""
    has = "model" in inspect.signature(default_problem).parameters
    return MODELS if has else STAND_INS


def run(models: Sequence[str] | None = None, cohorts: dict[str, Sequence[str]] | None = None,
        seeds: Sequence[int] = range(5), clients: int = CLIENTS, server: str = SERVER,
        progress: bool = True) -> list[GainRun]:
    """Every (model, cohort, seed): the common and the per-client solve."""
    from tqdm.auto import tqdm

    cohorts = COHORTS if cohorts is None else cohorts
    models = default_models() if models is None else models
    tasks = [(m, c, s) for m in models for c in cohorts for s in seeds]
    out = []
    for m, c, s in tqdm(tasks, desc="per-client gain", unit="run", disable=not progress):
        p = scenario(m, cohorts[c], int(s), clients, server)
        r0 = solve(p, bound=False)
        r1 = solve(p, bound=False, split_mode="per_client")
        common, split0, rank0 = r0.delay, int(r0.split), int(r0.rank)
        alt = common_on_allocation(p, r1)
        if alt[0] < common:
            common, split0, rank0 = alt
        out.append(GainRun(m, c, int(s), common, r1.delay, r0.delay, split0,
                           tuple(int(x) for x in r1.split), rank0, int(r1.rank)))
    return out


def common_on_allocation(problem: Problem, res: Any) -> tuple[float, int, int]:
    """``(delay, split, rank)``: the best common split for the subchannel assignments of
    a result (every pair, the power re-solved exactly). The per-client search also
    re-allocates, which can beat the common search's allocation by itself; comparing
    with the better of the two common points measures what the per-client cuts add."""
    prep = prepare(problem)
    assigns = {"s": res.assign_s, "f": res.assign_f, "d": res.assign_d}
    tf = prep.link(prep.round_link).exact_power(assigns[prep.round_link], None).t
    best = (float("inf"), 0, 0)
    for q in range(prep.P):
        ts = sum(prep.link(n).exact_power(assigns[n], q).t for n in prep.stage_links)
        tot = float(prep.total(q, ts, tf))
        if tot < best[0]:
            best = (tot, *prep.pair(q))
    return best


def summary(runs: Sequence[GainRun]) -> list[dict[str, Any]]:
    """Per (model, cohort): seeds, mean gain with a 95 % Student-t half-width, max gain,
    seeds with a gain above 1e-6."""
    from scipy import stats

    keys = list(dict.fromkeys((r.model, r.cohort) for r in runs))
    out = []
    for m, c in keys:
        g = np.array([r.gain for r in runs if r.model == m and r.cohort == c])
        half = (float(stats.t.ppf(0.975, g.size - 1) * g.std(ddof=1) / math.sqrt(g.size))
                if g.size > 1 else math.nan)
        out.append({"model": m, "cohort": c, "seeds": int(g.size), "mean": float(g.mean()),
                    "ci95": half, "max": float(g.max()), "gained": int((g > 1e-6).sum())})
    return out


def plot(runs: Sequence[GainRun], stem: str | Path, clients: int = CLIENTS,
         server: str = SERVER) -> list[Path]:
    """Bars of the mean gain (%) per cohort, one bar per model, 95 % intervals, each
    seed's gain as a dot; CSV one row per run."""
    import matplotlib.pyplot as plt

    from .plots import save

    summ = summary(runs)
    models = list(dict.fromkeys(r.model for r in runs))
    cohorts = list(dict.fromkeys(r.cohort for r in runs))
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    width = 0.8 / max(1, len(models))
    x = np.arange(len(cohorts))
    for i, m in enumerate(models):
        mean = [next((s["mean"] for s in summ if s["model"] == m and s["cohort"] == c),
                     np.nan) * 100 for c in cohorts]
        ci = [next((s["ci95"] for s in summ if s["model"] == m and s["cohort"] == c),
                   np.nan) * 100 for c in cohorts]
        pos = x - 0.4 + width * (i + 0.5)
        ax.bar(pos, mean, width, yerr=np.nan_to_num(ci), capsize=3, label=m, alpha=0.85)
        for j, c in enumerate(cohorts):
            g = [r.gain * 100 for r in runs if r.model == m and r.cohort == c]
            ax.plot(np.full(len(g), pos[j]), g, "k.", ms=3)
    ax.set_xticks(x)
    ax.set_xticklabels(cohorts, rotation=15, ha="right")
    ax.set_ylabel("delay reduction over the best common split (%)")
    seeds = sorted({r.seed for r in runs})
    ax.set_title(f"Per-client cut layers: gain per cohort (K = {clients}, server {server}, "
                 f"{len(seeds)} seeds; mean, 95 % CI, dots = seeds)", fontsize=9)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.legend(fontsize=8)
    fig.tight_layout()
    header = ["model", "cohort", "seed", "common_delay_s", "per_client_delay_s", "gain",
              "common_split", "per_client_splits", "common_rank", "per_client_rank",
              "common_solve_delay_s"]
    rows = [(r.model, r.cohort, r.seed, r.common, r.per_client, r.gain, r.common_split,
             " ".join(map(str, r.splits)), r.rank_common, r.rank, r.common_solve)
            for r in runs]
    paths = save(fig, stem, header, rows)
    csv = Path(stem).with_suffix(".csv")
    protocol = (f"# protocol: sfl_opt.experiments.client_gain; Problem.default(seed, model, "
                f"devices cycled over K={clients} clients, server={server}, "
                "subchannels=max(20,K)); "
                "solve(p) vs solve(p, split_mode='per_client'), native power, bound off; "
                "common = the better of solve(p) and the best common split on the per-client "
                "result's assignments (power re-solved); gain = 1 - per_client/common\n")
    write_text(csv, protocol + csv.read_text())
    return paths


def format_summary(runs: Sequence[GainRun]) -> str:
    """The summary (:func:`summary`) as a text table."""
    lines = [f"{'model':<20} {'cohort':<24} {'seeds':>5} {'mean gain':>10} {'95% CI':>8} "
             f"{'max':>7} {'gained':>6}"]
    for s in summary(runs):
        lines.append(f"{s['model']:<20} {s['cohort']:<24} {s['seeds']:>5} {s['mean']:>10.3%} "
                     f"{s['ci95']:>8.3%} {s['max']:>7.2%} {s['gained']:>6}")
    return "\n".join(lines)


