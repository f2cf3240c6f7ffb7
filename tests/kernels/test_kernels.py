"""Numba kernels against independent computations (KKT, scipy, brute force).

The whole module also runs as plain Python (``NUMBA_DISABLE_JIT=1``) through
``test_pure_python_path``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq, minimize

from sfl_opt import evaluate
from sfl_opt import kernels as kn
from sfl_opt.engine.prepared import prepare
from sfl_opt.model.delay import pair_table
from sfl_opt.testing import best_link, small_problem

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"


# ------------------------------------------------------------ independent helpers
def wf_min_power(a: np.ndarray, bw: np.ndarray, rate: float) -> tuple[float, float]:
    """Sort-based water-filling (a = gain/N0): prefix of the strongest subchannels."""
    order = np.argsort(-a)
    a, bw = a[order], bw[order]
    for j in range(1, a.size + 1):
        lw = (rate - np.sum(bw[:j] * np.log2(a[:j]))) / np.sum(bw[:j])
        with np.errstate(over="ignore"):
            w = 2.0**lw
        if j == a.size or w <= 1.0 / a[j]:
            return float(np.sum(bw[:j] * (w - 1.0 / a[:j]))), w
    raise AssertionError


def rate_of(psd: np.ndarray, a: np.ndarray, bw: np.ndarray) -> float:
    return float(np.sum(bw * np.log2(1 + psd * a)))


arrays = st.integers(1, 6).flatmap(lambda n: st.tuples(
    st.lists(st.floats(1e6, 1e12), min_size=n, max_size=n),
    st.lists(st.floats(1e5, 2e6), min_size=n, max_size=n)))


# ------------------------------------------------------------------ water-filling
@given(arrays, st.floats(1e4, 5e7))
def test_min_power_kkt_and_sorted_reference(ab, rate) -> None:
    a = np.array(ab[0])
    bw = np.array(ab[1])
    active = np.empty(a.size, dtype=np.bool_)
    p, w = kn.min_power_for_rate(np.log2(a), 1 / a, bw, a.size, rate, active)
    psd = np.maximum(w - 1 / a, 0)
    # KKT: rate met, active subchannels share a level, inactive ones lie above it
    assert rate_of(psd, a, bw) == pytest.approx(rate, rel=1e-9)
    assert np.all((psd > 0) | (1 / a >= w * (1 - 1e-12)))
    assert p == pytest.approx(float(np.sum(psd * bw)), rel=1e-12)
    p_ref, w_ref = wf_min_power(a, bw, rate)
    assert p == pytest.approx(p_ref, rel=1e-9)


def test_min_power_brute_force_scipy() -> None:
    rng = np.random.default_rng(1)
    for _ in range(20):
        n = rng.integers(1, 5)
        a = 10 ** rng.uniform(6, 10, n)
        bw = rng.uniform(0.5e6, 1.5e6, n)
        rate = rng.uniform(1e6, 2e7)
        active = np.empty(n, dtype=np.bool_)
        p, _ = kn.min_power_for_rate(np.log2(a), 1 / a, bw, n, rate, active)
        # power per subchannel x_m (W) -> rate bw log2(1 + x a / bw); minimise sum x
        scale = p
        cons = {"type": "ineq",
                "fun": lambda x, bw=bw, scale=scale, a=a, rate=rate:
                np.sum(bw * np.log2(1 + x * scale * a / bw)) / rate - 1}
        best = np.inf
        for x0 in (np.full(n, 1.0 / n), rng.dirichlet(np.ones(n)), np.eye(n)[0] + 0.01):
            res = minimize(lambda x: x.sum(), x0, constraints=[cons], bounds=[(0, None)] * n,
                           method="SLSQP", options={"ftol": 1e-12, "maxiter": 500})
            if res.success and cons["fun"](res.x) > -1e-7:
                best = min(best, res.x.sum() * scale)
        assert p <= best * (1 + 1e-6)
        assert p >= best * (1 - 1e-4)


def test_min_power_zero_rate_and_overflow() -> None:
    active = np.empty(2, dtype=np.bool_)
    la = np.log2(np.array([1e9, 1e8]))
    inv = 1 / np.array([1e9, 1e8])
    bw = np.array([1e6, 1e6])
    assert kn.min_power_for_rate(la, inv, bw, 2, 0.0, active) == (0.0, 0.0)
    p, _ = kn.min_power_for_rate(la, inv, bw, 2, 1e12, active)
    assert np.isinf(p)


@given(arrays, st.floats(1e-4, 2.0))
def test_max_rate_matches_level_root(ab, power) -> None:
    a = np.array(ab[0])
    bw = np.array(ab[1])
    active = np.empty(a.size, dtype=np.bool_)
    r, w = kn.max_rate_for_power(np.log2(a), 1 / a, bw, a.size, power, active)
    w_ref = brentq(lambda x: np.sum(bw * np.maximum(x - 1 / a, 0)) - power, 0,
                   2 * (power / bw.min() + (1 / a).max()), xtol=1e-30, rtol=1e-14)
    assert w == pytest.approx(w_ref, rel=1e-9)
    assert r == pytest.approx(rate_of(np.maximum(w_ref - 1 / a, 0), a, bw), rel=1e-9)
    # and min power for that rate gives back the power (the two are inverse)
    p, _ = kn.min_power_for_rate(np.log2(a), 1 / a, bw, a.size, r, active)
    assert p == pytest.approx(power, rel=1e-8)


# ------------------------------------------------------------------ power control
def reference_power_control(a, bw, assign, c, S, pmax, ptot):
    """Independent bisection (brentq) on max(P_k/pmax_k, sum P/ptot) = 1."""
    K = c.size

    def need(t):
        return np.array([wf_min_power(a[k, assign == k], bw[assign == k], S / (t - c[k]))[0]
                         for k in range(K)])

    def excess(t):
        p = need(t)
        return max(np.max(p / pmax), p.sum() / ptot if np.isfinite(ptot) else 0) - 1

    lo = np.max(c) * (1 + 1e-15) + 1e-300
    hi = max(np.max(c), 1e-12) * 2 + 1.0
    while excess(hi) > 0:
        hi *= 2
    # excess is +inf near max(c); move lo up until finite
    return brentq(lambda t: excess(t) if np.isfinite(excess(t)) else 1e300, lo, hi,
                  xtol=1e-15, rtol=1e-13, maxiter=500)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("ptot", [0.3, 0.6, np.inf])
def test_power_control_matches_reference(seed, ptot) -> None:
    p = small_problem(seed, K=3, M=7)
    rng = np.random.default_rng(seed)
    assign = np.concatenate([np.arange(3), rng.integers(0, 3, 4)]).astype(np.int64)
    c = rng.uniform(0, 0.5, 3)
    S = 2e6
    a = p.gain_s / p.noise_psd
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    t, psd, status, _ = kn.power_control(la, inva, p.bw_s, assign, c, S, p.p_max, ptot, 1e-13)
    assert status == 0
    t_ref = reference_power_control(a, p.bw_s, assign, c, S, p.p_max, ptot)
    assert t == pytest.approx(t_ref, rel=1e-9)
    # the psd achieves t and respects every cap
    rate = np.bincount(assign, weights=p.bw_s * np.log2(1 + psd * a[assign, np.arange(7)]),
                       minlength=3)
    assert np.max(c + S / rate) == pytest.approx(t, rel=1e-9)
    power = np.bincount(assign, weights=psd * p.bw_s, minlength=3)
    assert np.all(power <= p.p_max * (1 + 1e-12))
    assert power.sum() <= ptot * (1 + 1e-12)


def test_power_control_missing_client() -> None:
    p = small_problem(0)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    t, psd, status, _ = kn.power_control(la, inva, p.bw_s, np.zeros(p.M, np.int64),
                                         np.zeros(p.K), 1e6, p.p_max, 1.0, 1e-12)
    assert status == 1 and np.isinf(t)


def test_client_needs_consistent_with_power_control() -> None:
    p = small_problem(2, K=3, M=6)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    assign = np.array([0, 1, 2, 0, 1, 2], np.int64)
    c = np.array([0.1, 0.2, 0.05])
    t, psd, _, _ = kn.power_control(la, inva, p.bw_s, assign, c, 3e6, p.p_max, p.p_total_s,
                                    1e-13)
    need = kn.client_needs(la, inva, p.bw_s, assign, c, 3e6, t)
    power = np.bincount(assign, weights=psd * p.bw_s, minlength=3)
    assert need == pytest.approx(power, rel=1e-9)
    assert max(np.max(need / p.p_max), need.sum() / p.p_total_s) == pytest.approx(1, rel=1e-9)


# ------------------------------------------------------------------------ greedy
def test_greedy_straggler_first_by_hand() -> None:
    # two clients, equal everything except client 1 is far slower (c) -> it is the
    # straggler: it picks first (its best subchannel 0) and gets every extra subchannel
    # while it stays the slowest.
    a = np.array([[4e9, 2e9, 1e9, 1e9], [8e9, 1e9, 1e9, 1e9]])
    la, inva = np.log2(a), 1 / a
    bw = np.full(4, 1e6)
    c = np.array([0.0, 10.0])
    assign = kn.greedy_assign(la, inva, bw, c, 1e7, np.array([1.0, 1.0]), np.inf,
                              kn.gain_order(la))
    assert assign[0] == 1  # the straggler took its best subchannel first
    assert assign[1] == 0  # client 0 then took its best free one
    assert np.all(assign[2:] == 1)  # the straggler stays slowest and takes the rest


@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(0, 6))
def test_greedy_gives_everyone_a_subchannel(seed, K, extra) -> None:
    rng = np.random.default_rng(seed)
    M = K + extra
    a = 10 ** rng.uniform(6, 11, (K, M))
    la = np.log2(a)
    assign = kn.greedy_assign(la, 1 / a, rng.uniform(0.5e6, 2e6, M),
                              rng.uniform(0, 1, K), 1e6, np.full(K, 0.2), 0.5, kn.gain_order(la))
    assert assign.min() >= 0 and assign.max() < K
    assert np.all(np.bincount(assign, minlength=K) >= 1)


# ------------------------------------------------------------------- local search
@pytest.mark.parametrize("seed", range(6))
def test_local_search_reaches_a_move_swap_local_optimum(seed) -> None:
    K, M = (3, 6) if seed < 3 else (4, 9)
    p = small_problem(seed, K=K, M=M, p_total=[0.3, 0.6, np.inf][seed % 3])
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    c = np.random.default_rng(seed).uniform(0, 0.3, K)
    S = 4e6
    g = kn.greedy_assign(la, inva, p.bw_s, c, S, p.p_max, p.p_total_s, kn.gain_order(la))
    t0, _, _, _ = kn.power_control(la, inva, p.bw_s, g, c, S, p.p_max, p.p_total_s, 1e-12)
    a, t, psd, _ = kn.local_search(la, inva, p.bw_s, g, c, S, p.p_max, p.p_total_s, 1e-12,
                                   1000, 1e-9)
    assert t <= t0 * (1 + 1e-12)
    assert np.all(np.bincount(a, minlength=K) >= 1)
    assert t == kn.power_control(la, inva, p.bw_s, a, c, S, p.p_max, p.p_total_s, 1e-12)[0]

    def t_of(b):
        return kn.power_control(la, inva, p.bw_s, b, c, S, p.p_max, p.p_total_s, 1e-12)[0]

    for m in range(M):  # no single move or swap improves by more than the tolerance
        for j in range(K):
            b = a.copy()
            b[m] = j
            if np.all(np.bincount(b, minlength=K) >= 1):
                assert t_of(b) >= t * (1 - 1e-7)
        for m2 in range(M):
            b = a.copy()
            b[m], b[m2] = b[m2], b[m]
            assert t_of(b) >= t * (1 - 1e-7)


@pytest.mark.parametrize("seed", range(8))
def test_partition_optimum_equals_enumeration(seed) -> None:
    """The subset DP against every assignment, over 80 dB of SNR, unequal bandwidths and
    a total cap that binds or not."""
    rng = np.random.default_rng([7, seed])
    K = 2 + seed % 2
    M = K + 1 + seed % 3
    gain = 10.0 ** rng.uniform(-13, -5, size=(K, 1)) * rng.exponential(1.0, size=(K, M))
    la, inva = kn.normalise(gain, 4e-21)
    bw = rng.uniform(1e5, 1e6, M)
    pmax = rng.uniform(0.05, 0.5, K)
    ptot = [np.inf, 0.3 * pmax.sum(), 0.7 * pmax.sum()][seed % 3]
    c = rng.uniform(0, 0.3, K)
    S = 1e6
    t_opt, _, _ = best_link(la, inva, bw, c, S, pmax, ptot, K)
    a, t, psd = kn.partition_optimum(la, inva, bw, c, S, pmax, ptot, 1e-12, np.inf)
    assert np.all(np.bincount(a, minlength=K) >= 1)
    assert t == pytest.approx(t_opt, rel=1e-9)
    assert t == kn.power_control(la, inva, bw, a, c, S, pmax, ptot, 1e-12)[0]
    # refine_assign takes this exact path on a small link, whatever the start
    start = (np.arange(M) % K).astype(np.int64)
    a2, t2, _, _ = kn.refine_assign(la, inva, bw, start, c, S, pmax, ptot, 1e-12, 1000, 1e-9)
    assert kn.partition_is_cheap(K, M)
    assert t2 == pytest.approx(t_opt, rel=1e-9)


def test_perturb_search_deterministic_and_no_worse() -> None:
    p = small_problem(5, K=3, M=12)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    c = np.array([0.1, 0.3, 0.2])
    g = kn.greedy_assign(la, inva, p.bw_s, c, 4e6, p.p_max, p.p_total_s, kn.gain_order(la))
    _, t_ls, _, _ = kn.refine_assign(la, inva, p.bw_s, g, c, 4e6, p.p_max, p.p_total_s, 1e-12,
                                     1000, 1e-9)
    rand = np.random.default_rng(0).random((10, 6))
    out1 = kn.perturb_search(la, inva, p.bw_s, g, c, 4e6, p.p_max, p.p_total_s, 1e-12, 1000,
                             1e-9, rand, 3)
    out2 = kn.perturb_search(la, inva, p.bw_s, g, c, 4e6, p.p_max, p.p_total_s, 1e-12, 1000,
                             1e-9, rand, 3)
    assert np.array_equal(out1[0], out2[0]) and out1[1] == out2[1]
    assert out1[1] <= t_ls * (1 + 1e-12)


# -------------------------------------------------------------- exhaustive search
@pytest.mark.parametrize("seed", range(4))
def test_search_pairs_equals_brute_force(seed) -> None:
    p = small_problem(seed)
    ctx = prepare(p)
    rng = np.random.default_rng(seed)
    a_s = np.concatenate([np.arange(p.K), rng.integers(0, p.K, p.M - p.K)]).astype(np.int64)
    a_f = np.concatenate([np.arange(p.K), rng.integers(0, p.K, p.N - p.K)]).astype(np.int64)
    la_f, inva_f = kn.normalise(p.gain_f, p.noise_psd)
    lcap = p.se_cap  # the default scenario's spectral-efficiency cap
    tf, psd_f, _, _ = kn.power_control(la_f, inva_f, p.bw_f, a_f, np.zeros(p.K), 1.0, p.p_max,
                                       p.p_total_f, 1e-13, lcap)
    totals, _ = kn.search_pairs(*ctx.link("s").arrays()[:2], p.bw_s, a_s, p.p_max, p.p_total_s,
                                p.client_flops, ctx.tab.w_client_fwd, ctx.tab.s_up,
                                ctx.tab.rounds, ctx.fixed_iter, ctx.fixed_round(tf),
                                float(p.local_iters), 1e-13, lcap)
    tab = pair_table(p)
    brute = []
    for i in range(len(tab)):
        c = tab.w_client_fwd[i] / p.client_flops
        _, psd, _, _ = kn.power_control(ctx.link("s").la, ctx.link("s").inva, p.bw_s, a_s, c,
                                        float(tab.s_up[i]), p.p_max, p.p_total_s, 1e-13, lcap)
        brute.append(evaluate(p, int(tab.split[i]), int(tab.rank[i]), a_s, psd, a_f,
                              psd_f).total)
    assert totals == pytest.approx(np.array(brute), rel=1e-9)
    assert int(np.argmin(totals)) == int(np.argmin(brute))


# ------------------------------------------------------------------------- bounds
@pytest.mark.parametrize("seed", range(6))
def test_stage_lower_bound_below_enumerated_optimum(seed) -> None:
    p = small_problem(seed, K=3, M=5)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    rall, rsum = kn.link_rate_bounds(la, inva, p.bw_s, p.p_max, p.p_total_s)
    c = np.random.default_rng(seed).uniform(0, 0.2, 3)
    lb = kn.stage_lower_bound(c, 3e6, rall, rsum, 1e-13)
    t_opt, _, _ = best_link(la, inva, p.bw_s, c, 3e6, p.p_max, p.p_total_s, 3)
    assert lb <= t_opt * (1 + 1e-12)
    assert lb > np.max(c)


# ------------------------------------------------------------- pure-Python path
@pytest.mark.skipif(JIT_DISABLED, reason="already running without the JIT")
@pytest.mark.slow
def test_pure_python_path(rerun_without_jit) -> None:
    """Run this module again with NUMBA_DISABLE_JIT=1 (plain Python kernels)."""
    rerun_without_jit(__file__, "-k", "not pure_python", "--hypothesis-seed=0",
                      HYPOTHESIS_PROFILE="default")


_AGREE_SNIPPET = r"""
import json, sys
import numpy as np
from sfl_opt.testing import small_problem
from sfl_opt import kernels as kn
out = []
for seed, (K, M, ptot) in enumerate([(3, 5, 0.3), (3, 6, np.inf), (4, 12, 0.6), (5, 20, 0.6),
                                      (4, 16, np.inf)]):
    p = small_problem(seed, K=K, M=M, N=M, p_total=ptot)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    c = np.random.default_rng(seed).uniform(0, 0.3, K)
    g = kn.greedy_assign(la, inva, p.bw_s, c, 4e6, p.p_max, p.p_total_s, kn.gain_order(la))
    a, t, _, mv = kn.refine_assign(la, inva, p.bw_s, g, c, 4e6, p.p_max, p.p_total_s, 1e-12,
                                   1000, 1e-9)
    rand = np.random.default_rng(seed).random((6, 6))
    a2, t2, _, _ = kn.perturb_search(la, inva, p.bw_s, g, c, 4e6, p.p_max, p.p_total_s,
                                     1e-12, 1000, 1e-9, rand, 2)
    ga, gt, _, _ = kn.greedy.greedy_pairs(la, inva, p.bw_s, np.stack([c, 0.5 * c]),
                                          np.array([4e6, 2e6]), p.p_max, p.p_total_s,
                                          kn.gain_order(la), 1e-12)
    out.append([g.tolist(), a.tolist(), t, int(mv), a2.tolist(), t2, ga.tolist(),
                gt.tolist()])
print(json.dumps(out))
"""


def _agree_run(disable_jit: bool) -> list:
    env = dict(os.environ)
    env.pop("NUMBA_DISABLE_JIT", None)
    if disable_jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    here = Path(__file__).resolve().parents[2]
    proc = subprocess.run([sys.executable, "-c", _AGREE_SNIPPET], cwd=here, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(JIT_DISABLED, reason="compares against the JIT")
@pytest.mark.slow
def test_compiled_and_pure_python_give_the_same_answers() -> None:
    """Greedy (one pair and many), the subset DP, the local search and the kicks: the
    same assignments and deadlines compiled and as plain Python."""
    jit, py = _agree_run(False), _agree_run(True)
    assert len(jit) == len(py)
    for a, b in zip(jit, py, strict=True):
        assert a[0] == b[0] and a[1] == b[1] and a[3] == b[3] and a[4] == b[4]
        assert a[2] == pytest.approx(b[2], rel=1e-12)
        assert a[5] == pytest.approx(b[5], rel=1e-12)
        assert a[6] == b[6] and a[7] == pytest.approx(b[7], rel=1e-12)  # greedy_pairs
