"""GPT-2-architecture causal LM with LoRA on the query and value projections, split in two.

Nothing is downloaded: the model is ``transformers.GPT2LMHeadModel(GPT2Config(...))``
with random initialisation drawn from ``seed``.

Query/value LoRA. GPT-2 computes q, k and v with one fused ``c_attn`` (a ``Conv1D``
d -> 3d). To put LoRA on the query and value projections only, as SPEC §1/§6 and
``Workload.gpt2`` assume, every ``c_attn`` is replaced by :class:`QKVProjection`, which
holds three ``nn.Linear(d, d)`` layers ``q_proj``, ``k_proj``, ``v_proj`` initialised
with the corresponding column slices of ``c_attn`` (so the output equals the fused
layer's exactly) and returns their concatenation. peft then targets
``["q_proj", "v_proj"]`` with standard ``LoraConfig``. Base FLOPs are unchanged
(three d x d products instead of one d x 3d).

Attention uses the ``eager`` implementation so that ``torch.utils.flop_counter``
sees the two attention matrix products (scores and weighted values) as ``bmm``.
Dropout is 0 everywhere (deterministic training and exact split/monolithic
equality).
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from typing import Any

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - needs a torch-less env
    raise ImportError("sfl_opt.harness needs torch, transformers and peft: "
                      "pip install 'sfl-opt[harness]'") from exc

from .._validation import positive_int
from ..errors import ValidationError

LORA_TARGETS = ("q_proj", "v_proj")


@dataclass(frozen=True)
class ModelConfig:
    """Dimensions of a GPT-2-style model.

    ``layers`` blocks L, ``hidden`` width d, ``heads`` attention heads, ``seq``
    tokens per sample (also the number of positions), ``vocab`` tokens, ``ffn``
    MLP width (None: 4d).
    """

    layers: int = 2
    hidden: int = 64
    heads: int = 4
    seq: int = 64
    vocab: int = 256
    ffn: int | None = None

    def __post_init__(self) -> None:
        for name in ("layers", "hidden", "heads", "seq", "vocab"):
            positive_int(name, getattr(self, name))
        if self.ffn is not None:
            positive_int("ffn", self.ffn)
        if self.layers < 2:
            raise ValidationError("layers", "at least 2 blocks (a split needs both sides)",
                                  self.layers)
        if self.hidden % self.heads:
            raise ValidationError("heads", f"a divisor of hidden={self.hidden}", self.heads)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary (the profile's ``model`` entry)."""
        d = asdict(self)
        d["ffn"] = self.ffn if self.ffn is not None else 4 * self.hidden
        return d


#: GPT-2 small (124M) dimensions.
GPT2_SMALL = ModelConfig(layers=12, hidden=768, heads=12, seq=512, vocab=50257)


class QKVProjection(nn.Module):
    """Drop-in replacement of GPT-2's fused ``c_attn``: separate q, k, v linear layers.

    ``forward(x)`` returns ``cat([q(x), k(x), v(x)], -1)``, shape ``(..., 3d)``.
    """

    def __init__(self, fused: nn.Module, hidden: int) -> None:
        super().__init__()
        d = hidden
        self.q_proj = nn.Linear(d, d)
        self.k_proj = nn.Linear(d, d)
        self.v_proj = nn.Linear(d, d)
        # transformers' Conv1D stores weight as (in, out): y = x @ W + b.
        w, b = fused.weight.detach(), fused.bias.detach()
        with torch.no_grad():
            for i, lin in enumerate((self.q_proj, self.k_proj, self.v_proj)):
                lin.weight.copy_(w[:, i * d:(i + 1) * d].T)
                lin.bias.copy_(b[i * d:(i + 1) * d])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.q_proj(x), self.k_proj(x), self.v_proj(x)], dim=-1)


def build_base_model(cfg: ModelConfig, seed: int = 0) -> nn.Module:
    """A randomly initialised ``GPT2LMHeadModel`` with q/k/v split out (no LoRA yet)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValidationError("seed", "an integer >= 0", seed)
    config = GPT2Config(
        vocab_size=cfg.vocab, n_positions=cfg.seq, n_embd=cfg.hidden, n_layer=cfg.layers,
        n_head=cfg.heads, n_inner=cfg.ffn, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        use_cache=False, bos_token_id=cfg.vocab - 1, eos_token_id=cfg.vocab - 1,
    )
    config._attn_implementation = "eager"
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    try:
        model = GPT2LMHeadModel(config)
    finally:
        torch.random.set_rng_state(gen_state)
    for block in model.transformer.h:
        block.attn.c_attn = QKVProjection(block.attn.c_attn, cfg.hidden)
    model.eval()
    return model


def build_lora_model(cfg: ModelConfig, rank: int, seed: int = 0, *,
                     alpha: float | None = None, rslora: bool = False,
                     base: nn.Module | None = None) -> nn.Module:
    """The model of :func:`build_base_model` wrapped by peft with LoRA of ``rank``.

    LoRA sits on ``q_proj`` and ``v_proj`` of every block; ``alpha`` defaults to
    ``rank`` (scaling alpha/r = 1); the update B·A is scaled by alpha/r (peft's default,
    Hu et al.) or, with ``rslora=True``, by alpha/sqrt(r) (rsLoRA, peft
    ``use_rslora``); dropout 0; base weights frozen. The adapters'
    initial values (A Kaiming-uniform, B zero, peft's default) are drawn from ``seed``.
    ``base`` reuses an existing base model (it is modified in place by peft).
    """
    from peft import LoraConfig, get_peft_model

    r = positive_int("rank", rank)
    model = build_base_model(cfg, seed) if base is None else base
    if alpha is not None and not (isinstance(alpha, (int, float)) and alpha > 0):
        raise ValidationError("alpha", "a positive number (LoRA alpha)", alpha)
    lcfg = LoraConfig(r=r, lora_alpha=float(r if alpha is None else alpha), lora_dropout=0.0,
                      target_modules=list(LORA_TARGETS), bias="none", use_rslora=bool(rslora))
    gen_state = torch.random.get_rng_state()
    torch.manual_seed(seed + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            peft_model = get_peft_model(model, lcfg)
    finally:
        torch.random.set_rng_state(gen_state)
    peft_model.eval()
    return peft_model


def _gpt2(model: nn.Module) -> nn.Module:
    """The underlying ``GPT2LMHeadModel`` of a peft or plain model."""
    if hasattr(model, "get_base_model"):
        return model.get_base_model()
    return model


def causal_mask(seq: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Additive causal mask ``(1, 1, seq, seq)``: 0 on and below the diagonal, dtype min above."""
    m = torch.full((seq, seq), torch.finfo(dtype).min, dtype=dtype).triu(1)
    return m[None, None]


def lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Causal-LM cross-entropy (mean over target tokens; label ``-100`` is ignored).

    Token t predicts label t+1, as ``GPT2LMHeadModel`` does. A batch without any
    target token gives 0 (not NaN), so it contributes no gradient.
    """
    shift_logits = logits[:, :-1, :].reshape(-1, logits.shape[-1]).float()
    shift_labels = labels[:, 1:].reshape(-1)
    total = nn.functional.cross_entropy(shift_logits, shift_labels, ignore_index=-100,
                                        reduction="sum")
    return total / (shift_labels != -100).sum().clamp(min=1)


class ClientPart(nn.Module):
    """Client side: token + position embedding and blocks 1..split (with their adapters)."""

    def __init__(self, model: nn.Module, split: int) -> None:
        super().__init__()
        tr = _gpt2(model).transformer
        self.split = split
        self.wte, self.wpe, self.drop = tr.wte, tr.wpe, tr.drop
        self.blocks = nn.ModuleList(list(tr.h)[:split])

    def embed(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Embedding output ``(batch, seq, d)``."""
        pos = torch.arange(input_ids.shape[1], device=input_ids.device)[None]
        return self.drop(self.wte(input_ids) + self.wpe(pos))

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Cut activations ``(batch, seq, d)`` after block ``split``."""
        h = self.embed(input_ids)
        mask = causal_mask(input_ids.shape[1], h.dtype)
        for block in self.blocks:
            h = block(h, attention_mask=mask)
        return h


class ServerPart(nn.Module):
    """Main-server side: blocks split+1..L, final layer norm and the (tied) LM head."""

    def __init__(self, model: nn.Module, split: int) -> None:
        super().__init__()
        gpt = _gpt2(model)
        self.split = split
        self.blocks = nn.ModuleList(list(gpt.transformer.h)[split:])
        self.ln_f = gpt.transformer.ln_f
        self.lm_head = gpt.lm_head

    def forward(self, h: torch.Tensor, labels: torch.Tensor | None = None
                ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``(logits, loss)``; ``loss`` is None without ``labels``."""
        mask = causal_mask(h.shape[1], h.dtype)
        for block in self.blocks:
            h = block(h, attention_mask=mask)
        logits = self.lm_head(self.ln_f(h))
        return logits, (lm_loss(logits, labels) if labels is not None else None)


def split_model(model: nn.Module, split: int) -> tuple[ClientPart, ServerPart]:
    """Client and server parts of ``model`` at ``split`` (1..L-1); they share its parameters."""
    L = len(_gpt2(model).transformer.h)
    if isinstance(split, bool) or not isinstance(split, int) or not 1 <= split <= L - 1:
        raise ValidationError("split", f"an integer in 1..{L - 1}", split)
    return ClientPart(model, split), ServerPart(model, split)


def adapter_names(module: nn.Module) -> list[str]:
    """Names (within ``module``) of its trainable LoRA parameters, in a fixed order."""
    return [n for n, p in module.named_parameters() if p.requires_grad and "lora_" in n]


def adapter_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Detached copies of the LoRA parameters of ``module``."""
    params = dict(module.named_parameters())
    return {n: params[n].detach().clone() for n in adapter_names(module)}


def load_adapter_state(module: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy ``state`` (from :func:`adapter_state`) into the LoRA parameters of ``module``."""
    params = dict(module.named_parameters())
    names = adapter_names(module)
    if sorted(names) != sorted(state):
        raise ValidationError("state", f"the adapter names of the module ({len(names)})",
                              f"{len(state)} names")
    with torch.no_grad():
        for n in names:
            params[n].copy_(state[n])
