"""Drawing the paper's figures (matplotlib, Agg): every figure is saved as PNG and PDF
with the CSV of exactly what it draws beside it (same stem, :func:`save`). The numbers
they draw come from :mod:`sfl_opt.experiments.analysis`; :mod:`sfl_opt.experiments.figures` runs the
experiments and calls these.

- :func:`plot_sweep` — total delay versus a swept parameter, every method, median and
  the 25–75 % band over seeds, the default scenario's value dotted;
- :func:`plot_comparison` — mean total delay of every method on the default scenario;
- :func:`plot_reduction` — SflLLM's delay reduction against each baseline;
- :func:`plot_heatmap` — best delay over the (split, rank) grid;
- :func:`plot_convergence` — objective per outer iteration (bcd) and best-so-far over
  the nested search's refinements;
- :func:`plot_split_map`, :func:`plot_rank_tokens`, :func:`plot_ablation_shares` — when
  split and rank matter (SPEC §8.2; data from :mod:`sfl_opt.experiments.regimes`).

Every figure draws delays in one unit, minutes (:func:`time_unit`; the CSV columns keep
seconds), so figures compare at a glance. Figures are sized for one
column of a two-column paper (3.5 in wide) and readable at that size.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter, NullLocator  # noqa: E402

from .._io import atomic_write, save_figure  # noqa: E402
from .analysis import (  # noqa: E402
    METHOD_LABELS,
    Summary,
    method_label,
    ordered,
    reductions,
    summarise_sweep,
)
from .sweep import PARAMS, SweepTable  # noqa: E402

#: seconds per hour
HOUR = 3600.0


#: the one time unit of every figure: (name, seconds per unit)
TIME_UNIT: tuple[str, float] = ("min", 60.0)


def time_unit(seconds: Iterable[float] | None = None) -> tuple[str, float]:
    """(unit name, seconds per unit) of every figure's delays: :data:`TIME_UNIT`
    (minutes), whatever their size, so that all figures share one unit (CSV files
    always hold seconds). ``seconds`` is accepted for compatibility and ignored."""
    return TIME_UNIT
#: one column of a two-column paper, inches
COLUMN_WIDTH = 3.5

#: colour and marker of each method (same everywhere)
_MARKS: dict[str, tuple[str, str]] = {
    "sflllm": ("#000000", "o"),
    "random_subchannels": ("#1f77b4", "s"),
    "equal_power": ("#ff7f0e", "^"),
    "random_split": ("#2ca02c", "v"),
    "fixed_rank": ("#d62728", "D"),
    "random_rank": ("#9467bd", "P"),
    "fully_random": ("#8c564b", "X"),
}
#: display name, colour, marker of each method (same everywhere)
METHOD_STYLE: dict[str, tuple[str, str, str]] = {
    m: (METHOD_LABELS[m], *mark) for m, mark in _MARKS.items()}

_RC = {
    "font.size": 8, "axes.labelsize": 8, "axes.titlesize": 8, "legend.fontsize": 6.5,
    "xtick.labelsize": 7, "ytick.labelsize": 7, "lines.linewidth": 1.2, "lines.markersize": 4,
    "axes.grid": True, "grid.alpha": 0.3, "grid.linewidth": 0.5, "legend.frameon": False,
    "savefig.dpi": 300, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "pdf.fonttype": 42, "ps.fonttype": 42, "figure.dpi": 100,
}


def method_style(method: str) -> tuple[str, str, str]:
    """(label, colour, marker) of a method; unknown methods get a grey fallback."""
    return METHOD_STYLE.get(method, (method_label(method), "#7f7f7f", "."))


@contextmanager
def paper_style():
    """Temporarily apply the figures' rcParams."""
    with plt.rc_context(_RC):
        yield


def save(fig: Any, stem: str | Path, header: Sequence[str],
         rows: Iterable[Sequence[Any]]) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` and its data as ``stem.csv`` (each
    file atomically). The papers' resolution and tight bounding box are passed
    explicitly, so a figure saved outside :func:`paper_style` is still 300 dpi and no
    label is clipped."""
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    paths = []
    for ext in ("png", "pdf"):
        p = stem.with_suffix(f".{ext}")
        with paper_style():  # ticks made at draw time take the figures' fonts too
            save_figure(fig, p, metadata={"CreationDate": None} if ext == "pdf" else None,
                        dpi=_RC["savefig.dpi"], bbox_inches=_RC["savefig.bbox"],
                        pad_inches=_RC["savefig.pad_inches"])
        paths.append(p)
    plt.close(fig)
    p = stem.with_suffix(".csv")
    with atomic_write(p, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        for r in rows:
            w.writerow([repr(float(x)) if isinstance(x, (float, np.floating)) else x for x in r])
    paths.append(p)
    return paths


# ------------------------------------------------------------------------- figures


def plot_sweep(table: SweepTable, stem: str | Path, *, default: float | None = None,
               logx: bool = False, logy: bool = False) -> list[Path]:
    """Total delay versus the swept parameter, every method: the median over seeds
    (line) and the band between the 25th and 75th percentiles (the seeds are different
    scenarios, so the spread is mostly the scenarios'; the median always lies inside
    the band, the mean need not). ``default`` (SI) is drawn as a dotted vertical line,
    named in the legend ("default scenario").

    CSV columns: param, value (SI), method, median_delay_s, q25_delay_s, q75_delay_s,
    mean_delay_s, std_delay_s, n_seeds.
    """
    data = summarise_sweep(table)
    param = table.rows[0].param
    label, scale, _ = PARAMS[param]
    unit, per = time_unit()
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.5))
        for method in ordered(table.methods()):
            pts = [(v, s) for _, v, m, s in data if m == method]
            x = np.array([v for v, _ in pts]) * scale
            mu = np.array([s.median for _, s in pts]) / per
            lo = np.array([s.q25 for _, s in pts]) / per
            hi = np.array([s.q75 for _, s in pts]) / per
            name, color, marker = method_style(method)
            ax.plot(x, mu, marker=marker, color=color, label=name,
                    zorder=3 if method == "sflllm" else 2)
            ax.fill_between(x, lo, hi, color=color, alpha=0.12, linewidth=0)
        if default is not None:
            ax.axvline(default * scale, color="0.5", linestyle=":", linewidth=0.8,
                       label="default scenario")
        ax.set_xlabel(label)
        ax.set_ylabel(f"total training delay ({unit})")
        if logx:
            ax.set_xscale("log")
            ax.set_xticks(x, [f"{v:g}" for v in x])
            ax.minorticks_off()
        if logy:
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(NullFormatter())
        n = max(s.n for *_, s in data)
        ax.legend(ncol=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), fontsize=6,
                  title=f"median (line) and 25–75 % range (band) over {n} seeds",
                  title_fontsize=6, columnspacing=0.8,
                  handlelength=1.8)
        rows = [(p, v, m, s.median, s.q25, s.q75, s.mean, s.std, s.n) for p, v, m, s in data]
        return save(fig, stem, ("param", "value", "method", "median_delay_s", "q25_delay_s",
                                "q75_delay_s", "mean_delay_s", "std_delay_s", "n_seeds"),
                    rows)


def plot_comparison(table: SweepTable, stem: str | Path,
                    reference: str = "sflllm") -> list[Path]:
    """Median total delay of every method on one scenario, with the 25–75 % range over
    seeds as an error bar (the mean of a skewed method can lie outside that range), and
    the reference's median per-seed reduction against each.

    CSV columns: method, median_delay_s, q25_delay_s, q75_delay_s, mean_delay_s,
    std_delay_s, n_seeds, median_reduction, mean_reduction, std_reduction.
    """
    methods = ordered(table.methods())
    if reference in methods:
        methods = [reference] + [m for m in methods if m != reference]
    red = reductions(table, reference)
    summ = {m: Summary.of(r.delay for r in table.select(method=m)) for m in methods}
    unit, per = time_unit()
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
        y = np.arange(len(methods))[::-1]
        for yi, m in zip(y, methods, strict=True):
            name, color, _ = method_style(m)
            s = summ[m]
            err = [[(s.median - s.q25) / per], [(s.q75 - s.median) / per]]
            ax.barh(yi, s.median / per, xerr=err, color=color, alpha=0.85, height=0.65,
                    error_kw={"elinewidth": 0.8, "capsize": 2})
            if m in red:
                ax.text(s.q75 / per, yi, f"  −{100 * float(np.median(red[m])):.0f}%",
                        va="center", ha="left", fontsize=6.5)
        ax.set_yticks(y, [method_style(m)[0] for m in methods])
        ax.set_xlabel(f"total training delay ({unit})")
        ax.grid(axis="y", visible=False)
        ax.set_xlim(0, max(s.q75 / per for s in summ.values()) * 1.22)
        n = max(s.n for s in summ.values())
        ax.set_title(f"default scenario, median and 25–75 % range over {n} seeds; "
                     "labels: SflLLM's median reduction", loc="right", fontsize=6, color="0.3")
        rows = [(m, summ[m].median, summ[m].q25, summ[m].q75, summ[m].mean, summ[m].std,
                 summ[m].n, float(np.median(red[m])) if m in red else 0.0,
                 float(red[m].mean()) if m in red else 0.0,
                 float(red[m].std()) if m in red else 0.0) for m in methods]
        return save(fig, stem, ("method", "median_delay_s", "q25_delay_s", "q75_delay_s",
                                "mean_delay_s", "std_delay_s", "n_seeds", "median_reduction",
                                "mean_reduction", "std_reduction"), rows)


def plot_reduction(table: SweepTable, stem: str | Path,
                   reference: str = "sflllm") -> list[Path]:
    """Bar chart of the reference's delay reduction (%) against each baseline
    (mean ± std over seeds).

    CSV columns: baseline, mean_reduction, std_reduction, n_seeds (fractions, not %).
    """
    red = reductions(table, reference)
    names = sorted(red, key=lambda m: red[m].mean())
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.3))
        x = np.arange(len(names))
        for xi, m in zip(x, names, strict=True):
            _, color, _ = method_style(m)
            mu, sd = 100 * red[m].mean(), 100 * red[m].std()
            ax.bar(xi, mu, yerr=sd, color=color, alpha=0.85, width=0.65,
                   error_kw={"elinewidth": 0.8, "capsize": 2})
            ax.text(xi, mu + sd + 1.0, f"{mu:.1f}", ha="center", va="bottom", fontsize=6.5)
        ax.set_xticks(x, [method_style(m)[0].replace(" ", "\n", 1) for m in names],
                      fontsize=6.5)
        ax.set_ylabel(f"delay reduction of {method_style(reference)[0].split(' ')[0]} (%)")
        ax.set_ylim(0, max(100 * (red[m].mean() + red[m].std()) for m in names) * 1.15 + 2)
        ax.grid(axis="x", visible=False)
        rows = [(m, float(red[m].mean()), float(red[m].std()), int(red[m].size)) for m in names]
        return save(fig, stem, ("baseline", "mean_reduction", "std_reduction", "n_seeds"), rows)


def plot_heatmap(grid: np.ndarray, splits: Sequence[int], ranks: Sequence[int],
                 stem: str | Path, title: str = "") -> list[Path]:
    """Best total delay over the (split, rank) grid; the minimum
    is starred. ``grid`` is (len(splits), len(ranks)) in seconds (``SolveResult.grid``).

    CSV columns: split, rank, delay_s.
    """
    grid = np.asarray(grid, dtype=float)
    if grid.shape != (len(splits), len(ranks)):
        raise ValueError(f"grid: expected shape ({len(splits)}, {len(ranks)}), "
                         f"got {grid.shape}")
    unit, per = time_unit()
    h = grid / per
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.6))
        finite = h[np.isfinite(h)]
        im = ax.imshow(h.T, origin="lower", aspect="auto", cmap="viridis",
                       vmin=finite.min(), vmax=finite.max())
        i, j = np.unravel_index(int(np.argmin(grid)), grid.shape)
        ax.plot(i, j, marker="*", color="white", markersize=9, markeredgecolor="black",
                markeredgewidth=0.5, linestyle="none", label="minimum")
        ax.set_xticks(range(len(splits)), [str(s) for s in splits])
        ax.set_yticks(range(len(ranks)), [str(r) for r in ranks])
        ax.set_xlabel("split point ℓ (blocks on the client)")
        ax.set_ylabel("LoRA rank r")
        ax.grid(False)
        cb = fig.colorbar(im, ax=ax, pad=0.02)
        cb.set_label(f"total training delay ({unit})")
        if title:
            ax.set_title(title, loc="right", fontsize=6.5, color="0.3")
        ax.legend(loc="upper right", fontsize=6.5, handletextpad=0.2, borderpad=0.2)
        rows = [(int(s), int(r), float(grid[a, b])) for a, s in enumerate(splits)
                for b, r in enumerate(ranks)]
        return save(fig, stem, ("split", "rank", "delay_s"), rows)


def plot_convergence(histories: dict[str, dict[int, Sequence[float]]], stem: str | Path, *,
                     first_iteration: dict[str, int] | None = None,
                     labels: dict[str, str] | None = None) -> list[Path]:
    """Objective per iteration, one line per scenario seed (colour) and series (style).

    ``histories[series][seed]`` is a list of objectives (s). A series named ``"bcd"`` or
    ``"bcd_<x>"`` goes to the left panel (the outer loop: objective after each
    alternation of allocation, power and (split, rank) search), ``"nested"`` to the
    right one (best delay after each refined pair). ``first_iteration[series]`` is the
    number of its first entry (default 1; 0 when the entry is the start point);
    ``labels[series]`` names the series in the legend.
    CSV columns: series, seed, iteration, objective_s.
    """
    first_iteration = dict(first_iteration or {})
    labels = dict(labels or {})
    panels = list(dict.fromkeys(m.split("_")[0] for m in histories))
    xlabels = {"bcd": "outer iteration (allocation, power, split/rank search)",
               "nested": "refined (split, rank) pairs"}
    titles = {"bcd": "bcd: the paper's alternation", "nested": "nested search"}
    styles = ["-", "--", ":", "-."]
    cmap = plt.get_cmap("viridis")
    unit, per = time_unit()
    seeds_all = sorted({sd for by in histories.values() for sd in by})
    colour = {sd: cmap(n / max(1, len(seeds_all) - 1) * 0.9) for n, sd in enumerate(seeds_all)}
    rows = []
    with paper_style():
        fig, axes = plt.subplots(1, len(panels), figsize=(COLUMN_WIDTH * 2, 2.4), squeeze=False)
        for ax, panel in zip(axes[0], panels, strict=True):
            series = [m for m in histories if m.split("_")[0] == panel]
            for k, name in enumerate(series):
                for seed in sorted(histories[name]):
                    hist = np.asarray(histories[name][seed], dtype=float)
                    it = np.arange(hist.size) + first_iteration.get(name, 1)
                    ax.plot(it, hist / per, marker="o", markersize=2.5,
                            linestyle=styles[k % len(styles)], color=colour[seed])
                    rows += [(name, seed, int(i), float(v))
                             for i, v in zip(it, hist, strict=True)]
            handles = [plt.Line2D([], [], color="0.3", linestyle=styles[k % len(styles)],
                                  label=labels.get(name, name))
                       for k, name in enumerate(series)] if len(series) > 1 else []
            if handles:
                ax.legend(handles=handles, loc="upper right", fontsize=6)
            ys = np.concatenate([np.asarray(histories[m][sd], dtype=float) for m in series
                                 for sd in histories[m]])
            if ys.max() > 5 * ys.min():
                ax.set_yscale("log")
                ax.yaxis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
                ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
                ax.yaxis.set_minor_formatter(NullFormatter())
            ax.set_xlabel(xlabels.get(panel, "iteration"))
            ax.set_ylabel(f"total training delay ({unit})")
            ax.set_title(titles.get(panel, panel), loc="left", fontsize=7)
            ax.xaxis.get_major_locator().set_params(integer=True)
        seed_handles = [plt.Line2D([], [], color=colour[sd], marker="o", markersize=2.5,
                                   label=f"seed {sd}") for sd in seeds_all]
        fig.legend(handles=seed_handles, loc="lower center", ncol=len(seeds_all),
                   bbox_to_anchor=(0.5, 1.0), fontsize=6.5, title="scenario seed",
                   title_fontsize=6.5)
        fig.tight_layout()
        return save(fig, stem, ("series", "seed", "iteration", "objective_s"), rows)


# ------------------------------------------------ when split and rank matter (§8.2)


def plot_split_map(cells: Sequence[Any], stem: str | Path, *, server_flops: float,
                   server_name: str = "", devices: dict[str, float] | None = None
                   ) -> list[Path]:
    """The split SflLLM chooses over (number of clients K, client FLOP/s), identical
    clients: one marker per cell coloured by the chosen split, the compute threshold
    ``client FLOP/s = server FLOP/s / K`` drawn as a line, and ``devices`` (name ->
    effective FLOP/s) as labelled horizontal ticks. ``cells`` are
    :class:`sfl_opt.experiments.regimes.SplitCell`.

    CSV columns: client_flops, clients, split, rank, delay_s, threshold_side.
    """
    ks = np.array([c.clients for c in cells], dtype=float)
    fl = np.array([c.client_flops for c in cells], dtype=float) / 1e12
    sp = np.array([c.split for c in cells], dtype=float)
    last = max(c.last for c in cells)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.7))
        sc = ax.scatter(ks, fl, c=sp, cmap="viridis", vmin=1, vmax=last, s=28, marker="s",
                        edgecolors="0.2", linewidths=0.3, zorder=3)
        kk = np.linspace(ks.min() * 0.9, ks.max() * 1.1, 200)
        ax.plot(kk, server_flops / 1e12 / kk, color="#d62728", linewidth=1.0,
                label=f"threshold {server_name or 'server'} FLOP/s ÷ K", zorder=2)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlim(ks.min() * 0.8, ks.max() * 1.25)
        ax.set_ylim(fl.min() * 0.3, fl.max() * 1.6)  # a free strip for the legend
        for fmt_ax in (ax.xaxis, ax.yaxis):
            fmt_ax.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            fmt_ax.set_minor_formatter(NullFormatter())
        ax.set_xticks(sorted(set(ks.tolist())))
        groups: list[tuple[float, list[str]]] = []  # devices within 15 % share a label
        for name, f in sorted((devices or {}).items(), key=lambda kv: kv[1]):
            y = f / 1e12
            if not fl.min() * 0.3 < y < fl.max() * 1.6:
                continue
            if groups and y < groups[-1][0] * 1.15:
                groups[-1][1].append(name)
            else:
                groups.append((y, [name]))
        for y, _ in groups:
            ax.axhline(y, color="0.5", linewidth=0.5, linestyle=":", zorder=1)
        ax.set_xlabel("number of clients K")
        ax.set_ylabel("client compute (TFLOP/s)")
        # the colour bar on top, so the device names can sit outside the axes on the right
        # (inside, they fell on the markers)
        cb = fig.colorbar(sc, ax=ax, location="top", pad=0.02, fraction=0.06, aspect=35)
        cb.set_label("chosen split ℓ", fontsize=7)
        cb.ax.tick_params(labelsize=6)
        if groups:
            names_ax = ax.twinx()
            names_ax.set_yscale("log")
            names_ax.set_ylim(ax.get_ylim())
            names_ax.set_yticks([y for y, _ in groups],
                                ["\n".join(names) for _, names in groups])
            names_ax.yaxis.set_minor_locator(NullLocator())
            names_ax.tick_params(axis="y", labelsize=5, labelcolor="0.3", length=2)
            names_ax.grid(False)
        ax.legend(loc="lower left", fontsize=6, borderaxespad=0.2)
        ax.grid(True, which="major", alpha=0.3)
        rows = [(c.client_flops, c.clients, c.split, c.rank, c.delay, c.side) for c in cells]
        return save(fig, stem, ("client_flops", "clients", "split", "rank", "delay_s",
                                "threshold_side"), rows)


def plot_rank_tokens(points: Sequence[Any], stem: str | Path, *, title: str = ""
                     ) -> list[Path]:
    """The rank SflLLM chooses over the tokens per client and round (I·b·s), one marker
    per run (``points`` are :class:`sfl_opt.experiments.regimes.RankPoint`), marker by sequence
    length and colour by batch; seeds are spread slightly around their x.

    CSV columns: local_iters, batch, seq, seed, tokens, rank, split, rounds, delay_s.
    """
    batches = sorted({p.batch for p in points})
    seqs = sorted({p.seq for p in points})
    seeds = sorted({p.seed for p in points})
    markers = ["o", "s", "^", "D", "v"]
    cmap = plt.get_cmap("viridis")
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
        for p in points:
            jitter = 1.0 + 0.06 * (seeds.index(p.seed) - (len(seeds) - 1) / 2)
            ax.scatter(p.tokens * jitter, p.rank,
                       color=cmap(0.85 * batches.index(p.batch) / max(1, len(batches) - 1)),
                       marker=markers[seqs.index(p.seq) % len(markers)], s=14,
                       edgecolors="0.2", linewidths=0.3, zorder=3)
        ax.set_xscale("log")
        ax.set_yscale("log", base=2)
        ranks = sorted({p.rank for p in points})
        ax.set_yticks([1, 2, 4, 8, 16] if max(ranks) <= 16 else ranks)
        ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        ax.yaxis.set_minor_formatter(NullFormatter())
        ax.set_ylim(0.7, max(16, max(ranks)) * 1.4)
        ax.set_xlabel("tokens per client and round, I·b·s")
        ax.set_ylabel("chosen LoRA rank r")
        handles = [plt.Line2D([], [], color=cmap(0.85 * n / max(1, len(batches) - 1)),
                              marker="o", linestyle="none", label=f"b = {b}")
                   for n, b in enumerate(batches)]
        handles += [plt.Line2D([], [], color="0.4", marker=markers[n % len(markers)],
                               linestyle="none", label=f"s = {s}") for n, s in enumerate(seqs)]
        ax.legend(handles=handles, loc="lower right", fontsize=6, ncol=2)
        if title:
            ax.set_title(title, loc="left", fontsize=6, color="0.3")
        rows = [(p.local_iters, p.batch, p.seq, p.seed, p.tokens, p.rank, p.split, p.rounds,
                 p.delay) for p in points]
        return save(fig, stem, ("local_iters", "batch", "seq", "seed", "tokens", "rank",
                                "split", "rounds", "delay_s"), rows)


def plot_ablation_shares(ablations: Sequence[Any], stem: str | Path) -> list[Path]:
    """Share of SflLLM's reduction against ``fully_random`` that comes from each
    decision (Shapley decomposition, docs/model.md §6.4): one stacked bar per scenario,
    the mean over seeds of the per-seed shares; the mean total reduction is written
    above each bar. ``ablations`` are :class:`sfl_opt.experiments.regimes.Ablation`.

    CSV columns: scenario, seed, reduction, share_rank, share_allocation, share_split,
    delay_fully_random_s, delay_all_s.
    """
    decisions = ("rank", "allocation", "split")
    colours = {"rank": "#d62728", "allocation": "#1f77b4", "split": "#2ca02c"}
    labels = list(dict.fromkeys(a.label for a in ablations))
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 2.4))
        for i, lab in enumerate(labels):
            runs = [a for a in ablations if a.label == lab]
            bottom = 0.0
            for d in decisions:
                share = float(np.mean([a.shares[d] for a in runs]))
                ax.bar(i, share * 100, bottom=bottom, color=colours[d], width=0.6,
                       label=d if i == 0 else None, edgecolor="white", linewidth=0.4)
                if share > 0.06:
                    ax.text(i, bottom + share * 50, f"{share:.0%}", ha="center",
                            va="center", fontsize=6, color="white")
                bottom += share * 100
            red = float(np.mean([a.reduction for a in runs]))
            ax.text(i, 102, f"−{red:.0%}", ha="center", va="bottom", fontsize=6)
        ax.set_xticks(range(len(labels)), [lab.replace(", ", "\n") for lab in labels],
                      fontsize=6)
        ax.set_ylim(0, 112)
        ax.set_ylabel("share of the reduction vs fully random (%)")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=3, fontsize=6.5)
        ax.grid(False, axis="x")
        empty = frozenset()
        full = frozenset(decisions)
        rows = [(a.label, a.seed, a.reduction, a.shares["rank"], a.shares["allocation"],
                 a.shares["split"], a.delays[empty], a.delays[full]) for a in ablations]
        return save(fig, stem, ("scenario", "seed", "reduction", "share_rank",
                                "share_allocation", "share_split", "delay_fully_random_s",
                                "delay_all_s"), rows)
