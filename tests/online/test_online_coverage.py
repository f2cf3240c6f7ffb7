"""Data sizes in Ψ (the data-share term β·(1 − Σ_S n_k/n)) and the scheduler that uses
it; the energy guard that keeps every device within its budget over any horizon."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from sfl_opt.errors import ValidationError
from sfl_opt.online import OnlineProblem, simulate, solve_round, split_bandwidth
from sfl_opt.online.simulate import POLICIES, energy_floor


def _problem(K=6, mode="per_device", beta=0.01, seed=5, **kw) -> OnlineProblem:
    sizes = np.random.default_rng(seed).integers(5, 400, size=K).astype(float)
    return OnlineProblem.default(seed=seed, devices=K, server_mode=mode,
                                 server_flops=2e12 if mode == "shared" else 50e12,
                                 data_sizes=sizes, coverage_weight=beta, **kw)


def test_psi_set_is_psi_of_n_plus_the_left_out_data_share():
    p = OnlineProblem.default(seed=0, devices=4, data_sizes=[10, 30, 40, 20],
                              coverage_weight=0.5)
    np.testing.assert_allclose(p.data_share, [0.1, 0.3, 0.4, 0.2])
    s = np.array([[False, True, True, False], [True, False, False, False], [False] * 4,
                  [True] * 4])
    want = [p.psi(2) + 0.5 * 0.3, p.psi(1) + 0.5 * 0.9, p.psi(0) + 0.5, p.psi(4)]
    np.testing.assert_allclose(p.psi_set(s), want, rtol=1e-14)
    assert p.psi_set(s[0]) == pytest.approx(want[0])
    # the default: equal sizes, no data-share term
    q = OnlineProblem.default(seed=0, devices=4)
    np.testing.assert_allclose(q.data_share, 0.25)
    assert q.psi_set(s[0]) == pytest.approx(float(q.psi(2)))
    # JSON round trip and field-naming errors
    assert OnlineProblem.from_json(p.to_json()) == p
    with pytest.raises(ValidationError, match="^data_sizes:"):
        p.replace(data_sizes=[1.0, 0.0, 1.0, 1.0])
    with pytest.raises(ValidationError, match="^data_sizes:"):
        p.replace(data_sizes=[1.0, 2.0])
    with pytest.raises(ValidationError, match="^coverage_weight:"):
        p.replace(coverage_weight=-1.0)
    with pytest.raises(ValidationError, match="^scheduled:"):
        p.psi_set(np.ones(3, bool))
    # huge sizes do not overflow the share
    big = p.replace(data_sizes=[1e308, 1e308, 1e308, 1e308])
    np.testing.assert_allclose(big.data_share, 0.25)


def _random_round(p, rng):
    g = p.draw_gains(rng)
    q = rng.exponential(1.0, size=p.K) * rng.choice([0.0, 0.3, 1.0, 10.0], size=p.K)
    V = 10 ** rng.uniform(0, 6)
    w = rng.uniform(0.05, 1.0)
    return g, q, V, w


@pytest.mark.parametrize("mode", ["per_device", "shared"])
def test_exact_choice_with_data_sizes_matches_brute_force(mode):
    """Enumeration with the data-share term against itertools over every set, costed
    with Ψ(S) from psi_set and the public split."""
    rng = np.random.default_rng(3)
    for trial in range(6):
        p = _problem(mode=mode, beta=10 ** rng.uniform(-4, -1), seed=trial,
                     bandwidth=8e6)
        g, q, V, w = _random_round(p, rng)
        best, best_set = np.inf, None
        for n in range(p.K + 1):
            m = p.round_model(g, count=n)
            for combo in itertools.combinations(np.flatnonzero(m.feasible), n):
                idx = np.array(combo, dtype=int)
                if m.b_min[idx].sum() > p.bandwidth:
                    continue
                mask = np.zeros(p.K, bool)
                mask[idx] = True
                cost = V * w * float(p.psi_set(mask))
                if n:
                    cost += split_bandwidth(q[idx], m.snr_bw[idx], m.bits[idx], m.power[idx],
                                            m.b_min[idx], p.bandwidth,
                                            compute_energy=m.compute_energy[idx]).cost
                if cost < best:
                    best, best_set = cost, mask
        d = solve_round(p, g, q, V, w, exact=True)
        assert d.objective == pytest.approx(best, rel=1e-10)
        assert d.psi == pytest.approx(float(p.psi_set(d.scheduled)))
        assert d.penalty_term == pytest.approx(V * w * d.psi)
        fast = solve_round(p, g, q, V, w)
        assert fast.objective >= d.objective * (1 - 1e-9)
        assert fast.objective <= d.objective * 1.01
        assert best_set is not None


def test_efficient_choice_with_data_sizes_within_one_percent():
    rng = np.random.default_rng(11)
    gaps = []
    for trial in range(40):
        p = _problem(K=8, beta=10 ** rng.uniform(-4, 0), seed=trial % 5, bandwidth=10e6)
        g, q, V, w = _random_round(p, rng)
        fast = solve_round(p, g, q, V, w)
        ref = solve_round(p, g, q, V, w, exact=True)
        assert fast.objective >= ref.objective * (1 - 1e-9)
        gaps.append(fast.objective / ref.objective - 1)
    assert max(gaps) <= 0.01


@pytest.mark.parametrize("exact", [False, True])
def test_identical_devices_are_chosen_by_data_size(exact):
    """Devices that differ only in their data: with equal channels and queues, a band
    that fits 3 of them and the data-share term on, the scheduler picks the 3 holding
    the most data; without the term (β = 0) the set's data share is whatever ties give."""
    K = 8
    sizes = np.array([5.0, 80.0, 10.0, 300.0, 40.0, 150.0, 20.0, 60.0])
    p = OnlineProblem.default(seed=0, devices=K, data_sizes=sizes, coverage_weight=0.05,
                              server_mode="per_device")
    p = p.replace(positions=np.tile([[200.0, 0.0]], (K, 1)), shadowing_db=np.zeros(K),
                  flops=np.full(K, 5e11))
    g = np.full(K, float(p.mean_gain[0]))
    m = p.round_model(g)
    p = p.replace(bandwidth=float(3.5 * m.b_min[0]))
    q = np.full(K, 0.01)
    d = solve_round(p, g, q, V=1e3, weight=1.0, exact=exact)
    assert d.count == 3
    assert set(np.flatnonzero(d.scheduled)) == {3, 5, 1}


def test_energy_floor_is_where_the_energy_meets_the_allowance():
    p = OnlineProblem.default(seed=1, devices=5)
    m = p.round_model(p.draw_gains(np.random.default_rng(0)))
    e_full = m.compute_energy + p.power * p.bits_up / (m.snr_bw / np.log(2))  # b -> inf
    allow = np.array([0.05, 0.2, 1.0, 0.0, 1e-12]) + np.array([2, 2, 2, 0, 0]) * e_full
    f = energy_floor(m, allow)
    ok = np.isfinite(f)
    assert ok.tolist() == [True, True, True, False, False]
    f_ok = np.where(ok, f, 1.0)
    np.testing.assert_allclose(m.energy(f_ok)[ok], allow[ok], rtol=1e-9)
    assert (m.energy(f_ok)[ok] <= allow[ok] * (1 + 1e-12)).all()
    assert (m.energy(f_ok * (1 - 1e-6))[ok] > allow[ok]).all()


@pytest.mark.parametrize("policy", POLICIES)
def test_energy_guard_keeps_every_running_average_within_budget(policy):
    """A tight budget (0.015 J/round, ~1/5 of a transmission) over 150 rounds, from
    empty queues (the worst case for a short run): with the guard, after every round
    every device's cumulative energy is within its cumulative budget."""
    p = OnlineProblem.default(seed=2, devices=10, energy_budget=0.015)
    tr = simulate(p, policy, 1e3, 150, seed=4, energy_guard=True, count=3,
                  random_fraction=0.4)
    cum = np.cumsum(tr.energy, axis=0)
    allowed = np.arange(1, 151)[:, None] * p.energy_budget
    assert (cum <= allowed * (1 + 1e-9)).all()
    assert tr.energy_guard and tr.deadline_violations == 0
    if policy not in ("myopic",):
        assert tr.participation.sum() > 0


def test_without_the_guard_a_short_run_overdraws():
    """The same run without the guard: lyapunov from empty queues spends its first rounds'
    energy for free and ends above budget (what the guard prevents)."""
    p = OnlineProblem.default(seed=2, devices=10, energy_budget=0.015)
    free = simulate(p, "lyapunov", 1e3, 150, seed=4)
    guarded = simulate(p, "lyapunov", 1e3, 150, seed=4, energy_guard=True)
    assert free.budget_ratio.max() > 1.05
    assert guarded.running_energy.max(axis=0).max() <= p.energy_budget.max() * (1 + 1e-9)
    with pytest.raises(ValidationError, match="^energy_guard:"):
        simulate(p, "lyapunov", 1e3, 5, energy_guard="yes")


def test_data_share_penalty_that_overflows_names_coverage_weight():
    from sfl_opt.errors import NumericalRangeError

    p = OnlineProblem.default(seed=0, devices=4, coverage_weight=1e10)
    g = p.draw_gains(np.random.default_rng(0))
    with pytest.raises(NumericalRangeError, match="^coverage_weight:"):
        solve_round(p, g, np.ones(4), V=1e300, weight=1.0)
    # V = 0: the term is off, nobody is worth scheduling
    assert solve_round(p, g, np.ones(4), V=0.0).count == 0
