"""The analytic workloads of the LLM catalogue (``sfl_opt.models``) against measurement.

For each architecture family a *small* random-weight model is built from a transformers
config (``GPT2Config``, ``LlamaConfig``, ``Qwen2Config``, ``Phi3Config``; nothing is
downloaded), float32, eager attention, LoRA (peft) on the family's default targets, and
measured the way the model uses the numbers:

- FLOPs with ``torch.utils.flop_counter.FlopCounterMode`` of a forward and of a backward
  pass of the whole model; one block's share is the difference between the model with
  ``layers + 1`` and with ``layers`` blocks (a middle block, whose input needs a
  gradient), the per-rank share the difference between two ranks;
- memory: the frozen parameters of one block (bytes), the LoRA parameters (count), and
  the tensors autograd saves for backward (``saved_tensors_hooks``, distinct storages,
  parameters excluded) — again one block as the difference of two depths.

:func:`compare_family` returns measured, analytic (:meth:`Architecture.workload` of the
same small dimensions at 32 bits) and their relative difference; ``tests/model/test_models.py``
asserts agreement within 5 % and docs/profiles.md shows the table (``python -m
sfl_opt.harness.architectures``).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

import torch

from ..model.architectures import Architecture, get_model

#: small stand-ins of each family (their dimensions only; the real models are too big)
SMALL: dict[str, Architecture] = {
    "gpt2": replace(get_model("gpt2-small"), name="gpt2-tiny", layers=2, hidden=64, heads=4,
                    kv_heads=4, ffn=256, vocab=128, positions=64),
    "llama": replace(get_model("llama-3.2-1b"), name="llama-tiny", layers=2, hidden=64,
                     heads=4, kv_heads=2, ffn=160, vocab=128, head_dim=None, tied=True),
    "qwen2": replace(get_model("qwen2.5-0.5b"), name="qwen2-tiny", layers=2, hidden=64,
                     heads=4, kv_heads=2, ffn=160, vocab=128),
    "phi3": replace(get_model("phi-3-mini"), name="phi3-tiny", layers=2, hidden=64, heads=4,
                    kv_heads=4, ffn=160, vocab=128),
}
#: peft target module names of the catalogue's target names
TARGET_MODULES = {"q": "q_proj", "k": "k_proj", "v": "v_proj", "o": "o_proj", "qkv": "qkv_proj",
                  "gate": "gate_proj", "up": "up_proj", "down": "down_proj",
                  "gate_up": "gate_up_proj"}


def build(arch: Architecture, layers: int, rank: int, seq: int, seed: int = 0) -> Any:
    """A random-weight float32 model of ``arch``'s family and dimensions with ``layers``
    blocks and LoRA of ``rank`` on its default targets (peft), in eval mode (no dropout)."""
    import transformers as tf
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(seed)
    common = dict(vocab_size=arch.vocab, hidden_size=arch.hidden, num_hidden_layers=layers,
                  num_attention_heads=arch.heads, num_key_value_heads=arch.kv_heads,
                  intermediate_size=arch.ffn, tie_word_embeddings=arch.tied,
                  max_position_embeddings=max(seq, 64), use_cache=False,
                  attn_implementation="eager")
    if arch.family == "gpt2":
        from .model import ModelConfig, build_lora_model

        cfg = ModelConfig(layers=layers, hidden=arch.hidden, heads=arch.heads, seq=seq,
                          vocab=arch.vocab, ffn=arch.ffn)
        return build_lora_model(cfg, rank, seed)
    if arch.family == "llama":
        model = tf.LlamaForCausalLM(tf.LlamaConfig(**common, head_dim=arch.dim_head))
    elif arch.family == "qwen2":
        model = tf.Qwen2ForCausalLM(tf.Qwen2Config(**common))
    elif arch.family == "phi3":
        model = tf.Phi3ForCausalLM(tf.Phi3Config(**common, pad_token_id=0,
                                                 resid_pdrop=0.0, embd_pdrop=0.0))
    else:  # pragma: no cover - every catalogue family is listed
        raise ValueError(arch.family)
    model.eval()
    lcfg = LoraConfig(r=rank, lora_alpha=float(rank), lora_dropout=0.0, bias="none",
                      target_modules=[TARGET_MODULES[t] for t in arch.lora_targets])
    return get_peft_model(model, lcfg)


def _blocks(model: Any) -> list[torch.nn.Module]:
    base = model.get_base_model()
    return list(base.transformer.h) if hasattr(base, "transformer") else list(base.model.layers)


def measure(arch: Architecture, layers: int, rank: int, seq: int, batch: int = 2) -> dict:
    """Whole-model FLOPs (forward, backward), saved-tensor bytes and per-block parameter
    bytes and LoRA parameters of one model (per ``batch`` samples)."""
    from torch.utils.flop_counter import FlopCounterMode

    from .profiler import _SavedBytes

    model = build(arch, layers, rank, seq)
    ids = torch.randint(0, arch.vocab, (batch, seq), generator=torch.Generator().manual_seed(1))
    with FlopCounterMode(display=False) as fc:
        out = model(input_ids=ids, labels=ids)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        out.loss.backward()
    bwd = fc.get_total_flops()
    saver = _SavedBytes({p.untyped_storage().data_ptr() for p in model.parameters()})
    with torch.autograd.graph.saved_tensors_hooks(saver.pack, saver.unpack):
        model(input_ids=ids, labels=ids)
    blk = _blocks(model)[0]
    frozen = sum(p.numel() * p.element_size() for n, p in blk.named_parameters()
                 if "lora_" not in n)
    lora = sum(p.numel() for n, p in blk.named_parameters() if "lora_" in n)
    return {"fwd": fwd, "bwd": bwd, "saved": saver.total, "block_params": frozen,
            "lora": lora}


def compare_family(family: str, seq: int = 32, batch: int = 2, ranks: tuple[int, int] = (2, 6)
                   ) -> dict[str, dict[str, float]]:
    """Measured vs analytic per-block numbers of the small stand-in of ``family``:
    ``{quantity: {"measured", "analytic", "rel"}}`` for ``fwd``, ``bwd`` (FLOPs per
    sample, one middle block), ``fwd_rank``, ``bwd_rank`` (per unit rank), ``saved``
    (bytes per sample, one middle block, at rank ``ranks[1]``), ``block_params`` (bytes,
    float32) and ``lora_params`` (per unit rank)."""
    arch = SMALL[family]
    L = arch.layers
    r1, r2 = ranks
    m = {(n, r): measure(arch, n, r, seq, batch) for n in (L, L + 1) for r in (r1, r2)}
    w = arch.workload(seq, weight_bits=32, saved_bits=32)

    def block(key: str, r: int) -> float:
        return (m[(L + 1, r)][key] - m[(L, r)][key]) / batch

    meas = {
        "fwd": block("fwd", r1) - r1 * (block("fwd", r2) - block("fwd", r1)) / (r2 - r1),
        "bwd": block("bwd", r1) - r1 * (block("bwd", r2) - block("bwd", r1)) / (r2 - r1),
        "fwd_rank": (block("fwd", r2) - block("fwd", r1)) / (r2 - r1),
        "bwd_rank": (block("bwd", r2) - block("bwd", r1)) / (r2 - r1),
        "saved": block("saved", r2),
        "block_params": float(m[(L, r1)]["block_params"]),
        "lora_params": (m[(L, r2)]["lora"] - m[(L, r1)]["lora"]) / (r2 - r1),
    }
    ana = {
        "fwd": float(w.fwd[1]), "bwd": float(w.bwd[1]), "fwd_rank": float(w.fwd_rank[1]),
        "bwd_rank": float(w.bwd_rank[1]),
        "saved": float(w.saved_bytes[1] + r2 * w.saved_bytes_rank[1]),
        "block_params": float(w.block_param_bytes[1]), "lora_params": float(w.lora_params[1]),
    }
    return {k: {"measured": float(meas[k]), "analytic": ana[k],
                "rel": (ana[k] - meas[k]) / meas[k] if meas[k] else math.inf} for k in meas}


def table(seq: int = 32) -> str:
    """The Markdown table of docs/profiles.md: analytic vs measured per family."""
    rows = ["| family (small stand-in) | quantity | measured | analytic | difference |",
            "|---|---|---:|---:|---:|"]
    for fam, arch in SMALL.items():
        res = compare_family(fam, seq=seq)
        for k, r in res.items():
            rows.append(f"| {fam} ({arch.layers + 1} vs {arch.layers} blocks, d={arch.hidden}, "
                        f"h={arch.heads}/{arch.kv_heads}, f={arch.ffn}, s={seq}) | {k} | "
                        f"{r['measured']:.6g} | {r['analytic']:.6g} | {100 * r['rel']:+.2f} % |")
    return "\n".join(rows)


if __name__ == "__main__":  # pragma: no cover
    print(table())
