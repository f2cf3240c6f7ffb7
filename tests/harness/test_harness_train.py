"""FedAvg against a hand computation, the data generator and split, a short training run."""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt.errors import ValidationError
from sfl_opt.harness.data import (
    EOS,
    SEP,
    WordTokenizer,
    encode_samples,
    generate_samples,
    make_task,
    non_iid_split,
)

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from sfl_opt.harness.train import (  # noqa: E402
    SplitFedTrainer,
    TrainConfig,
    fedavg,
    pretrain_base,
    task_model_config,
)

pytestmark = pytest.mark.harness
torch.set_num_threads(1)  # 2 shared cores: oversubscribed threads make tiny models crawl


def test_fedavg_matches_hand_computation():
    a = {"x": torch.tensor([1.0, 2.0]), "y": torch.tensor([[0.0, 4.0]])}
    b = {"x": torch.tensor([3.0, -2.0]), "y": torch.tensor([[6.0, 0.0]])}
    c = {"x": torch.tensor([0.0, 0.0]), "y": torch.tensor([[3.0, 1.0]])}
    avg = fedavg([a, b, c], [10, 30, 60])
    # by hand: x = (0.1*1 + 0.3*3 + 0.6*0, 0.1*2 - 0.3*2 + 0) = (1.0, -0.4)
    #          y = (0 + 1.8 + 1.8, 0.4 + 0 + 0.6) = (3.6, 1.0)
    torch.testing.assert_close(avg["x"], torch.tensor([1.0, -0.4]))
    torch.testing.assert_close(avg["y"], torch.tensor([[3.6, 1.0]]))
    with pytest.raises(ValidationError, match="weights"):
        fedavg([a, b], [1.0, -1.0])
    with pytest.raises(ValidationError, match="weights"):
        fedavg([a, b], [1.0])
    with pytest.raises(ValidationError, match="states"):
        fedavg([a, {"x": a["x"]}], [1, 1])


def test_generator_is_seeded_and_tokenizer_covers_it():
    s1, s2, s3 = generate_samples(50, 4), generate_samples(50, 4), generate_samples(50, 5)
    assert s1 == s2 and s1 != s3
    tok = WordTokenizer()
    for mr, text, _ in s1:
        assert 4 not in tok.encode(mr) + tok.encode(text)        # no <unk>
        assert tok.decode(tok.encode(text)) == " ".join(text.replace(",", " , ").split())
        name = mr.split(" | ")[0].split(" = ")[1]
        assert name in text                                   # the sentence realises the MR
    data = encode_samples(s1, seq=80)
    row, lab = data.input_ids[0], data.labels[0]
    sep = int(np.flatnonzero(row == SEP)[0])
    assert (lab[:sep + 1] == -100).all() and lab[sep + 1] == row[sep + 1]
    assert EOS in lab.tolist()


def test_non_iid_split_partitions_and_skews():
    train, _ = make_task(600, 10, seq=32, seed=0)
    parts = non_iid_split(train, 4, seed=1, concentration=0.3)
    assert sum(len(p) for p in parts) == len(train)
    rows = {tuple(r) for p in parts for r in p.input_ids.tolist()}
    assert len(rows) == len({tuple(r) for r in train.input_ids.tolist()})
    mix = np.array([np.bincount(p.group, minlength=3) / len(p) for p in parts])
    assert np.abs(mix - np.bincount(train.group) / len(train)).max() > 0.2   # not IID
    again = non_iid_split(train, 4, seed=1, concentration=0.3)
    assert all(np.array_equal(a.input_ids, b.input_ids) for a, b in zip(parts, again, strict=True))
    with pytest.raises(ValidationError, match="clients"):
        non_iid_split(train, 0)


def test_fedavg_in_trainer_weights_by_data_size():
    mc = task_model_config(seq=24, layers=2, hidden=16, heads=2)
    tr = SplitFedTrainer(mc, TrainConfig(clients=3, rank=2, local_iters=1, batch=2, n_train=90,
                                         n_val=8, seed=3))
    tr.iteration()
    states = [{n: t.clone() for n, t in s.items()} for s in tr.client_states]
    name = next(n for n in states[0] if "lora_B" in n)   # A gets no gradient while B = 0
    assert not torch.equal(states[0][name], states[1][name])   # clients diverged
    w = np.array(tr.sizes, float) / sum(tr.sizes)
    expect = sum(float(wk) * s[name] for wk, s in zip(w, states, strict=True))
    avg = tr.aggregate()
    torch.testing.assert_close(avg[name], expect)
    assert all(torch.equal(s[name], avg[name]) for s in tr.client_states)


def test_short_training_lowers_validation_loss():
    mc = task_model_config(seq=32, layers=2, hidden=32, heads=4)
    base = pretrain_base(mc, 40, seed=0, n_lines=200, progress=False)
    cfg = TrainConfig(clients=3, rank=8, local_iters=4, batch=8, lr=1e-2, n_train=300, n_val=32,
                      seed=0)
    tr = SplitFedTrainer(mc, cfg, base_state=base)
    log = tr.run(3, progress=False)
    assert len(log.val_loss) == 4 and len(log.train_loss) == 3
    assert all(b < a for a, b in zip(log.val_loss, log.val_loss[1:], strict=False))
    assert log.val_loss[-1] < log.val_loss[0] - 0.3
    # deterministic given the seed
    tr2 = SplitFedTrainer(mc, cfg, base_state=base)
    assert tr2.run(1, progress=False).val_loss == pytest.approx(log.val_loss[:2], rel=1e-6)
    # the pre-trained base does not know the MR -> sentence mapping yet: LoRA learns it
    assert log.val_loss[0] > 2.0
