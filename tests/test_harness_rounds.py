"""rounds(r, I) protocol (SPEC §8.1): fractional rounds, LR selection, scaling, schema, resume."""

from __future__ import annotations

import argparse
import json
import math

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

import torch  # noqa: E402

from sfl_opt.errors import ValidationError  # noqa: E402
from sfl_opt.harness.rounds import RunResult, fractional_rounds, tune_lr  # noqa: E402

# ------------------------------------------------------------ fractional rounds


def test_fractional_rounds_is_exact_on_a_linear_curve():
    # Loss falling linearly by s per round: the crossing of T is (c0 - T) / s exactly.
    c0, s = 3.0, 0.35
    curve = [c0 - s * j for j in range(8)]
    for target in (2.9, 2.3, 1.37, c0 - 7 * s):
        assert fractional_rounds(curve, target) == pytest.approx((c0 - target) / s, abs=1e-12)


def test_fractional_rounds_closed_form_and_edge_cases():
    curve = [3.0, 2.5, 2.0, 1.5, 1.7]
    # first round at or below 1.8 is 3; 2 + (2.0 - 1.8) / (2.0 - 1.5) = 2.4
    assert fractional_rounds(curve, 1.8) == pytest.approx(2.4)
    assert fractional_rounds(curve, 2.5) == pytest.approx(1.0)     # hit exactly at round 1
    assert fractional_rounds(curve, 3.5) == 0.0                    # already there
    assert fractional_rounds(curve, 1.0) is None                   # never reached
    # the first crossing counts, not a later one after a bump
    assert fractional_rounds([3.0, 1.0, 4.0, 0.5], 2.0) == pytest.approx(0.5)
    # a convex curve: interpolation between samples lies within the crossing round
    t = np.arange(10)
    expo = 1.0 + 2.0 * np.exp(-t / 3.0)
    target = 1.5
    exact = -3.0 * math.log((target - 1.0) / 2.0)
    got = fractional_rounds(expo, target)
    assert math.floor(exact) <= got <= math.ceil(exact) and got != exact
    with pytest.raises(ValidationError, match="curve"):
        fractional_rounds([3.0, float("nan")], 1.0)


# --------------------------------------------------------------- LR selection


def _synthetic(values: dict[float, list[float | None]], seeds: list[int], cap: int, log: list):
    """A run function with known fractional rounds per (lr, seed) and the trainer's cut rule."""

    def run(lr: float, seed: int, budget: float) -> RunResult:
        v = values[lr][seeds.index(seed)]
        for j in range(1, cap + 1):
            if v is not None and j >= math.ceil(v):
                log.append((lr, seed, j))
                return RunResult("hit", v, float(j))
            if j >= budget:
                log.append((lr, seed, j))
                return RunResult("cut", None, float(j))
        log.append((lr, seed, cap))
        return RunResult("miss", None, float(cap))

    return run


def _brute_force(values: dict[float, list[float | None]]) -> float:
    def score(v):
        return (sum(x is None for x in v), sum(x for x in v if x is not None))
    return min(values, key=lambda lr: score(values[lr]))


def test_tune_lr_picks_the_argmin_and_early_stop_never_drops_it():
    rng = np.random.default_rng(7)
    seeds = [0, 1, 2]
    grid = [1e-3, 3e-3, 1e-2, 3e-2, 1e-1, 3e-1]
    cut_somewhere, saved = False, 0
    for trial in range(300):
        values = {}
        for lr in grid:
            row = list(rng.uniform(0.3, 25.0, size=len(seeds)))
            if rng.random() < 0.25:                       # some candidates miss on a seed
                row[int(rng.integers(len(seeds)))] = None
            values[lr] = row
        if trial % 10 == 0:                                # every candidate misses somewhere
            for lr in grid:
                values[lr][int(rng.integers(len(seeds)))] = None
        log: list = []
        start = float(rng.choice(grid))
        best, res = tune_lr(grid, seeds, _synthetic(values, seeds, 30, log), start=start)
        assert best == _brute_force(values)
        assert [r.rounds for r in res[best]] == values[best]
        cut_somewhere |= any(r.status == "cut" for rs in res.values() for r in rs)
        saved += len(grid) * len(seeds) - len(log)
        # every candidate run is a prefix of the seeds and cut runs had a real bound
        for rs in res.values():
            assert len(rs) <= len(seeds)
            for r in rs:
                if r.status == "cut":
                    assert r.bound < math.inf
    assert cut_somewhere and saved > 0


def test_tune_lr_rejects_a_bad_grid():
    run = _synthetic({1e-3: [1.0]}, [0], 5, [])
    with pytest.raises(ValidationError, match="lr_grid"):
        tune_lr([1e-3, 1e-3], [0], run)
    with pytest.raises(ValidationError, match="lr_grid"):
        tune_lr([-1.0], [0], run)


# --------------------------------------------------------------- LoRA scaling


@pytest.mark.parametrize("rslora", [False, True])
def test_scaling_convention_alpha_over_r_or_sqrt_r(rslora):
    from sfl_opt.harness.model import build_lora_model
    from sfl_opt.harness.train import task_model_config

    cfg = task_model_config(seq=8, layers=2, hidden=16, heads=2)
    alpha, rank = 8.0, 4
    model = build_lora_model(cfg, rank, seed=0, alpha=alpha, rslora=rslora)
    want = alpha / math.sqrt(rank) if rslora else alpha / rank
    layers = [m for n, m in model.named_modules() if n.endswith("q_proj") and
              hasattr(m, "lora_A")]
    assert layers and all(m.scaling["default"] == pytest.approx(want) for m in layers)
    # Independently of peft's attribute: output - base output = want * B A x.
    m = layers[0]
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        m.lora_B["default"].weight.copy_(torch.randn(m.lora_B["default"].weight.shape,
                                                     generator=g))
        x = torch.randn(3, 16, generator=g)
        delta = m(x) - m.base_layer(x)
        A, B = m.lora_A["default"].weight, m.lora_B["default"].weight
        torch.testing.assert_close(delta, want * x @ A.T @ B.T, rtol=1e-5, atol=1e-5)
    # the default (alpha None) keeps the old convention alpha = r, scaling 1
    plain = build_lora_model(cfg, rank, seed=0)
    assert all(mm.scaling["default"] == 1.0 for n, mm in plain.named_modules()
               if n.endswith("v_proj") and hasattr(mm, "lora_A"))


def test_trainer_passes_the_scaling_through():
    from sfl_opt.harness.train import SplitFedTrainer, TrainConfig, task_model_config

    cfg = task_model_config(seq=24, layers=2, hidden=16, heads=2)
    tc = TrainConfig(clients=2, rank=4, local_iters=1, batch=2, n_train=20, n_val=4,
                     alpha=8.0, rslora=True)
    tr = SplitFedTrainer(cfg, tc)
    scal = [m.scaling["default"] for m in tr.model.modules()
            if isinstance(getattr(m, "scaling", None), dict) and m.scaling]
    assert len(scal) == 4 and scal == pytest.approx([8.0 / 2.0] * 4)   # 2 blocks x q, v
    with pytest.raises(ValidationError, match="alpha"):
        TrainConfig(alpha=-1.0)


# ------------------------------------------------------- schema and resume (CLI)


def _parse(argv):
    from sfl_opt.harness.cli import register

    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="cmd", required=True))
    return ap.parse_args(argv)


_TARGET = 4.55  # seed 0 starts at 4.74 and reaches it; seed 1 starts below (0 rounds)
_TINY = ["--layers", "2", "--hidden", "32", "--heads", "2", "--seq", "24"]
_RUN = [*_TINY, "--ranks", "1,2", "--seeds", "0,1", "--local-iters", "1,3",
        "--lr-grid", "0.03,0.06", "--tune-local-iters", "3", "--target-loss", str(_TARGET),
        "--max-rounds", "8", "--clients", "2", "--batch", "4", "--n-train", "60",
        "--n-val", "16", "--pretrain-steps", "10", "--no-progress"]


@pytest.fixture
def small_pretrain(monkeypatch):
    import sfl_opt.harness.train as train_mod

    orig = train_mod.pretrain_base
    monkeypatch.setattr(train_mod, "pretrain_base",
                        lambda cfg, steps, **kw: orig(cfg, steps, **{**kw, "n_lines": 100}))


def _profile(path):
    path.write_text(json.dumps({"schema": 1, "model": {"layers": 2}, "other": [1, 2],
                                "rounds": {"ranks": [1, 2], "rounds": [9.0, 5.0],
                                           "spread": [1.0, 0.5], "target_loss": 1.3,
                                           "settings": {"lr": 5e-3}}}))


@pytest.mark.slow
def test_measure_rounds_schema_and_resume(tmp_path, small_pretrain, monkeypatch):
    import sfl_opt.harness.cli as cli

    full = tmp_path / "full.json"
    _profile(full)
    args = _parse(["measure-rounds", "--profile", str(full), *_RUN])
    assert args.func(args) == 0
    prof = json.loads(full.read_text())
    assert prof["other"] == [1, 2] and prof["model"] == {"layers": 2}
    assert "rounds_partial" not in prof
    t = prof["rounds"]
    assert t["schema"] == 2 and t["ranks"] == [1, 2] and t["local_iters"] == [1, 3]
    assert t["reference_local_iters"] == 3
    assert t["rounds"] == [t["table"]["1"]["3"], t["table"]["2"]["3"]]
    for r in ("1", "2"):
        for i in ("1", "3"):
            per = t["per_seed"][r][i]
            assert len(per) == 2
            assert t["table"][r][i] == pytest.approx(np.mean(per), abs=1e-3)
            assert t["spread"][r][i] == pytest.approx(np.std(per, ddof=1), abs=1e-3)
            # the stored curve of each best-lr run gives its count back by interpolation
            for s, v in zip((0, 1), per, strict=True):
                curve = t["val_loss_curves"][f"rank{r}_I{i}_seed{s}"]
                assert fractional_rounds(curve, _TARGET) == pytest.approx(v, abs=1e-3)
    p = t["protocol"]
    assert p["scaling"] == "fixed-alpha" and p["alpha"] == 8.0
    assert p["lr_grid"] == [0.03, 0.06] and set(p["lr"]) == {"1", "2"}
    assert all(v in (0.03, 0.06) for v in p["lr"].values())
    assert p["lr_tuned_at_local_iters"] == 3 and p["seeds"] == [0, 1]
    assert p["target_loss"] == _TARGET and "linear" in p["interpolation"]
    assert t["measured_on"]["hidden"] == 32 and "pretrained" in t["measured_on"]
    assert t["settings"]["max_rounds"] == {"1": 8, "3": 8}
    assert t["command"].startswith("sfl-opt measure-rounds")
    assert t["previous"]["rounds"] == [9.0, 5.0] and "superseded_because" in t["previous"]
    # the best rate per rank is the least mean over its candidates' complete results
    for r in ("1", "2"):
        cands = p["lr_candidates"][r]["3"]
        complete = {lr: v for lr, v in cands.items()
                    if len(v) == 2 and all(isinstance(x, float) for x in v)}
        assert f"{p['lr'][r]:.6g}" in complete
        assert min(complete, key=lambda k: sum(complete[k])) == f"{p['lr'][r]:.6g}"
    # the solver side still reads the backward-compatible vector
    from sfl_opt.profiles import profile_rounds

    np.testing.assert_allclose(profile_rounds(prof, [2, 1]), [t["rounds"][1], t["rounds"][0]])

    # Interrupted run: the third partial write fails; the file keeps what was measured.
    part = tmp_path / "part.json"
    _profile(part)
    real_write, calls = cli._write_json, {"n": 0}

    def flaky(path, data):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        real_write(path, data)

    monkeypatch.setattr(cli, "_write_json", flaky)
    args = _parse(["measure-rounds", "--profile", str(part), *_RUN])
    with pytest.raises(KeyboardInterrupt):
        args.func(args)
    saved = json.loads(part.read_text())
    assert len(saved["rounds_partial"]["runs"]) == 2
    assert saved["rounds"]["rounds"] == [9.0, 5.0]          # old table untouched meanwhile
    monkeypatch.setattr(cli, "_write_json", real_write)
    # A rerun with other settings ignores the saved runs; the same settings resume.
    import sfl_opt.harness.rounds as rounds_mod

    seen = {}
    orig_measure = rounds_mod.measure_rounds

    def spy(*a, **kw):
        seen["records"] = dict(kw["records"])
        out = orig_measure(*a, **kw)
        seen["new_runs"] = out["runs_this_session"]
        return out

    monkeypatch.setattr(rounds_mod, "measure_rounds", spy)
    args = _parse(["measure-rounds", "--profile", str(part), *_RUN])
    assert args.func(args) == 0
    assert len(seen["records"]) == 2
    done = json.loads(part.read_text())["rounds"]
    assert done["table"] == t["table"] and done["protocol"]["lr"] == p["lr"]
    assert seen["new_runs"] == t["runs_this_session"] - 2
