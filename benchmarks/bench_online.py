"""Speed of the online per-round decisions (split federated LoRA): ``pytest benchmarks``.

Target: a per-round decision for K = 100 devices in milliseconds. The timings in
docs/online.md §5 are for ``server_mode="per_device"`` (one solve per round);
``test_solve_round_k100_shared`` times the shared server (a few capped solves).
"""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt.online import OnlineProblem, solve_round, split_bandwidth


def _round(K: int, seed: int = 0, bandwidth: float | None = None,
           server_mode: str = "per_device"):
    p = OnlineProblem.default(seed=seed, devices=K, server_mode=server_mode,
                              bandwidth=bandwidth if bandwidth is not None else K * 1e6)
    rng = np.random.default_rng(seed)
    g = p.draw_gains(rng)
    q = rng.exponential(0.5, size=K)
    return p, g, q


@pytest.mark.parametrize("V", [1e3, 1e4, 1e5])
def test_solve_round_k100(benchmark, V):
    p, g, q = _round(100)
    solve_round(p, g, q, V, 1.0)  # compile
    d = benchmark(solve_round, p, g, q, V, 1.0)
    assert d.bandwidth.sum() <= p.bandwidth * (1 + 1e-9)
    benchmark.extra_info["scheduled"] = d.count


@pytest.mark.parametrize("V", [1e3, 1e4, 1e5])
def test_solve_round_k100_shared(benchmark, V):
    p, g, q = _round(100, server_mode="shared")
    solve_round(p, g, q, V, 1.0)  # compile
    d = benchmark(solve_round, p, g, q, V, 1.0)
    assert d.latency.max() <= p.deadline * (1 + 1e-9)
    benchmark.extra_info["scheduled"] = d.count


def test_solve_round_k20(benchmark):
    p, g, q = _round(20)
    solve_round(p, g, q, 1e4, 1.0)
    benchmark(solve_round, p, g, q, 1e4, 1.0)


def test_exact_enumeration_k12(benchmark):
    p, g, q = _round(12, bandwidth=10e6)
    solve_round(p, g, q, 1e4, 1.0, exact=True)
    benchmark.pedantic(solve_round, args=(p, g, q, 1e4, 1.0), kwargs={"exact": True},
                       rounds=3, iterations=1)


def test_split_bandwidth_k100(benchmark):
    p, g, q = _round(150)
    m = p.round_model(g)
    idx = np.flatnonzero(m.feasible)
    idx = idx[np.argsort(m.b_min[idx])]
    idx = idx[np.cumsum(m.b_min[idx]) <= 0.8 * p.bandwidth][:100]
    assert idx.size == 100
    args = (q[idx], m.snr_bw[idx], m.bits[idx], m.power[idx], m.b_min[idx], p.bandwidth)
    split_bandwidth(*args)
    res = benchmark(split_bandwidth, *args)
    assert res.bandwidth.sum() == pytest.approx(p.bandwidth)
