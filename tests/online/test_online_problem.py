"""OnlineProblem: payloads, convergence penalty, channel draws, round model, validation."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from sfl_opt import Workload
from sfl_opt.errors import ValidationError
from sfl_opt.online import OnlineProblem


@pytest.fixture(scope="module")
def prob() -> OnlineProblem:
    return OnlineProblem.default(seed=0, devices=20)


def test_default_shapes_and_immutability(prob):
    assert prob.K == 20
    assert prob.positions.shape == (20, 2)
    for name in ("shadowing_db", "power", "flops", "kappa", "energy_budget"):
        arr = getattr(prob, name)
        assert arr.shape == (20,)
        with pytest.raises(ValueError):
            arr[0] = 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        prob.bandwidth = 1.0  # type: ignore[misc]
    d = prob.distances
    assert (d >= 50 - 1e-9).all() and (d <= 500 + 1e-9).all()


def test_default_is_reproducible():
    a = OnlineProblem.default(seed=3, devices=7)
    b = OnlineProblem.default(seed=3, devices=7)
    c = OnlineProblem.default(seed=4, devices=7)
    assert np.array_equal(a.positions, b.positions) and np.array_equal(a.flops, b.flops)
    assert not np.array_equal(a.positions, c.positions)


def test_payloads_from_the_split_by_hand():
    # seq 128, hidden 768, 16-bit activations, batch 4, 2 iterations, 3 classes, 32-bit head
    p = OnlineProblem.default(seed=0, devices=3, seq=128, hidden=768, batch=4, local_iters=2,
                              classes=3)
    act = 128 * 768 * 16
    head = (768 * 3 + 3) * 32
    assert p.bits_up == 2 * 4 * (act + act) + head
    assert p.bits_down == 2 * 4 * act
    # device: embedding lookup s*d + head fwd and bwd 2*s*d*C each (per sample)
    assert p.device_flop == pytest.approx(2 * 4 * (128 * 768 + 4 * 128 * 768 * 3))
    w = p.workload
    per = np.sum(w.fwd + w.bwd) + p.rank * np.sum(w.fwd_rank + w.bwd_rank)
    assert p.server_flop == pytest.approx(2 * 4 * per)
    assert np.allclose(p.compute_energy, p.kappa * p.device_flop * p.flops**2)


def test_psi_formula_and_monotone(prob):
    K, L, eta, mu = prob.K, prob.smoothness, prob.learning_rate, prob.pl_constant
    s2, d2, b = prob.grad_variance, prob.dissimilarity, prob.batch
    for n in (1, 2, 7, K):
        want = L * eta**2 / 2 * (s2 / (b * n) + d2 * (K - n) / (n * (K - 1)))
        assert prob.psi(n) == pytest.approx(want, rel=1e-12)
    assert prob.psi(0) == pytest.approx(mu * eta * prob.initial_gap)
    table = prob.psi_table
    assert table.shape == (K + 1,)
    assert (np.diff(table) < 0).all()
    with pytest.raises(ValidationError, match="^n:"):
        prob.psi(K + 1)


def test_weights_and_bound_match_the_recursion(prob):
    rng = np.random.default_rng(0)
    counts = rng.integers(0, prob.K + 1, size=50)
    w = prob.weights(50)
    assert w[-1] == 1.0
    assert np.allclose(w[:-1] / w[1:], prob.contraction)
    gap = prob.initial_gap
    for n in counts:  # the one-round bound, unrolled by hand
        gap = prob.contraction * gap + float(prob.psi(int(n)))
    assert prob.bound(counts) == pytest.approx(gap, rel=1e-12)


def test_draw_gains_mean_and_reproducible(prob):
    g1 = prob.draw_gains(np.random.default_rng(5))
    g2 = prob.draw_gains(np.random.default_rng(5))
    assert np.array_equal(g1, g2) and g1.shape == (prob.K,) and (g1 > 0).all()
    rng = np.random.default_rng(1)
    draws = np.array([prob.draw_gains(rng) for _ in range(4000)])
    # Rayleigh block fading: E|h|^2 = 1, std of the mean ~ 1/sqrt(4000) = 1.6%
    assert np.allclose(draws.mean(axis=0) / prob.mean_gain, 1.0, atol=0.08)
    # path loss 128.1 + 37.6 log10(d/km) with the device's shadowing
    pl = 128.1 + 37.6 * np.log10(prob.distances / 1000.0) + prob.shadowing_db
    assert np.allclose(prob.mean_gain, 10 ** (-pl / 10), rtol=1e-12)


def test_round_model_bmin_meets_deadline_exactly(prob):
    m = prob.round_model(prob.draw_gains(np.random.default_rng(2)))
    ok = m.feasible
    assert ok.any()
    b = m.b_min[ok]
    # rate from the Shannon formula, written out independently
    a = prob.power[ok] * prob.draw_gains(np.random.default_rng(2))[ok] / prob.noise_psd
    rate = b * np.log2(1 + a / b)
    lat = m.fixed_time[ok] + prob.bits_up / rate
    assert np.allclose(lat, prob.deadline, rtol=1e-9)
    assert (b <= prob.bandwidth).all()


def test_round_model_marks_infeasible_devices():
    p = OnlineProblem.default(seed=1, devices=4)
    slow = p.replace(flops=np.array([1e3, *p.flops[1:]]))  # compute alone >> deadline
    m = slow.round_model(np.full(4, 1e-10))
    assert not m.feasible[0] and np.isinf(m.b_min[0])
    weak = p.round_model(np.array([1e-22, 1e-10, 1e-10, 1e-10]))  # rate cap below need
    assert not weak.feasible[0] and weak.feasible[1:].all()
    tight = p.replace(bandwidth=1e3).round_model(np.full(4, 1e-10))  # b_min > B
    assert not tight.feasible.any()


def test_downlink_can_be_neglected(prob):
    g = prob.draw_gains(np.random.default_rng(0))
    no_dl = prob.replace(downlink_bandwidth=math.inf)
    assert np.allclose(no_dl.round_model(g).fixed_time, prob.compute_time)
    assert (prob.round_model(g).fixed_time > prob.compute_time).all()


_BAD = [
    ("positions", np.zeros((3, 3))),
    ("positions", np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])),
    ("shadowing_db", np.array([0.0, np.nan, 0.0])),
    ("shadowing_db", np.zeros(2)),
    ("power", np.array([0.2, 0.0, 0.2])),
    ("flops", np.array([1e12, -1.0, 1e12])),
    ("kappa", np.array([1e-36, -1e-36, 1e-36])),
    ("energy_budget", np.array([0.1, 0.1, 0.0])),
    ("bandwidth", 0.0),
    ("bandwidth", math.inf),
    ("noise_psd", -1.0),
    ("deadline", 0.0),
    ("server_flops", "fast"),
    ("downlink_power", 0.0),
    ("downlink_bandwidth", -1.0),
    ("workload", {"fwd": [1.0]}),
    ("batch", 0),
    ("local_iters", 1.5),
    ("rank", -2),
    ("head_params", -1.0),
    ("smoothness", 0.0),
    ("pl_constant", 2.0),
    ("learning_rate", 2.0),
    ("grad_variance", -1.0),
    ("dissimilarity", math.nan),
    ("initial_gap", 1e-6),
]


@pytest.mark.parametrize(("field", "value"), _BAD,
                         ids=[f"{f}-{i}" for i, (f, _) in enumerate(_BAD)])
def test_validation_names_the_field(field, value):
    base = OnlineProblem.default(seed=0, devices=3)
    with pytest.raises(ValueError, match=f"^{field}:"):
        base.replace(**{field: value})


def test_default_and_call_validation():
    with pytest.raises(ValidationError, match="^seed:"):
        OnlineProblem.default(seed=-1)
    with pytest.raises(ValidationError, match="^devices:"):
        OnlineProblem.default(devices=0)
    with pytest.raises(ValidationError, match="^flops:"):
        OnlineProblem.default(flops=(2e12, 1e12))
    p = OnlineProblem.default(seed=0, devices=3)
    with pytest.raises(ValidationError, match="^gains:"):
        p.round_model(np.ones(4))
    with pytest.raises(ValidationError, match="^rounds:"):
        p.weights(0)
    with pytest.raises(ValidationError, match="^replace:"):
        p.replace(nonsense=1)
    assert isinstance(p.workload, Workload)
