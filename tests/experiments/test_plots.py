"""Figures: files written and non-empty, and each CSV holds exactly what is drawn
(checked against independent computations from the runs)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.cli import main
from sfl_opt.experiments.analysis import compare, compare_rows
from sfl_opt.experiments.figures import bcd_trace, make_figures
from sfl_opt.experiments.plots import (
    plot_comparison,
    plot_convergence,
    plot_heatmap,
    plot_reduction,
    plot_sweep,
)
from sfl_opt.experiments.report import format_compare
from sfl_opt.experiments.sweep import SweepTable, sweep

METHODS = ["fully_random", "sflllm", "equal_power"]


@pytest.fixture(scope="module")
def table() -> SweepTable:
    return sweep("p_max", [0.1, 0.2], METHODS, seeds=[0, 1, 2], executor="serial",
                 progress=False)


@pytest.fixture(scope="module")
def default_table() -> SweepTable:
    return compare([0, 1, 2], METHODS, executor="serial", progress=False)


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


def _check_files(paths: list[Path], stem: Path) -> None:
    assert sorted(p.name for p in paths) == sorted(stem.name + e for e in (".png", ".pdf",
                                                                           ".csv"))
    assert stem.with_suffix(".png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert stem.with_suffix(".pdf").read_bytes()[:5] == b"%PDF-"
    for p in paths:
        assert p.stat().st_size > 100


def test_sweep_figure_csv_is_the_mean_and_std(table: SweepTable, tmp_path: Path) -> None:
    stem = tmp_path / "delay_vs_p_max"
    paths = plot_sweep(table, stem, default=0.2, logx=True, logy=True)
    _check_files(paths, stem)
    rows = _read(stem.with_suffix(".csv"))
    assert len(rows) == 2 * len(METHODS)
    for r in rows:
        delays = [x.delay for x in table.rows
                  if x.value == float(r["value"]) and x.method == r["method"]]
        assert len(delays) == int(r["n_seeds"]) == 3
        assert float(r["mean_delay_s"]) == pytest.approx(sum(delays) / 3, rel=1e-12)
        mu = sum(delays) / 3
        sd = (sum((d - mu) ** 2 for d in delays) / 3) ** 0.5
        assert float(r["std_delay_s"]) == pytest.approx(sd, rel=1e-9, abs=1e-9)
        lo, hi = sorted(delays)[0], sorted(delays)[2]  # 3 seeds: quartiles interpolate
        med = sorted(delays)[1]
        assert float(r["q25_delay_s"]) == pytest.approx((lo + med) / 2, rel=1e-12)
        assert float(r["q75_delay_s"]) == pytest.approx((med + hi) / 2, rel=1e-12)
        assert float(r["median_delay_s"]) == med   # the line: the median, inside the band


def test_sweep_figure_draws_the_median_in_minutes_and_names_the_default_line(
        table: SweepTable, tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    import sfl_opt.experiments.plots as plots

    seen = {}
    real_save = plots.save

    def spy(fig, stem, header, rows):
        ax = fig.axes[0]
        seen["ylabel"] = ax.get_ylabel()
        seen["lines"] = {ln.get_label(): ln.get_ydata() for ln in ax.get_lines()}
        seen["legend"] = [t.get_text() for t in ax.get_legend().get_texts()]
        return real_save(fig, stem, header, rows)

    monkeypatch.setattr(plots, "save", spy)
    plot_sweep(table, tmp_path / "s", default=0.2)
    assert seen["ylabel"] == "total training delay (min)"
    assert "default scenario" in seen["legend"]
    med = [np.median([x.delay for x in table.rows if x.value == v and x.method == "sflllm"])
           for v in (0.1, 0.2)]
    np.testing.assert_allclose(seen["lines"]["SflLLM (proposed)"], np.array(med) / 60.0)
    plt.close("all")


def test_every_figure_uses_one_time_unit() -> None:
    from sfl_opt.experiments.plots import time_unit

    assert time_unit([1.0]) == time_unit([1e6]) == time_unit() == ("min", 60.0)


def test_reduction_and_comparison_csv(default_table: SweepTable, tmp_path: Path) -> None:
    by = {(r.method, r.seed): r.delay for r in default_table.rows}
    stem = tmp_path / "reduction"
    _check_files(plot_reduction(default_table, stem), stem)
    rows = {r["baseline"]: r for r in _read(stem.with_suffix(".csv"))}
    assert set(rows) == {"fully_random", "equal_power"}
    for m, r in rows.items():
        red = [1 - by[("sflllm", s)] / by[(m, s)] for s in range(3)]
        assert float(r["mean_reduction"]) == pytest.approx(np.mean(red), rel=1e-12)
        assert float(r["std_reduction"]) == pytest.approx(np.std(red), rel=1e-9, abs=1e-12)
        assert float(r["mean_reduction"]) >= 0  # SflLLM never loses on these seeds
    stem = tmp_path / "comparison"
    _check_files(plot_comparison(default_table, stem), stem)
    rows = _read(stem.with_suffix(".csv"))
    assert [r["method"] for r in rows] == ["sflllm", "equal_power", "fully_random"]
    for r in rows:
        d = [by[(r["method"], s)] for s in range(3)]
        assert float(r["mean_delay_s"]) == pytest.approx(np.mean(d), rel=1e-12)
        assert float(r["median_delay_s"]) == pytest.approx(np.median(d), rel=1e-12)
        assert float(r["q25_delay_s"]) == pytest.approx(np.percentile(d, 25), rel=1e-12)
        assert float(r["q75_delay_s"]) == pytest.approx(np.percentile(d, 75), rel=1e-12)
        if r["method"] != "sflllm":
            red = [1 - by[("sflllm", s)] / by[(r["method"], s)] for s in range(3)]
            assert float(r["median_reduction"]) == pytest.approx(np.median(red), rel=1e-12)


def test_compare_table_text(default_table: SweepTable) -> None:
    text = format_compare(default_table)
    assert text.splitlines()[0].startswith("sflllm vs the baselines: default scenario, 3 seeds")
    rows = compare_rows(default_table)
    assert rows[0]["method"] == "sflllm" and rows[0]["red_mean"] is None
    fr = next(r for r in rows if r["method"] == "fully_random")
    assert f"{100 * fr['red_mean']:6.1f}%" in text
    assert fr["worse"] == 0


def test_heatmap_csv_is_the_grid(tmp_path: Path) -> None:
    p = Problem.default(0, clients=3, subchannels=6, ranks=(2, 4, 8))
    res = solve(p, seed=0, prune=False)
    stem = tmp_path / "heat"
    _check_files(plot_heatmap(res.grid, p.splits.tolist(), p.ranks.tolist(), stem), stem)
    rows = _read(stem.with_suffix(".csv"))
    assert len(rows) == p.splits.size * p.ranks.size
    for r in rows:
        i = list(p.splits).index(int(r["split"]))
        j = list(p.ranks).index(int(r["rank"]))
        assert float(r["delay_s"]) == res.grid[i, j]
    best = min(rows, key=lambda r: float(r["delay_s"]))
    assert (int(best["split"]), int(best["rank"])) == (res.split, res.rank)
    with pytest.raises(ValueError, match="^grid"):
        plot_heatmap(res.grid[:, :2], p.splits.tolist(), p.ranks.tolist(), stem)


def test_convergence_csv_is_the_history(tmp_path: Path) -> None:
    hist = {"bcd": {0: [3.0, 2.0, 2.0]}, "bcd_cold": {0: [9.0, 2.5]},
            "nested": {0: [5.0, 4.0], 1: [6.0]}}
    stem = tmp_path / "conv"
    _check_files(plot_convergence(hist, stem, first_iteration={"bcd": 0, "bcd_cold": 0},
                                  labels={"bcd": "a", "bcd_cold": "b"}), stem)
    rows = _read(stem.with_suffix(".csv"))
    got = {(r["series"], int(r["seed"]), int(r["iteration"])): float(r["objective_s"])
           for r in rows}
    assert got == {("bcd", 0, 0): 3.0, ("bcd", 0, 1): 2.0, ("bcd", 0, 2): 2.0,
                   ("bcd_cold", 0, 0): 9.0, ("bcd_cold", 0, 1): 2.5,
                   ("nested", 0, 1): 5.0, ("nested", 0, 2): 4.0, ("nested", 1, 1): 6.0}


@pytest.mark.parametrize("seed", [0, 3])
def test_bcd_trace_is_solves_outer_loop(seed: int) -> None:
    """From the default start the trace is solve(mode="bcd").history after its start
    point; from a cold start the objective never increases along the loop."""
    p = Problem.default(seed)
    trace = bcd_trace(p, seed=seed)
    res = solve(p, seed=seed, mode="bcd")
    assert trace[1:] == res.history
    assert trace[0] >= trace[1] * (1 - 1e-12)
    cold = bcd_trace(p, start=(11, 1), seed=seed)
    assert all(b <= a * (1 + 1e-12) for a, b in zip(cold[1:], cold[2:], strict=False))
    # rank 1 at the last split is not the optimum: the loop descends from it
    assert cold[-1] < cold[0] * (1 - 1e-3) and len(cold) > 2
    with pytest.raises(ValueError, match="^start"):
        bcd_trace(p, start=(12, 1))


@pytest.mark.slow
def test_make_figures_quick(tmp_path: Path) -> None:
    paths = make_figures(tmp_path, quick=True, seeds=1, executor="serial", progress=False,
                         params=["clients"])
    names = {p.name for p in paths}
    for stem in ("comparison", "reduction", "delay_vs_clients", "heatmap_split_rank",
                 "convergence", "split_map", "rank_tokens", "ablation_shares"):
        for ext in ("png", "pdf", "csv"):
            assert f"{stem}.{ext}" in names
            assert (tmp_path / f"{stem}.{ext}").stat().st_size > 100
    runs = SweepTable.from_csv(tmp_path / "sweep_clients_runs.csv")
    assert runs.values() == [2.0, 5.0, 16.0] and len(runs) == 3 * 7
    with pytest.raises(ValueError, match="^params"):
        make_figures(tmp_path, quick=True, seeds=1, executor="serial", params=["batch"])


def test_cli_compare_and_sweep(tmp_path: Path, capsys) -> None:
    assert main(["compare", "--seeds", "1", "--serial", "--quiet",
                 "--methods", "sflllm", "fully_random", "--out", str(tmp_path / "c.csv")]) == 0
    out = capsys.readouterr().out
    assert "fully_random" in out and "reduction by sflllm" in out
    assert len(SweepTable.from_csv(tmp_path / "c.csv")) == 2
    out_csv = tmp_path / "s.csv"
    assert main(["sweep", "clients", "--values", "2", "3", "--seeds", "1", "--methods",
                 "sflllm", "--serial", "--quiet", "--out", str(out_csv)]) == 0
    t = SweepTable.from_csv(out_csv)
    assert [(r.value, r.method) for r in t.rows] == [(2.0, "sflllm"), (3.0, "sflllm")]
    assert t.rows[0].delay == solve(Problem.default(0, clients=2), seed=0).delay
    # bad grid value: a clear error naming the field, exit status 2
    assert main(["sweep", "clients", "--values", "2.5", "--serial", "--quiet",
                 "--out", str(out_csv)]) == 2
    assert "values" in capsys.readouterr().err
