"""Figures of the radio model's second edition (SPEC §8.4), PNG + PDF + CSV through
:func:`sfl_opt.experiments.plots.save`:

- ``band_vs_clients``: total delay against the number of clients, separate vs shared
  band, with the fixed and the allocated downlink (median and 25–75 % band over
  scenario seeds);
- ``fading_vs_rho``: a training run under block fading against the round-to-round
  fading correlation rho: static allocation, per-round re-optimisation (adaptive) and
  adaptive with the SAA (split, rank), with the certified per-round bound of the
  adaptive run's pair; every run's delay relative to the frozen-channel optimum of its
  scenario (median and 25–75 % band over seeds).

    sfl-opt radio-figures                  # docs/figures/, 10 seeds
    sfl-opt radio-figures --quick          # 3 seeds, fewer points
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Executor
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from .._io import atomic_write
from ..errors import ValidationError
from ..model.delay import evaluate
from ..model.problem import Problem
from ..model.scenario import large_scale_gains
from ..solve import solve
from .dynamic import simulate_training
from .sweep import SweepTable, sweep

#: the band figure's configurations: label -> Problem.default keywords
BAND_CONFIGS: dict[str, dict[str, str]] = {
    "separate, fixed downlink": {},
    "shared, fixed downlink": {"band": "shared"},
    "separate, allocated downlink": {"downlink": "allocated"},
    "shared, allocated downlink": {"band": "shared", "downlink": "allocated"},
}
#: clients of the band figure (M = N = 20 subchannels per link as in the default)
CLIENTS = (2, 4, 6, 8, 10, 12, 16, 20)
#: fading correlations of the fading figure
RHOS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 1.0)
#: policies of the fading figure: label -> (policy, pair)
FADING_POLICIES: dict[str, tuple[str, str]] = {
    "static allocation": ("static", "nominal"),
    "adaptive": ("adaptive", "nominal"),
    "adaptive, SAA (split, rank)": ("adaptive", "saa"),
}


def band_tables(seeds: Sequence[int], clients: Sequence[int] = CLIENTS,
                executor: Executor | str | None = None,
                progress: bool = True) -> dict[str, SweepTable]:
    """SflLLM on the default scenario for every configuration of :data:`BAND_CONFIGS`."""
    return {label: sweep("clients", list(clients), ["sflllm"], seeds, executor=executor,
                         progress=progress, base=dict(kw))
            for label, kw in BAND_CONFIGS.items()}


def fading_rows(seeds: Sequence[int], rhos: Sequence[float] = RHOS, samples: int = 32,
                downlink: str = "allocated", progress: bool = True,
                relaxation: bool | None = None) -> list[dict[str, Any]]:
    """One row per (rho, seed, policy): the run's ``total`` and ``bound`` (s), the
    frozen-channel optimum ``nominal`` (s) of the scenario, ``reopt_ms`` the mean
    re-optimisation time per round (ms), ``rounds`` simulated, ``bound_kind``. Scenario
    seed = fading seed; the exact large-scale gains of the scenario. The adaptive runs'
    per-round bound uses the time-sharing relaxation when ``relaxation`` (default: when
    cvxpy is installed), the others the cheap bounds."""
    if relaxation is None:
        import importlib.util

        relaxation = importlib.util.find_spec("cvxpy") is not None
    rows = []
    bar = tqdm(total=len(seeds) * len(rhos) * len(FADING_POLICIES), desc="fading runs",
               unit="run", disable=not progress)
    for seed in seeds:
        problem = Problem.default(seed, downlink=downlink)
        nominal = solve(problem).delay
        ls = large_scale_gains(seed)
        large = {n: ls[n] for n in ("s", "f", "d")}
        for rho in rhos:
            for label, (policy, pair) in FADING_POLICIES.items():
                kind = "relaxation" if (label == "adaptive" and relaxation) else "cheap"
                run = simulate_training(problem, seed=seed, policy=policy, rho=rho,
                                        pair=pair, samples=samples, large_scale=large,
                                        bound=kind)
                rows.append({"rho": float(rho), "seed": int(seed), "policy": label,
                             "split": run.split, "rank": run.rank, "total": run.total,
                             "bound": run.bound, "nominal": nominal,
                             "reopt_ms": 1e3 * float(run.reopt_time.mean()),
                             "rounds": int(run.round_delays.size), "bound_kind": kind})
                bar.update()
    bar.close()
    return rows


def stage_share_rows(seeds: Sequence[int]) -> list[dict[str, Any]]:
    """Per configuration of :data:`BAND_CONFIGS` on the default scenario: the mean over
    ``seeds`` of SflLLM's total delay (s), the mean reduction against the first edition
    (separate band, fixed downlink; matched by seed) and the mean share of each stage
    (``Breakdown.stage_shares``)."""
    out = []
    ref: dict[int, float] = {}
    for label, kw in BAND_CONFIGS.items():
        totals, shares, red = [], [], []
        for seed in seeds:
            p = Problem.default(seed, **kw)
            r = solve(p, seed=seed)
            bd = evaluate(p, **r.evaluate_kwargs())
            if not kw:  # the first configuration: the first edition's model
                ref[seed] = r.delay
            totals.append(r.delay)
            red.append(1.0 - r.delay / ref[seed])
            shares.append(bd.stage_shares)
        row: dict[str, Any] = {"config": label, "mean_delay_s": float(np.mean(totals)),
                               "reduction": float(np.mean(red)), "n_seeds": len(totals)}
        for key in shares[0]:
            row[key] = float(np.mean([sh[key] for sh in shares]))
        out.append(row)
    return out


def format_shares(rows: list[dict[str, Any]]) -> str:
    """The stage shares as a Markdown table."""
    lines = ["| radio model | T_total mean (s) | vs first edition | client fwd + uplink | "
             "server | downlink + client bwd | adapter upload |",
             "|---|---:|---:|---:|---:|---:|---:|"]
    for i, r in enumerate(rows):
        vs = "—" if i == 0 else f"{-100 * r['reduction']:+.1f} %"
        lines.append(f"| {r['config']} | {r['mean_delay_s']:,.1f} | "
                     f"{vs} | {100 * r['client_fwd_uplink']:.1f} % | "
                     f"{100 * r['server']:.1f} % | {100 * r['downlink_client_bwd']:.1f} % | "
                     f"{100 * r['adapter_upload']:.2f} % |")
    return "\n".join(lines)


def _band(x: np.ndarray) -> tuple[float, float, float]:
    q25, med, q75 = np.percentile(x, [25.0, 50.0, 75.0])
    return float(med), float(q25), float(q75)


def plot_band(tables: dict[str, SweepTable], stem: str | Path) -> list[Path]:
    """Total delay vs clients per configuration (median line, 25–75 % band).
    CSV: config, clients, median_delay_s, q25_delay_s, q75_delay_s, n_seeds,
    median_shared_over_separate (the per-seed ratio to the same downlink's separate band)."""
    import matplotlib.pyplot as plt

    from .plots import COLUMN_WIDTH, paper_style, save

    out_rows = []
    # every series its own colour and marker (the downlink also by line style)
    styles = {"separate, fixed downlink": ("C0", "o", "-"),
              "shared, fixed downlink": ("C3", "s", "-"),
              "separate, allocated downlink": ("C2", "^", "--"),
              "shared, allocated downlink": ("C1", "D", "--")}
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6))
        for label, table in tables.items():
            down = label.split(", ")[1]
            ref = tables[f"separate, {down}"]
            xs, med, lo, hi = [], [], [], []
            for value in table.values():
                d = {r.seed: r.delay for r in table.select(value=value)}
                dref = {r.seed: r.delay for r in ref.select(value=value)}
                m, q25, q75 = _band(np.array(list(d.values())))
                ratio = float(np.median([d[s] / dref[s] for s in d]))
                xs.append(value)
                med.append(m)
                lo.append(q25)
                hi.append(q75)
                out_rows.append((label, int(value), m, q25, q75, len(d), ratio))
            color, marker, ls = styles[label]
            ax.plot(xs, med, color=color, marker=marker, linestyle=ls, label=label)
            ax.fill_between(xs, lo, hi, color=color, alpha=0.10, linewidth=0)
        ax.set_xlabel("clients K (M = N = 20 subchannels of 1 MHz)")
        ax.set_ylabel("total training delay (s)")
        ax.set_yscale("log")
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(lo_y, hi_y * 4.0)  # room for the legend above the curves
        n = max(r[5] for r in out_rows)
        ax.legend(fontsize=6, title=f"median, 25–75 % band over {n} seeds",
                  title_fontsize=6, loc="upper left")
        fig.tight_layout()
        # saved inside the style: ticks drawn later would take other fonts (clipped labels)
        return save(fig, stem, ["config", "clients", "median_delay_s", "q25_delay_s",
                                "q75_delay_s", "n_seeds", "median_shared_over_separate"],
                    out_rows)


def plot_fading(rows: list[dict[str, Any]], stem: str | Path) -> list[Path]:
    """Run delay / frozen-channel optimum vs rho per policy (median, 25–75 % band), and
    the adaptive run's certified bound (median, dotted). CSV: policy, rho, median, q25,
    q75 of the ratio, n_seeds, median_reopt_ms."""
    import matplotlib.pyplot as plt

    from .plots import COLUMN_WIDTH, paper_style, save

    rhos = sorted({r["rho"] for r in rows})
    x = np.arange(len(rhos))
    out_rows = []
    # colour, marker, line style and a small x offset per policy: equal medians (the
    # policies often tie) stay visible side by side instead of hiding each other
    styles = {"static allocation": ("C0", "o", "-", -0.12),
              "adaptive": ("C3", "s", "--", 0.0),
              "adaptive, SAA (split, rank)": ("C2", "^", "-.", 0.12)}
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6))
        for label in FADING_POLICIES:
            med, lo, hi = [], [], []
            for rho in rhos:
                sel = [r for r in rows if r["policy"] == label and r["rho"] == rho]
                m, q25, q75 = _band(np.array([r["total"] / r["nominal"] for r in sel]))
                ms = float(np.median([r["reopt_ms"] for r in sel]))
                out_rows.append((label, rho, m, q25, q75, len(sel), ms))
                med.append(m)
                lo.append(q25)
                hi.append(q75)
            color, marker, ls, dx = styles[label]
            ax.plot(x + dx, med, marker=marker, color=color, linestyle=ls, label=label)
            ax.fill_between(x + dx, lo, hi, color=color, alpha=0.12, linewidth=0)
        bnd = []
        for rho in rhos:
            sel = [r for r in rows if r["policy"] == "adaptive" and r["rho"] == rho]
            b = _band(np.array([r["bound"] / r["nominal"] for r in sel]))
            kinds = "+".join(sorted({r["bound_kind"] for r in sel}))
            out_rows.append((f"certified bound ({kinds}), adaptive pair", rho, *b, len(sel),
                             float("nan")))
            bnd.append(b[0])
        kinds = "+".join(sorted({r["bound_kind"] for r in rows if r["policy"] == "adaptive"}))
        name = {"cheap": "cheap bounds", "relaxation": "time-sharing relaxation"}.get(kinds,
                                                                                     kinds)
        ax.plot(x, bnd, color="0.4", linestyle=":", label=f"certified bound per round ({name})")
        ax.axhline(1.0, color="0.6", linewidth=0.6)
        ax.set_xticks(x, [f"{r:g}" for r in rhos])
        ax.set_xlabel("fading correlation ρ between rounds (1: frozen)")
        ax.set_ylabel("run delay / frozen-channel optimum")
        lo_y, hi_y = ax.get_ylim()
        ax.set_ylim(lo_y, hi_y + 0.55 * (hi_y - lo_y))  # room for the legend
        n = max(r[5] for r in out_rows)
        ax.legend(fontsize=6, title=f"median, 25–75 % band over {n} seeds",
                  title_fontsize=6, loc="upper right")
        fig.tight_layout()
        return save(fig, stem, ["policy", "rho", "median_ratio", "q25_ratio", "q75_ratio",
                                "n_seeds", "median_reopt_ms"], out_rows)


def make_radio_figures(out: str | Path = "docs/figures", *, quick: bool = False,
                       seeds: int | None = None, executor: Executor | str | None = None,
                       progress: bool = True) -> list[Path]:
    """Both figures (and their runs as CSV) under ``out``; ``quick``: 3 seeds and
    fewer points."""
    import csv

    n = seeds if seeds is not None else (3 if quick else 10)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValidationError("seeds", "a number of seeds >= 1", seeds)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    clients = (2, 6, 12) if quick else CLIENTS
    rhos = (0.0, 0.9, 1.0) if quick else RHOS
    tables = band_tables(range(n), clients, executor=executor, progress=progress)
    paths = plot_band(tables, out / "band_vs_clients")
    rows = fading_rows(range(n), rhos, samples=8 if quick else 32, progress=progress)
    paths += plot_fading(rows, out / "fading_vs_rho")
    runs = out / "fading_vs_rho_runs.csv"
    with atomic_write(runs, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return [*paths, runs]


__all__ = ["BAND_CONFIGS", "CLIENTS", "FADING_POLICIES", "RHOS", "band_tables",
           "fading_rows", "format_shares", "make_radio_figures", "plot_band", "plot_fading",
           "stage_share_rows"]
