"""Exact bandwidth split and minimum bandwidth, against cvxpy, root finding and KKT."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.optimize import brentq
from scipy.special import lambertw

from sfl_opt.online import OnlineProblem, min_bandwidth, split_bandwidth


def _rate(b, a):
    return b * np.log1p(a / b) / np.log(2.0)


def _cost(w, a, s, p, b):
    return float(np.sum(w * p * s / _rate(b, a)))


# ------------------------------------------------------------------ b_min
@given(log_a=st.floats(4.0, 12.0), c=st.floats(1e-6, 1.0 - 1e-6))
def test_min_bandwidth_solves_the_rate_equation(log_a, c):
    a = 10.0**log_a
    need = c * a / np.log(2)  # required rate, bit/s (below the cap a / ln 2)
    bits = 1e6
    b = float(min_bandwidth(bits, bits / need, a))
    # independent: bracketed root of the rate equation in log-bandwidth
    f = lambda lb: _rate(np.exp(lb), a) / need - 1.0  # noqa: E731
    want = np.exp(brentq(f, np.log(a) - 25, np.log(a) + 20, xtol=1e-14, rtol=1e-14))
    assert b == pytest.approx(want, rel=1e-6)


@given(c=st.floats(0.01, 0.9))
def test_min_bandwidth_matches_the_lambert_w_closed_form(c):
    a = 3e9
    x = -lambertw(-c * np.exp(-c), k=-1).real / c - 1.0
    b = float(min_bandwidth(1.0, np.log(2) / (c * a), a))
    assert b == pytest.approx(a / x, rel=1e-10)


def test_min_bandwidth_infeasible_cases():
    out = min_bandwidth(np.array([1e6, 1e6, 1e6]), np.array([0.0, -1.0, 1.0]),
                        np.array([1e9, 1e9, 1e5]))
    assert np.isinf(out).all()  # no time left twice; rate 1e6 > cap 1e5/ln2


# ---------------------------------------------------------------- the split
def _instance(seed: int, n: int):
    p = OnlineProblem.default(seed=seed, devices=n + 6, bandwidth=20e6)
    rng = np.random.default_rng(seed)
    for _ in range(50):
        m = p.round_model(p.draw_gains(rng))
        idx = np.flatnonzero(m.feasible)
        idx = idx[np.argsort(m.b_min[idx])][:n]
        if idx.size == n and m.b_min[idx].sum() < 0.9 * p.bandwidth:
            break
    else:
        raise AssertionError("no instance with n feasible devices")
    w = rng.exponential(1.0, size=n) * rng.choice([0.1, 1.0, 10.0], size=n)
    return w, m.snr_bw[idx], m.bits[idx], m.power[idx], m.b_min[idx], p.bandwidth


def _cvxpy_split(w, a, s, p, bmin, total):
    cp = pytest.importorskip("cvxpy")
    u = 1e6  # work in MHz and Mbit/s for a well-scaled conic program
    b = cp.Variable(a.size)
    r = cp.Variable(a.size)
    cons = [cp.sum(b) <= total / u, b >= bmin / u,
            r <= -cp.rel_entr(b, b + a / u) / np.log(2)]
    obj = cp.sum(cp.multiply(w * p * s / u, cp.inv_pos(r)))
    prob = cp.Problem(cp.Minimize(obj), cons)
    prob.solve(solver="CLARABEL")
    assert prob.status == "optimal"
    return b.value * u, prob.value


@pytest.mark.parametrize("seed", range(6))
def test_split_matches_cvxpy(seed):
    w, a, s, p, bmin, total = _instance(seed, 3 + seed)
    res = split_bandwidth(w, a, s, p, bmin, total)
    b_cvx, val_cvx = _cvxpy_split(w, a, s, p, bmin, total)
    assert res.cost == pytest.approx(_cost(w, a, s, p, res.bandwidth), rel=1e-12)
    # the exact split is at least as good as the conic solver, and within its tolerance
    assert res.cost <= _cost(w, a, s, p, np.maximum(b_cvx, bmin)) * (1 + 1e-9)
    assert res.cost == pytest.approx(val_cvx, rel=1e-6)
    assert np.allclose(res.bandwidth, b_cvx, atol=1e-4 * total)


@given(seed=st.integers(0, 10_000), n=st.integers(1, 10))
def test_split_satisfies_kkt(seed, n):
    w, a, s, p, bmin, total = _instance(seed % 50, n)
    res = split_bandwidth(w, a, s, p, bmin, total)
    b = res.bandwidth
    assert b.sum() == pytest.approx(total, rel=1e-10)
    assert (b >= bmin * (1 - 1e-12)).all()
    # marginal by central finite differences of the energy (independent of the kernel)
    h = 1e-4 * b
    marg = w * (p * s / _rate(b - h, a) - p * s / _rate(b + h, a)) / (2 * h)
    interior = b > bmin * (1 + 1e-6)
    assert interior.any()
    assert np.allclose(marg[interior], res.price, rtol=1e-4)
    assert (marg[~interior] <= res.price * (1 + 1e-4)).all()


@given(seed=st.integers(0, 10_000), frac=st.floats(0.01, 0.5))
def test_split_beats_any_pairwise_transfer(seed, frac):
    w, a, s, p, bmin, total = _instance(seed % 50, 4)
    res = split_bandwidth(w, a, s, p, bmin, total)
    best = res.cost
    for i in range(4):
        for j in range(4):
            if i == j:
                continue
            b = res.bandwidth.copy()
            move = frac * (b[i] - bmin[i])
            b[i] -= move
            b[j] += move
            assert _cost(w, a, s, p, b) >= best * (1 - 1e-12)


def test_zero_weight_tie_rule():
    w, a, s, p, bmin, total = _instance(1, 4)
    w = w.copy()
    w[1] = 0.0
    res = split_bandwidth(w, a, s, p, bmin, total)
    assert res.bandwidth[1] == bmin[1]
    assert res.bandwidth.sum() == pytest.approx(total)
    zero = split_bandwidth(np.zeros(4), a, s, p, bmin, total)
    spare = (total - bmin.sum()) / 4
    assert np.allclose(zero.bandwidth, bmin + spare)
    assert zero.price == 0.0 and zero.cost == 0.0


def test_compute_energy_only_shifts_the_cost():
    w, a, s, p, bmin, total = _instance(2, 3)
    e = np.array([0.1, 0.2, 0.3])
    r0 = split_bandwidth(w, a, s, p, bmin, total)
    r1 = split_bandwidth(w, a, s, p, bmin, total, compute_energy=e)
    assert np.allclose(r0.bandwidth, r1.bandwidth)
    assert r1.cost == pytest.approx(r0.cost + float(np.sum(w * e)))


def test_split_validation():
    w, a, s, p, bmin, total = _instance(0, 3)
    with pytest.raises(ValueError, match="^b_min:"):
        split_bandwidth(w, a, s, p, bmin * 0 + total, total)
    with pytest.raises(ValueError, match="^weight:"):
        split_bandwidth(-w, a, s, p, bmin, total)
    with pytest.raises(ValueError, match="^snr_bw:"):
        split_bandwidth(w, a[:2], s, p, bmin, total)
    with pytest.raises(ValueError, match="^bits:"):
        split_bandwidth(w, a, 0 * s, p, bmin, total)
    with pytest.raises(ValueError, match="^power:"):
        split_bandwidth(w, a, s, -p, bmin, total)
    with pytest.raises(ValueError, match="^total:"):
        split_bandwidth(w, a, s, p, bmin, 0.0)
    with pytest.raises(ValueError, match="^compute_energy:"):
        split_bandwidth(w, a, s, p, bmin, total, compute_energy=-np.ones(3))
