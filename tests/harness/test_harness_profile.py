"""Profiler: measured FLOPs vs the analytic Workload.gpt2 count, profile files, CLI, rounds."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

from sfl_opt import Problem, Workload
from sfl_opt.errors import ValidationError

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from sfl_opt.cli.harness import register  # noqa: E402
from sfl_opt.harness.model import ModelConfig  # noqa: E402
from sfl_opt.harness.profiler import profile_model  # noqa: E402

pytestmark = pytest.mark.harness
torch.set_num_threads(1)

CASES = [ModelConfig(layers=3, hidden=32, heads=4, seq=16, vocab=60),
         ModelConfig(layers=2, hidden=48, heads=3, seq=40, vocab=100, ffn=80)]


@pytest.fixture(scope="module", params=range(len(CASES)))
def measured(request):
    cfg = CASES[request.param]
    prof = profile_model(cfg, batch=2, ranks=(2, 5), repeats=1, warmup=0, progress=False)
    return cfg, prof


def _rel(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return np.abs(a - b) / np.abs(b)


def test_block_flops_match_analytic_within_5_percent(measured):
    cfg, prof = measured
    w = prof["workload"]
    ana = Workload.gpt2(layers=cfg.layers, hidden=cfg.hidden, seq=cfg.seq, vocab=cfg.vocab,
                        ffn=cfg.ffn)
    for name in ("fwd", "fwd_rank", "act_bits", "lora_params"):
        assert (_rel(w[name], getattr(ana, name)) < 0.05).all(), name
    # blocks 2..L: their input requires a gradient, as the analytic count assumes
    for name in ("bwd", "bwd_rank"):
        assert (_rel(w[name][1:], getattr(ana, name)[1:]) < 0.05).all(), name
    assert _rel(w["head_fwd"], ana.head_fwd) < 0.05 and _rel(w["head_bwd"], ana.head_bwd) < 0.05
    assert w["label_bits"] == ana.label_bits


def test_first_block_backward_is_the_documented_reduced_count(measured):
    """Block 1's input (frozen embedding) needs no gradient (docs/profiles.md)."""
    cfg, prof = measured
    w = prof["workload"]
    d, s = cfg.hidden, cfg.seq
    f = cfg.ffn or 4 * d
    # base: no q/k/v input gradients (3 s d^2 MACs saved); attention products unchanged
    bwd1 = 2 * (s * (d * d + 2 * d * f) + 2 * 2 * s * s * d)
    # LoRA per unit rank and target: B weight + B input + A weight gradients (no A input)
    bwd_rank1 = 2 * 2 * 3 * s * d
    assert _rel(w["bwd"][0], bwd1) < 0.05
    assert _rel(w["bwd_rank"][0], bwd_rank1) < 0.05
    assert w["embed_fwd"] == 0.0 and w["embed_bwd"] == 0.0   # lookups: no matrix products


def test_profile_times_memory_and_metadata(measured):
    cfg, prof = measured
    t, m = prof["times"], prof["memory"]
    assert len(t["block_fwd"]) == cfg.layers and min(t["block_fwd"] + t["block_bwd"]) > 0
    assert t["effective_flops"] > 0
    assert len(m["client_peak"]) == cfg.layers - 1
    assert np.all(np.diff(m["client_peak"]) > 0) and np.all(np.diff(m["server_peak"]) < 0)
    assert prof["model"]["layers"] == cfg.layers and prof["model"]["vocab"] == cfg.vocab
    for key in ("torch", "transformers", "peft", "date", "cpu"):
        assert prof["machine"][key]
    Workload.from_dict(prof["workload"])        # a valid Workload


def _parse(argv):
    ap = argparse.ArgumentParser(prog="sfl-opt")
    register(ap.add_subparsers(dest="cmd", required=True))
    return ap.parse_args(argv)


@pytest.mark.slow
def test_cli_profile_and_measure_rounds(tmp_path, capsys):
    out = tmp_path / "cpu-t.json"
    args = _parse(["profile", "--model", "gpt2-tiny", "--layers", "2", "--hidden", "16",
                   "--heads", "2", "--seq", "24", "--repeats", "1", "--warmup", "0",
                   "--no-progress", "--out", str(out)])
    assert args.func(args) == 0
    prof = json.loads(out.read_text())
    assert prof["command"].startswith("sfl-opt profile")
    w = Workload.from_profile(out)
    assert w.source == "measured: cpu-t.json"
    np.testing.assert_array_equal(w.fwd, prof["workload"]["fwd"])
    with pytest.raises(ValidationError, match="profile.rounds"):
        Problem.default(0, profile=out)

    # An independent run gives the validation-loss curve; with a target just above its
    # value after round 2, measure-rounds must report (fractionally) 2 rounds.
    from sfl_opt.harness.train import SplitFedTrainer, TrainConfig, pretrain_base, task_model_config

    mc = task_model_config(seq=24, layers=2, hidden=16, heads=2)
    base = pretrain_base(mc, 5, seed=0, n_lines=100, progress=False)
    tc = TrainConfig(clients=2, rank=2, local_iters=2, batch=4, n_train=60, n_val=16, seed=0,
                     alpha=8.0)
    curve = SplitFedTrainer(mc, tc, base_state=base).run(3, progress=False).val_loss
    assert curve[2] < curve[1] < curve[0]
    target = curve[2] + 1e-6
    want = 1 + (curve[1] - target) / (curve[1] - curve[2])
    args = _parse(["measure-rounds", "--layers", "2", "--hidden", "16", "--heads", "2",
                   "--seq", "24", "--profile", str(out), "--ranks", "2", "--seeds", "1",
                   "--target-loss", str(target), "--max-rounds", "3", "--clients", "2",
                   "--local-iters", "2", "--tune-local-iters", "2", "--batch", "4",
                   "--n-train", "60", "--n-val", "16", "--pretrain-steps", "5",
                   "--lr-grid", str(tc.lr), "--alpha", "8", "--no-progress",
                   "--eval-every", "none"])                    # the round-end count
    # measure-rounds pre-trains on 2000 lines; use the same corpus size as above
    import sfl_opt.harness.train as train_mod

    orig = train_mod.pretrain_base
    train_mod.pretrain_base = lambda cfg, steps, **kw: orig(cfg, steps, **{**kw, "n_lines": 100})
    try:
        assert args.func(args) == 0
    finally:
        train_mod.pretrain_base = orig
    table = json.loads(out.read_text())["rounds"]
    assert table["ranks"] == [2] and table["per_seed"]["2"]["2"] == [pytest.approx(want,
                                                                                   abs=1e-4)]
    assert table["rounds"][0] == pytest.approx(want) and table["spread"] == {"2": {"2": 0.0}}
    assert 1.9 < want <= 2.0 and table["measured_on"]["hidden"] == 16
    assert table["command"].startswith("sfl-opt measure-rounds")
    p = Problem.default(0, profile=out, ranks=(2,), local_iters=2)
    assert p.rounds == pytest.approx([table["rounds"][0]], rel=1e-14)
    # at another I the measured iterations are held (flagged), never the rounds clamped
    q = Problem.default(0, profile=out, ranks=(2,))
    assert q.rounds == pytest.approx([table["rounds"][0] * 2 / 50], rel=1e-14)
    assert "EXTRAPOLATED" in q.rounds_source
    assert p.rounds_source.startswith("measured: cpu-t.json") and p.L == 2
    # re-profiling keeps the measured rounds table
    args = _parse(["profile", "--layers", "2", "--hidden", "16", "--heads", "2", "--seq", "24",
                   "--repeats", "1", "--warmup", "0", "--no-progress", "--out", str(out)])
    assert args.func(args) == 0
    assert json.loads(out.read_text())["rounds"] == table


def test_measure_rounds_refuses_to_invent_a_number():
    from sfl_opt.harness.rounds import measure_rounds
    from sfl_opt.harness.train import task_model_config

    with pytest.raises(ValidationError, match="seq"):
        measure_rounds(task_model_config(seq=8, layers=2, hidden=16, heads=2), ranks=[1],
                       seeds=[0], target_loss=1.0, max_rounds=1, clients=2, local_iters=[1],
                       tune_local_iters=1, lr_grid=[1e-2], batch=2, n_train=20, n_val=4,
                       pretrain_steps=0, progress=False)
    mc = task_model_config(seq=32, layers=2, hidden=16, heads=2)
    with pytest.raises(RuntimeError, match="target_loss"):
        measure_rounds(mc, ranks=[1], seeds=[0], target_loss=0.01, max_rounds=1, clients=2,
                       local_iters=[1], tune_local_iters=1, lr_grid=[1e-2], batch=2,
                       n_train=20, n_val=4, pretrain_steps=0, progress=False)
    with pytest.raises(ValidationError, match="ranks"):
        measure_rounds(mc, ranks=[2, 2], seeds=[0], target_loss=1.0)
    with pytest.raises(ValidationError, match="scaling"):
        measure_rounds(mc, ranks=[2], seeds=[0], target_loss=1.0, scaling="alpha=r")
    with pytest.raises(ValidationError, match="tune_local_iters"):
        measure_rounds(mc, ranks=[2], seeds=[0], target_loss=1.0, local_iters=[1, 5],
                       tune_local_iters=20)
