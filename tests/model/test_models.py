"""The LLM catalogue ``sfl_opt.models`` (issue 18 items 1, 2): architectures, their
analytic workloads, ``Problem.default(model=...)`` and the CLI.

Independent references: the models' published parameter counts (model cards), the
bundled measured GPT-2-small profile, and (marked ``harness``) FlopCounterMode and the
tensors autograd saves on small random-weight instantiations of each family.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from sfl_opt.memory import memory_table
from sfl_opt.models import MODELS, get_model
from sfl_opt.profiles import bundled_profile_path, load_profile

from sfl_opt import Problem, Workload, evaluate, solve
from sfl_opt.errors import ValidationError

#: published parameter counts (model cards / safetensors totals), for the catalogue's
#: numbers copied from each config.json
PUBLISHED = {"gpt2-small": 124.4e6, "gpt2-medium": 354.8e6, "gpt2-large": 774.0e6,
             "gpt2-xl": 1557.6e6, "llama-3.2-1b": 1.236e9, "llama-3.2-3b": 3.213e9,
             "llama-2-7b": 6.738e9, "llama-3-8b": 8.030e9, "qwen2.5-0.5b": 0.494e9,
             "qwen2.5-1.5b": 1.544e9, "qwen2.5-7b": 7.616e9, "phi-3-mini": 3.821e9}


def test_catalogue_has_the_issue_models_with_sources() -> None:
    need = {"gpt2-small", "gpt2-medium", "gpt2-large", "gpt2-xl", "llama-3.2-1b",
            "llama-3.2-3b", "qwen2.5-0.5b", "qwen2.5-1.5b", "qwen2.5-7b", "phi-3-mini"}
    assert need <= set(MODELS) and {"llama-2-7b", "llama-3-8b"} & set(MODELS)
    for a in MODELS.values():
        assert a.source.startswith("https://huggingface.co/") and a.source.endswith(
            "config.json")
        assert a.heads % a.kv_heads == 0 and a.ffn_kind in ("gelu", "swiglu")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_count_matches_the_published_one(name: str) -> None:
    assert get_model(name).parameters()["total"] == pytest.approx(PUBLISHED[name], rel=0.002)


def test_unknown_model_lists_the_catalogue() -> None:
    with pytest.raises(ValidationError, match="model.*llama-3.2-1b"):
        get_model("gpt-5")
    with pytest.raises(ValidationError, match="model"):
        Problem.default(model="nope")
    with pytest.raises(ValidationError, match="hidden"):
        Problem.default(model="llama-3.2-1b", hidden=128)


def test_gpt2_catalogue_workload_is_the_gpt2_model() -> None:
    w = get_model("gpt2-small").workload(seq=512)
    g = Workload.gpt2(seq=512, positions=1024)
    for name in ("fwd", "bwd", "fwd_rank", "bwd_rank", "act_bits", "lora_params",
                 "block_param_bytes", "saved_bytes", "saved_bytes_rank", "cut_bytes"):
        np.testing.assert_array_equal(getattr(w, name), getattr(g, name), err_msg=name)
    assert w.head_fwd == g.head_fwd and w.embed_param_bytes == g.embed_param_bytes


@pytest.mark.skipif(bundled_profile_path() is None, reason="bundled profile not installed")
def test_gpt2_small_catalogue_agrees_with_the_measured_profile() -> None:
    path = bundled_profile_path()
    data = load_profile(path)
    m = data["model"]
    measured = Workload.from_profile(path)
    arch = get_model("gpt2-small")
    assert (arch.layers, arch.hidden, arch.heads, arch.vocab, arch.ffn) == (
        m["layers"], m["hidden"], m["heads"], m["vocab"], m["ffn"])
    w = arch.workload(seq=m["seq"], weight_bits=32, saved_bits=32)
    np.testing.assert_allclose(w.fwd, measured.fwd, rtol=0.05)
    np.testing.assert_allclose(w.bwd[1:], measured.bwd[1:], rtol=0.05)
    np.testing.assert_allclose(w.fwd_rank, measured.fwd_rank, rtol=0.05)
    np.testing.assert_allclose(w.bwd_rank[1:], measured.bwd_rank[1:], rtol=0.05)
    np.testing.assert_allclose(w.head_fwd, measured.head_fwd, rtol=0.05)
    np.testing.assert_allclose(w.lora_params, measured.lora_params, rtol=0.05)
    np.testing.assert_allclose(w.act_bits, measured.act_bits, rtol=0.05)
    # memory (float32 profile): blocks and saved tensors; the embedding differs only by
    # the positions (the catalogue's 1024 learned positions, the profile's seq)
    for name in ("block_param_bytes", "saved_bytes", "saved_bytes_rank", "cut_bytes"):
        np.testing.assert_allclose(getattr(w, name), getattr(measured, name), rtol=0.05,
                                   err_msg=name)


def test_swiglu_gqa_counts_written_out() -> None:
    """Llama-3.2-1B's block, every term by hand (d=2048, h=32, g=8, e=64, f=8192)."""
    s, d, q, c, f = 512, 2048, 2048, 512, 8192
    w = get_model("llama-3.2-1b").workload(seq=s, weight_bits=4, saved_bits=16)
    lin = s * (d * q + 2 * d * c + q * d + 3 * d * f)
    assert w.fwd[0] == 2 * (lin + 2 * s * s * q)
    assert w.bwd[0] == 2 * (lin + 4 * s * s * q)
    assert w.lora_params[0] == (d + q) + (d + c)          # q: d->q, v: d->c
    assert w.fwd_rank[0] == 2 * s * ((d + q) + (d + c))
    assert w.block_param_bytes[0] == 0.5 * (d * q + 2 * d * c + q * d + 3 * d * f + 2 * d)
    saved = 2 * (s * d + s) + s * d + s * (q + 2 * q) + 32 * s * s + 3 * s * f
    assert w.saved_bytes[1] == 2 * saved
    assert w.embed_param_bytes == 0.5 * 128256 * d          # tied, rotary: no positions
    assert w.head_fwd == 2 * s * d * 128256


def test_weight_precision_scales_the_frozen_memory_only() -> None:
    a = get_model("qwen2.5-1.5b")
    w16, w8, w4 = (a.workload(256, weight_bits=b) for b in (16, 8, 4))
    np.testing.assert_allclose(w8.block_param_bytes, w16.block_param_bytes / 2)
    np.testing.assert_allclose(w4.block_param_bytes, w16.block_param_bytes / 4)
    np.testing.assert_array_equal(w4.saved_bytes, w16.saved_bytes)
    np.testing.assert_array_equal(w4.fwd, w16.fwd)
    with pytest.raises(ValidationError, match="weight_bits"):
        a.workload(256, weight_bits=3)
    with pytest.raises(ValidationError, match="lora_targets"):
        get_model("phi-3-mini").workload(256, lora_targets=("q", "v"))
    with pytest.raises(ValidationError, match="lora_targets"):
        get_model("gpt2-small").workload(256, lora_targets=("gate",))


def test_llama_on_jetsons_and_phones_solves_within_memory() -> None:
    devices = ["jetson-orin-nano-8gb", "iphone-15-pro-npu", "laptop-rtx-4060"]
    p = Problem.default(seed=0, model="llama-3.2-1b", devices=devices, server="A100")
    assert p.L == 16 and "llama-3.2-1b" in p.workload.source
    assert "not measured on it" in p.rounds_source
    res = solve(p)
    need = p.memory_need(res.split, res.rank)
    assert np.all(need <= p.client_memory)
    assert evaluate(p, **res.evaluate_kwargs()).total == pytest.approx(res.delay, rel=1e-12)
    # the phone's 3 GB rules out deep splits: some pairs are over the cap, and the
    # solver's pair is the best of the feasible ones (the grid holds inf elsewhere)
    table = memory_table(p.workload, p.batch, p.splits, p.ranks)
    assert (table > p.client_memory.min()).any() and (table <= p.client_memory.min()).any()
    grid = np.asarray(res.grid)
    assert np.all(np.isinf(grid[table > p.client_memory.min()]))
    assert res.delay <= np.min(grid) * (1 + 1e-9)


def test_quantised_weights_admit_deeper_splits() -> None:
    kw = dict(seed=0, model="llama-3.2-3b", devices="iphone-15-pro-npu", server="A100")
    fits16 = Problem.default(**kw).memory_feasible()
    fits4 = Problem.default(**kw, memory_bits=4).memory_feasible()
    assert fits4.sum() > fits16.sum() and np.all(fits4[fits16])


def test_cli_model_option() -> None:
    out = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "default", "--model",
                          "qwen2.5-0.5b"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert Problem.from_json(out.stdout).L == 24
    bad = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "default", "--model", "x"],
                         capture_output=True, text=True)
    assert bad.returncode == 2 and "llama-3.2-1b" in bad.stderr


@pytest.mark.harness
@pytest.mark.parametrize("family", ["gpt2", "llama", "qwen2", "phi3"])
def test_analytic_formulas_match_flop_counter_and_saved_tensors(family: str) -> None:
    """Small random-weight instantiation of each family (no download): FLOPs
    (FlopCounterMode), frozen and LoRA parameters, tensors saved for backward, all within
    5 % of the analytic counts (measured agreement is exact, docs/profiles.md)."""
    pytest.importorskip("transformers")
    pytest.importorskip("peft")
    from sfl_opt.harness.architectures import compare_family

    res = compare_family(family, seq=24)
    assert set(res) == {"fwd", "bwd", "fwd_rank", "bwd_rank", "saved", "block_params",
                        "lora_params"}
    for k, r in res.items():
        assert abs(r["rel"]) <= 0.05, (family, k, r)


def test_model_device_cells_and_figure(tmp_path) -> None:
    from sfl_opt.experiments.model_device import plot_model_device, run_cell, summarise

    ok = run_cell("gpt2-small", "jetson-orin-nano-8gb", 0)
    assert ok["feasible"] and 1 <= ok["split"] < 12 and ok["delay"] > 0
    p = Problem.default(0, model="gpt2-small", devices="jetson-orin-nano-8gb", server="A100")
    assert ok["delay"] == pytest.approx(solve(p, seed=0).delay, rel=1e-12)
    # a device too small for any pair: marked infeasible with its least need
    bad = run_cell("llama-3.2-1b", "jetson-orin-nano-8gb", 0, client_memory=0.5e9)
    assert not bad["feasible"] and bad["min_need"] > 0.5e9 and np.isnan(bad["delay"])
    bad["memory"] = 0.5e9
    summ = summarise([ok, bad])
    assert summ[("gpt2-small", "jetson-orin-nano-8gb")]["split"] == ok["split"]
    assert not summ[("llama-3.2-1b", "jetson-orin-nano-8gb")]["feasible"]
    paths = plot_model_device([ok, bad], tmp_path / "md")
    assert all(x.exists() and x.stat().st_size > 1000 for x in paths)
