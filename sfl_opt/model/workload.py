"""Per-sample computation and communication workload of a split transformer (SPEC §2).

Units: FLOP per sample for compute, bits per sample for activations and labels,
parameters per unit of LoRA rank for adapters, bits per adapter value; the optional
memory fields (SPEC §8.2) are in bytes (per sample for activations, per unit of rank
for the rank-dependent part). The client memory need they define is computed in
:mod:`sfl_opt.model.memory`.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from .profiles import profile_memory, read_profile

ARRAY_FIELDS = ("fwd", "bwd", "fwd_rank", "bwd_rank", "act_bits", "lora_params")
SCALAR_FIELDS = ("embed_fwd", "embed_bwd", "head_fwd", "head_bwd", "label_bits", "param_bits")
#: Optional memory fields (SPEC §8.2), bytes: all given or all None (memory not modelled).
MEMORY_ARRAY_FIELDS = ("block_param_bytes", "saved_bytes", "saved_bytes_rank", "cut_bytes")
MEMORY_SCALAR_FIELDS = ("embed_param_bytes",)
MEMORY_FIELDS = MEMORY_ARRAY_FIELDS + MEMORY_SCALAR_FIELDS


@dataclass(frozen=True, eq=False)
class Workload:
    """Workload of an L-block transformer, per sample.

    Arrays have one entry per block j = 1..L (index j-1):

    - ``fwd[j]``, ``bwd[j]``: base forward / backward FLOPs of block j;
    - ``fwd_rank[j]``, ``bwd_rank[j]``: extra FLOPs of block j's adapters per unit of rank;
    - ``act_bits[j]``: bits of block j's output activation (what crosses a cut after j);
    - ``lora_params[j]``: adapter parameters of block j per unit of rank.

    Scalars: ``embed_fwd``, ``embed_bwd``, ``head_fwd``, ``head_bwd`` (FLOPs),
    ``label_bits`` (bits per sample sent with the activations), ``param_bits``
    (bits per adapter value). ``source`` says where the numbers come from.

    Memory (optional, SPEC §8.2; all five given or all None). None — the default, and
    what an old scenario JSON without these keys loads as — means *memory is not
    modelled*: every split and rank fits any device (see :mod:`sfl_opt.model.memory`).

    - ``block_param_bytes[j]``: bytes of block j's frozen base parameters (no adapters);
    - ``embed_param_bytes``: bytes of the frozen token and position embeddings;
    - ``saved_bytes[j]``: bytes per sample that block j saves for backward, the part
      that does not depend on the rank;
    - ``saved_bytes_rank[j]``: further bytes per sample and per unit of rank saved by
      block j's adapters (the down-projection output x·A of each target);
    - ``cut_bytes[j]``: bytes per sample of block j's output held by a client cut after
      block j (the cut activation; its gradient later reuses the same size).

    Adapters need no field of their own: their bytes follow from ``lora_params`` and
    ``param_bits`` (value, gradient and two AdamW moments: 4·param_bits/8 bytes each).
    """

    fwd: np.ndarray
    bwd: np.ndarray
    fwd_rank: np.ndarray
    bwd_rank: np.ndarray
    act_bits: np.ndarray
    lora_params: np.ndarray
    embed_fwd: float = 0.0
    embed_bwd: float = 0.0
    head_fwd: float = 0.0
    head_bwd: float = 0.0
    label_bits: float = 0.0
    param_bits: float = 32.0
    source: str = field(default="custom")
    block_param_bytes: np.ndarray | None = None
    embed_param_bytes: float | None = None
    saved_bytes: np.ndarray | None = None
    saved_bytes_rank: np.ndarray | None = None
    cut_bytes: np.ndarray | None = None

    def __post_init__(self) -> None:
        validate_workload(self)

    # ------------------------------------------------------------------ helpers
    @property
    def layers(self) -> int:
        """Number of transformer blocks L."""
        return int(self.fwd.shape[0])

    @property
    def has_memory(self) -> bool:
        """True if the memory fields are given (memory is modelled), False if they are None."""
        return self.block_param_bytes is not None

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python representation (lists and floats) for JSON.

        The memory fields appear only when they are given, so a workload without them
        writes the same JSON as before they existed.
        """
        out: dict[str, Any] = {name: getattr(self, name).tolist() for name in ARRAY_FIELDS}
        out.update({name: float(getattr(self, name)) for name in SCALAR_FIELDS})
        out["source"] = self.source
        if self.has_memory:
            out.update({name: getattr(self, name).tolist() for name in MEMORY_ARRAY_FIELDS})
            out.update({name: float(getattr(self, name)) for name in MEMORY_SCALAR_FIELDS})
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Workload:
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        if not isinstance(data, dict):
            raise ValidationError("workload", "a mapping of workload fields", data)
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValidationError("workload", f"only the fields {sorted(known)}", unknown)
        missing = [name for name in ARRAY_FIELDS if name not in data]
        if missing:
            raise ValidationError(f"workload.{missing[0]}",
                                  f"every workload array {list(ARRAY_FIELDS)}",
                                  f"missing {missing}")
        return cls(**data)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Workload):
            return NotImplemented
        same_arrays = all(np.array_equal(getattr(self, n), getattr(other, n))
                          for n in ARRAY_FIELDS)
        if self.has_memory != other.has_memory:
            return False
        if self.has_memory and not all(np.array_equal(getattr(self, n), getattr(other, n))
                                       for n in MEMORY_ARRAY_FIELDS):
            return False
        return same_arrays and all(getattr(self, n) == getattr(other, n)
                                   for n in SCALAR_FIELDS + MEMORY_SCALAR_FIELDS + ("source",))

    __hash__ = None  # type: ignore[assignment]

    # ----------------------------------------------------------- constructors
    @classmethod
    def gpt2(
        cls,
        layers: int = 12,
        hidden: int = 768,
        seq: int = 512,
        *,
        vocab: int = 50257,
        ffn: int | None = None,
        act_bits: int = 16,
        param_bits: int = 32,
        lora_targets: int = 2,
        heads: int = 12,
        positions: int | None = None,
        weight_bits: int = 16,
        saved_bits: int = 16,
    ) -> Workload:
        """Analytic workload of a GPT-2-style decoder (per sample of ``seq`` tokens): the
        GPT-2 case of :meth:`transformer` (LayerNorm, tanh-GELU MLP of width ``ffn`` =
        4d by default, biases everywhere, learned positions, tied head).

        Counts 2 FLOPs per multiply-add of the matrix products only (as
        ``torch.utils.flop_counter`` does); element-wise work is neglected.

        Per block (d = ``hidden``, s = ``seq``, f = ``ffn``):

        - forward: linear layers ``s(4d^2 + 2df)`` MACs (QKV, output projection,
          MLP) and attention ``2 s^2 d`` MACs (scores and weighted values);
        - backward with frozen base weights: the linear layers need only the
          input gradient (1x their forward), the attention products need the
          gradients of both operands (2x);
        - LoRA on ``lora_targets`` d x d projections (query and value): per unit
          rank ``2 s d`` MACs forward per target, 2x that backward (weight and
          input gradients); ``2d`` parameters per target;
        - head: the tied LM head ``s d V`` MACs forward and the same backward
          (input gradient only); the embedding is a lookup (``s d`` additions
          for the positions forward, nothing backward as it is frozen);
        - activations ``s d`` values of ``act_bits`` bits; labels ``s`` token ids
          of ``ceil(log2 V)`` bits.

        Memory (bytes; SPEC §8.2, docs/model.md "When split and rank matter"), with
        h = ``heads``, P = ``positions`` (None: s, as the harness builds the model):

        - frozen parameters: ``weight_bits``/8 bytes per value (default 16: FP16/BF16
          weights, as mixed-precision training on the catalogue's devices keeps them);
          per block ``4d^2 + 2df + 9d + f`` values (q, k, v, output projections with
          biases, the MLP with biases, two LayerNorms), embedding ``(V + P) d``;
        - saved for backward, per sample, ``saved_bits``/8 bytes per value (default
          16): the inputs of the frozen linear layers are *not* saved (their backward
          needs only the weight), so a block saves its input and LayerNorm-1 statistics
          (``s d + 2 s``), the LayerNorm-1 output (the adapters' input, ``s d``), the
          q|k|v output (``3 s d``, operands of the two attention products), the
          softmax output (``h s^2``), the LayerNorm-2 input and statistics
          (``s d + 2 s``) and four ``s f`` tensors of the tanh-GELU (its input, the
          tanh output and both operands of its last product): ``6sd + 4sf + hs^2 + 4s``;
          block 1's input needs no gradient, so it saves ``s d + 2 s`` less; per unit
          rank the adapters save ``x A`` (``s`` values per target);
        - cut activation ``s d`` values of ``saved_bits`` bits per sample.

        With ``weight_bits = saved_bits = 32`` this reproduces the float32 profile's
        measured memory (``tests/model/test_memory.py``).
        """
        for name, val in (("layers", layers), ("hidden", hidden), ("seq", seq), ("vocab", vocab),
                          ("act_bits", act_bits), ("param_bits", param_bits),
                          ("lora_targets", lora_targets), ("heads", heads),
                          ("weight_bits", weight_bits), ("saved_bits", saved_bits)):
            v.positive_int(name, val)
        P = seq if positions is None else v.positive_int("positions", positions)
        f = 4 * hidden if ffn is None else v.positive_int("ffn", ffn)
        if lora_targets > 4:
            raise ValidationError("lora_targets", "at most 4 d x d projections (q, v, k, o)",
                                  lora_targets)
        work = cls.transformer(
            layers, hidden, seq, heads=heads, head_dim=hidden / heads, ffn=f, ffn_kind="gelu",
            vocab=vocab, positions=P, norm="layernorm", bias=True,
            lora_targets=("q", "v", "k", "o")[:lora_targets], act_bits=act_bits,
            param_bits=param_bits, weight_bits=weight_bits, saved_bits=saved_bits)
        return cls(**{**{fl.name: getattr(work, fl.name) for fl in fields(work)},
                      "source": f"analytic gpt2(layers={layers}, hidden={hidden}, seq={seq}, "
                                f"vocab={vocab})"})

    @classmethod
    def transformer(
        cls,
        layers: int,
        hidden: int,
        seq: int,
        *,
        heads: int,
        ffn: int,
        vocab: int,
        kv_heads: int | None = None,
        head_dim: float | None = None,
        ffn_kind: str = "gelu",
        positions: int = 0,
        norm: str = "layernorm",
        bias: bool = False,
        qkv_bias: bool | None = None,
        fused_qkv: bool = False,
        lora_targets: tuple[str, ...] = ("q", "v"),
        act_bits: int = 16,
        param_bits: int = 32,
        weight_bits: int = 16,
        saved_bits: int = 16,
        source: str | None = None,
    ) -> Workload:
        """Analytic workload of a decoder-only transformer block stack, per sample of
        ``seq`` tokens (the architectures of :mod:`sfl_opt.models`; GPT-2 is
        :meth:`gpt2`). FLOPs, not MACs: 2 per multiply-add of the matrix products
        (``torch.utils.flop_counter``'s convention); element-wise work is neglected.

        Dimensions: d = ``hidden``, s = ``seq``, h = ``heads``, g = ``kv_heads`` (None:
        h; grouped-query attention when g < h), e = ``head_dim`` (None: d/h), q = h e and
        c = g e the query and key/value widths, f = ``ffn`` with ``ffn_kind`` ``"gelu"``
        (two matrices d x f, f x d) or ``"swiglu"`` (three: gate, up, down). Per block:

        - forward MACs ``s (d q + 2 d c + q d + n_f d f)`` (n_f = 2 GELU, 3 SwiGLU) for
          the projections plus the *sequence term* ``2 s^2 q`` of attention (scores and
          weighted values over the full s x s matrix, as eager attention computes it);
        - backward convention (LoRA: the base weights are frozen): every frozen linear
          layer needs the gradient of its input but not of its weight (1x its forward),
          the attention products need both operands' gradients (2x);
        - LoRA of rank r on ``lora_targets`` (``"q"``, ``"k"``, ``"v"``, ``"o"``,
          ``"gate"``, ``"up"``, ``"down"``; ``"qkv"`` for a fused projection): a target
          d_in -> d_out has ``r (d_in + d_out)`` parameters and ``r (d_in + d_out)``
          MACs per token forward, 2x backward (weight and input gradients of A and B);
        - head ``2 s d V`` FLOPs forward and the same backward (input gradient; the head
          is frozen, tied or not); embedding a lookup (``s d`` position additions when
          ``positions`` > 0 learned positions, else 0);
        - cut activation ``s d`` values of ``act_bits`` bits; labels ``s ceil(log2 V)``.

        Memory (bytes): frozen weights at ``weight_bits`` (16, 8 or 4: FP16/BF16, INT8,
        4-bit quantised) per value: per block the projections (with biases when
        ``bias``; ``qkv_bias`` alone for Qwen2) and two norms (``2d`` values each for
        LayerNorm, ``d`` for RMSNorm), the embedding ``(V + positions) d``; saved for
        backward at ``saved_bits`` per value and sample: the two norms' inputs and
        statistics (``s d + 2 s`` LayerNorm, ``s d + s`` RMSNorm), the first norm's output
        (the adapters' input), the attention operands ``s (q + 2 q')`` (q' = q when the
        keys and values are repeated for grouped-query attention or fused with the
        queries, c otherwise), the softmax output ``h s^2`` and the MLP's element-wise
        tensors (``4 s f`` for tanh-GELU, ``3 s f`` for SwiGLU: gate, SiLU output, up); the
        first block saves its input and norm statistics less; per unit rank ``s`` values
        (``x A``) per target; the cut activation ``s d``. LoRA parameters and their
        AdamW state follow from ``lora_params`` and ``param_bits`` (:mod:`sfl_opt.memory`).
        """
        for name, val in (("layers", layers), ("hidden", hidden), ("seq", seq), ("vocab", vocab),
                          ("heads", heads), ("ffn", ffn), ("act_bits", act_bits),
                          ("param_bits", param_bits), ("saved_bits", saved_bits)):
            v.positive_int(name, val)
        if layers < 2:
            raise ValidationError("layers", "at least 2 blocks (a split needs both sides)", layers)
        if weight_bits not in (4, 8, 16, 32) or isinstance(weight_bits, bool):
            raise ValidationError("weight_bits", "4, 8, 16 or 32 bits per frozen weight",
                                  weight_bits)
        v.choice("ffn_kind", ffn_kind, ("gelu", "swiglu"))
        v.choice("norm", norm, ("layernorm", "rmsnorm"))
        g_heads = heads if kv_heads is None else v.positive_int("kv_heads", kv_heads)
        if heads % g_heads:
            raise ValidationError("kv_heads", f"a divisor of heads={heads}", kv_heads)
        d, s, ff = float(hidden), float(seq), float(ffn)
        e = d / heads if head_dim is None else float(head_dim)
        q, c = heads * e, g_heads * e
        dims = {"q": (d, q), "k": (d, c), "v": (d, c), "o": (q, d), "qkv": (d, q + 2 * c),
                "up": (d, ff), "down": (ff, d), "gate": (d, ff), "gate_up": (d, 2 * ff)}
        targets = tuple(lora_targets)
        if not targets:
            raise ValidationError("lora_targets", "at least one projection", targets)
        for t in targets:
            if t not in dims or (ffn_kind == "gelu" and t in ("gate", "gate_up")):
                raise ValidationError("lora_targets", f"names among {sorted(dims)} (no gate "
                                      "in a GELU MLP)", targets)
        n_f = 2 if ffn_kind == "gelu" else 3
        linear_macs = s * (d * q + 2 * d * c + q * d + n_f * d * ff)
        attn_macs = 2 * s * s * q
        lora_io = sum(a + b for a, b in (dims[t] for t in targets))
        fwd_rank = 2.0 * s * lora_io
        ones = np.ones(layers)
        # frozen parameters per block
        qkv_b = bias if qkv_bias is None else qkv_bias
        params = d * q + 2 * d * c + q * d + n_f * d * ff
        params += (q + 2 * c) * qkv_b + d * bias + (ff + d) * bias * (ffn_kind == "gelu")
        params += 2 * (2 * d if norm == "layernorm" else d)
        # saved for backward, values per sample
        stat = 2 * s if norm == "layernorm" else s
        repeated = fused_qkv or g_heads < heads  # the keys/values take the queries' width
        attn_saved = s * (q + 2 * (q if repeated else c))
        mlp_saved = (4 if ffn_kind == "gelu" else 3) * s * ff
        # inputs of the adapters: the first norm's output always; the others when targeted
        extra = 0.0
        if "o" in targets:
            extra += s * q
        if any(t in targets for t in ("up", "gate", "gate_up")):
            extra += s * d
        if "down" in targets:
            extra += s * ff
        saved = (2 * (s * d + stat) + s * d + attn_saved + heads * s * s + mlp_saved
                 + extra) * ones
        saved[0] -= s * d + stat
        wb, sb = weight_bits / 8.0, saved_bits / 8.0
        return cls(
            fwd=2.0 * (linear_macs + attn_macs) * ones,
            bwd=2.0 * (linear_macs + 2.0 * attn_macs) * ones,
            fwd_rank=fwd_rank * ones,
            bwd_rank=2.0 * fwd_rank * ones,
            act_bits=s * d * act_bits * ones,
            lora_params=lora_io * ones,
            embed_fwd=s * d if positions > 0 else 0.0,
            embed_bwd=0.0,
            head_fwd=2.0 * s * d * vocab,
            head_bwd=2.0 * s * d * vocab,
            label_bits=s * math.ceil(math.log2(vocab)),
            param_bits=float(param_bits),
            source=source or (f"analytic transformer(layers={layers}, hidden={hidden}, "
                              f"seq={seq}, vocab={vocab})"),
            block_param_bytes=wb * params * ones,
            embed_param_bytes=wb * (vocab + positions) * d,
            saved_bytes=sb * saved,
            saved_bytes_rank=sb * len(targets) * s * ones,
            cut_bytes=sb * s * d * ones,
        )

    @classmethod
    def from_profile(cls, path: str | Path) -> Workload:
        """The measured workload of a profile written by ``sfl-opt profile``.

        ``path`` is a profile JSON file (schema: docs/profiles.md); its ``workload``
        entry holds the arrays and scalars of SPEC §2, per sample (FLOP, bits,
        parameters per unit rank). ``source`` becomes ``"measured: <file name>"``.

        The memory fields come from the profile's ``memory`` section (absent: memory not
        modelled), see :func:`profile_memory` for how its batch-``b``, rank-``r``
        numbers are turned into per-sample and per-unit-rank ones.
        """
        data = read_profile(path)
        return cls.from_dict({**data["workload"], **profile_memory(data),
                              "source": f"measured: {Path(path).name}"})


def validate_workload(w: Workload) -> None:
    """Validate and normalise a :class:`Workload` in place (frozen: via object.__setattr__)."""
    lengths = {name: v.float_array(f"workload.{name}", getattr(w, name), ndim=1).shape[0]
               for name in ARRAY_FIELDS}
    # the block count L is the length most arrays agree on (ties: the first field's), so
    # the error names the array that is off, not the one compared last
    counts = Counter(lengths.values())
    n = max(lengths.values(), key=lambda x: (counts[x], x == lengths["fwd"]))
    if n < 2:
        raise ValidationError("workload.fwd", "at least 2 blocks", f"{n}")
    for name in ARRAY_FIELDS:
        positive = name in ("act_bits", "lora_params")
        if lengths[name] != n:
            same = [k for k, x in lengths.items() if x == n]
            raise ValidationError(f"workload.{name}", f"one entry per block: {n} like "
                                  f"{', '.join(same)}", f"{lengths[name]} entries")
        arr = v.float_array(f"workload.{name}", getattr(w, name), shape=(n,),
                            positive=positive, nonnegative=not positive)
        object.__setattr__(w, name, arr)
    for name in SCALAR_FIELDS:
        positive = name == "param_bits"
        val = v.scalar(f"workload.{name}", getattr(w, name), positive=positive,
                       nonnegative=not positive)
        object.__setattr__(w, name, val)
    if not isinstance(w.source, str):
        raise ValidationError("workload.source", "a string", w.source)
    given = [name for name in MEMORY_FIELDS if getattr(w, name) is not None]
    if given and len(given) < len(MEMORY_FIELDS):
        missing = [name for name in MEMORY_FIELDS if name not in given]
        raise ValidationError(f"workload.{missing[0]}",
                              f"all memory fields {list(MEMORY_FIELDS)} or none "
                              f"(got only {given})", None)
    if given:
        for name in MEMORY_ARRAY_FIELDS:
            arr = v.float_array(f"workload.{name}", getattr(w, name), shape=(n,),
                                nonnegative=True)
            object.__setattr__(w, name, arr)
        for name in MEMORY_SCALAR_FIELDS:
            object.__setattr__(w, name, v.scalar(f"workload.{name}", getattr(w, name),
                                                 nonnegative=True))

