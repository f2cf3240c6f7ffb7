"""The accuracy claim: centralised baseline, evaluation metrics and measure-accuracy rows."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

import torch  # noqa: E402

from sfl_opt.errors import ValidationError  # noqa: E402
from sfl_opt.harness.train import (  # noqa: E402
    CentralTrainer,
    SplitFedTrainer,
    TrainConfig,
    evaluate_parts,
    pretrain_base,
    task_model_config,
)

CFG = task_model_config(seq=24, layers=3, hidden=16, heads=2)


@pytest.mark.parametrize("split", [1, 2])
def test_centralised_equals_sfl_with_one_client(split):
    # With K = 1 SFL is plain training: FedAvg of one client is the identity, the server's
    # mean gradient is its gradient, AdamW is per-parameter, and both draw the same batches.
    base = pretrain_base(CFG, 3, seed=0, n_lines=40, progress=False)
    tc = TrainConfig(clients=1, split=split, rank=2, local_iters=2, batch=3, lr=1e-2,
                     n_train=30, n_val=8, seed=0, alpha=8.0)
    sfl, cen = SplitFedTrainer(CFG, tc, base_state=base), CentralTrainer(CFG, tc, base_state=base)
    for _ in range(3):
        a, b = sfl.train_round(), cen.train_round()
        assert a == pytest.approx(b, rel=1e-5)
    la, aa = sfl.evaluate()
    lb, ab = cen.evaluate()
    assert la == pytest.approx(lb, rel=1e-5) and aa == pytest.approx(ab, abs=1e-9)
    assert la != pytest.approx(sfl_initial_loss(base, tc), rel=1e-4)   # it did train


def sfl_initial_loss(base, tc):
    return SplitFedTrainer(CFG, tc, base_state=base).validation_loss()


def test_evaluate_parts_matches_the_full_model():
    tc = TrainConfig(clients=2, split=1, rank=2, n_train=20, n_val=10, seed=3)
    tr = SplitFedTrainer(CFG, tc)
    loss, acc = evaluate_parts(tr.client, tr.server, tr.val, batch=4)
    with torch.no_grad():
        logits = tr.model(input_ids=torch.from_numpy(tr.val.input_ids)).logits.numpy()
    labels = tr.val.labels[:, 1:]
    mask = labels != -100
    pred = logits[:, :-1].argmax(-1)
    assert acc == pytest.approx(float((pred == labels)[mask].mean()))
    z = logits[:, :-1] - logits[:, :-1].max(-1, keepdims=True)
    logp = z - np.log(np.exp(z).sum(-1, keepdims=True))
    nll = -np.take_along_axis(logp, np.where(mask, labels, 0)[..., None], -1)[..., 0]
    assert loss == pytest.approx(float(nll[mask].mean()), rel=1e-5)


def _parse(argv):
    from sfl_opt.cli.harness import register

    ap = argparse.ArgumentParser()
    register(ap.add_subparsers(dest="cmd", required=True))
    return ap.parse_args(argv)


def test_measure_accuracy_rows_and_cli(tmp_path, monkeypatch):
    import sfl_opt.harness.accuracy as acc_mod

    orig = acc_mod.pretrain_base
    monkeypatch.setattr(acc_mod, "pretrain_base",
                        lambda cfg, steps, **kw: orig(cfg, steps, **{**kw, "n_lines": 40}))
    out = tmp_path / "p.json"
    out.write_text(json.dumps({"schema": 1, "rounds": {"ranks": [1], "rounds": [2.0]}}))
    args = _parse(["measure-accuracy", "--layers", "3", "--hidden", "16", "--heads", "2",
                   "--seq", "24", "--profile", str(out), "--splits", "1,2", "--rank", "2",
                   "--seeds", "0,1", "--rounds", "2", "--local-iters", "2", "--lr", "0.01",
                   "--clients", "2", "--batch", "2", "--n-train", "30", "--n-val", "8",
                   "--pretrain-steps", "2", "--no-progress"])
    assert args.func(args) == 0
    prof = json.loads(out.read_text())
    assert prof["rounds"] == {"ranks": [1], "rounds": [2.0]}
    a = prof["accuracy"]
    rows = a["rows"]
    assert len(rows) == 2 * 3
    assert {(r["setting"], r["split"]) for r in rows} == {("sfl", 1), ("sfl", 2),
                                                          ("centralized", None)}
    assert all(r["rank"] == 2 and r["seed"] in (0, 1) for r in rows)
    assert all(r["val_loss"] > 0 and 0 <= r["accuracy"] <= 1 for r in rows)
    for s in a["summary"]:
        sel = [r for r in rows if r["setting"] == s["setting"] and r["split"] == s["split"]]
        assert s["val_loss"] == pytest.approx(np.mean([r["val_loss"] for r in sel]))
        assert s["accuracy"] == pytest.approx(np.mean([r["accuracy"] for r in sel]))
    # the same sample budget: rounds * I * K * b
    assert a["protocol"]["samples_seen"] == 2 * 2 * 2 * 2
    assert a["command"].startswith("sfl-opt measure-accuracy")
    # an independent centralised run reproduces the stored row
    base = orig(CFG, 2, seed=1, n_lines=40, progress=False)
    tc = TrainConfig(clients=2, rank=2, local_iters=2, batch=2, lr=0.01, n_train=30, n_val=8,
                     seed=1, alpha=8.0)
    cen = CentralTrainer(CFG, tc, base_state=base)
    for _ in range(2):
        cen.train_round()
    row = next(r for r in rows if r["setting"] == "centralized" and r["seed"] == 1)
    assert row["val_loss"] == pytest.approx(cen.evaluate()[0], abs=1e-5)
    with pytest.raises(ValidationError, match="splits"):
        acc_mod.measure_accuracy(CFG, splits=[3], rank=2, seeds=[0], rounds=1, local_iters=1,
                                 lr=0.01)
