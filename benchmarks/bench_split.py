"""The exact split-vector search against enumeration, and the per-client solve against
the common one (pytest-benchmark).

Run: ``python -m pytest benchmarks/bench_split.py -s`` (``-s`` shows the tables).

1. ``kernels.split.best_split_vector`` against enumerating all n^K vectors
   (``vector_objective`` per vector, compiled) on the terms of a default-like instance
   (four delay terms: up stage, down stage, broadcast, adapter upload; server work
   decreasing in the cut), K = 6, n = 6 (46 656 vectors); both sides in one run after a
   warm-up (Numba compilation excluded); the values agree exactly and the ratio of the
   medians is reported. Then the kernel alone at K = 20, n = 27 (Llama-3.2-3B's cuts).
2. ``solve(p, split_mode="per_client")`` against ``solve(p)`` on the
   phones+jetsons+laptops cohort (K = 10, GPT-2 small, server L4), seeds 0-2: the
   ratio of the medians (the per-client solve includes the common one).
"""

from __future__ import annotations

import itertools
import statistics
import time

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.kernels.split import best_split_vector, vector_objective

ROUNDS = 5


def terms(K: int, n: int, seed: int = 0) -> tuple[np.ndarray, ...]:
    """Default-like terms: compute grows with the cut, per-client speeds and rates."""
    rng = np.random.default_rng(seed)
    I = 50.0
    cum = np.cumsum(1 + 0.1 * rng.random(n))
    flops = rng.uniform(0.2, 3, K)
    a = 0.05 * cum[None, :] / flops[:, None] + rng.uniform(0.05, 0.5, K)[:, None]
    d = 0.1 * cum[None, :] / flops[:, None] + rng.uniform(0.0, 0.1, K)[:, None]
    sad = cum * 1e6
    f = sad[None, :] / rng.uniform(1e7, 1e8, K)[:, None]
    g = np.tile(sad / 1e9, (K, 1))
    W = np.ascontiguousarray(np.tile(I * 0.01 * (cum[-1] + 1 - cum), (K, 1)))
    feas = np.ones((K, n), bool)
    for k in range(K):
        feas[k, rng.integers(1, n + 1):] = False
    V = np.ascontiguousarray(np.where(feas[None], np.stack([a, d, g, f]), np.inf))
    return V, np.array([I, I, 1.0, 1.0]), W, feas


def enumerate_all(V, lam, W, feas) -> float:
    best = np.inf
    for c in itertools.product(*[np.flatnonzero(feas[k]) for k in range(W.shape[0])]):
        best = min(best, vector_objective(V, lam, W, np.array(c, dtype=np.int64)))
    return best


def _median(fn, rounds: int = ROUNDS) -> tuple[float, object]:
    out, ts = None, []
    for _ in range(rounds):
        t0 = time.perf_counter()
        out = fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def test_split_kernel_vs_enumeration(benchmark) -> None:
    V, lam, W, feas = terms(6, 6)
    feas[:] = True
    V = np.ascontiguousarray(np.where(np.isfinite(V), V, 1.0))
    best_split_vector(V, lam, W, feas)  # warm-up
    vector_objective(V, lam, W, np.zeros(6, np.int64))
    t_k, got = _median(lambda: best_split_vector(V, lam, W, feas))
    t_e, want = _median(lambda: enumerate_all(V, lam, W, feas), rounds=1)
    assert got[0] == pytest.approx(want, rel=1e-12)
    V2, lam2, W2, feas2 = terms(20, 27, seed=1)
    t_big, _ = _median(lambda: best_split_vector(V2, lam2, W2, feas2))
    print(f"\nK=6, n=6: kernel {1e3 * t_k:.3f} ms, enumeration of 46656 vectors "
          f"{1e3 * t_e:.1f} ms, ratio {t_e / t_k:.0f}x; K=20, n=27: kernel "
          f"{1e3 * t_big:.1f} ms")
    benchmark.pedantic(best_split_vector, args=(V2, lam2, W2, feas2), rounds=3, iterations=1)


def test_per_client_solve_cost(benchmark) -> None:
    devs = ["iphone-15-pro-npu", "jetson-orin-nano-8gb", "laptop-rtx-4060"]
    rows = []
    for seed in range(3):
        p = Problem.default(seed=seed, clients=10, devices=devs, server="L4")
        solve(p, split_mode="per_client")  # warm-up
        t0, r0 = _median(lambda p=p: solve(p, bound=False), rounds=3)
        t1, r1 = _median(lambda p=p: solve(p, bound=False, split_mode="per_client"), rounds=3)
        assert r1.delay <= r0.delay * (1 + 1e-12)
        rows.append((seed, t0, t1, 1 - r1.delay / r0.delay))
    print()
    for seed, t0, t1, g in rows:
        print(f"seed {seed}: common {1e3 * t0:.0f} ms, per_client {1e3 * t1:.0f} ms "
              f"(ratio {t1 / t0:.2f}), gain {g:.3%}")
    p = Problem.default(seed=0, clients=10, devices=devs, server="L4")
    benchmark.pedantic(solve, args=(p,), kwargs={"bound": False, "split_mode": "per_client"},
                       rounds=3, iterations=1)
