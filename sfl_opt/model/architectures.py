"""Catalogue of decoder-only LLM architectures (``sfl_opt.models``) and their analytic
workloads.

:data:`MODELS` maps a name to an :class:`Architecture` whose numbers are copied from the
model's published Hugging Face ``config.json`` (``source``): blocks, hidden width,
attention heads and key/value heads (grouped-query attention), head width, MLP width and
kind (tanh-GELU with two matrices, or SwiGLU with gate, up and down), vocabulary, tied
input/output embeddings, learned positions, norm and biases.

:meth:`Architecture.workload` turns one into the per-sample :class:`~sfl_opt.Workload` of
SPEC §2 for a sequence length, LoRA targets and precisions
(:meth:`sfl_opt.Workload.transformer`: FLOPs not MACs, frozen base weights need the
activation gradient but no weight gradient, attention's ``2 s^2`` sequence term, cut
activation, memory per block). ``Problem.default(model=NAME)`` and ``sfl-opt ...
--model NAME`` use it; :func:`get_model` raises a ``ValidationError`` listing the
catalogue for an unknown name. The harness (:mod:`sfl_opt.harness.architectures`) checks
the formulas against ``torch.utils.flop_counter`` and measured saved tensors on small
random-weight instantiations of each family (docs/profiles.md).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from .. import _validation as v
from ..errors import ValidationError
from .workload import Workload

HF = "https://huggingface.co/{}/blob/main/config.json"


@dataclass(frozen=True)
class Architecture:
    """One decoder-only transformer (numbers from its ``config.json``, see ``source``).

    ``family`` (``"gpt2"``, ``"llama"``, ``"qwen2"``, ``"phi3"``: the transformers class
    that builds it), ``layers`` blocks, ``hidden`` width d, ``heads`` query heads,
    ``kv_heads`` key/value heads, ``head_dim`` (d / heads unless the config says
    otherwise), ``ffn`` MLP width and ``ffn_kind`` (``"gelu"``/``"swiglu"``), ``vocab``,
    ``tied`` input and output embeddings, ``positions`` learned position embeddings (0:
    rotary), ``norm`` (``"layernorm"``/``"rmsnorm"``), ``bias`` on every projection,
    ``qkv_bias`` on q, k, v only (Qwen2), ``fused_qkv``/``fused_gate_up`` (one matrix for
    q|k|v, one for gate|up: Phi-3), ``lora_targets`` the default adapted projections.
    """

    name: str
    family: str
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    ffn: int
    ffn_kind: str
    vocab: int
    tied: bool
    source: str
    head_dim: int | None = None
    positions: int = 0
    norm: str = "rmsnorm"
    bias: bool = False
    qkv_bias: bool = False
    fused_qkv: bool = False
    fused_gate_up: bool = False
    lora_targets: tuple[str, ...] = ("q", "v")

    @property
    def dim_head(self) -> int:
        """Width of one attention head (``head_dim``, else d / heads)."""
        return self.head_dim if self.head_dim is not None else self.hidden // self.heads

    def parameters(self) -> dict[str, int]:
        """Parameter counts: ``block`` (one block), ``embedding`` (tokens + positions),
        ``head`` (0 when tied), ``final_norm`` and ``total``."""
        w = self.workload(seq=1, weight_bits=32)
        block = int(round(w.block_param_bytes[0] / 4))
        emb = self.vocab * self.hidden + self.positions * self.hidden
        head = 0 if self.tied else self.vocab * self.hidden
        fnorm = (2 if self.norm == "layernorm" else 1) * self.hidden
        total = self.layers * block + emb + head + fnorm
        return {"block": block, "embedding": emb, "head": head, "final_norm": fnorm,
                "total": total}

    def workload(self, seq: int = 512, *, lora_targets: tuple[str, ...] | None = None,
                 weight_bits: int = 16, saved_bits: int = 16, act_bits: int = 16,
                 param_bits: int = 32) -> Workload:
        """The analytic per-sample workload at ``seq`` tokens (:meth:`Workload.transformer`):
        ``lora_targets`` (None: the architecture's default), frozen weights at
        ``weight_bits`` (16, 8 or 4), saved activations at ``saved_bits``, transmitted
        activations at ``act_bits``, adapter values at ``param_bits``."""
        targets = self.lora_targets if lora_targets is None else tuple(lora_targets)
        if self.fused_qkv and any(t in targets for t in ("q", "k", "v")):
            raise ValidationError("lora_targets", f"{self.name} fuses q, k, v into one "
                                  "projection: use 'qkv'", targets)
        if self.fused_gate_up and any(t in targets for t in ("gate", "up")):
            raise ValidationError("lora_targets", f"{self.name} fuses gate and up: use "
                                  "'gate_up'", targets)
        return Workload.transformer(
            self.layers, self.hidden, v.positive_int("seq", seq), heads=self.heads,
            kv_heads=self.kv_heads, head_dim=self.head_dim, ffn=self.ffn,
            ffn_kind=self.ffn_kind, vocab=self.vocab, positions=self.positions,
            norm=self.norm, bias=self.bias, qkv_bias=self.qkv_bias or self.bias,
            fused_qkv=self.fused_qkv, lora_targets=targets, act_bits=act_bits,
            param_bits=param_bits, weight_bits=weight_bits, saved_bits=saved_bits,
            source=f"analytic {self.name} (seq={seq}, LoRA on {','.join(targets)}, "
                   f"weights {weight_bits}-bit)")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["lora_targets"] = list(self.lora_targets)
        return d


def _gpt2(name: str, repo: str, layers: int, hidden: int, heads: int) -> Architecture:
    return Architecture(name, "gpt2", layers, hidden, heads, heads, 4 * hidden, "gelu", 50257,
                        True, HF.format(repo), positions=1024, norm="layernorm", bias=True)


_LIST = [
    # GPT-2 (n_layer, n_embd, n_head; n_inner None = 4 n_embd; n_positions 1024)
    _gpt2("gpt2-small", "openai-community/gpt2", 12, 768, 12),
    _gpt2("gpt2-medium", "openai-community/gpt2-medium", 24, 1024, 16),
    _gpt2("gpt2-large", "openai-community/gpt2-large", 36, 1280, 20),
    _gpt2("gpt2-xl", "openai-community/gpt2-xl", 48, 1600, 25),
    # Llama (RMSNorm, SwiGLU, RoPE, no biases)
    Architecture("llama-3.2-1b", "llama", 16, 2048, 32, 8, 8192, "swiglu", 128256, True,
                 HF.format("meta-llama/Llama-3.2-1B"), head_dim=64),
    Architecture("llama-3.2-3b", "llama", 28, 3072, 24, 8, 8192, "swiglu", 128256, True,
                 HF.format("meta-llama/Llama-3.2-3B"), head_dim=128),
    Architecture("llama-2-7b", "llama", 32, 4096, 32, 32, 11008, "swiglu", 32000, False,
                 HF.format("meta-llama/Llama-2-7b-hf")),
    Architecture("llama-3-8b", "llama", 32, 4096, 32, 8, 14336, "swiglu", 128256, False,
                 HF.format("meta-llama/Meta-Llama-3-8B")),
    # Qwen2.5 (Qwen2 architecture: bias on q, k, v only)
    Architecture("qwen2.5-0.5b", "qwen2", 24, 896, 14, 2, 4864, "swiglu", 151936, True,
                 HF.format("Qwen/Qwen2.5-0.5B"), qkv_bias=True),
    Architecture("qwen2.5-1.5b", "qwen2", 28, 1536, 12, 2, 8960, "swiglu", 151936, True,
                 HF.format("Qwen/Qwen2.5-1.5B"), qkv_bias=True),
    Architecture("qwen2.5-7b", "qwen2", 28, 3584, 28, 4, 18944, "swiglu", 152064, False,
                 HF.format("Qwen/Qwen2.5-7B"), qkv_bias=True),
    # Phi-3-mini (fused qkv_proj and gate_up_proj; LoRA on the fused attention input)
    Architecture("phi-3-mini", "phi3", 32, 3072, 32, 32, 8192, "swiglu", 32064, False,
                 HF.format("microsoft/Phi-3-mini-4k-instruct"), fused_qkv=True,
                 fused_gate_up=True, lora_targets=("qkv",)),
]

#: name -> :class:`Architecture`
MODELS: dict[str, Architecture] = {a.name: a for a in _LIST}


def get_model(name: str) -> Architecture:
    """The architecture called ``name`` (case-insensitive); a ``ValidationError`` naming
    ``model`` and listing the catalogue otherwise."""
    if isinstance(name, Architecture):
        return name
    if not isinstance(name, str) or name.lower() not in MODELS:
        raise ValidationError("model", f"one of the catalogue {sorted(MODELS)}", name)
    return MODELS[name.lower()]


def available() -> list[str]:
    """The catalogue's model names."""
    return sorted(MODELS)


__all__ = ["MODELS", "Architecture", "available", "get_model"]
