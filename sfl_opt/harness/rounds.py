"""Rounds to a target validation loss versus LoRA rank (the ``rounds`` table of a profile).

For every seed the base model is initialised and pre-trained once
(:func:`~sfl_opt.harness.train.pretrain_base`); then, for every rank, split federated
LoRA training (:class:`~sfl_opt.harness.train.SplitFedTrainer`) runs from that base
until the validation loss after a round is <= ``target_loss``. The round at which it
first is counted (1-based). The table stores the mean over seeds and the sample
standard deviation (``spread``), and every seed's count.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from .._validation import positive_int, scalar
from ..errors import ValidationError
from .model import ModelConfig
from .train import SplitFedTrainer, TrainConfig, pretrain_base


def measure_rounds(cfg: ModelConfig, *, ranks: Sequence[int], seeds: Sequence[int],
                   target_loss: float, max_rounds: int = 100, clients: int = 3, split: int = 1,
                   local_iters: int = 5, batch: int = 8, lr: float = 5e-3, n_train: int = 1200,
                   n_val: int = 128, pretrain_steps: int = 300, progress: bool = True
                   ) -> dict[str, Any]:
    """Measure rounds-to-``target_loss`` per rank over ``seeds`` (see module docstring).

    Raises ``RuntimeError`` if some (rank, seed) run does not reach the target within
    ``max_rounds`` (the table would otherwise need an invented number): lower the
    target or raise ``max_rounds``. Returns the profile's ``rounds`` entry.
    """
    from tqdm.auto import tqdm

    ranks = [positive_int("ranks", r) for r in ranks]
    seeds = [int(s) for s in seeds]
    if not ranks or len(set(ranks)) != len(ranks):
        raise ValidationError("ranks", "distinct ranks", ranks)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValidationError("seeds", "distinct integers >= 0", seeds)
    target = scalar("target_loss", target_loss, positive=True)
    max_rounds = positive_int("max_rounds", max_rounds)
    per_rank: dict[int, list[int]] = {r: [] for r in ranks}
    curves: dict[str, list[float]] = {}
    t0 = time.perf_counter()
    bar = tqdm(total=len(ranks) * len(seeds), desc="rounds vs rank", disable=not progress)
    for seed in seeds:
        base = pretrain_base(cfg, pretrain_steps, seed=seed, progress=progress) \
            if pretrain_steps > 0 else None
        for r in ranks:
            tc = TrainConfig(clients=clients, split=split, rank=r, local_iters=local_iters,
                             batch=batch, lr=lr, n_train=n_train, n_val=n_val, seed=seed)
            trainer = SplitFedTrainer(cfg, tc, base_state=base)
            log = trainer.run(max_rounds, target_loss=target, progress=progress)
            curves[f"rank{r}_seed{seed}"] = [round(x, 5) for x in log.val_loss]
            if log.val_loss[-1] > target:
                bar.close()
                raise RuntimeError(
                    f"rank {r}, seed {seed}: validation loss {log.val_loss[-1]:.4f} after "
                    f"{max_rounds} rounds is above target_loss={target}; lower the target or "
                    "raise max_rounds")
            per_rank[r].append(len(log.val_loss) - 1)
            bar.update(1)
    bar.close()
    mean = [float(np.mean(per_rank[r])) for r in ranks]
    spread = [float(np.std(per_rank[r], ddof=1)) if len(seeds) > 1 else 0.0 for r in ranks]
    return {
        "ranks": ranks, "rounds": mean, "spread": spread, "spread_kind": "sample std over seeds",
        "per_seed": {str(r): per_rank[r] for r in ranks},
        "target_loss": target, "seeds": seeds,
        "measured_on": {**cfg.to_dict(), "architecture": "gpt2 (random init + pre-training on "
                        "unpaired task text, LoRA on q_proj/v_proj)"},
        "task": "bundled E2E-style data-to-text (sfl_opt.harness.data), non-IID by venue type",
        "settings": {"clients": clients, "split": split, "local_iters": local_iters,
                     "batch": batch, "lr": lr, "optimizer": "AdamW", "n_train": n_train,
                     "n_val": n_val, "pretrain_steps": pretrain_steps, "max_rounds": max_rounds,
                     "lora_alpha": "equal to rank (scaling 1)"},
        "val_loss_curves": curves,
        "wall_seconds": time.perf_counter() - t0,
    }
