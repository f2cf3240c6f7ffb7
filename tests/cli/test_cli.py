"""The sfl-opt command line: default scenario, solve report, JSON output, errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from sfl_opt import Problem
from sfl_opt.cli import main


def test_default_writes_the_scenario(cli) -> None:
    code, out, _ = cli("default", "--seed", "3")
    assert code == 0
    assert Problem.from_json(out) == Problem.default(seed=3)


def test_solve_report_and_json(tmp_path, capsys) -> None:
    scenario = tmp_path / "scenario.json"
    scenario.write_text(Problem.default(seed=1).to_json())
    out_json = tmp_path / "out.json"
    assert main(["solve", str(scenario), "--out", str(out_json)]) == 0
    out = capsys.readouterr().out
    res = json.loads(out_json.read_text())
    assert f"split point: l = {res['split']}" in out
    assert f"LoRA rank: r = {res['rank']}" in out
    assert f"status: {res['status']}" in out and "delay breakdown" in out
    # the certificate is on by default (the native bound)
    assert res["lower_bound"] is not None and "optimality gap" in out
    assert "illustrative" in out or "measured" in out
    # one line per client in the table
    assert sum(1 for line in out.splitlines() if line.strip().startswith(tuple("01234"))) >= 5
    assert res["delay"] > 0 and len(res["assign_s"]) == 20


def test_solve_default_without_file_modes(capsys) -> None:
    assert main(["solve", "--mode", "bcd", "--no-refine"]) == 0
    assert "mode bcd" in capsys.readouterr().out


def test_solve_bound_none_and_exact(capsys) -> None:
    assert main(["solve", "--bound", "none"]) == 0
    assert "optimality gap" not in capsys.readouterr().out
    assert main(["solve", "--method", "exact", "--clients", "2", "--subchannels", "3"]) == 0
    out = capsys.readouterr().out
    assert "status: optimal" in out and "optimality gap" in out


def test_solve_bad_file(tmp_path, cli) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"gain_s": [[1.0]]}')
    code, out, err = cli("solve", bad)
    assert code == 2 and not out
    assert err.startswith("sfl-opt: error:") and len(err.strip().splitlines()) == 1


def test_unknown_method_is_rejected(cli) -> None:
    code, _, err = cli("solve", "--method", "nope")
    assert code == 2 and "nope" in err and "sflllm" in err  # names the valid choices


def test_backends_lists_native(cli) -> None:
    code, out, _ = cli("backends")
    assert code == 0 and "native" in out


@pytest.mark.slow
def test_console_script_runs() -> None:
    proc = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "solve"], capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "total training delay" in proc.stdout


@pytest.mark.slow
def test_core_imports_without_optional_dependencies() -> None:
    code = ("import sys, sfl_opt; sfl_opt.solve(sfl_opt.Problem.default()); "
            "bad = [m for m in ('torch', 'transformers', 'peft', 'cvxpy', 'pyomo') "
            "if m in sys.modules]; print(bad); assert not bad")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
