"""Per-round drift-plus-penalty: efficient set choice against enumeration, decision
validity, limiting cases, validation."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfl_opt.errors import ValidationError
from sfl_opt.online import OnlineProblem, solve_round, split_bandwidth


@pytest.fixture(scope="module")
def p8() -> OnlineProblem:
    return OnlineProblem.default(seed=0, devices=8)


def _random_round(p: OnlineProblem, rng: np.random.Generator):
    g = p.draw_gains(rng)
    q = rng.exponential(1.0, size=p.K) * rng.choice([0.0, 0.3, 1.0, 10.0], size=p.K)
    V = 10 ** rng.uniform(0, 6)
    w = rng.uniform(0.05, 1.0)
    return g, q, V, w


def _objective_by_hand(p, g, q, V, w, d):
    """V w Ψ(N) + Σ Q E from the Shannon formula, written independently."""
    sched = d.scheduled
    b = d.bandwidth[sched]
    rate = b * np.log2(1 + p.power[sched] * g[sched] / (p.noise_psd * b))
    energy = p.compute_energy[sched] + p.power[sched] * p.bits_up / rate
    n = int(sched.sum())
    return V * w * float(p.psi(n)) + float(np.sum(q[sched] * energy))


def test_efficient_within_one_percent_of_exact_k8(p8):
    rng = np.random.default_rng(2024)
    gaps = []
    for _ in range(80):
        g, q, V, w = _random_round(p8, rng)
        fast = solve_round(p8, g, q, V, w)
        ref = solve_round(p8, g, q, V, w, exact=True)
        assert fast.objective >= ref.objective * (1 - 1e-9)  # enumeration is optimal
        gaps.append(fast.objective / ref.objective - 1)
    assert max(gaps) <= 0.01


@given(seed=st.integers(0, 2**31))
def test_efficient_within_one_percent_property(seed):
    p = OnlineProblem.default(seed=seed % 7, devices=8, bandwidth=10e6)
    g, q, V, w = _random_round(p, np.random.default_rng(seed))
    fast = solve_round(p, g, q, V, w)
    ref = solve_round(p, g, q, V, w, exact=True)
    assert fast.objective <= ref.objective * 1.01


@pytest.mark.parametrize("mode", ["per_device", "shared"])
def test_exact_matches_brute_force_over_sets(mode):
    """Enumeration kernel against itertools over subsets with the public split (with a
    shared server, each set size with its own minimum bandwidths)."""
    p = OnlineProblem.default(seed=5, devices=6, bandwidth=8e6, server_mode=mode,
                              server_flops=2e12 if mode == "shared" else 50e12)
    rng = np.random.default_rng(7)
    for _ in range(5):
        g, q, V, w = _random_round(p, rng)
        best = np.inf
        for n in range(p.K + 1):
            m = p.round_model(g, count=n)
            feas = np.flatnonzero(m.feasible)
            for combo in itertools.combinations(feas, n):
                idx = np.array(combo, dtype=int)
                if m.b_min[idx].sum() > p.bandwidth:
                    continue
                cost = V * w * float(p.psi(n))
                if n:
                    cost += split_bandwidth(q[idx], m.snr_bw[idx], m.bits[idx], m.power[idx],
                                            m.b_min[idx], p.bandwidth,
                                            compute_energy=m.compute_energy[idx]).cost
                best = min(best, cost)
        d = solve_round(p, g, q, V, w, exact=True)
        assert d.objective == pytest.approx(best, rel=1e-10)


@pytest.mark.parametrize("exact", [False, True])
def test_decision_is_valid_and_objective_is_consistent(p8, exact):
    rng = np.random.default_rng(11)
    for _ in range(10):
        g, q, V, w = _random_round(p8, rng)
        d = solve_round(p8, g, q, V, w, exact=exact)
        m = p8.round_model(g)
        assert d.scheduled.dtype == bool and d.scheduled.shape == (8,)
        assert d.bandwidth.sum() <= p8.bandwidth * (1 + 1e-9)
        assert (d.bandwidth[~d.scheduled] == 0).all()
        assert m.feasible[d.scheduled].all()
        assert (d.latency[d.scheduled] <= p8.deadline * (1 + 1e-9)).all()
        assert d.count == int(d.scheduled.sum())
        assert d.objective == pytest.approx(d.penalty_term + d.queue_term, rel=1e-12)
        assert d.objective == pytest.approx(_objective_by_hand(p8, g, q, V, w, d), rel=1e-9)
        assert d.psi == pytest.approx(float(p8.psi(d.count)))


@pytest.mark.parametrize("K", [8, 40])
def test_zero_queues_schedule_the_largest_set_that_fits(K):
    p = OnlineProblem.default(seed=2, devices=K, bandwidth=10e6)
    g = p.draw_gains(np.random.default_rng(3))
    m = p.round_model(g)
    need = np.sort(m.b_min[m.feasible])
    most = int(np.searchsorted(np.cumsum(need), p.bandwidth, side="right"))
    d = solve_round(p, g, np.zeros(K), V=1.0, weight=1.0)
    assert d.count == most  # Ψ strictly decreasing, energy free: max cardinality
    assert d.queue_term == 0.0


def test_v_zero_schedules_nobody(p8):
    g = p8.draw_gains(np.random.default_rng(4))
    for exact in (False, True):
        d = solve_round(p8, g, np.ones(8), V=0.0, weight=1.0, exact=exact)
        assert d.count == 0 and d.objective == 0.0


def test_huge_queue_excludes_that_device(p8):
    rng = np.random.default_rng(9)
    g = p8.draw_gains(rng)
    q = np.full(8, 0.01)
    q[3] = 1e9
    d = solve_round(p8, g, q, V=1e3, weight=1.0)
    assert not d.scheduled[3]


def test_deadline_infeasible_device_never_scheduled():
    p = OnlineProblem.default(seed=0, devices=6)
    p = p.replace(flops=np.array([1e3, *p.flops[1:]]))
    g = p.draw_gains(np.random.default_rng(0))
    for exact in (False, True):
        d = solve_round(p, g, np.zeros(6), V=1e6, weight=1.0, exact=exact)
        assert not d.scheduled[0]


def test_large_k_runs_and_is_valid():
    p = OnlineProblem.default(seed=1, devices=100, bandwidth=100e6)
    rng = np.random.default_rng(1)
    g, q, V, w = _random_round(p, rng)
    d = solve_round(p, g, q, V, w)
    assert d.bandwidth.sum() <= p.bandwidth * (1 + 1e-9)
    assert (d.latency[d.scheduled] <= p.deadline * (1 + 1e-9)).all()
    with pytest.raises(ValidationError, match="^exact:"):
        solve_round(p, g, q, V, w, exact=True)


def test_solve_round_validation(p8):
    g = p8.draw_gains(np.random.default_rng(0))
    q = np.zeros(8)
    with pytest.raises(ValueError, match="^queues:"):
        solve_round(p8, g, -np.ones(8), 1.0)
    with pytest.raises(ValueError, match="^queues:"):
        solve_round(p8, g, np.zeros(7), 1.0)
    with pytest.raises(ValueError, match="^V:"):
        solve_round(p8, g, q, -1.0)
    with pytest.raises(ValueError, match="^weight:"):
        solve_round(p8, g, q, 1.0, weight=float("nan"))
    with pytest.raises(ValueError, match="^gains:"):
        solve_round(p8, -g, q, 1.0)
    with pytest.raises(ValueError, match="^exact:"):
        solve_round(p8, g, q, 1.0, exact="yes")  # type: ignore[arg-type]


_PLAIN_SCRIPT = """
import json, numpy as np
from sfl_opt.online import OnlineProblem, solve_round
out = []
for mode in ("shared", "per_device"):
    p = OnlineProblem.default(seed=0, devices=6, server_mode=mode, server_flops=2e12)
    rng = np.random.default_rng(0)
    for i in range(3):
        g = p.draw_gains(rng); q = rng.exponential(1.0, size=6)
        for ex in (False, True):
            d = solve_round(p, g, q, 1e3, 1.0, exact=ex)
            out.append([d.objective, d.bandwidth.tolist()])
print(json.dumps(out))
"""


def test_kernels_agree_as_plain_python():
    """The Numba kernels (sfl_opt.kernels.online) give the same decisions with
    NUMBA_DISABLE_JIT=1, for both server modes."""
    import json
    import os
    import subprocess
    import sys

    runs = []
    for flag in ("1", "0"):
        env = dict(os.environ, NUMBA_DISABLE_JIT=flag)
        res = subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c",
                              _PLAIN_SCRIPT], env=env, capture_output=True, text=True,
                             timeout=600, check=True)
        runs.append(json.loads(res.stdout))
    for (obj_a, bw_a), (obj_b, bw_b) in zip(*runs, strict=True):
        assert obj_a == pytest.approx(obj_b, rel=1e-12)
        assert np.allclose(bw_a, bw_b, rtol=1e-9)
