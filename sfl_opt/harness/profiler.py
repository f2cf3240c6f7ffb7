"""Measure the per-sample workload of SPEC §2 on this machine and write a profile.

For a GPT-2-architecture model with LoRA on q/v (:mod:`.model`) it measures, per
block j and for the embedding and the head:

- forward and backward FLOPs with ``torch.utils.flop_counter.FlopCounterMode``
  (2 FLOPs per multiply-add of matrix products; element-wise work is not counted);
  the LoRA part per unit rank is ``(F(r2) - F(r1)) / (r2 - r1)`` from two models that
  differ only in rank, the base part is ``F(r1) - r1 * per_rank``;
- wall time of forward and backward (median of ``repeats`` after ``warmup`` runs) at
  rank ``r2``;
- the element count of the block output (activation bits = elements x ``act_bits``),
  LoRA parameters per unit rank, and tensors saved for backward (memory).

Backward is measured as in split training: block 1's input (the frozen embedding's
output) does not require a gradient, every later block's input does (the previous
block's adapters need it), and the head's input does (the server hands the cut
gradient back). All counts are per sample: measured on a batch and divided by it.
"""

from __future__ import annotations

import datetime as _dt
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

try:
    import torch
except ImportError as exc:  # pragma: no cover - needs a torch-less env
    raise ImportError("sfl_opt.harness needs torch, transformers and peft: "
                      "pip install 'sfl-opt[harness]'") from exc

from .._validation import positive_int
from ..errors import ValidationError
from .model import ModelConfig, build_base_model, build_lora_model, causal_mask, lm_loss

SCHEMA_VERSION = 1


def count_flops(fn: Callable[[], Any]) -> tuple[int, Any]:
    """``(FLOPs, result)`` of running ``fn`` under ``FlopCounterMode``."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as fc:
        out = fn()
    return int(fc.get_total_flops()), out


def median_time(fn: Callable[[], Any], repeats: int, warmup: int) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeats`` runs after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(statistics.median(times))


class _SavedBytes:
    """Bytes of distinct tensors saved for backward while active (``saved_tensors_hooks``).

    Storages of the model's parameters (``exclude``) are not counted: they are
    counted once as parameters.
    """

    def __init__(self, exclude: set[int]) -> None:
        self.exclude = exclude
        self.seen: dict[int, int] = {}

    def pack(self, t: torch.Tensor) -> torch.Tensor:
        st = t.untyped_storage()
        if st.data_ptr() not in self.exclude:
            self.seen[st.data_ptr()] = st.nbytes()
        return t

    @staticmethod
    def unpack(t: torch.Tensor) -> torch.Tensor:
        return t

    @property
    def total(self) -> int:
        return int(sum(self.seen.values()))


def _block_parts(model: torch.nn.Module) -> tuple[Any, list[torch.nn.Module], Any, Any]:
    gpt = model.get_base_model() if hasattr(model, "get_base_model") else model
    tr = gpt.transformer
    return tr, list(tr.h), tr.ln_f, gpt.lm_head


def _measure_model(model: torch.nn.Module, cfg: ModelConfig, batch: int, *, timing: bool,
                   repeats: int, warmup: int, seed: int, bar: Any) -> dict[str, Any]:
    """FLOPs (and, if ``timing``, times and memory) of every part of one model, per batch."""
    tr, blocks, ln_f, head = _block_parts(model)
    gen = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, cfg.vocab, (batch, cfg.seq), generator=gen)
    labels = ids.clone()
    mask = causal_mask(cfg.seq)
    param_ptrs = {p.untyped_storage().data_ptr() for p in model.parameters()}
    res: dict[str, Any] = {"fwd": [], "bwd": [], "t_fwd": [], "t_bwd": [], "saved": [],
                           "act_values": []}

    def embed() -> torch.Tensor:
        pos = torch.arange(cfg.seq)[None]
        return tr.drop(tr.wte(ids) + tr.wpe(pos))

    with torch.no_grad():
        res["embed_fwd"], h = count_flops(embed)
    res["embed_bwd"] = 0  # nothing before the first block requires a gradient
    if timing:
        with torch.no_grad():
            res["t_embed_fwd"] = median_time(embed, repeats, warmup)
    inputs = [h]
    with torch.no_grad():
        for blk in blocks[:-1]:
            inputs.append(blk(inputs[-1], attention_mask=mask))

    for j, blk in enumerate(blocks):
        def fwd(j: int = j, blk: torch.nn.Module = blk) -> torch.Tensor:
            x = inputs[j].detach().requires_grad_(j > 0)
            return blk(x, attention_mask=mask)

        f, out = count_flops(fwd)
        grad = torch.randn(out.shape, generator=gen)
        b, _ = count_flops(lambda out=out, grad=grad: out.backward(grad))
        res["fwd"].append(f)
        res["bwd"].append(b)
        res["act_values"].append(int(out[0].numel()))
        if timing:
            res["t_fwd"].append(median_time(fwd, repeats, warmup))
            outs = [fwd() for _ in range(repeats + warmup)]
            it = iter(outs)
            res["t_bwd"].append(median_time(lambda it=it, grad=grad: next(it).backward(grad),
                                            repeats, warmup))
            saver = _SavedBytes(param_ptrs)
            with torch.autograd.graph.saved_tensors_hooks(saver.pack, saver.unpack):
                fwd()
            res["saved"].append(saver.total)
        bar.update(1)

    last = inputs[-1]
    with torch.no_grad():
        last = blocks[-1](last, attention_mask=mask)

    def head_fwd() -> torch.Tensor:
        x = last.detach().requires_grad_(True)
        return lm_loss(head(ln_f(x)), labels)

    f, loss = count_flops(head_fwd)
    b, _ = count_flops(lambda: loss.backward())
    res["head_fwd"], res["head_bwd"] = f, b
    if timing:
        res["t_head_fwd"] = median_time(head_fwd, repeats, warmup)
        losses = iter([head_fwd() for _ in range(repeats + warmup)])
        res["t_head_bwd"] = median_time(lambda: next(losses).backward(), repeats, warmup)
        saver = _SavedBytes(param_ptrs)
        with torch.autograd.graph.saved_tensors_hooks(saver.pack, saver.unpack):
            head_fwd()
        res["head_saved"] = saver.total
    bar.update(1)
    return res


def _param_bytes(module: torch.nn.Module) -> int:
    return int(sum(p.numel() * p.element_size() for p in module.parameters()))


def machine_info() -> dict[str, Any]:
    """The machine, library versions and the date (UTC) of a measurement."""
    import peft
    import transformers

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": cpu, "machine": platform.machine(), "system": platform.system(),
        "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0], "torch": torch.__version__,
        "transformers": transformers.__version__, "peft": peft.__version__,
        "numpy": np.__version__,
        "load_average_1_5_15min": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "date": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def profile_model(cfg: ModelConfig, *, batch: int = 1, ranks: tuple[int, int] = (1, 8),
                  repeats: int = 3, warmup: int = 1, act_bits: int = 16, param_bits: int = 32,
                  seed: int = 0, progress: bool = True, device: str = "cpu",
                  command: str | None = None) -> dict[str, Any]:
    """Measure the workload of ``cfg`` and return the profile (a JSON-ready dict).

    ``batch`` samples per measurement (results are per sample), LoRA ranks
    ``ranks = (r1, r2)`` for the per-rank FLOPs (times at ``r2``), ``repeats`` timed
    runs after ``warmup`` runs, ``act_bits`` bits per transmitted activation value and
    ``param_bits`` per adapter value (SPEC §6: 16 and 32). See docs/profiles.md.
    """
    from tqdm.auto import tqdm

    batch = positive_int("batch", batch)
    repeats = positive_int("repeats", repeats)
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise ValidationError("warmup", "an integer >= 0", warmup)
    r1, r2 = (positive_int("ranks", r) for r in ranks)
    if not r2 > r1:
        raise ValidationError("ranks", "two ranks r1 < r2", ranks)
    L = cfg.layers
    total = 2 * (L + 1)
    bar = tqdm(total=total, desc=f"profile {cfg.layers}x{cfg.hidden}", disable=not progress)
    t_start = time.perf_counter()
    with torch.no_grad():
        base = build_base_model(cfg, seed)
        base_state = {k: v.clone() for k, v in base.state_dict().items()}
    m1 = build_lora_model(cfg, r1, seed, base=base)
    meas1 = _measure_model(m1, cfg, batch, timing=False, repeats=repeats, warmup=warmup,
                           seed=seed, bar=bar)
    lora1 = _lora_params_per_block(m1, L)
    del m1, base
    base2 = build_base_model(cfg, seed)
    base2.load_state_dict(base_state)
    m2 = build_lora_model(cfg, r2, seed, base=base2)
    meas2 = _measure_model(m2, cfg, batch, timing=True, repeats=repeats, warmup=warmup,
                           seed=seed, bar=bar)
    lora2 = _lora_params_per_block(m2, L)
    bar.close()

    def per_sample(x: Any) -> Any:
        return (np.asarray(x, dtype=float) / batch).tolist() if isinstance(x, list) \
            else float(x) / batch

    dr = float(r2 - r1)
    f1, f2 = np.asarray(meas1["fwd"], float), np.asarray(meas2["fwd"], float)
    b1, b2 = np.asarray(meas1["bwd"], float), np.asarray(meas2["bwd"], float)
    fwd_rank, bwd_rank = (f2 - f1) / dr, (b2 - b1) / dr
    fwd, bwd = f1 - r1 * fwd_rank, b1 - r1 * bwd_rank
    lora_params = (np.asarray(lora2, float) - np.asarray(lora1, float)) / dr
    vocab_bits = math.ceil(math.log2(cfg.vocab))
    workload = {
        "fwd": per_sample(fwd.tolist()), "bwd": per_sample(bwd.tolist()),
        "fwd_rank": per_sample(fwd_rank.tolist()), "bwd_rank": per_sample(bwd_rank.tolist()),
        "act_bits": [float(n * act_bits) for n in meas2["act_values"]],
        "lora_params": lora_params.tolist(),
        "embed_fwd": per_sample(meas2["embed_fwd"]), "embed_bwd": per_sample(meas2["embed_bwd"]),
        "head_fwd": per_sample(meas2["head_fwd"]), "head_bwd": per_sample(meas2["head_bwd"]),
        "label_bits": float(cfg.seq * vocab_bits), "param_bits": float(param_bits),
    }
    t_fwd, t_bwd = per_sample(meas2["t_fwd"]), per_sample(meas2["t_bwd"])
    t_head = per_sample(meas2["t_head_fwd"]) + per_sample(meas2["t_head_bwd"])
    flops_at_r2 = (float(np.sum(f2 + b2)) + meas2["head_fwd"] + meas2["head_bwd"]
                   + meas2["embed_fwd"]) / batch
    time_at_r2 = sum(t_fwd) + sum(t_bwd) + t_head + per_sample(meas2["t_embed_fwd"])
    times = {
        "rank": r2, "batch": batch, "repeats": repeats, "warmup": warmup,
        "statistic": "median", "unit": "seconds per sample",
        "block_fwd": t_fwd, "block_bwd": t_bwd,
        "embed_fwd": per_sample(meas2["t_embed_fwd"]), "embed_bwd": 0.0,
        "head_fwd": per_sample(meas2["t_head_fwd"]), "head_bwd": per_sample(meas2["t_head_bwd"]),
        "effective_flops": flops_at_r2 / time_at_r2,
        "block_effective_flops": [(float(f2[j] + b2[j]) / batch) / (t_fwd[j] + t_bwd[j])
                                  for j in range(L)],
    }
    memory = _memory_table(m2, cfg, meas2, batch, r2)
    return {
        "schema": SCHEMA_VERSION,
        "device": device,
        "machine": machine_info(),
        "command": command,
        "model": {**cfg.to_dict(), "architecture": "gpt2 (transformers GPT2LMHeadModel, "
                  "random init, eager attention, q/k/v split for LoRA)",
                  "lora_targets": ["q_proj", "v_proj"], "init_seed": seed},
        "measurement": {"batch": batch, "ranks": [r1, r2], "flop_counter":
                        "torch.utils.flop_counter.FlopCounterMode", "act_bits": act_bits,
                        "param_bits": param_bits, "dtype": "float32",
                        "wall_seconds": time.perf_counter() - t_start},
        "workload": workload,
        "times": times,
        "memory": memory,
    }


def _lora_params_per_block(model: torch.nn.Module, layers: int) -> list[int]:
    counts = [0] * layers
    for name, p in model.named_parameters():
        if "lora_" in name and p.requires_grad:
            j = int(name.split(".h.")[1].split(".")[0])
            counts[j] += p.numel()
    return counts


def _memory_table(model: torch.nn.Module, cfg: ModelConfig, meas: dict[str, Any], batch: int,
                  rank: int) -> dict[str, Any]:
    """Memory per split point (bytes, for ``batch`` samples at ``rank``).

    Client peak at split l = parameters of the embedding and blocks 1..l (frozen base
    + adapters) + adapter gradients + AdamW state (2 values per adapter value) +
    tensors saved for backward by blocks 1..l (measured with ``saved_tensors_hooks``)
    + the cut activation. Server peak likewise for blocks l+1..L, final norm and head.
    """
    tr, blocks, ln_f, head = _block_parts(model)
    L = cfg.layers
    blk_params = [_param_bytes(b) for b in blocks]
    adapter = [sum(p.numel() * p.element_size() for n, p in b.named_parameters()
                   if "lora_" in n) for b in blocks]
    embed_params = _param_bytes(tr.wte) + _param_bytes(tr.wpe)
    head_params = _param_bytes(head) + _param_bytes(ln_f)
    saved = meas["saved"]
    cut = cfg.seq * cfg.hidden * 4 * batch
    client, server = [], []
    for l in range(1, L):
        client.append(embed_params + sum(blk_params[:l]) + 3 * sum(adapter[:l])
                      + sum(saved[:l]) + cut)
        server.append(head_params + sum(blk_params[l:]) + 3 * sum(adapter[l:])
                      + sum(saved[l:]) + meas["head_saved"] + cut)
    return {"unit": "bytes", "batch": batch, "rank": rank, "splits": list(range(1, L)),
            "client_peak": client, "server_peak": server,
            "block_saved": saved, "head_saved": meas["head_saved"],
            "block_params": blk_params, "embed_params": embed_params,
            "head_params": head_params,
            "method": "parameters (incl. adapters) + 3 x adapter bytes (gradient and two"
                      " AdamW moments) + tensors saved for backward (saved_tensors_hooks)"
                      " + the cut activation (float32)"}
