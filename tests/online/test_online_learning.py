"""Training under a schedule: the split gradient against the end-to-end one, FedAvg over
the scheduled devices, idle rounds, the tagging data, and a short driven run."""

from __future__ import annotations

import csv

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from sfl_opt.harness.ushape import (  # noqa: E402
    TAGS,
    ProxyConfig,
    ScheduledTrainer,
    UShapeModel,
    make_tagging_data,
    tag_loss,
    tag_words,
)
from sfl_opt.online import OnlineProblem, simulate  # noqa: E402
from sfl_opt.online.learning import (  # noqa: E402
    LEARNING_HEADER,
    learning_figure,
    train_policies,
)

pytestmark = pytest.mark.harness
torch.set_num_threads(1)

TINY = dict(devices=4, layers=2, hidden=16, heads=2, seq=24, rank=2, batch=4, n_train=80,
            n_val=32, lr=0.2)


def test_tag_words_by_hand():
    words, tags = tag_words(
        "name = the mill | eattype = pub | pricerange = high | customer rating = high | "
        "familyfriendly = no | near = the bakers",
        "the mill is a pub near the bakers , prices are high and its rating is high , "
        "it is not kid friendly .")
    t = dict(zip(range(len(words)), tags, strict=True))
    ix = {w: i for i, w in reversed(list(enumerate(words)))}
    assert t[0] == t[1] == TAGS.index("name")
    assert t[ix["pub"]] == TAGS.index("eattype")
    assert t[ix["bakers"]] == t[ix["bakers"] - 1] == TAGS.index("near")
    assert [tags[i] for i, w in enumerate(words) if w == "high"] == [-100, -100]  # ambiguous
    assert tags[ix["not"]:ix["not"] + 3] == [TAGS.index("familyfriendly")] * 3
    assert t[ix["is"]] == 0 and t[ix["."]] == 0
    data = make_tagging_data(20, 24, seed=3)
    assert data.input_ids.shape == data.labels.shape == (20, 24)
    assert (data.labels[:, 0] == -100).all() and (data.labels < len(TAGS)).all()


@pytest.mark.slow
def test_split_step_equals_end_to_end_sgd():
    """One local iteration through the device/server hand-offs equals plain SGD on the
    whole model (independent autograd over the composed forward)."""
    cfg = ProxyConfig(**TINY, local_iters=1)
    tr = ScheduledTrainer(cfg)
    k = 1
    rng_state = tr.rngs[k].bit_generator.state
    got = tr.local_update(k)
    # reference: same batch, one graph
    tr.rngs[k].bit_generator.state = rng_state
    ids, labels = tr._batch(k)
    ref = UShapeModel(cfg.model_config(), cfg.rank, len(TAGS), seed=cfg.seed)
    ref.load(tr.global_state)
    params = ref.trainable()
    loss = tag_loss(ref(ids), labels)
    grads = torch.autograd.grad(loss, params)
    names = list(tr.global_state)
    want = {n: p.detach() - cfg.lr * g for n, p, g in zip(names, params, grads, strict=True)}
    assert set(got) == set(want)
    for n in names:
        torch.testing.assert_close(got[n], want[n], rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_round_fedavg_over_scheduled_and_idle_round():
    cfg = ProxyConfig(**TINY, local_iters=2)
    tr = ScheduledTrainer(cfg)
    start = {n: t.clone() for n, t in tr.global_state.items()}
    tr.round(np.zeros(cfg.devices, dtype=bool))              # nobody: unchanged
    for n in start:
        assert torch.equal(tr.global_state[n], start[n])
    sched = np.array([True, False, True, False])
    rng_states = [r.bit_generator.state for r in tr.rngs]
    local = {}
    for k in (0, 2):
        local[k] = tr.local_update(k)
        tr.global_state = start
    for r, s in zip(tr.rngs, rng_states, strict=True):
        r.bit_generator.state = s
    tr.round(sched)
    w = tr.sizes[[0, 2]] / tr.sizes[[0, 2]].sum()
    for n in start:
        want = float(w[0]) * local[0][n] + float(w[1]) * local[2][n]
        torch.testing.assert_close(tr.global_state[n], want)


@pytest.mark.slow
def test_driven_training_writes_csv_and_loss_falls(tmp_path):
    p = OnlineProblem.default(seed=0, devices=4, classes=len(TAGS))
    runs = train_policies(p, ["lyapunov", "all"], 1e3, 12, seed=0,
                          proxy=ProxyConfig(**TINY), progress=False)
    for name, r in runs.items():
        assert r.val_loss[-1] < r.val_loss[0]
        tr = simulate(p, name, 1e3, 12, seed=0)
        assert np.array_equal(r.trace.scheduled, tr.scheduled)   # the simulate schedule
        np.testing.assert_allclose(r.energy[1:], np.cumsum(tr.energy.sum(axis=1)))
        run_avg = np.cumsum(tr.energy, axis=0) / np.arange(1, 13)[:, None]
        np.testing.assert_allclose(r.budget_ratio[1:],
                                   (run_avg / p.energy_budget).max(axis=1))
    # same start for every policy
    assert runs["lyapunov"].val_loss[0] == runs["all"].val_loss[0]
    paths = learning_figure(runs, tmp_path)
    assert {q.suffix for q in paths} == {".png", ".pdf", ".csv"}
    rows = list(csv.reader((tmp_path / "online_training.csv").open()))
    assert tuple(rows[0]) == LEARNING_HEADER and len(rows) == 1 + 2 * 13
    import json

    from sfl_opt.online.learning import write_settings

    js = json.loads(write_settings(tmp_path / "s.json", p, runs, 1e3, 0, "cmd",
                                   proxy=ProxyConfig(**TINY)).read_text())
    assert js["proxy"]["hidden"] == 16 and js["summary"]["all"]["val_loss"] == \
        runs["all"].val_loss[-1]
    assert OnlineProblem.from_dict(js["problem"]) == p and js["bound_fit"]["rows"] > 0
    with pytest.raises(ValueError, match="devices"):
        train_policies(p, ["all"], 1e3, 2, proxy=ProxyConfig(**dict(TINY, devices=3)),
                       progress=False)
    with pytest.raises(ValueError, match="policies"):
        train_policies(p, ["nobody"], 1e3, 2, progress=False)
