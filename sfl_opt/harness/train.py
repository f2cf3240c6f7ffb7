"""Split federated LoRA training (SPEC §1) on the bundled data-to-text task.

One iteration, for every client k (each with its own client-side adapters):

1. client forward of a batch of ``batch`` samples up to the cut;
2. the cut activations (and labels) are handed to the main server (a detached
   tensor that requires grad: the "uplink");
3. the server runs its blocks and the head, computes the loss and back-propagates;
   the gradient of the cut activations is handed back (the "downlink"); the
   server's adapter gradients are accumulated over the K clients;
4. the client back-propagates that gradient and updates its adapters (AdamW).

After all K clients the server updates its adapters once with the mean of the K
clients' gradients. The clients run one after another on this machine; since the
server's adapters change only after all K clients, this gives exactly the same
numbers as the parallel order of SPEC §1. After ``local_iters`` iterations the
client adapters are averaged weighted by client data size (FedAvg, :func:`fedavg`)
and every client continues from the average. Optimiser state stays on each client.

Client adapters live in one shared client module; each client's values are swapped
in before its step (:func:`~sfl_opt.harness.model.load_adapter_state`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - needs a torch-less env
    raise ImportError("sfl_opt.harness needs torch, transformers and peft: "
                      "pip install 'sfl-opt[harness]'") from exc

from .._validation import positive_int, scalar
from ..errors import ValidationError
from .data import TaskData, WordTokenizer, make_pretrain_corpus, make_task, non_iid_split
from .model import (
    ModelConfig,
    adapter_state,
    build_base_model,
    build_lora_model,
    load_adapter_state,
    split_model,
)


def fedavg(states: Sequence[dict[str, torch.Tensor]], weights: Sequence[float]
           ) -> dict[str, torch.Tensor]:
    """Weighted average ``sum_k w_k state_k / sum_k w_k`` of adapter states (FedAvg).

    ``weights`` are the clients' data sizes (any positive numbers).
    """
    if len(states) == 0:
        raise ValidationError("states", "at least one adapter state", len(states))
    w = np.asarray([scalar("weights", x, positive=True) for x in weights], dtype=float)
    if w.shape != (len(states),):
        raise ValidationError("weights", f"one weight per state ({len(states)})", len(w))
    keys = set(states[0])
    for s in states[1:]:
        if set(s) != keys:
            raise ValidationError("states", "states with the same adapter names", sorted(s))
    w = w / w.sum()
    return {n: sum(float(wk) * s[n] for wk, s in zip(w, states, strict=True)) for n in states[0]}


@dataclass(frozen=True)
class TrainConfig:
    """Settings of a split federated run.

    ``clients`` K, ``split`` cut after block ``split``, ``rank`` LoRA rank,
    ``local_iters`` iterations per round I, ``batch`` samples per client per
    iteration, ``lr`` AdamW learning rate (both sides), ``n_train`` / ``n_val``
    samples, ``concentration`` Dirichlet skew of the non-IID split, ``seed`` for
    the model, adapters, data and batch order. ``alpha`` is LoRA's alpha (None:
    equal to ``rank``, scaling 1); ``rslora`` scales by alpha/sqrt(r) instead of alpha/r.
    """

    clients: int = 3
    split: int = 1
    rank: int = 4
    local_iters: int = 5
    batch: int = 8
    lr: float = 2e-3
    n_train: int = 1200
    n_val: int = 128
    concentration: float = 0.5
    seed: int = 0
    alpha: float | None = None
    rslora: bool = False

    def __post_init__(self) -> None:
        for name in ("clients", "split", "rank", "local_iters", "batch", "n_train", "n_val"):
            positive_int(name, getattr(self, name))
        scalar("lr", self.lr, positive=True)
        if self.alpha is not None:
            scalar("alpha", self.alpha, positive=True)
        scalar("concentration", self.concentration, positive=True)
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValidationError("seed", "an integer >= 0", self.seed)


@dataclass
class RoundLog:
    """Validation loss after each round (``val_loss[0]`` is before training)."""

    val_loss: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    #: within-round evaluation (``train_round(eval_every=...)``): (iterations, val loss)
    eval_points: list[tuple[int, float]] = field(default_factory=list)
    stopped_mid_round: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def task_model_config(seq: int = 64, layers: int = 2, hidden: int = 64, heads: int = 4,
                      ffn: int | None = None) -> ModelConfig:
    """A :class:`ModelConfig` whose vocabulary is the bundled task's tokenizer."""
    return ModelConfig(layers=layers, hidden=hidden, heads=heads, seq=seq,
                       vocab=WordTokenizer().vocab_size, ffn=ffn)


def lora_model(model_cfg: ModelConfig, cfg: TrainConfig,
               base_state: dict[str, torch.Tensor] | None = None) -> torch.nn.Module:
    """The base model of ``model_cfg`` (initialised with ``cfg.seed``, then loaded from
    ``base_state`` if given) with rank-``cfg.rank`` LoRA adapters under ``cfg``'s scaling
    (``alpha``, ``rslora``): the model every trainer of this module starts from."""
    base = build_base_model(model_cfg, seed=cfg.seed)
    if base_state is not None:
        base.load_state_dict(base_state)
    return build_lora_model(model_cfg, cfg.rank, seed=cfg.seed, base=base, alpha=cfg.alpha,
                            rslora=cfg.rslora)


class SplitFedTrainer:
    """Split federated training of a LoRA model (see the module docstring)."""

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig,
                 data: tuple[TaskData, TaskData] | None = None,
                 base_state: dict[str, torch.Tensor] | None = None) -> None:
        if cfg.split > model_cfg.layers - 1:
            raise ValidationError("split", f"a split in 1..{model_cfg.layers - 1}", cfg.split)
        if model_cfg.vocab < WordTokenizer().vocab_size:
            raise ValidationError("vocab", f"at least the task's {WordTokenizer().vocab_size}",
                                  model_cfg.vocab)
        self.model_cfg, self.cfg = model_cfg, cfg
        self.model = lora_model(model_cfg, cfg, base_state)
        self.client, self.server = split_model(self.model, cfg.split)
        train, val = data if data is not None else make_task(cfg.n_train, cfg.n_val,
                                                             model_cfg.seq, cfg.seed)
        self.val = val
        if not (val.labels[:, 1:] != -100).any() or not (train.labels[:, 1:] != -100).any():
            raise ValidationError("seq", "enough tokens for the prompts and some target tokens",
                                  model_cfg.seq)
        self.parts = non_iid_split(train, cfg.clients, cfg.seed, cfg.concentration)
        self.sizes = [len(p) for p in self.parts]
        self.rng = np.random.default_rng(cfg.seed + 12345)
        init = adapter_state(self.client)
        self.client_states = [{n: t.clone() for n, t in init.items()} for _ in self.parts]
        client_params = [p for n, p in self.client.named_parameters()
                         if n in set(init)]
        self.client_opts = [torch.optim.AdamW(client_params, lr=cfg.lr, weight_decay=0.0)
                            for _ in self.parts]
        names = set(adapter_state(self.server))
        self.server_params = [p for n, p in self.server.named_parameters() if n in names]
        self.server_opt = torch.optim.AdamW(self.server_params, lr=cfg.lr, weight_decay=0.0)
        self._cursor = [self.rng.permutation(s).tolist() for s in self.sizes]
        self.log = RoundLog()
        self.iterations_done = 0

    # ----------------------------------------------------------------- batches
    def _next_batch(self, k: int) -> tuple[torch.Tensor, torch.Tensor]:
        idx = []
        while len(idx) < self.cfg.batch:
            if not self._cursor[k]:
                self._cursor[k] = self.rng.permutation(self.sizes[k]).tolist()
            idx.append(self._cursor[k].pop())
        part = self.parts[k]
        return torch.from_numpy(part.input_ids[idx]), torch.from_numpy(part.labels[idx])

    # -------------------------------------------------------------- iteration
    def iteration(self) -> float:
        """One split-training iteration over all K clients; returns the mean training loss."""
        self.server_opt.zero_grad(set_to_none=True)
        losses = []
        for k in range(self.cfg.clients):
            load_adapter_state(self.client, self.client_states[k])
            opt = self.client_opts[k]
            opt.zero_grad(set_to_none=True)
            ids, labels = self._next_batch(k)
            act = self.client(ids)                        # 1. client forward
            sent = act.detach().requires_grad_(True)      # 2. uplink
            _, loss = self.server(sent, labels)           # 3. server forward
            loss.backward()                               #    server backward
            act.backward(sent.grad)                       # 4. downlink + client backward
            opt.step()
            self.client_states[k] = adapter_state(self.client)
            losses.append(float(loss.detach()))
        with torch.no_grad():
            for p in self.server_params:
                if p.grad is not None:
                    p.grad /= self.cfg.clients
        self.server_opt.step()
        return float(np.mean(losses))

    def aggregate(self) -> dict[str, torch.Tensor]:
        """FedAvg of the client adapters (weights: data sizes); every client gets the mean."""
        avg = fedavg(self.client_states, self.sizes)
        self.client_states = [{n: t.clone() for n, t in avg.items()} for _ in self.parts]
        return avg

    def train_round(self, eval_every: int | None = None,
                    stop_at: float | None = None) -> float:
        """``local_iters`` iterations then FedAvg; returns the mean training loss of the round.

        Within-round evaluation (``eval_every`` = N local iterations, None: off): after
        every N-th iteration of the round, and after the FedAvg at its end, the validation
        loss of the *virtual* FedAvg of the clients' current adapters (weighted by data
        size, as :meth:`aggregate`) is appended to ``self.log.eval_points`` as
        ``(iterations since the start of training, loss in nats/token)``. Evaluating
        changes nothing in the training state (adapters, optimiser states, the batch
        generator), so the round-end losses are bit-identical with and without it.
        ``stop_at``: if a mid-round evaluation reaches this loss, the round stops there
        with one extra FedAvg at that point (the model that reached the target is the
        aggregate; in a deployment that aggregation is the stop) and the log records it.
        """
        if eval_every is not None:
            eval_every = positive_int("eval_every", eval_every)
        if eval_every is not None and not self.log.eval_points:
            self.log.eval_points.append((self.iterations_done, self.validation_loss()))
        losses = []
        for t in range(1, self.cfg.local_iters + 1):
            losses.append(self.iteration())
            self.iterations_done += 1
            if t == self.cfg.local_iters:
                break
            if eval_every is not None and t % eval_every == 0:
                loss = self.validation_loss()
                self.log.eval_points.append((self.iterations_done, loss))
                if stop_at is not None and loss <= stop_at:
                    self.aggregate()
                    self.log.stopped_mid_round = True
                    return float(np.mean(losses))
        self.aggregate()
        if eval_every is not None:
            self.log.eval_points.append((self.iterations_done, self.validation_loss()))
        return float(np.mean(losses))

    def validation_loss(self, batch: int = 64) -> float:
        """Token-weighted mean validation loss (nats/token) with the averaged client adapters."""
        return self.evaluate(batch)[0]

    def evaluate(self, batch: int = 64) -> tuple[float, float]:
        """``(loss, accuracy)`` on the validation set with the averaged client adapters.

        Loss in nats per target token; accuracy the fraction of target tokens whose
        arg-max prediction is right (see :func:`evaluate_parts`).
        """
        load_adapter_state(self.client, fedavg(self.client_states, self.sizes))
        return evaluate_parts(self.client, self.server, self.val, batch)

    def run(self, rounds: int, *, target_loss: float | None = None,
            progress: bool = True) -> RoundLog:
        """Train up to ``rounds`` rounds (stop early once validation loss <= ``target_loss``)."""
        from tqdm.auto import tqdm

        rounds = positive_int("rounds", rounds)
        if not self.log.val_loss:
            self.log.val_loss.append(self.validation_loss())
        bar = tqdm(range(rounds), desc=f"SFL rank {self.cfg.rank}", disable=not progress,
                   leave=False)
        for _ in bar:
            self.log.train_loss.append(self.train_round())
            self.log.val_loss.append(self.validation_loss())
            bar.set_postfix(val=f"{self.log.val_loss[-1]:.3f}")
            if target_loss is not None and self.log.val_loss[-1] <= target_loss:
                break
        bar.close()
        return self.log


@torch.no_grad()
def evaluate_parts(client: torch.nn.Module, server: torch.nn.Module, data: TaskData,
                   batch: int = 64) -> tuple[float, float]:
    """Token-weighted validation loss (nats/token) and next-token accuracy of client+server.

    Accuracy: the fraction of target tokens (label != -100) that are the arg-max of
    the model's prediction from the previous position (teacher forcing).
    """
    total, correct, count = 0.0, 0, 0
    for i in range(0, len(data), batch):
        ids = torch.from_numpy(data.input_ids[i:i + batch])
        labels = torch.from_numpy(data.labels[i:i + batch])
        logits, loss = server(client(ids), labels)
        target = labels[:, 1:]
        mask = target != -100
        n = int(mask.sum())
        total += float(loss) * n
        correct += int(((logits[:, :-1].argmax(-1) == target) & mask).sum())
        count += n
    return total / count, correct / count


class CentralTrainer:
    """Centralised LoRA fine-tuning of the same model: the baseline of the accuracy claim.

    One model on the union of the training data (IID batches of ``clients * batch``
    samples, the samples one SFL iteration sees over its K clients), one AdamW over all
    adapters with ``cfg.lr``; ``train_round`` runs ``local_iters`` steps, so R rounds see
    the same number of samples as R SFL rounds. With ``clients=1`` it draws the same
    batches as :class:`SplitFedTrainer` (same generator), so the two coincide.
    """

    def __init__(self, model_cfg: ModelConfig, cfg: TrainConfig,
                 data: tuple[TaskData, TaskData] | None = None,
                 base_state: dict[str, torch.Tensor] | None = None) -> None:
        self.model_cfg, self.cfg = model_cfg, cfg
        self.model = lora_model(model_cfg, cfg, base_state)
        self.client, self.server = split_model(self.model, 1)
        self.train, self.val = data if data is not None else make_task(
            cfg.n_train, cfg.n_val, model_cfg.seq, cfg.seed)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
        self.rng = np.random.default_rng(cfg.seed + 12345)
        self._cursor = self.rng.permutation(len(self.train)).tolist()

    def step(self) -> float:
        """One AdamW step on ``clients * batch`` samples; returns the training loss."""
        idx = []
        while len(idx) < self.cfg.clients * self.cfg.batch:
            if not self._cursor:
                self._cursor = self.rng.permutation(len(self.train)).tolist()
            idx.append(self._cursor.pop())
        ids = torch.from_numpy(self.train.input_ids[idx])
        labels = torch.from_numpy(self.train.labels[idx])
        self.opt.zero_grad(set_to_none=True)
        _, loss = self.server(self.client(ids), labels)
        loss.backward()
        self.opt.step()
        return float(loss.detach())

    def train_round(self) -> float:
        """``local_iters`` steps; returns their mean training loss."""
        return float(np.mean([self.step() for _ in range(self.cfg.local_iters)]))

    def evaluate(self, batch: int = 64) -> tuple[float, float]:
        """``(loss, accuracy)`` on the validation set (see :func:`evaluate_parts`)."""
        return evaluate_parts(self.client, self.server, self.val, batch)


def pretrain_base(model_cfg: ModelConfig, steps: int, *, seed: int = 0, batch: int = 16,
                  lr: float = 3e-3, n_lines: int = 2000, progress: bool = True
                  ) -> dict[str, torch.Tensor]:
    """Full-parameter pre-training of the base model on unpaired task text.

    A randomly initialised GPT-2 has a tiny, frozen embedding/head, so LoRA alone can
    barely move its loss. This gives the base a language model of the task's MRs and
    sentences (:func:`~sfl_opt.harness.data.make_pretrain_corpus`) but not the mapping
    between them, which the split federated LoRA fine-tuning must then learn.
    Returns the base model's ``state_dict`` (AdamW, ``steps`` steps of ``batch`` lines).
    """
    from tqdm.auto import tqdm

    steps = positive_int("steps", steps)
    corpus = make_pretrain_corpus(n_lines, model_cfg.seq, seed)
    model = build_base_model(model_cfg, seed=seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed + 777)
    bar = tqdm(range(steps), desc="pre-train base", disable=not progress, leave=False)
    for _ in bar:
        idx = rng.integers(0, len(corpus), size=batch)
        out = model(input_ids=torch.from_numpy(corpus.input_ids[idx]),
                    labels=torch.from_numpy(corpus.labels[idx]))
        opt.zero_grad(set_to_none=True)
        out.loss.backward()
        opt.step()
        bar.set_postfix(loss=f"{out.loss.item():.3f}")
    model.eval()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}
