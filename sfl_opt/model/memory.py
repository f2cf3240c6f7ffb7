"""Client memory need of split LoRA fine-tuning (SPEC §8.2).

A client that runs the embedding and blocks 1..ℓ with LoRA of rank r on a batch of b
samples holds, at its peak (just before the backward pass)::

    need(ℓ, r, b) = embed_param_bytes + Σ_{j≤ℓ} block_param_bytes[j]        frozen weights
                  + 4 · (param_bits/8) · r · Σ_{j≤ℓ} lora_params[j]          adapters: value,
                                                                           gradient, 2 AdamW moments
                  + b · Σ_{j≤ℓ} (saved_bytes[j] + r · saved_bytes_rank[j])   saved for backward
                  + b · cut_bytes[ℓ]                                       the cut activation

in bytes, with the workload's memory fields (:class:`sfl_opt.model.workload.Workload`).
Framework overhead (CUDA context, allocator fragmentation, the OS) is not in the need:
the hardware catalogue's ``memory`` is the part of a device usable for training.

A workload without memory fields (``workload.has_memory`` False) means memory is not
modelled: :func:`memory_need` then raises, and :func:`memory_feasible` accepts every
pair when every cap is ``inf`` (and raises otherwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from .workload import Workload


def _require_memory(workload: Workload) -> None:
    if not isinstance(workload, Workload):
        raise ValidationError("workload", "a sfl_opt.Workload", type(workload).__name__)
    if not workload.has_memory:
        raise ValidationError("workload.block_param_bytes",
                              "the workload's memory fields (memory is not modelled for "
                              f"this workload, source: {workload.source})", None)


def memory_table(workload: Workload, batch: int, splits: Any, ranks: Any) -> np.ndarray:
    """Client memory need in bytes for every pair, shape ``(len(splits), len(ranks))``.

    ``splits`` are cut points ℓ in 1..L−1 (blocks 1..ℓ on the client), ``ranks`` LoRA
    ranks (> 0), ``batch`` samples per local iteration. Entry ``[i, q]`` is the need at
    ``(splits[i], ranks[q])`` as the module docstring defines it.
    """
    _require_memory(workload)
    b = v.positive_int("batch", batch)
    L = workload.layers
    sp = v.int_array("splits", np.atleast_1d(splits))
    if sp.min() < 1 or sp.max() > L - 1:
        raise ValidationError("splits", f"cut points in 1..{L - 1}", sp.tolist())
    rk = v.float_array("ranks", np.atleast_1d(ranks), ndim=1, positive=True)
    idx = sp - 1
    frozen = workload.embed_param_bytes + np.cumsum(workload.block_param_bytes)[idx]
    adapter = 4.0 * workload.param_bits / 8.0 * np.cumsum(workload.lora_params)[idx]
    saved = np.cumsum(workload.saved_bytes)[idx]
    saved_rank = np.cumsum(workload.saved_bytes_rank)[idx]
    cut = workload.cut_bytes[idx]
    return ((frozen + b * (saved + cut))[:, None]
            + (adapter + b * saved_rank)[:, None] * rk[None, :])


def memory_need(workload: Workload, batch: int, split: int, rank: float) -> float:
    """Client memory need in bytes at cut point ``split`` (1..L−1), ``rank`` and ``batch``."""
    return float(memory_table(workload, batch, [split], [rank])[0, 0])


def memory_feasible(workload: Workload, batch: int, splits: Any, ranks: Any,
                    client_memory: Any) -> np.ndarray:
    """Which pairs fit every client: bool array ``(len(splits), len(ranks))``.

    ``client_memory`` (K,) is each client's usable memory in bytes (``inf``: unlimited).
    All clients run the same split and rank, so a pair fits iff its need is at most the
    smallest cap. With every cap ``inf`` every pair fits, whether or not the workload
    models memory; a finite cap with a workload that does not model memory is an error
    naming ``workload.block_param_bytes``.
    """
    caps = v.float_array("client_memory", np.atleast_1d(client_memory), ndim=1,
                         positive=True, allow_inf=True)
    n_s, n_r = np.atleast_1d(splits).size, np.atleast_1d(ranks).size
    cap = float(caps.min())
    if np.isinf(cap):
        return np.ones((n_s, n_r), dtype=bool)
    return memory_table(workload, batch, splits, ranks) <= cap
