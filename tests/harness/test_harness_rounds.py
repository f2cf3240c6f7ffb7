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
from sfl_opt.harness.rounds import (  # noqa: E402
    RunResult,
    default_eval_every,
    fractional_iterations,
    fractional_rounds,
    tune_lr,
)

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


def test_fractional_iterations_by_hand():
    # Points every 5 iterations; the target 1.4 lies between 1.6 (10 it.) and 1.2 (15 it.):
    # 10 + 5 * (1.6 - 1.4) / (1.6 - 1.2) = 12.5 iterations, i.e. 0.25 rounds at I = 50.
    pts = [(0, 3.0), (5, 2.0), (10, 1.6), (15, 1.2), (20, 1.0)]
    assert fractional_iterations(pts, 1.4) == pytest.approx(12.5, abs=1e-12)
    assert fractional_iterations(pts, 1.4) / 50 == pytest.approx(0.25, abs=1e-12)
    assert fractional_iterations(pts, 2.0) == pytest.approx(5.0)       # hit exactly
    assert fractional_iterations(pts, 3.5) == 0.0                      # already there
    assert fractional_iterations(pts, 0.5) is None                     # never reached
    # uneven spacing (a round end after a stride that does not divide I): 7 -> 10
    assert fractional_iterations([(0, 3.0), (7, 2.0), (10, 1.0)], 1.5) == pytest.approx(8.5)
    # points at 0, I, 2I, ... divided by I give fractional_rounds exactly
    curve = [3.0, 2.5, 2.0, 1.5, 1.7]
    I = 20
    for target in (2.7, 1.8, 1.5):
        got = fractional_iterations([(j * I, c) for j, c in enumerate(curve)], target) / I
        assert got == pytest.approx(fractional_rounds(curve, target), abs=1e-12)
    with pytest.raises(ValidationError, match="points"):
        fractional_iterations([(0, 3.0), (0, 2.0)], 1.0)
    with pytest.raises(ValidationError, match="points"):
        fractional_iterations([(0, 3.0), (5, float("inf"))], 1.0)


def test_within_round_points_resolve_a_convex_curve():
    # A synthetic convex curve loss(n) = 1 + 2 exp(-n / 12) crossing 1.4 at
    # n* = 12 ln 5 = 19.31 iterations. At I = 50, round ends only (0, 50) give the chord
    # (3 - 1.4) / (3 - loss(50)) rounds, an upper bound; points every 5 iterations give
    # the crossing within one stride, much closer to n* / 50 = 0.386.
    def loss(n):
        return 1.0 + 2.0 * math.exp(-n / 12.0)

    target, I = 1.4, 50
    exact = 12.0 * math.log(5.0) / I
    chord = fractional_rounds([loss(0), loss(I)], target)
    assert chord == pytest.approx((3.0 - 1.4) / (3.0 - loss(50)), abs=1e-12)
    pts = [(n, loss(n)) for n in range(0, I + 1, default_eval_every(I))]
    fine = fractional_iterations(pts, target) / I
    # by hand: between 15 and 20 iterations
    by_hand = (15 + 5 * (loss(15) - 1.4) / (loss(15) - loss(20))) / I
    assert fine == pytest.approx(by_hand, abs=1e-12)
    assert exact <= fine <= 20 / I < chord          # chords of a convex curve lie above it
    assert chord / exact > 2.0


def test_default_eval_every():
    assert [default_eval_every(i) for i in (1, 5, 14, 15, 20, 50, 100)] == [1, 1, 1, 2, 2, 5, 10]
    with pytest.raises(ValidationError, match="local_iters"):
        default_eval_every(0)


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


def _tiny_trainer(local_iters: int = 3):
    from sfl_opt.harness.train import SplitFedTrainer, TrainConfig, task_model_config

    cfg = task_model_config(seq=24, layers=2, hidden=16, heads=2)
    tc = TrainConfig(clients=3, rank=2, local_iters=local_iters, batch=2, n_train=30,
                     n_val=6, lr=0.03, alpha=8.0, seed=1)
    return SplitFedTrainer(cfg, tc)


def test_within_round_evaluation_leaves_training_bit_identical():
    plain, probed = _tiny_trainer(), _tiny_trainer()
    ends_plain, ends_probed = [], []
    for _ in range(3):
        plain.train_round()
        ends_plain.append(plain.validation_loss())
        probed.train_round(eval_every=1)
        ends_probed.append(probed.validation_loss())
    assert ends_probed == ends_plain                     # bit-identical, not approx
    for a, b in zip(plain.client_states, probed.client_states, strict=True):
        assert all(torch.equal(a[n], b[n]) for n in a)
    for pa, pb in zip(plain.server_params, probed.server_params, strict=True):
        assert torch.equal(pa, pb)
    for oa, ob in zip(plain.client_opts, probed.client_opts, strict=True):
        for sa, sb in zip(oa.state.values(), ob.state.values(), strict=True):
            assert all(torch.equal(sa[k], sb[k]) for k in ("exp_avg", "exp_avg_sq"))
    assert plain.rng.bit_generator.state == probed.rng.bit_generator.state
    pts = probed.log.eval_points
    assert [n for n, _ in pts] == list(range(10))        # before training, then every iteration
    assert [x for n, x in pts if n % 3 == 0 and n > 0] == ends_plain   # round ends
    assert plain.log.eval_points == []


def test_within_round_point_is_the_virtual_fedavg_and_stop_aggregates():
    from sfl_opt.harness.model import load_adapter_state
    from sfl_opt.harness.train import evaluate_parts, fedavg

    tr = _tiny_trainer(local_iters=4)
    ref = _tiny_trainer(local_iters=4)
    # the reference runs two iterations by hand; its virtual FedAvg's loss is the point at 2
    ref.iteration(), ref.iteration()
    load_adapter_state(ref.client, fedavg(ref.client_states, ref.sizes))
    want = evaluate_parts(ref.client, ref.server, ref.val)[0]
    tr.train_round(eval_every=2, stop_at=want)           # reaches "the target" at 2 iterations
    assert tr.log.stopped_mid_round and tr.iterations_done == 2
    assert tr.log.eval_points[-1] == (2, want)
    # stopping there means one aggregation at that point: every client holds the average
    avg = fedavg(ref.client_states, ref.sizes)
    for st in tr.client_states:
        assert all(torch.equal(st[n], avg[n]) for n in avg)
    with pytest.raises(ValidationError, match="eval_every"):
        _tiny_trainer().train_round(eval_every=0)


# ------------------------------------------------------- schema and resume (CLI)


def _parse(argv):
    from sfl_opt.cli.harness import register

    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="cmd", required=True))
    return ap.parse_args(argv)


_TARGET = 4.55  # seed 0 starts at 4.74 and reaches it; seed 1 starts below (0 rounds)
_TINY = ["--layers", "2", "--hidden", "32", "--heads", "2", "--seq", "24"]
_RUN = [*_TINY, "--ranks", "1,2", "--seeds", "0,1", "--local-iters", "1,3",
        "--lr-grid", "0.03,0.06", "--tune-local-iters", "3", "--target-loss", str(_TARGET),
        "--max-rounds", "8", "--clients", "2", "--batch", "4", "--n-train", "60",
        "--n-val", "16", "--pretrain-steps", "10", "--no-progress", "--eval-every", "none"]


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
    import sfl_opt.cli.harness as cli

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
    from sfl_opt.model.profiles import profile_rounds

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
    seen = {}
    orig_measure = cli.measure_rounds

    def spy(*a, **kw):
        seen["records"] = dict(kw["records"])
        out = orig_measure(*a, **kw)
        seen["new_runs"] = out["runs_this_session"]
        return out

    monkeypatch.setattr(cli, "measure_rounds", spy)
    args = _parse(["measure-rounds", "--profile", str(part), *_RUN])
    assert args.func(args) == 0
    assert len(seen["records"]) == 2
    done = json.loads(part.read_text())["rounds"]
    assert done["table"] == t["table"] and done["protocol"]["lr"] == p["lr"]
    assert seen["new_runs"] == t["runs_this_session"] - 2


def _schema2_profile(path):
    old = {"schema": 2, "ranks": [1, 2], "local_iters": [1, 4],
           "table": {"1": {"1": 7.0, "4": 2.0}, "2": {"1": 5.0, "4": 1.5}},
           "per_seed": {"1": {"1": [7.0], "4": [2.0]}, "2": {"1": [5.0], "4": [1.5]}},
           "target_loss": _TARGET, "seeds": [0], "command": "sfl-opt measure-rounds old",
           "protocol": {"lr": {"1": 0.06, "2": 0.03}, "lr_grid": [0.01, 0.03, 0.06],
                        "lr_tuned_at_local_iters": 5, "lr_candidates": {"1": {"5": {}}},
                        "interpolation": "linear in the validation curve between round ends"},
           "previous": {"rounds": [9.0, 5.0], "superseded_because": "old"}}
    path.write_text(json.dumps({"schema": 1, "model": {"layers": 2}, "rounds": old}))
    return old


@pytest.mark.slow
def test_measure_rounds_within_round_protocol_fields(tmp_path, small_pretrain):
    prof_path = tmp_path / "p.json"
    old = _schema2_profile(prof_path)
    args = _parse(["measure-rounds", "--profile", str(prof_path), *_TINY, "--ranks", "1,2",
                   "--seeds", "1", "--local-iters", "1,4", "--target-loss", str(_TARGET),
                   "--max-rounds", "12", "--clients", "2", "--batch", "4", "--n-train", "60",
                   "--n-val", "16", "--pretrain-steps", "10", "--no-progress",
                   "--lr-from-profile", "--eval-every", "2"])
    assert args.func(args) == 0
    t = json.loads(prof_path.read_text())["rounds"]
    p = t["protocol"]
    assert p["eval_every"] == {"1": 2, "4": 2}
    assert p["interpolation"].startswith(
        "linear between evaluation points of the virtual FedAvg model, every 2 local iterations")
    assert "extra aggregation" in p["count"]
    # the rates come from the profile, not from a sweep; its grid and tuning I are kept
    assert p["lr"] == {"1": 0.06, "2": 0.03} and p["lr_grid"] == [0.01, 0.03, 0.06]
    assert p["lr_tuned_at_local_iters"] == 5 and p["lr_candidates"] == {"1": {"5": {}}}
    assert "I = 5 with round-end evaluation" in p["lr_source"]
    # the round-end table is kept for the record, the first edition's too
    assert t["round_end_table"]["table"] == old["table"]
    assert "superseded_because" in t["round_end_table"]
    assert t["previous"] == old["previous"]
    for r in ("1", "2"):
        for i in (1, 4):
            key = f"rank{r}_I{i}_seed0"
            pts = t["val_loss_points"][key]
            ns = [n for n, _ in pts]
            # every 2 iterations and at round ends (I = 1: round ends only)
            want = [n for n in range(ns[-1] + 1) if n % i == 0 or (n % i) % 2 == 0]
            assert ns == want
            got = t["per_seed"][r][str(i)][0]
            assert got == pytest.approx(fractional_iterations(pts, _TARGET) / i, abs=1e-3)
            assert pts[-1][1] <= _TARGET < min(x for _, x in pts[:-1])

    from sfl_opt.cli.harness import _eval_every

    assert [_eval_every(x) for x in ("auto", "NONE", "3")] == ["auto", None, 3]
    for bad in ("0", "-2", "x"):
        with pytest.raises(ValidationError, match="eval_every"):
            _eval_every(bad)
