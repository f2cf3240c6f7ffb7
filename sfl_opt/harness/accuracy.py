"""The accuracy claim: split federated LoRA versus centralised LoRA fine-tuning.

For every seed one base is pre-trained (:func:`~sfl_opt.harness.train.pretrain_base`);
from it, with the same rank, scaling, learning rate and data set,

- SFL (:class:`~sfl_opt.harness.train.SplitFedTrainer`: K clients, non-IID Dirichlet
  split, FedAvg of the client adapters every I iterations) runs ``rounds`` rounds at
  each split, and
- centralised LoRA (:class:`~sfl_opt.harness.train.CentralTrainer`: one model, IID
  batches of K·b samples from the union of the data) runs the same number of steps,

so both see ``rounds * I * K * b`` training samples. The final validation loss
(nats/token) and next-token accuracy on the same validation set are reported per run,
and their means over the seeds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import positive_int, scalar
from ..errors import ValidationError
from .model import ModelConfig
from .train import CentralTrainer, SplitFedTrainer, TrainConfig, pretrain_base


def measure_accuracy(cfg: ModelConfig, *, splits: Sequence[int], rank: int,
                     seeds: Sequence[int], rounds: int, local_iters: int, lr: float,
                     alpha: float | None = 8.0, rslora: bool = False, clients: int = 3,
                     batch: int = 8, n_train: int = 1200, n_val: int = 128,
                     pretrain_steps: int = 300, progress: bool = True) -> dict[str, Any]:
    """Rows ``{"setting", "split", "rank", "val_loss", "accuracy", "seed"}`` (see module).

    ``setting`` is "sfl" (one row per split and seed) or "centralized" (split None).
    Returns the profile's ``accuracy`` entry without ``command``: ``rows``, ``summary``
    (means over seeds), ``protocol``, ``measured_on`` and ``wall_seconds``.
    """
    from tqdm.auto import tqdm

    splits = [positive_int("splits", s) for s in splits]
    if not splits or len(set(splits)) != len(splits) or max(splits) > cfg.layers - 1:
        raise ValidationError("splits", f"distinct splits in 1..{cfg.layers - 1}", splits)
    seeds = [int(s) for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValidationError("seeds", "distinct integers >= 0", seeds)
    rounds = positive_int("rounds", rounds)
    scalar("lr", lr, positive=True)
    t0 = time.perf_counter()
    rows: list[dict[str, Any]] = []
    bar = tqdm(total=len(seeds) * (len(splits) + 1) * rounds, desc="accuracy runs (rounds)",
               disable=not progress)
    for seed in seeds:
        base = pretrain_base(cfg, pretrain_steps, seed=seed, progress=progress) \
            if pretrain_steps > 0 else None
        for split in [*splits, None]:
            tc = TrainConfig(clients=clients, split=split or 1, rank=rank,
                             local_iters=local_iters, batch=batch, lr=lr, n_train=n_train,
                             n_val=n_val, seed=seed, alpha=alpha, rslora=rslora)
            trainer: SplitFedTrainer | CentralTrainer = (
                SplitFedTrainer(cfg, tc, base_state=base) if split is not None
                else CentralTrainer(cfg, tc, base_state=base))
            for _ in range(rounds):
                trainer.train_round()
                bar.update(1)
            loss, acc = trainer.evaluate()
            rows.append({"setting": "sfl" if split is not None else "centralized",
                         "split": split, "rank": rank, "val_loss": round(loss, 5),
                         "accuracy": round(acc, 5), "seed": seed})
    bar.close()
    summary = []
    for setting, split in [*(("sfl", s) for s in splits), ("centralized", None)]:
        sel = [r for r in rows if r["setting"] == setting and r["split"] == split]
        summary.append({"setting": setting, "split": split, "rank": rank,
                        "val_loss": float(np.mean([r["val_loss"] for r in sel])),
                        "accuracy": float(np.mean([r["accuracy"] for r in sel])),
                        "n_seeds": len(sel)})
    samples = rounds * local_iters * clients * batch
    return {
        "rows": rows,
        "summary": summary,
        "protocol": {
            "rank": rank, "alpha": alpha,
            "scaling": "rslora (alpha/sqrt r)" if rslora else "fixed-alpha (alpha/r)",
            "lr": lr, "optimizer": "AdamW (weight decay 0)", "rounds": rounds,
            "local_iters": local_iters, "clients": clients, "batch": batch,
            "samples_seen": samples, "seeds": seeds, "splits": splits,
            "n_train": n_train, "n_val": n_val, "pretrain_steps": pretrain_steps,
            "sfl": "K clients, non-IID Dirichlet(0.5) split by venue type, FedAvg of the "
                   "client adapters (weights: data sizes) every local_iters iterations, "
                   "server adapters updated each iteration with the mean client gradient",
            "centralized": "one model, IID batches of clients*batch samples from the union "
                           "of the training data, rounds*local_iters AdamW steps",
            "metrics": "validation loss in nats per target token; token accuracy = share of "
                       "target tokens whose arg-max next-token prediction is right "
                       "(teacher forcing), on the same n_val validation samples",
        },
        "measured_on": {**cfg.to_dict(), "architecture": "gpt2 (random init + pre-training "
                        "on unpaired task text, LoRA on q_proj/v_proj)",
                        "pretrained": f"pretrain_base, {pretrain_steps} steps, one per seed"},
        "task": "bundled E2E-style data-to-text (sfl_opt.harness.data)",
        "wall_seconds": time.perf_counter() - t0,
    }
