"""End to end: ``sfl-opt online --experiment`` (calibration, fit, comparison, report)
on a tiny run, its resume, and its input errors."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from sfl_opt.cli.main import main


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.slow
@pytest.mark.harness
def test_experiment_cli_end_to_end(tmp_path, capsys):
    pytest.importorskip("torch")
    pytest.importorskip("peft")
    runs, out = tmp_path / "runs", tmp_path / "out"
    argv = ["online", "--experiment", "--seeds", "2", "--rounds", "4", "--sweep", "10",
            "--runs", str(runs), "--out", str(out), "--no-progress"]
    assert main(argv) == 0
    text = capsys.readouterr().out
    assert "participation fit (both)" in text and "lyapunov − baseline" in text
    # the participation curve: every N, 2 seeds, and the CSV's mean equals the runs'
    part = _csv(out / "online_participation.csv")
    assert [int(r["N"]) for r in part] == [1, 2, 3, 5, 10]
    stored = [json.loads(p.read_text()) for p in sorted(runs.glob("fixedN_N1_*.json"))]
    assert len(stored) == 2 and {r["seed"] for r in stored} == {0, 1}
    want = np.mean([np.mean(r["val_loss"][-3:]) for r in stored])
    assert float(part[0]["final_loss_mean"]) == pytest.approx(want, rel=1e-5)
    # the learning CSV: a seed column, both seeds for every policy label
    rows = _csv(out / "online_learning.csv")
    assert {"policy", "V", "energy_guard", "seed", "round"} <= set(rows[0])
    labels = {(r["policy"], r["energy_guard"]) for r in rows}
    assert ("lyapunov", "1") in labels and ("random", "0") in labels
    assert ("random", "1") in labels and ("myopic", "0") in labels
    for lab in labels:
        assert {r["seed"] for r in rows if (r["policy"], r["energy_guard"]) == lab} == {"0", "1"}
    # settings: the fit with its CIs, used by the scheduler; the guard held
    js = json.loads((out / "online_learning_settings.json").read_text())
    fit = js["participation_fit"]
    assert fit["terms"] == "both" and len(fit["alpha_ci95"]) == 2 and "beta" in fit
    assert set(js["participation_fits"]) == {"count", "coverage", "both"}
    assert js["problem_seed0"]["coverage_weight"] == pytest.approx(max(fit["beta"], 0.0))
    ly = js["statistics"]["policies"]["lyapunov V=10 +guard"]
    assert ly["max_worst_running_ratio"] <= 1 + 1e-9
    assert len(ly["device_ratio"]) == 20
    for p in ("online_participation.png", "online_learning.png"):
        assert (out / p).stat().st_size > 0
    # resume: nothing re-run, the same report
    stamps = {p.name: p.stat().st_mtime_ns for p in runs.iterdir()}
    before = (out / "online_learning.csv").read_text()
    assert main(argv) == 0
    assert {p.name: p.stat().st_mtime_ns for p in runs.iterdir()} == stamps
    assert (out / "online_learning.csv").read_text() == before


def test_experiment_cli_rejects_one_seed(tmp_path, capsys):
    pytest.importorskip("torch")
    code = main(["online", "--experiment", "--seeds", "1", "--rounds", "2",
                 "--runs", str(tmp_path), "--out", str(tmp_path), "--no-progress"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("sfl-opt: error: seeds:") and "\n" not in err
