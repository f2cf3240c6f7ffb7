"""The native bound where K = M (issue 20): every assignment is a perfect matching and
the square-link bound (:mod:`sfl_opt.kernels.matching`) is the optimum, certified from
below. Checked against the enumeration oracle (every assignment, exact power) on random
links over wide magnitudes (SNR from -60 dB to 120 dB, power caps binding or slack, the
spectral-efficiency cap ``max_se`` finite, binding or infinite) and on whole problems with
K = M = N (equal to the oracle) and K = M - 1 (below it), including the all-equal
high-SNR instance."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sfl_opt import solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.kernels import normalise
from sfl_opt.kernels.matching import assignment_lower_bound, square_link_bound
from sfl_opt.methods.exact import LinkArrays, native_lower_bound, square_bound
from sfl_opt.testing import enumerate_optimum, small_problem


def oracle(arr: LinkArrays) -> float:
    """Least deadline over every assignment of a square link (permutations), each by
    exact power control (with the link's spectral-efficiency cap)."""
    best = math.inf
    for perm in itertools.permutations(range(arr.M)):
        a = np.empty(arr.M, np.int64)
        a[list(perm)] = np.arange(arr.K)
        best = min(best, arr.exact(a)[0])
    return best


@st.composite
def square_links(draw, max_k: int = 5):
    """A random square link: SNR 10^U(-6, 12) per entry (-60 dB to 120 dB), or every
    entry above 60 dB; the spectral-efficiency cap ``lcap`` infinite, moderate (binding
    at high SNR) or tiny (binding nearly everywhere)."""
    K = draw(st.integers(1, max_k))
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    noise = 10 ** rng.uniform(-22, -18)
    bw = 10 ** rng.uniform(3, 7, K) if draw(st.booleans()) else np.full(K, 10 ** rng.uniform(3, 7))
    pmax = 10 ** rng.uniform(-3, 1, K)
    lo_db = draw(st.sampled_from([-60, 60]))
    snr = 10 ** rng.uniform(lo_db / 10, 12, (K, K))
    gain = snr * noise * bw[None, :] / pmax[:, None]
    la, inva = normalise(gain, noise)
    ptot = draw(st.sampled_from([math.inf, 0.3, 0.7])) * float(pmax.sum())
    c = rng.uniform(0, 2, K) if draw(st.booleans()) else np.zeros(K)
    lcap = draw(st.sampled_from([math.inf, 7.4, float(rng.uniform(0.05, 12))]))
    # at SNR ~ 1e-6 the kernels' rates (water levels 2^lw next to inva: cancellation)
    # and so the oracle's deadlines carry ~1e-9 relative rounding (measured against the
    # log1p closed form), far below the gap tolerance 1e-6
    tol = 1e-12 if lo_db > 0 else 1e-8
    return LinkArrays(la, inva, bw, pmax, ptot, c, float(10 ** rng.uniform(0, 8)), lcap), tol


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(square_links())
def test_square_bound_is_the_optimum(link):
    arr, tol = link
    opt = oracle(arr)
    lo = arr.cheap_bound()
    assert lo <= opt * (1 + tol)
    b = square_bound(arr, lo, opt * (1 + 1e-6))
    assert b <= opt * (1 + tol)  # valid (rounding aside)
    assert b >= opt * (1 - 1e-6)   # tight: the relaxation loses 11-16 % here


def test_square_bound_sees_the_spectral_efficiency_cap():
    """One client, one subchannel, the cap binding: without the cap the needed power is
    finite at any deadline, with it the deadline S / (bw lcap) is a hard floor. The bound
    must be that floor (it was the uncapped power bisection's, far below)."""
    bw, S, lcap = np.array([1e6]), 1e7, 2.0
    la, inva = normalise(np.array([[1e-6]]), 1e-20)  # 140 dB: the power is no limit
    arr = LinkArrays(la, inva, bw, np.array([1.0]), math.inf, np.zeros(1), S, lcap)
    floor = S / (bw[0] * lcap)
    assert oracle(arr) == pytest.approx(floor, rel=1e-12)
    b = square_bound(arr, 0.0, 10 * floor)
    assert floor * (1 - 1e-9) <= b <= floor * (1 + 1e-12)
    # the uncapped kernel call (lcap = inf) is ~ 4 % of the floor here (46 bit/s/Hz)
    assert square_link_bound(la, inva, bw, np.zeros(1), S, arr.pmax, math.inf, 0.0,
                             10 * floor, 1e-10) < 0.1 * floor


def test_square_bound_tiny_spectral_efficiency():
    """SNR -90 dB at full power (1e-9 bit/s/Hz): the power ``2^x - 1`` is computed with
    expm1 (``2 ** x - 1`` keeps 7 digits there); the bound is tight against the closed
    form ``max_k S / (bw log2(1 + p_max / (bw inva)))`` of both assignments (log1p)."""
    bw = np.array([1e6, 2e6])
    gain = np.array([[1e-12, 3e-12], [2e-12, 1e-12]])
    pmax = np.array([1e-12, 2e-12])
    la, inva = normalise(gain, 4e-21)
    S = 1e-3
    arr = LinkArrays(la, inva, bw, pmax, math.inf, np.zeros(2), S)

    def stage(a):  # a[k]: client k's subchannel
        return max(S * math.log(2) / (bw[m] * math.log1p(pmax[k] / (bw[m] * inva[k, m])))
                   for k, m in enumerate(a))

    opt = min(stage((0, 1)), stage((1, 0)))
    b = square_bound(arr, arr.cheap_bound(), 2 * opt)
    assert opt * (1 - 1e-6) <= b <= opt * (1 + 1e-12)


def test_assignment_lower_bound_against_brute_force():
    rng = np.random.default_rng(3)
    for R, F in [(1, 1), (2, 3), (3, 3), (4, 6), (5, 5)]:
        for _ in range(20):
            d = rng.exponential(size=(R, F)) * rng.choice([1e-6, 1, 1e6])
            best = min(sum(d[i, cols[i]] for i in range(R))
                       for cols in itertools.permutations(range(F), R))
            lb = assignment_lower_bound(d)
            assert lb <= best * (1 + 1e-12)
            assert lb >= best * (1 - 1e-9)
    assert assignment_lower_bound(np.zeros((3, 2))) == math.inf


@pytest.mark.parametrize("seed,p_total", [(0, 0.6), (1, 0.3), (2, math.inf), (3, 0.45)])
def test_native_bound_certifies_square_problems(seed, p_total):
    """K = M = N = 4: the native bound on the problem is the enumerated optimum (it
    was 11-16 % below it), so plain ``solve`` is certified when it finds it."""
    pr = small_problem(seed, K=4, M=4, N=4, p_total=p_total)
    opt = enumerate_optimum(pr).delay
    lb = native_lower_bound(prepare(pr))
    assert lb <= opt * (1 + 1e-12)
    assert lb >= opt * (1 - 1e-6)
    res = solve(pr)
    assert res.lower_bound <= opt * (1 + 1e-12)
    if res.delay <= opt * (1 + 1e-9):
        assert res.status == "optimal"


@pytest.mark.parametrize("seed", [0, 1])
def test_square_high_snr(seed):
    """Every gain 1e-7 (about 90 dB): all assignments tie; the bound is still valid and
    tight."""
    base = small_problem(seed, K=3, M=3, N=3, p_total=math.inf)
    pr = base.replace(gain_s=np.full((3, 3), 1e-7), gain_f=np.full((3, 3), 1e-7),
                      bw_s=np.full(3, 1e5), bw_f=np.full(3, 1e5), p_max=np.ones(3))
    opt = enumerate_optimum(pr).delay
    lb = native_lower_bound(prepare(pr))
    assert opt * (1 - 1e-6) <= lb <= opt * (1 + 1e-12)
    res = solve(pr, "exact")
    assert res.status == "optimal" and res.delay == pytest.approx(opt, rel=1e-9)


def _scaled(pr, gain_scale: float, max_se: float):
    return pr.replace(gain_s=pr.gain_s * gain_scale, gain_f=pr.gain_f * gain_scale,
                      max_se=max_se)


#: (gain scale, max_se): the default radio (cap 7.4 bit/s/Hz), SNR > 60 dB with the cap
#: binding, tiny SNR (-30 dB and less), plain Shannon at high SNR, a tiny cap
RADIOS = [(1.0, 7.4), (1e4, 7.4), (1e-6, 7.4), (1e4, math.inf), (1.0, math.inf), (1.0, 0.5)]


@pytest.mark.parametrize("gain_scale,max_se", RADIOS)
@pytest.mark.parametrize("seed", [4, 5])
def test_native_bound_is_the_optimum_at_k_equals_m(seed, gain_scale, max_se):
    """K = M = N = 4 across the radio space: the native bound equals the enumeration
    oracle (the links separate for a fixed pair and each square link's bound is its
    optimum), and ``exact`` certifies it."""
    pr = _scaled(small_problem(seed, K=4, M=4, N=4, p_total=[0.6, 0.3][seed % 2]),
                 gain_scale, max_se)
    opt = enumerate_optimum(pr).delay
    lb = native_lower_bound(prepare(pr))
    assert lb <= opt * (1 + 1e-12)
    assert lb >= opt * (1 - 1e-6)
    res = solve(pr, "exact")
    assert res.status == "optimal"
    assert res.delay == pytest.approx(opt, rel=1e-6)
    assert res.lower_bound <= opt * (1 + 1e-12)


@pytest.mark.parametrize("gain_scale,max_se", RADIOS)
def test_native_bound_valid_at_k_equals_m_minus_1(gain_scale, max_se):
    """K = M - 1 (one client owns two subchannels; the square-link bound does not
    apply): the bound stays below the oracle and ``exact`` reaches the oracle."""
    pr = _scaled(small_problem(6, K=3, M=4, N=4, p_total=0.45), gain_scale, max_se)
    opt = enumerate_optimum(pr).delay
    lb = native_lower_bound(prepare(pr))
    assert lb <= opt * (1 + 1e-12)
    res = solve(pr, "exact")
    assert res.status == "optimal"
    assert res.delay == pytest.approx(opt, rel=1e-6)
    assert res.lower_bound <= opt * (1 + 1e-12)


def test_square_allocated_downlink():
    """K = M = N = D: the allocated downlink is a third square stage link; the bound is
    still the optimum."""
    pr = small_problem(7, K=3, M=3, N=3, D=3, p_total=0.6)
    opt = enumerate_optimum(pr).delay
    lb = native_lower_bound(prepare(pr))
    assert opt * (1 - 1e-6) <= lb <= opt * (1 + 1e-12)
