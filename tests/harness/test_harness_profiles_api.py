"""Bundled measured profiles and their use by Workload / Problem.default (no torch needed)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import sfl_opt
import sfl_opt.model.scenario as problem_mod
from sfl_opt import Problem, Workload
from sfl_opt.errors import ValidationError
from sfl_opt.model.profiles import PROFILES_DIR, bundled_profile_path, load_profile, profile_rounds

PROFILES = Path(sfl_opt.__file__).resolve().parents[1] / "profiles"
assert PROFILES == PROFILES_DIR
SMALL = PROFILES / "cpu-gpt2-small.json"
TINY = PROFILES / "cpu-gpt2-tiny.json"


def want_rounds(table: dict, ranks, local_iters: int | None = None) -> list[float]:
    """Rounds per rank from a profile's rounds section, by hand: schema 3 iterations
    (log-log between measured I and between measured ranks) x scale / I; schema 2/1 the
    vector at the reference I."""
    if table.get("schema") != 3:
        lookup = dict(zip(table["ranks"], table["rounds"], strict=True))
        return [lookup[r] for r in ranks]
    i = local_iters or table["reference_local_iters"]
    its = table["local_iters"]
    measured = table["ranks"]

    def at(r: int) -> float:
        row = [table["iterations"][str(r)][str(x)] for x in its]
        return float(np.exp(np.interp(np.log(i), np.log(its), np.log(row))))
    out = []
    for r in ranks:
        if r in measured:
            n = at(r)
        else:
            hi = min(x for x in measured if x > r)
            lo = max(x for x in measured if x < r)
            t = np.log(r / lo) / np.log(hi / lo)
            n = float(np.exp((1 - t) * np.log(at(lo)) + t * np.log(at(hi))))
        out.append(n * table["scale"] / i)
    return out


@pytest.mark.slow
def test_core_and_cli_registration_do_not_import_torch():
    code = ("import sys, argparse, sfl_opt, sfl_opt.harness\n"
            "from sfl_opt.cli.harness import register\n"
            "ap = argparse.ArgumentParser(); sub = ap.add_subparsers(dest='cmd')\n"
            "register(sub)\n"
            "a = ap.parse_args(['measure-rounds', '--profile', 'x.json', '--target-loss', '1'])\n"
            "assert callable(a.func) and a.ranks == [1, 2, 4, 8, 16]\n"
            "sfl_opt.Problem.default(0)\n"
            "assert 'torch' not in sys.modules and 'transformers' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.slow
def test_missing_torch_gives_a_clear_import_error():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import sfl_opt.harness as h\n"
            "for mod in ('sfl_opt.harness.model', 'sfl_opt.harness.train'):\n"
            "    try:\n"
            "        __import__(mod)\n"
            "    except ImportError as e:\n"
            "        assert \"pip install 'sfl-opt[harness]'\" in str(e), e\n"
            "    else:\n"
            "        raise AssertionError(mod)\n"
            "try:\n"
            "    h.require_torch()\n"
            "except ImportError as e:\n"
            "    assert 'torch' in str(e) and 'sfl-opt[harness]' in str(e)\n"
            "else:\n"
            "    raise AssertionError('require_torch')\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


@pytest.mark.parametrize("path", [SMALL, TINY])
def test_bundled_profiles_are_complete_and_agree_with_the_analytic_count(path):
    data = load_profile(path)
    m = data["model"]
    w = Workload.from_profile(path)
    assert w.layers == m["layers"] and w.source == f"measured: {path.name}"
    ana = Workload.gpt2(layers=m["layers"], hidden=m["hidden"], seq=m["seq"], vocab=m["vocab"])
    np.testing.assert_allclose(w.fwd, ana.fwd, rtol=0.05)
    np.testing.assert_allclose(w.bwd[1:], ana.bwd[1:], rtol=0.05)
    assert w.bwd[0] < ana.bwd[0]              # block 1's input needs no gradient
    np.testing.assert_allclose(w.head_fwd, ana.head_fwd, rtol=0.05)
    np.testing.assert_allclose(w.lora_params, ana.lora_params, rtol=0.05)
    table = data["rounds"]
    if table.get("schema") == 3:   # issue 22: convergence-defined target, iterations table
        assert table["ranks"][0] == 1 and table["ranks"][-1] == 16
        assert len(table["local_iters"]) >= 4 and table["scale"] > 1
        refs = table["references"]
        assert refs and all(x["L0"] > x["L_star"] > 0 and x["eps"] == table["eps"]
                            and x["reference_iterations"] > 0 for x in refs)
        for r in table["ranks"]:
            for i in table["local_iters"]:
                seeds = table["per_seed"][str(r)][str(i)]   # the mean is over table_seeds
                assert table["iterations"][str(r)][str(i)] == pytest.approx(
                    np.mean([seeds[str(x)] for x in table["table_seeds"]]), abs=1e-2)
        np.testing.assert_allclose(table["rounds"], want_rounds(table, table["ranks"]),
                                   rtol=1e-12)
        assert table["fit"]["model"]["kind"] == "powerlaw" and "ci95" in table["fit"]
        assert not [x for x in table["diverged_runs"] if x["purpose"] in ("table",
                                                                           "accuracy")]
        assert table["command"].startswith("sfl-opt measure-convergence")
        assert data["command"].startswith("sfl-opt profile")
        return
    assert table["ranks"] == [1, 2, 4, 8, 16] and len(table["spread"]) == 5
    assert len(table["seeds"]) >= 3 and table["target_loss"] > 0
    if table.get("schema") == 2:         # rounds[r][I] (SPEC §8.1); the vector is I = ref
        ref = str(table["reference_local_iters"])
        assert table["protocol"]["scaling"] in ("fixed-alpha", "rslora")
        assert len(table["protocol"]["lr_grid"]) >= 5 and len(table["local_iters"]) >= 2
        for r, mean in zip(table["ranks"], table["rounds"], strict=True):
            assert mean == table["table"][str(r)][ref]
            for i in table["local_iters"]:
                assert table["table"][str(r)][str(i)] == pytest.approx(
                    np.mean(table["per_seed"][str(r)][str(i)]), abs=1e-3)
    else:
        for r, mean in zip(table["ranks"], table["rounds"], strict=True):
            assert mean == pytest.approx(np.mean(table["per_seed"][str(r)]))
    assert table["measured_on"]["layers"] >= 2
    assert data["command"].startswith("sfl-opt profile")
    assert table["command"].startswith("sfl-opt measure-rounds")
    assert data["times"]["effective_flops"] > 0 and data["machine"]["torch"]


def test_default_problem_uses_the_bundled_measured_profile():
    assert bundled_profile_path() == SMALL
    p = Problem.default(0)
    assert p.rounds_source.startswith("measured: cpu-gpt2-small.json")
    # the rounds were measured on a smaller proxy model, and the source says so
    proxy = json.loads(SMALL.read_text())["rounds"]["measured_on"]
    assert f"proxy model {proxy['name']}" in p.rounds_source
    assert "illustrative" not in p.rounds_source
    # measured FLOPs and bits; memory: the analytic 16-bit model by default, the
    # profile's float32 measurement with memory_bits=32
    measured = Workload.from_profile(SMALL)
    analytic = Workload.gpt2()
    for name in ("fwd", "bwd", "fwd_rank", "bwd_rank", "act_bits", "lora_params"):
        assert np.array_equal(getattr(p.workload, name), getattr(measured, name))
    for name in ("block_param_bytes", "saved_bytes", "saved_bytes_rank", "cut_bytes"):
        assert np.array_equal(getattr(p.workload, name), getattr(analytic, name))
    assert p.workload.embed_param_bytes == analytic.embed_param_bytes
    assert Problem.default(0, memory_bits=32).workload == measured
    table = json.loads(SMALL.read_text())["rounds"]
    np.testing.assert_allclose(p.rounds, want_rounds(table, [1, 2, 4, 8, 16]), rtol=1e-12)
    assert p.splits.tolist() == list(range(1, 12))
    assert Problem.from_json(p.to_json()) == p
    # the same profile passed explicitly, and matching dims, give the same problem
    assert Problem.default(0, profile=SMALL, seq=512, layers=12, hidden=768) == p
    q = Problem.default(0, ranks=(16, 2))
    np.testing.assert_allclose(q.rounds, want_rounds(table, [16, 2]), rtol=1e-12)


def test_overriding_model_dims():
    table = json.loads(SMALL.read_text())["rounds"]
    # bundled profile + other dims: analytic workload of those dims, measured rounds
    p = Problem.default(0, seq=256, layers=6)
    assert p.workload == Workload.gpt2(layers=6, hidden=768, seq=256)
    np.testing.assert_allclose(p.rounds, want_rounds(table, [1, 2, 4, 8, 16]), rtol=1e-12)
    assert p.rounds_source.startswith("measured")
    assert p.splits.tolist() == [1, 2, 3, 4, 5]
    # an explicit profile fixes the model: a conflicting override names the field
    with pytest.raises(ValidationError, match="^seq"):
        Problem.default(0, profile=SMALL, seq=256)
    with pytest.raises(ValidationError, match="^hidden"):
        Problem.default(0, profile=TINY, hidden=768)
    t = Problem.default(0, profile=TINY)
    assert t.L == json.loads(TINY.read_text())["model"]["layers"]


def test_profile_none_missing_ranks_and_bad_files(tmp_path, monkeypatch):
    p = Problem.default(0, profile=None)
    assert p.rounds_source == "illustrative" and p.workload == Workload.gpt2()
    assert p.rounds.tolist() == [problem_mod.ILLUSTRATIVE_ROUNDS[r] for r in (1, 2, 4, 8, 16)]
    with pytest.raises(ValidationError, match="^ranks"):
        Problem.default(0, ranks=(1, 32))
    with pytest.raises(ValidationError, match="^ranks"):
        profile_rounds(SMALL, [32])
    with pytest.raises(ValidationError, match="^profile"):
        Problem.default(0, profile=tmp_path / "nope.json")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"model": {"layers": 2}, "workload": {}}))
    with pytest.raises(ValidationError, match="profile.model"):
        Workload.from_profile(bad)
    data = json.loads(TINY.read_text())
    data["rounds"]["rounds"] = data["rounds"]["rounds"][:-1]
    bad.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match="profile.rounds.rounds"):
        load_profile(bad)
    # a non-editable install has no profiles/ folder: analytic + illustrative
    monkeypatch.setattr(problem_mod, "bundled_profile_path", lambda: None)
    q = Problem.default(0)
    assert q.rounds_source == "illustrative" and q.workload == Workload.gpt2()
