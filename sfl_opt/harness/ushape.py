"""Split federated LoRA (arXiv 2407.02924) under an online schedule: the PyTorch proxy.

The split of split federated LoRA (SPEC §4, :mod:`sfl_opt.online`): each device keeps
the frozen **embedding** and the trainable **task head**; the edge server runs the
**encoder** (every transformer block, LoRA rank r on the query and value projections).
One local iteration of device k on a batch:

1. device: embedding forward; the embeddings go up (a detached tensor: the "uplink");
2. server: encoder forward with device k's LoRA copy; its output goes down;
3. device: head forward, token-classification loss, backward through the head; the
   gradient w.r.t. the encoder output goes up;
4. server: encoder backward; device and server take one SGD step (step ``lr``) on the
   head and the LoRA adapters.

A round takes a schedule ``scheduled (K,)``: only the scheduled devices run
``local_iters`` iterations, each from the current global (adapters, head); then the
server averages the scheduled devices' adapters and heads weighted by their data sizes
(FedAvg over the participants). A round with nobody scheduled leaves the model as it is.
Plain SGD (no optimiser state) matches the convergence bound Ψ of the scheduler.

The task (small, seeded, no downloads): token tagging of the bundled E2E-style
restaurant sentences (:mod:`.data`) — every word is labelled with the meaning
representation attribute it realises (``name``, ``eattype``, ``food``, ...) or ``O``;
words whose attribute is ambiguous (the same value for two attributes) are ignored.
The attention is bidirectional (padding masked). Data are split non-IID by venue type
with Dirichlet proportions (:func:`~.data.non_iid_split`).

torch is imported by this module; the core package never imports it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

try:
    import torch
    from torch import nn
except ImportError as exc:  # pragma: no cover - needs a torch-less env
    raise ImportError("sfl_opt.harness needs torch, transformers and peft: "
                      "pip install 'sfl-opt[harness]'") from exc

from .._validation import positive_int, scalar
from ..errors import ValidationError
from .data import (
    _FAMILY,
    BOS,
    PAD,
    TaskData,
    WordTokenizer,
    _words,
    generate_samples,
    non_iid_split,
)
from .model import ModelConfig, _gpt2, adapter_names, build_lora_model, load_adapter_state
from .train import fedavg

#: Tag classes of the token-tagging task (index = class id).
TAGS = ("O", "name", "eattype", "food", "pricerange", "customer rating", "area",
        "familyfriendly", "near")
#: Optional attributes; data kinds of the ``split="kinds"`` proxy partition them.
OPTIONAL = TAGS[3:]
#: Data splits of :class:`ProxyConfig`; aggregation rules of :class:`ScheduledTrainer`.
SPLITS = ("dirichlet", "kinds")
AGGREGATIONS = ("renormalised", "unbiased", "share")


def kind_attrs(kinds: int) -> list[tuple[str, ...]]:
    """The optional attributes of each of ``kinds`` data kinds (a partition of
    :data:`OPTIONAL` into contiguous groups)."""
    return [tuple(str(a) for a in g) for g in np.array_split(np.array(OPTIONAL), kinds)]


# ----------------------------------------------------------------------- data
def _find(words: list[str], phrase: list[str]) -> list[int]:
    """Start positions of ``phrase`` in ``words``."""
    n = len(phrase)
    return [i for i in range(len(words) - n + 1) if words[i:i + n] == phrase]


def tag_words(mr_text: str, sentence: str) -> tuple[list[str], list[int]]:
    """The words of ``sentence`` and their tag ids (``-100`` where ambiguous)."""
    words = _words(sentence)
    mr = dict(part.split(" = ", 1) for part in mr_text.split(" | "))
    claims: list[set[int]] = [set() for _ in words]
    for attr, value in mr.items():
        tag = TAGS.index(attr)
        phrases = _FAMILY[value] if attr == "familyfriendly" else (value,)
        for phrase in phrases:
            ph = _words(phrase)
            for start in _find(words, ph):
                for i in range(start, start + len(ph)):
                    claims[i].add(tag)
    tags = [0 if not c else (next(iter(c)) if len(c) == 1 else -100) for c in claims]
    return words, tags


def make_tagging_data(n: int, seq: int, seed: int,
                      tokenizer: WordTokenizer | None = None,
                      attrs: tuple[str, ...] | None = None) -> TaskData:
    """``n`` tagged sentences of ``seq`` tokens (``<bos>`` then the words, padded).

    ``labels`` hold tag ids (``-100`` on ``<bos>``, padding and ambiguous words);
    ``group`` is the venue type (for the non-IID split). Drawn with ``seed``; ``attrs``
    (optional attributes) makes every sentence realise exactly those (one data *kind*).
    """
    seq = positive_int("seq", seq)
    if seq < 2:
        raise ValidationError("seq", "at least 2 tokens", seq)
    tok = tokenizer or WordTokenizer()
    samples = generate_samples(n, seed, attrs)
    ids = np.full((n, seq), PAD, dtype=np.int64)
    labels = np.full((n, seq), -100, dtype=np.int64)
    for i, (mr, text, _) in enumerate(samples):
        words, tags = tag_words(mr, text)
        row = ([BOS] + [tok.stoi[w] for w in words])[:seq]
        ids[i, :len(row)] = row
        lab = ([-100] + tags)[:seq]
        labels[i, :len(lab)] = lab
    group = np.array([s[2] for s in samples], dtype=np.int64)
    return TaskData(ids, labels, group)


# ---------------------------------------------------------------------- model
class UShapeModel(nn.Module):
    """Device embedding, server LoRA encoder, device task head (see the module doc)."""

    def __init__(self, cfg: ModelConfig, rank: int, classes: int, seed: int = 0) -> None:
        super().__init__()
        lora = build_lora_model(cfg, rank, seed=seed)
        gpt = _gpt2(lora).transformer
        self.wte, self.wpe = gpt.wte, gpt.wpe               # device (frozen)
        self.blocks = nn.ModuleList(list(gpt.h))            # server (LoRA)
        self.ln_f = gpt.ln_f                                # server (frozen)
        gen = torch.Generator().manual_seed(seed + 2)
        self.head = nn.Linear(cfg.hidden, classes)          # device (trainable)
        with torch.no_grad():
            self.head.weight.normal_(0.0, 0.02, generator=gen)
            self.head.bias.zero_()
        self._lora_names = adapter_names(self.blocks)

    # the three parts
    @torch.no_grad()
    def embed(self, ids: torch.Tensor) -> torch.Tensor:
        """Device: token + position embedding ``(batch, seq, d)``."""
        pos = torch.arange(ids.shape[1])[None]
        return self.wte(ids) + self.wpe(pos)

    def encode(self, h: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Server: every block (bidirectional attention, padding masked) and ``ln_f``."""
        mask = torch.zeros(ids.shape[0], 1, 1, ids.shape[1], dtype=h.dtype)
        mask = mask.masked_fill((ids == PAD)[:, None, None, :], torch.finfo(h.dtype).min)
        for block in self.blocks:
            h = block(h, attention_mask=mask)
            h = h[0] if isinstance(h, tuple) else h
        return self.ln_f(h)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, seq, classes)``."""
        return self.head(self.encode(self.embed(ids), ids))

    # trainable state
    def trainable(self) -> list[torch.Tensor]:
        """LoRA adapters (server) and head (device) parameters, in a fixed order."""
        params = dict(self.blocks.named_parameters())
        return [params[n] for n in self._lora_names] + list(self.head.parameters())

    def state(self) -> dict[str, torch.Tensor]:
        """Detached copies of the trainable parameters (adapters ``lora.*``, ``head.*``)."""
        params = dict(self.blocks.named_parameters())
        out = {f"lora.{n}": params[n].detach().clone() for n in self._lora_names}
        out.update({f"head.{n}": p.detach().clone() for n, p in self.head.named_parameters()})
        return out

    def load(self, state: dict[str, torch.Tensor]) -> None:
        """Copy a :meth:`state` into the model."""
        load_adapter_state(self.blocks, {n[5:]: t for n, t in state.items()
                                         if n.startswith("lora.")})
        with torch.no_grad():
            for n, p in self.head.named_parameters():
                p.copy_(state[f"head.{n}"])


def tag_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean token cross-entropy over labelled tokens (0 if there are none)."""
    flat = labels.reshape(-1)
    total = nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), flat,
                                        ignore_index=-100, reduction="sum")
    return total / (flat != -100).sum().clamp(min=1)


# ------------------------------------------------------------------- training
@dataclass(frozen=True)
class ProxyConfig:
    """Settings of the proxy: ``devices`` K, model ``layers``/``hidden``/``heads``,
    ``seq`` tokens, LoRA ``rank``, ``batch`` samples per iteration, ``local_iters`` I,
    SGD step ``lr``, ``n_train``/``n_val`` samples, Dirichlet ``concentration`` of the
    non-IID split, ``seed`` (model, data, batch order).

    ``split``: ``"dirichlet"`` (venue-type mixtures in Dirichlet(``concentration``)
    proportions, the first edition) or ``"kinds"``: device k holds sentences of kind
    k mod ``kinds``, each kind realising its own optional attributes
    (:func:`kind_attrs`; with 6 kinds one tag class each), so a device left out takes
    its tags' training signal with it; data sizes n_k ∝ Dirichlet(``size_concentration``)
    of ``n_train`` (at least ``2·batch``); the validation set has ``n_val`` sentences,
    an equal share of every kind. ``aggregation``: ``"renormalised"`` FedAvg over the
    participants (weights n_k/Σ_S n_j) or ``"unbiased"``: w ← w + Σ_S (n_k/n)/π_k·
    (w_k − w) with the inclusion probabilities π_k given to :meth:`ScheduledTrainer.round`
    (Horvitz–Thompson: the expected update is full participation's), or ``"share"``:
    w ← w + Σ_S (n_k/n)·(w_k − w), FedAvg over all K devices in which a device that
    did not train this round contributes the model it holds (the global one), so a
    round moves the model by the data share it covers."""

    devices: int = 20
    layers: int = 2
    hidden: int = 64
    heads: int = 4
    seq: int = 48
    rank: int = 4
    batch: int = 2
    local_iters: int = 2
    lr: float = 0.3
    n_train: int = 2000
    n_val: int = 256
    concentration: float = 0.05
    seed: int = 0
    split: str = "dirichlet"
    kinds: int = 6
    size_concentration: float = 1.0
    aggregation: str = "renormalised"

    def __post_init__(self) -> None:
        if self.split not in SPLITS:
            raise ValidationError("split", f"one of {SPLITS}", self.split)
        if self.aggregation not in AGGREGATIONS:
            raise ValidationError("aggregation", f"one of {AGGREGATIONS}", self.aggregation)
        positive_int("kinds", self.kinds)
        if self.kinds > len(OPTIONAL):
            raise ValidationError("kinds", f"at most {len(OPTIONAL)} kinds", self.kinds)
        scalar("size_concentration", self.size_concentration, positive=True)
        for name in ("devices", "layers", "hidden", "heads", "seq", "rank", "batch",
                     "local_iters", "n_train", "n_val"):
            positive_int(name, getattr(self, name))
        scalar("lr", self.lr, positive=True)
        scalar("concentration", self.concentration, positive=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError("seed", "an integer >= 0", self.seed)

    def model_config(self) -> ModelConfig:
        return ModelConfig(layers=self.layers, hidden=self.hidden, heads=self.heads,
                           seq=self.seq, vocab=WordTokenizer().vocab_size)


def kinds_sizes(cfg: ProxyConfig) -> np.ndarray:
    """(K,) samples of each device under ``split="kinds"``: Dirichlet(
    ``size_concentration``) shares of ``n_train``, at least ``2·batch`` (seeded by
    ``cfg.seed``; the same sizes :class:`ScheduledTrainer` builds)."""
    rng = np.random.default_rng([cfg.seed, 11])
    share = rng.dirichlet(np.full(cfg.devices, cfg.size_concentration))
    return np.maximum(np.round(share * cfg.n_train).astype(int), 2 * cfg.batch)


def _kinds_split(cfg: ProxyConfig, tok: WordTokenizer
                 ) -> tuple[TaskData, list[TaskData], np.ndarray]:
    """(validation set, per-device data, kind of each device) of ``split="kinds"``."""
    groups = kind_attrs(cfg.kinds)
    K = cfg.devices
    sizes = kinds_sizes(cfg)
    kind = np.arange(K) % cfg.kinds
    base = 100_000 * (cfg.seed + 1)
    parts = [make_tagging_data(int(sizes[k]), cfg.seq, base + k, tok, groups[kind[k]])
             for k in range(K)]
    per = [len(x) for x in np.array_split(np.arange(cfg.n_val), cfg.kinds)]
    vals = [make_tagging_data(n, cfg.seq, base + 50_000 + g, tok, groups[g])
            for g, n in enumerate(per) if n > 0]
    val = TaskData(np.concatenate([v.input_ids for v in vals]),
                   np.concatenate([v.labels for v in vals]),
                   np.concatenate([v.group for v in vals]))
    return val, parts, kind


class ScheduledTrainer:
    """Split federated LoRA training of the proxy driven by a schedule (module doc).

    Every instance built from the same :class:`ProxyConfig` starts from the same model,
    data split and batch order, so runs under different schedules compare.
    """

    def __init__(self, cfg: ProxyConfig) -> None:
        self.cfg = cfg
        tok = WordTokenizer()
        self.model = UShapeModel(cfg.model_config(), cfg.rank, len(TAGS), seed=cfg.seed)
        self.model.eval()  # dropout is 0 anyway
        if cfg.split == "kinds":
            self.val, self.parts, self.kind = _kinds_split(cfg, tok)
        else:
            train = make_tagging_data(cfg.n_train, cfg.seq, 2 * cfg.seed, tok)
            self.val = make_tagging_data(cfg.n_val, cfg.seq, 2 * cfg.seed + 1, tok)
            self.parts = non_iid_split(train, cfg.devices, cfg.seed, cfg.concentration)
            self.kind = np.zeros(cfg.devices, dtype=np.int64)
        self.sizes = np.array([len(p) for p in self.parts], dtype=float)
        self.rngs = [np.random.default_rng([cfg.seed, 7, k]) for k in range(cfg.devices)]
        self.global_state = self.model.state()

    def _batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        part = self.parts[k]
        idx = self.rngs[k].integers(0, len(part), size=self.cfg.batch)
        return torch.from_numpy(part.input_ids[idx]), torch.from_numpy(part.labels[idx])

    def local_update(self, k: int) -> dict[str, torch.Tensor]:
        """``local_iters`` split iterations of device ``k`` from the global state."""
        m = self.model
        m.load(self.global_state)
        params = m.trainable()
        for _ in range(self.cfg.local_iters):
            ids, labels = self._batch(k)
            up = m.embed(ids)                                   # 1. device, uplink
            enc = m.encode(up, ids)                             # 2. server forward
            down = enc.detach().requires_grad_(True)            #    downlink
            loss = tag_loss(m.head(down), labels)               # 3. device head
            grads_head = torch.autograd.grad(loss, [down, *m.head.parameters()])
            lora = params[:-2]
            grads_lora = torch.autograd.grad(enc, lora, grad_outputs=grads_head[0])  # 4.
            with torch.no_grad():
                for p, g in zip([*lora, *m.head.parameters()], [*grads_lora, *grads_head[1:]],
                                strict=True):
                    p -= self.cfg.lr * g
        return m.state()

    def round(self, scheduled: Sequence[bool] | np.ndarray,
              inclusion: np.ndarray | None = None) -> None:
        """One round: the scheduled devices train, then FedAvg over them with data-size
        weights (``aggregation="renormalised"``), the data-share update
        w + Σ_S (n_k/n)(w_k − w) (``"share"``) or the unbiased update with the
        inclusion probabilities ``inclusion (K,)`` in (0, 1] (``"unbiased"``)."""
        K = self.cfg.devices
        sched = np.asarray(scheduled, dtype=bool)
        if sched.shape != (K,):
            raise ValidationError("scheduled", f"shape ({K},)", f"shape {sched.shape}")
        unbiased = self.cfg.aggregation == "unbiased"
        if unbiased:
            pi = np.asarray(inclusion if inclusion is not None else [], dtype=float)
            if pi.shape != (K,) or not ((pi > 0) & (pi <= 1)).all():
                raise ValidationError("inclusion", f"(K,) = ({K},) probabilities in (0, 1] "
                                      "for aggregation='unbiased'", inclusion)
        idx = np.flatnonzero(sched)
        if idx.size == 0:
            return
        states = [self.local_update(int(k)) for k in idx]
        if self.cfg.aggregation == "renormalised":
            self.global_state = fedavg(states, self.sizes[idx].tolist())
            return
        coef = self.sizes[idx] / self.sizes.sum()
        if unbiased:
            coef = coef / pi[idx]
        g = self.global_state
        self.global_state = {n: g[n] + sum(float(c) * (st[n] - g[n])
                                           for c, st in zip(coef, states, strict=True))
                             for n in g}

    @torch.no_grad()
    def evaluate(self, batch: int = 128) -> tuple[float, float]:
        """(validation loss, token accuracy) of the global model over labelled tokens."""
        self.model.load(self.global_state)
        total, correct, count = 0.0, 0, 0
        for i in range(0, len(self.val), batch):
            ids = torch.from_numpy(self.val.input_ids[i:i + batch])
            labels = torch.from_numpy(self.val.labels[i:i + batch])
            logits = self.model(ids)
            n = int((labels != -100).sum())
            total += float(tag_loss(logits, labels)) * n
            correct += int(((logits.argmax(-1) == labels) & (labels != -100)).sum())
            count += n
        return total / count, correct / count
