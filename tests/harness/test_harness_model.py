"""Split model = monolithic model (loss and every adapter gradient), q/k/v split exactness."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("peft")

from sfl_opt.errors import ValidationError  # noqa: E402
from sfl_opt.harness.model import (  # noqa: E402
    ModelConfig,
    adapter_names,
    adapter_state,
    build_base_model,
    build_lora_model,
    load_adapter_state,
    split_model,
)

pytestmark = pytest.mark.harness
torch.set_num_threads(1)

CFG = ModelConfig(layers=4, hidden=32, heads=4, seq=16, vocab=60)


def _randomise_adapters(model, seed: int) -> None:
    """LoRA B starts at zero (so A's gradient would be zero): give every adapter values."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for n, p in model.named_parameters():
            if "lora_" in n:
                p.copy_(0.2 * torch.randn(p.shape, generator=g))


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    m = build_lora_model(CFG, rank=3, seed=1)
    _randomise_adapters(m, 2)
    return m


def _batch(seed: int):
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, CFG.vocab, (3, CFG.seq), generator=g)
    labels = ids.clone()
    labels[:, :4] = -100
    labels[0, -3:] = -100
    return ids, labels


def test_qkv_split_equals_fused_c_attn():
    from transformers import GPT2Config, GPT2LMHeadModel

    torch.manual_seed(5)
    ref = GPT2LMHeadModel(GPT2Config(vocab_size=CFG.vocab, n_positions=CFG.seq,
                                     n_embd=CFG.hidden, n_layer=CFG.layers, n_head=CFG.heads))
    fused = ref.transformer.h[0].attn.c_attn
    from sfl_opt.harness.model import QKVProjection

    qkv = QKVProjection(fused, CFG.hidden)
    x = torch.randn(2, 5, CFG.hidden)
    torch.testing.assert_close(qkv(x), fused(x), rtol=1e-5, atol=1e-6)


def test_base_model_is_seeded_and_frozen_outside_lora(model):
    a, b = build_base_model(CFG, seed=7), build_base_model(CFG, seed=7)
    c = build_base_model(CFG, seed=8)
    wa, wb, wc = (m.transformer.h[1].mlp.c_fc.weight for m in (a, b, c))
    assert torch.equal(wa, wb) and not torch.equal(wa, wc)
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    assert all(("q_proj" in n) or ("v_proj" in n) for n in trainable)
    # 2 targets x (A: r x d + B: d x r) per block
    assert sum(p.numel() for n, p in model.named_parameters() if p.requires_grad) \
        == CFG.layers * 2 * 2 * CFG.hidden * 3


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_training_equals_monolithic(model, split):
    ids, labels = _batch(split)
    model.zero_grad(set_to_none=True)
    out = model(input_ids=ids, labels=labels)          # transformers' own forward and loss
    out.loss.backward()
    ref = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
    assert all(g.abs().sum() > 0 for g in ref.values())
    model.zero_grad(set_to_none=True)

    client, server = split_model(model, split)
    act = client(ids)
    sent = act.detach().requires_grad_(True)
    logits, loss = server(sent, labels)
    loss.backward()
    act.backward(sent.grad)
    torch.testing.assert_close(loss, out.loss, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(logits, out.logits, rtol=1e-4, atol=1e-5)
    got = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert got.keys() == ref.keys()
    for n in ref:
        torch.testing.assert_close(got[n], ref[n], rtol=1e-4, atol=1e-6, msg=n)
    # client holds exactly blocks 1..split's adapters, the server the rest
    assert len(adapter_names(client)) == 4 * split
    assert len(adapter_names(server)) == 4 * (CFG.layers - split)
    model.zero_grad(set_to_none=True)


def test_adapter_state_roundtrip_and_bad_split(model):
    client, _ = split_model(model, 2)
    st = adapter_state(client)
    changed = {n: t + 1.0 for n, t in st.items()}
    load_adapter_state(client, changed)
    assert all(torch.equal(adapter_state(client)[n], changed[n]) for n in st)
    load_adapter_state(client, st)
    with pytest.raises(ValidationError, match="split"):
        split_model(model, CFG.layers)
    with pytest.raises(ValidationError, match="state"):
        load_adapter_state(client, {})
    with pytest.raises(ValidationError, match="heads"):
        ModelConfig(layers=2, hidden=30, heads=4)
