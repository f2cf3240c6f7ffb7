"""Figures of the online scheduler (matplotlib, Agg backend), each saved as PNG and PDF
with the CSV of the plotted numbers next to it (:func:`sfl_opt.experiments.plots.save`):

- ``online_energy``: running time-average energy of each device over its budget,
  ``lyapunov`` against ``all``;
- ``online_tradeoff``: time-average penalty Ψ, participants and mean virtual queue
  against V (the O(1/V), O(V) trade-off), with the baselines for reference;
- ``online_queues``: device-average virtual queue over the rounds for each V.

They share the style of the offline figures (:func:`sfl_opt.experiments.plots.paper_style`: fonts,
grid, 300 dpi, column-width panels); V is in J² per loss unit (the drift-plus-penalty
objective V·w·Ψ + Σ Q·E is in J², Ψ in loss units) and labelled so.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..experiments.plots import COLUMN_WIDTH, paper_style, save  # noqa: E402
from .problem import OnlineProblem  # noqa: E402
from .simulate import POLICIES, Trace, fmt_v, simulate, summarize, sweep_v  # noqa: E402
from .stats import run_label, t_ci  # noqa: E402

#: axis label of the penalty weight V, with its unit
V_LABEL = "V (J² per loss unit)"


def _log_rounds(T: int, points: int = 400) -> np.ndarray:
    """Distinct 0-based rounds, log-spaced over 1..T (the figure's x axis)."""
    return np.unique(np.geomspace(1, T, points).round().astype(int)) - 1


def _energy_figure(traces: dict[str, Trace], outdir: Path) -> list[Path]:
    """Running average energy / budget per device for each trace (one panel each), at
    ~400 log-spaced rounds."""
    names = list(traces)
    # constrained layout keeps the figure title clear of the panel titles
    fig, axes = plt.subplots(1, len(names), figsize=(COLUMN_WIDTH * len(names), 2.6),
                             sharey=True, squeeze=False, layout="constrained")
    T = next(iter(traces.values())).rounds
    at = _log_rounds(T)
    ratios = {n: (traces[n].running_energy / traces[n].budget)[at] for n in names}
    rows = [[int(t) + 1] + [f"{x:.6g}" for n in names for x in ratios[n][i]]
            for i, t in enumerate(at)]
    K = ratios[names[0]].shape[1]
    header = ["round"] + [f"{n}_dev{k}" for n in names for k in range(K)]
    x = at + 1
    for ax, name in zip(axes[0], names, strict=True):
        r = ratios[name]
        ax.plot(x, r, lw=0.7, alpha=0.7)
        ax.axhline(1.0, color="k", lw=1.2, label="budget")
        ax.axhline(1.05, color="k", lw=0.8, ls="--", label="budget + 5%")
        tr = traces[name]
        title = f"{name}" + (f" (V = {fmt_v(tr.V)} J²/loss unit)" if name == "lyapunov" else "")
        ax.set_title(title)
        ax.set_xlabel("round t")
        ax.set_xscale("log")
        ax.set_ylim(0, max(2.0, float(np.nanmax(r[at >= T // 10])) * 1.1))
    axes[0][0].set_ylabel("running avg energy / budget")
    axes[0][0].legend(loc="upper right")
    fig.suptitle("Time-average energy of every device against its budget")
    return save(fig, outdir / "online_energy", header, rows)


def _tradeoff_figure(sweep: list[Trace], baselines: dict[str, Trace], outdir: Path
                    ) -> list[Path]:
    """Penalty, participation and queue size against V."""
    pts = [summarize(t) for t in sweep]
    Vs = np.array([p.V for p in pts])
    pen = np.array([p.penalty for p in pts])
    part = np.array([p.participation for p in pts])
    que = np.array([p.mean_queue for p in pts])
    fig, axes = plt.subplots(1, 3, figsize=(COLUMN_WIDTH * 3, 2.4))
    axes[0].loglog(Vs, pen, "o-", label="lyapunov")
    for i, (name, tr) in enumerate(baselines.items()):
        axes[0].axhline(tr.mean_penalty, lw=0.8, ls="--", label=name, color=f"C{i + 1}")
    axes[0].set_xlabel(V_LABEL)
    axes[0].set_ylabel("time-average penalty Ψ(N_t)")
    axes[0].legend()
    axes[1].semilogx(Vs, part, "o-")
    axes[1].set_xlabel(V_LABEL)
    axes[1].set_ylabel("mean participants N_t")
    axes[2].loglog(Vs, que, "o-", label="mean queue")
    ref = que[len(que) // 2] * Vs / Vs[len(Vs) // 2]
    axes[2].loglog(Vs, ref, "k:", label="∝ V")
    axes[2].set_xlabel(V_LABEL)
    axes[2].set_ylabel("mean virtual queue Q (J)")
    axes[2].legend()
    fig.suptitle("Drift-plus-penalty trade-off: penalty O(1/V), queues O(V)")
    fig.tight_layout()
    header = ["policy", "V", "penalty", "weighted_penalty", "participation", "mean_queue",
              "max_budget_ratio"]
    rows: list[list[object]] = [["lyapunov", p.V, p.penalty, p.weighted_penalty, p.participation,
                                 p.mean_queue, p.max_budget_ratio] for p in pts]
    for name, tr in baselines.items():
        s = summarize(tr)
        rows.append([name, "", s.penalty, s.weighted_penalty, s.participation, s.mean_queue,
                     s.max_budget_ratio])
    return save(fig, outdir / "online_tradeoff", header, rows)


def _queues_figure(sweep: list[Trace], outdir: Path) -> list[Path]:
    """Device-average virtual queue over the rounds for each V (at most ~1000 rounds
    plotted and written, evenly spaced)."""
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
    T = sweep[0].rounds
    at = np.arange(0, T, max(1, T // 1000))
    x = at + 1
    cols = []
    for tr in sweep:
        mq = tr.queues.mean(axis=1)[at]
        cols.append(mq)
        ax.plot(x, mq, lw=1, label=f"V = {fmt_v(tr.V)} J²/loss unit")
    ax.set_yscale("symlog", linthresh=1e-2)
    ax.set_xlabel("round t")
    ax.set_ylabel("mean virtual queue Q(t) (J)")
    # the legend beside the axes: eight V curves leave no free corner inside
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0)
    ax.set_title("Virtual energy queues (lyapunov)")
    header = ["round"] + [f"V={fmt_v(tr.V)}" for tr in sweep]
    rows = [[int(t) + 1] + [f"{c[i]:.6g}" for c in cols] for i, t in enumerate(at)]
    return save(fig, outdir / "online_queues", header, rows)


def energy_figure(traces: dict[str, Trace], outdir: Path) -> list[Path]:
    """Running average energy / budget per device for each trace (one panel each), at
    ~400 log-spaced rounds (the offline figures' style)."""
    with paper_style():
        return _energy_figure(traces, outdir)


def tradeoff_figure(sweep: list[Trace], baselines: dict[str, Trace], outdir: Path
                    ) -> list[Path]:
    """Penalty, participation and queue size against V (J² per loss unit)."""
    with paper_style():
        return _tradeoff_figure(sweep, baselines, outdir)


def queues_figure(sweep: list[Trace], outdir: Path) -> list[Path]:
    """Device-average virtual queue over the rounds for each V."""
    with paper_style():
        return _queues_figure(sweep, outdir)


def make_figures(problem: OnlineProblem, Vs: Sequence[float], rounds: int, seed: int,
                 outdir: str | Path, V_energy: float | None = None,
                 progress: bool | None = None, *, sweep: list[Trace] | None = None,
                 baselines: dict[str, Trace] | None = None,
                 lyapunov: Trace | None = None) -> list[Path]:
    """Run the sweep and the baselines and write the three figures (+ CSVs) to
    ``outdir``. ``V_energy`` (default: the middle of ``Vs``) is the V of the energy
    figure. Traces already computed with the same problem, rounds and seed can be
    passed (``sweep`` aligned with ``Vs``, ``baselines`` by policy name,
    ``lyapunov`` at ``V_energy``) and are not re-run. Returns the written paths."""
    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    if sweep is None:
        sweep = sweep_v(problem, Vs, rounds, seed, progress=progress)
    have = dict(baselines or {})
    base = {name: have[name] if name in have else
            simulate(problem, name, 0.0, rounds, seed, progress=progress)
            for name in POLICIES if name != "lyapunov"}
    if lyapunov is None:
        if V_energy is None:
            lyapunov = sweep[len(sweep) // 2]
        else:
            match = [tr for tr in sweep if tr.V == float(V_energy)]
            lyapunov = match[0] if match else simulate(problem, "lyapunov", float(V_energy),
                                                       rounds, seed, progress=progress)
    paths = energy_figure({"lyapunov": lyapunov, "all": base["all"]}, out)
    paths += tradeoff_figure(sweep, base, out)
    paths += queues_figure(sweep, out)
    return paths


# ----------------------------------------------------------- issue-19 experiment
def _participation_figure(runs: list[dict], fit: dict, outdir: Path) -> list[Path]:
    Ns = sorted({r["N"] for r in runs})
    fin = {N: np.array([np.mean(r["val_loss"][-3:]) for r in runs if r["N"] == N])
           for N in Ns}
    seeds = sorted({r["seed"] for r in runs})
    # paired by seed: each seed's final loss minus its mean over N (CI of the N effect)
    by_seed = np.array([[np.mean(next(r["val_loss"][-3:] for r in runs
                                      if r["N"] == N and r["seed"] == s)) for N in Ns]
                        for s in seeds])
    centred = by_seed - by_seed.mean(axis=1, keepdims=True)
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH * 2.2, 2.6))
    rows = []
    for i, N in enumerate(Ns):
        m, h = t_ci(fin[N])
        cm, ch = t_ci(centred[:, i])
        axes[0].errorbar(N, m, yerr=h, fmt="o", color="C0", capsize=3)
        pm, ph = fit.get("paired_vs_largest_N", {}).get(str(N), [float("nan")] * 2)
        rows.append([N, len(fin[N]), f"{m:.6g}", f"{h:.6g}", f"{cm:.6g}", f"{ch:.6g}",
                     f"{pm:.6g}", f"{ph:.6g}", f"{fit['final_c'] + fit['final_a'] / N:.6g}"])
        curves = np.array([r["val_loss"] for r in runs if r["N"] == N])
        cmean, chalf = t_ci(curves)
        at = runs[0]["eval_rounds"]
        axes[1].plot(at, cmean, color=f"C{i}", label=f"N = {N}")
        axes[1].fill_between(at, cmean - chalf, cmean + chalf, color=f"C{i}", alpha=0.2)
    nn = np.linspace(1, max(Ns), 100)
    lo, hi = fit["final_a_ci95"]
    axes[0].plot(nn, fit["final_c"] + fit["final_a"] / nn, "k-", lw=1,
                 label=f"c + a/N, a = {fit['final_a']:.3f} [{lo:.3f}, {hi:.3f}]")
    axes[0].set_xscale("log")
    axes[0].set_xlabel("participants per round N (uniform at random)")
    axes[0].set_ylabel("final validation loss (nats/token)")
    axes[0].legend(fontsize=7)
    axes[1].set_xlabel("round t")
    axes[1].set_ylabel("validation loss (nats/token)")
    axes[1].set_yscale("log")
    axes[1].legend(fontsize=7)
    if "beta" in fit:
        b_lo, b_hi = fit["beta_ci95"]
        a_lo, a_hi = fit["alpha_ci95"]
        axes[1].set_title(f"Ψ fit: α = {fit['alpha']:.2g} [{a_lo:.2g}, {a_hi:.2g}], "
                          f"β = {fit['beta']:.2g} [{b_lo:.2g}, {b_hi:.2g}] per round",
                          fontsize=7)
    fig.suptitle("Participation effect (fixed N, mean ± 95 % CI over seeds)")
    fig.tight_layout()
    header = ["N", "seeds", "final_loss_mean", "final_loss_ci95", "paired_effect_mean",
              "paired_effect_ci95", "minus_largest_N_mean", "minus_largest_N_ci95",
              "fit_c_plus_a_over_N"]
    return save(fig, outdir / "online_participation", header, rows)


def participation_figure(runs: list[dict], fit: dict, outdir: str | Path) -> list[Path]:
    """Final validation loss against the fixed participant count N (mean ± 95 % CI over
    seeds, and the fitted c + a/N) and the mean loss curves per N; writes
    ``online_participation.{png,pdf,csv}``."""
    with paper_style():
        return _participation_figure(runs, fit, Path(outdir))


def _learning_bands(runs: list[dict], outdir: Path, rows: list[list[object]],
                    header: list[str]) -> list[Path]:
    labels = list(dict.fromkeys(run_label(r) for r in runs))
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH * 2.4, 2.8))
    # up to the energy every lyapunov run reaches; a policy is drawn where all its seeds
    # have reached that energy (the cheap ones stop early, `all` is cut off)
    ly = [np.sum(r["energy"]) for r in runs if r["policy"] == "lyapunov"]
    emax = min(ly) if ly else max(np.sum(r["energy"]) for r in runs)
    grid = np.linspace(0, emax, 80)
    for i, lab in enumerate(labels):
        sel = [r for r in runs if run_label(r) == lab]
        at = sel[0]["eval_rounds"]
        L = np.array([r["val_loss"] for r in sel])
        m, h = t_ci(L)
        # > 10 labels: tab20's dark shades first, then its light ones (no repeats)
        col = (plt.get_cmap("tab20")((2 * i) % 20 + (2 * i) // 20 % 2) if len(labels) > 10
               else f"C{i}")
        ls = "--" if lab.endswith("+guard") and not lab.startswith("lyapunov") else "-"
        axes[0].plot(at, m, color=col, ls=ls, label=lab, lw=1)
        axes[0].fill_between(at, m - h, m + h, color=col, alpha=0.18)
        curves = []
        for r in sel:
            cum = np.concatenate([[0.0], np.cumsum(np.sum(r["energy"], axis=1))])[at]
            ok = grid <= cum[-1]
            c = np.full(grid.size, np.nan)
            c[ok] = np.interp(grid[ok], cum, r["val_loss"])
            curves.append(c)
        C = np.array(curves)
        ok = np.isfinite(C).all(axis=0)
        if ok.sum() >= 2:
            m, h = t_ci(C[:, ok])
            axes[1].plot(grid[ok], m, color=col, ls=ls, lw=1)
            axes[1].fill_between(grid[ok], m - h, m + h, color=col, alpha=0.18)
    axes[0].set_xlabel("round t")
    axes[1].set_xlabel("cumulative energy of all devices (J)")
    for ax in axes:
        ax.set_ylabel("validation loss (nats/token)")
        ax.set_yscale("log")
    axes[0].legend(fontsize=6, ncol=2)
    fig.suptitle("Learning under each schedule (mean ± 95 % CI over seeds)")
    fig.tight_layout()
    return save(fig, outdir / "online_learning", header, rows)


def learning_bands_figure(runs: list[dict], outdir: str | Path, rows: list[list[object]],
                          header: list[str]) -> list[Path]:
    """Validation loss against round and against cumulative energy, a mean line and a
    95 % CI band per policy; writes ``online_learning.{png,pdf}`` and the CSV ``rows``."""
    with paper_style():
        return _learning_bands(runs, Path(outdir), rows, header)
