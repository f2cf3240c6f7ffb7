"""Client memory model (SPEC §8.2): Workload memory fields, sfl_opt.model.memory."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sfl_opt import ValidationError, Workload
from sfl_opt.model.memory import memory_feasible, memory_need, memory_table
from sfl_opt.model.profiles import bundled_profile_path, load_profile, profile_memory
from sfl_opt.model.workload import MEMORY_FIELDS

TINY = dict(fwd=[1.0, 2.0, 3.0], bwd=[1.0, 1.0, 1.0], fwd_rank=[0.1, 0.1, 0.1],
            bwd_rank=[0.2, 0.2, 0.2], act_bits=[16.0, 32.0, 48.0], lora_params=[4.0, 6.0, 8.0],
            param_bits=32.0)
TINY_MEM = dict(block_param_bytes=[100.0, 200.0, 300.0], embed_param_bytes=1000.0,
                saved_bytes=[10.0, 20.0, 30.0], saved_bytes_rank=[1.0, 2.0, 3.0],
                cut_bytes=[5.0, 7.0, 9.0])


def tiny(**over: object) -> Workload:
    return Workload(**{**TINY, **TINY_MEM, **over})


def hand_need(split: int, rank: int, batch: int) -> float:
    """The need written out term by term for the TINY workload (bytes)."""
    total = TINY_MEM["embed_param_bytes"]
    for j in range(split):
        total += TINY_MEM["block_param_bytes"][j]
        total += rank * TINY["lora_params"][j] * 4 * 4  # value, grad, 2 moments x 4 bytes
        total += batch * (TINY_MEM["saved_bytes"][j] + rank * TINY_MEM["saved_bytes_rank"][j])
    return total + batch * TINY_MEM["cut_bytes"][split - 1]


def test_memory_need_matches_hand_computation() -> None:
    w = tiny()
    # split 2, rank 3, batch 4: 1000 + 300 + 3*(4+6)*16 + 4*(30 + 3*3) + 4*7
    assert memory_need(w, 4, 2, 3) == 1000 + 300 + 480 + 156 + 28
    table = memory_table(w, 4, [1, 2], [1, 3, 8])
    want = np.array([[hand_need(s, r, 4) for r in (1, 3, 8)] for s in (1, 2)])
    np.testing.assert_allclose(table, want, rtol=0, atol=1e-9)
    for s in (1, 2):
        for r in (1, 3, 8):
            for b in (1, 5):
                assert memory_need(w, b, s, r) == pytest.approx(hand_need(s, r, b), abs=1e-9)


def test_memory_feasible_uses_the_smallest_cap() -> None:
    w = tiny()
    table = memory_table(w, 2, [1, 2], [1, 2, 4])
    cap = float(np.median(table))
    ok = memory_feasible(w, 2, [1, 2], [1, 2, 4], [np.inf, cap, 10 * cap])
    np.testing.assert_array_equal(ok, table <= cap)
    assert ok.any() and not ok.all()
    assert memory_feasible(w, 2, [1, 2], [1], [0.5]).sum() == 0


def test_memory_not_modelled() -> None:
    w = Workload(**TINY)
    assert not w.has_memory
    assert memory_feasible(w, 8, [1, 2], [1, 4], [np.inf, np.inf]).all()
    with pytest.raises(ValidationError, match="workload.block_param_bytes"):
        memory_need(w, 1, 1, 1)
    with pytest.raises(ValidationError, match="workload.block_param_bytes"):
        memory_feasible(w, 8, [1, 2], [1, 4], [np.inf, 1e9])


def test_json_round_trip_with_and_without_memory() -> None:
    w = tiny()
    back = Workload.from_dict(json.loads(json.dumps(w.to_dict())))
    assert back == w and back.has_memory
    assert memory_need(back, 3, 2, 4) == memory_need(w, 3, 2, 4)
    assert back != Workload(**TINY)
    old = Workload(**TINY).to_dict()
    assert not set(MEMORY_FIELDS) & set(old)  # old JSON has no memory keys...
    assert not Workload.from_dict(old).has_memory  # ...and still loads: not modelled
    g = Workload.gpt2(layers=3, hidden=8, seq=4, vocab=11, heads=2)
    assert Workload.from_dict(json.loads(json.dumps(g.to_dict()))) == g


@pytest.mark.parametrize(("field", "over"), [
    ("workload.saved_bytes", dict(saved_bytes=None)),
    ("workload.embed_param_bytes", dict(embed_param_bytes=None)),
    ("workload.saved_bytes", dict(saved_bytes=[1.0, -1.0, 2.0])),
    ("workload.cut_bytes", dict(cut_bytes=[1.0, 2.0])),
    ("workload.block_param_bytes", dict(block_param_bytes=[1.0, np.nan, 1.0])),
    ("workload.saved_bytes_rank", dict(saved_bytes_rank="x")),
    ("workload.embed_param_bytes", dict(embed_param_bytes=-5.0)),
    ("workload.embed_param_bytes", dict(embed_param_bytes=np.inf)),
])
def test_memory_field_validation_names_the_field(field: str, over: dict) -> None:
    with pytest.raises(ValidationError, match=field.replace(".", r"\.")):
        tiny(**over)


@pytest.mark.parametrize(("field", "args"), [
    ("batch", (0, [1], [1])),
    ("splits", (1, [0], [1])),
    ("splits", (1, [3], [1])),
    ("ranks", (1, [1], [0])),
])
def test_memory_table_argument_errors(field: str, args: tuple) -> None:
    with pytest.raises(ValidationError, match=f"^{field}"):
        memory_table(tiny(), *args)


def test_feasible_rejects_bad_caps() -> None:
    with pytest.raises(ValidationError, match="^client_memory"):
        memory_feasible(tiny(), 1, [1], [1], [1e9, -1.0])


def test_gpt2_memory_hand_count() -> None:
    """Workload.gpt2's memory fields against the formula written out on small numbers."""
    d, s, f, h, V, P = 8, 4, 32, 2, 11, 6
    w = Workload.gpt2(layers=3, hidden=d, seq=s, vocab=V, ffn=f, heads=h, positions=P,
                      weight_bits=16, saved_bits=32)
    assert w.block_param_bytes.tolist() == [2 * (4 * 64 + 2 * 8 * 32 + 72 + 32)] * 3
    assert w.embed_param_bytes == 2 * (11 + 6) * 8
    full = 6 * 32 + 4 * 128 + 2 * 16 + 16  # 6sd + 4sf + h s^2 + 4s values
    assert w.saved_bytes.tolist() == [4 * (full - 32 - 8), 4 * full, 4 * full]
    assert w.saved_bytes_rank.tolist() == [4 * 2 * 4] * 3
    assert w.cut_bytes.tolist() == [4 * 32] * 3


# ------------------------------------------------------------------ measured profile
PROFILE = bundled_profile_path()


@pytest.mark.skipif(PROFILE is None, reason="bundled profile not in this install")
def test_profile_memory_reproduces_measured_client_peak() -> None:
    data = load_profile(PROFILE)
    mem = data["memory"]
    w = Workload.from_profile(PROFILE)
    assert w.has_memory
    need = memory_table(w, mem["batch"], mem["splits"], [mem["rank"]])[:, 0]
    np.testing.assert_allclose(need, mem["client_peak"], rtol=1e-12)


@pytest.mark.skipif(PROFILE is None, reason="bundled profile not in this install")
def test_analytic_memory_agrees_with_measured_profile() -> None:
    """Tolerance 1 % per field (stated in docs/model.md); observed agreement is exact.

    The profile was measured in float32, so the analytic model is taken with 32-bit
    weights and saved values; positions = seq as the harness builds the model.
    """
    data = load_profile(PROFILE)
    m = data["model"]
    measured = Workload.from_profile(PROFILE)
    analytic = Workload.gpt2(layers=m["layers"], hidden=m["hidden"], seq=m["seq"],
                             vocab=m["vocab"], ffn=m["ffn"], heads=m["heads"],
                             weight_bits=32, saved_bits=32)
    for name in MEMORY_FIELDS:
        np.testing.assert_allclose(getattr(analytic, name), getattr(measured, name),
                                   rtol=0.01, err_msg=name)
    splits = np.arange(1, m["layers"])
    np.testing.assert_allclose(memory_table(analytic, 8, splits, [1, 16]),
                               memory_table(measured, 8, splits, [1, 16]), rtol=0.01)


def test_profile_memory_absent_and_malformed() -> None:
    base = {"model": {"seq": 4, "lora_targets": ["q"]}, "measurement": {"dtype": "float32"},
            "workload": {**TINY}}
    assert profile_memory(base) == {}
    with pytest.raises(ValidationError, match="profile.memory"):
        profile_memory({**base, "memory": {"batch": 1}})
    bad_dtype = {**base, "measurement": {"dtype": "int8"},
                 "memory": {"batch": 1, "rank": 1, "block_params": [1, 1, 1],
                            "block_saved": [1, 1, 1], "embed_params": 1}}
    with pytest.raises(ValidationError, match="profile.measurement.dtype"):
        profile_memory(bad_dtype)


def test_analytic_saved_bytes_against_autograd() -> None:
    """The analytic saved-for-backward count against saved_tensors_hooks on a tiny model."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from sfl_opt.harness.model import ModelConfig, build_lora_model, causal_mask
    from sfl_opt.harness.profiler import _block_parts

    cfg = ModelConfig(layers=2, hidden=32, heads=4, seq=16, vocab=40)
    for rank in (1, 4):
        model = build_lora_model(cfg, rank)
        _, blocks, _, _ = _block_parts(model)
        params = {p.untyped_storage().data_ptr() for p in model.parameters()}
        analytic = Workload.gpt2(layers=2, hidden=32, seq=16, vocab=40, heads=4,
                                 weight_bits=32, saved_bits=32)
        for j, needs_grad in ((0, False), (1, True)):
            seen: dict[int, int] = {}

            def pack(t, seen=seen, params=params):  # type: ignore[no-untyped-def]
                st = t.untyped_storage()
                if st.data_ptr() not in params:
                    seen[st.data_ptr()] = st.nbytes()
                return t

            x = torch.randn(1, 16, 32, requires_grad=needs_grad)
            with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
                out = blocks[j](x, attention_mask=causal_mask(16))
            want = analytic.saved_bytes[j] + rank * analytic.saved_bytes_rank[j]
            assert sum(seen.values()) == want, (rank, j)
            del out
        frozen = sum(p.numel() * 4 for n, p in blocks[0].named_parameters() if "lora_" not in n)
        assert frozen == analytic.block_param_bytes[0]
