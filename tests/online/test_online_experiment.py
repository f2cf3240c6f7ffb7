"""The issue-19 experiment: the fair policy, warm-started queues, the calibrated Ψ, the
fit of the participation term, the statistics, and (torch) the kinds split and the
unbiased aggregation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from sfl_opt.errors import ValidationError
from sfl_opt.online import OnlineProblem, simulate
from sfl_opt.online.experiment import (
    CALIBRATION_N,
    calibrated_problem,
    compare,
    fit_participation,
    learning_rows,
)
from sfl_opt.online.stats import t_ci


@pytest.fixture(scope="module")
def prob() -> OnlineProblem:
    return OnlineProblem.default(seed=0, devices=8, bandwidth=40e6)


def test_fair_policy_is_an_age_round_robin(prob):
    """With a wide band, `fair` with count c schedules exactly c devices a round, in
    cycles: every device once in every K/c = 4 consecutive rounds."""
    tr = simulate(prob, "fair", 0.0, 16, seed=0, count=2)
    s = np.asarray(tr.scheduled)
    assert (s.sum(axis=1) == 2).all()
    for t in range(0, 16, 4):
        assert (s[t:t + 4].sum(axis=0) == 1).all()
    assert tr.deadline_violations == 0


def test_initial_queues_start_the_recursion(prob):
    q0 = np.linspace(0.0, 2.0, prob.K)
    tr = simulate(prob, "lyapunov", 1e3, 5, seed=0, initial_queues=q0)
    np.testing.assert_allclose(tr.queues[0],
                               np.maximum(q0 + tr.energy[0] - prob.energy_budget, 0.0))
    tr1 = simulate(prob, "all", 0.0, 3, seed=0, initial_queues=0.5)
    np.testing.assert_allclose(tr1.queues[0],
                               np.maximum(0.5 + tr1.energy[0] - prob.energy_budget, 0.0))
    with pytest.raises(ValidationError, match="^initial_queues:"):
        simulate(prob, "all", 0.0, 3, initial_queues=np.ones(3))
    with pytest.raises(ValidationError, match="^initial_queues:"):
        simulate(prob, "all", 0.0, 3, initial_queues=-1.0)


def test_calibrated_problem_has_psi_alpha_over_n(prob):
    p = calibrated_problem(prob, 0.004)
    n = np.arange(1, prob.K + 1)
    np.testing.assert_allclose(p.psi_table[1:], 0.004 / n, rtol=1e-12)
    assert p.psi_table[0] == pytest.approx(0.008, rel=1e-12)
    assert p.weights(1000).min() > 1 - 1e-6
    with pytest.raises(ValidationError, match="^alpha:"):
        calibrated_problem(prob, 0.0)


def _synthetic_runs(rho, gamma, alpha, seeds=3, T=60, e=10, noise=0.0):
    runs = []
    rng = np.random.default_rng(0)
    for s in seeds if isinstance(seeds, list) else range(seeds):
        for N in CALIBRATION_N:
            loss = [2.0 + 0.1 * s]
            for _ in range(T):
                loss.append(rho * loss[-1] + gamma + alpha / N)
            at = list(range(0, T + 1, e))
            val = np.array(loss)[at] + noise * rng.normal(size=len(at))
            runs.append({"N": N, "seed": s, "eval_rounds": at, "val_loss": val.tolist(),
                         "counts": [N] * T})
    return runs


def test_fit_recovers_the_recursion_from_noise_free_curves():
    """Curves made by loss_{t+1} = ρ loss_t + γ + α/N: the e-round fit and its
    conversion back to one round give ρ and α (closed form of the e-round sum)."""
    fit = fit_participation(_synthetic_runs(0.95, 0.01, 0.03), boot=50)
    assert fit["rho"] == pytest.approx(0.95, rel=1e-9)
    assert fit["alpha"] == pytest.approx(0.03, rel=1e-7)
    lo, hi = fit["alpha_ci95"]
    assert lo <= 0.03 * (1 + 1e-7) and hi >= 0.03 * (1 - 1e-7)
    assert fit["final_a"] > 0 and fit["eval_every"] == 10


def test_fit_ci_covers_zero_without_a_participation_effect():
    fit = fit_participation(_synthetic_runs(0.9, 0.02, 0.0, seeds=6, noise=0.01), boot=300)
    lo, hi = fit["alpha_ci95"]
    assert lo < 0 < hi


def test_t_ci_matches_scipy():
    x = np.array([0.3, 0.5, 0.2, 0.45, 0.41])
    m, h = t_ci(x)
    lo, hi = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
    assert m == pytest.approx(x.mean()) and h == pytest.approx((hi - lo) / 2)


def _run(policy, seed, loss, energy_per_round, V=0.0, K=2, budget=1.0):
    T = len(loss) - 1
    return {"policy": policy, "V": V, "seed": seed, "eval_rounds": list(range(T + 1)),
            "val_loss": list(loss), "accuracy": [0.5] * (T + 1), "counts": [1] * T,
            "energy": [[energy_per_round / K] * K] * T, "budget": [budget] * K}


def test_compare_interpolates_the_loss_at_equal_energy():
    """lyapunov spends 1 J a round (2 J in all), `all` 2 J a round: the levels are
    lyapunov's final energy (2 J: lyapunov at round 2, all at round 1) and half of it
    (1 J: lyapunov at round 1, all at round 0.5)."""
    runs = []
    for s in range(3):
        runs.append(_run("lyapunov", s, [1.0, 0.8, 0.6], 1.0, V=10.0))
        runs.append(_run("all", s, [1.0, 0.7, 0.5 + 0.01 * s], 2.0))
    st = compare(runs)
    assert st["E_lyap"] == pytest.approx(2.0) and st["E_common"] == pytest.approx(1.0)
    ly = st["policies"]["lyapunov V=10"]
    al = st["policies"]["all"]
    assert ly["at_E_lyap"][0] == pytest.approx(0.6)
    assert al["at_E_lyap"][0] == pytest.approx(0.7)
    assert ly["at_E_common"][0] == pytest.approx(0.8)
    assert al["at_E_common"][0] == pytest.approx(0.85)
    assert al["worst_ratio"][0] == pytest.approx(1.0)   # 2 J / 2 devices / 1 J budget
    d = st["paired_differences"]["lyapunov V=10 - all (at_E_lyap)"]
    assert d[0] == pytest.approx(-0.1)
    rows = learning_rows(runs)
    assert len(rows) == 6 * 3 and rows[0][:4] == ["lyapunov", 10.0, 0, 0]
    assert {r[2] for r in rows} == {0, 1, 2}


# ------------------------------------------------------------------ torch parts
@pytest.mark.harness
def test_kinds_split_and_unbiased_aggregation():
    torch = pytest.importorskip("torch")
    pytest.importorskip("peft")
    from sfl_opt.harness.ushape import OPTIONAL, TAGS, ProxyConfig, ScheduledTrainer, kind_attrs

    torch.set_num_threads(1)
    cfg = ProxyConfig(devices=4, layers=2, hidden=16, heads=2, seq=24, rank=2, batch=2,
                      n_train=60, n_val=24, split="kinds", kinds=3)
    tr = ScheduledTrainer(cfg)
    groups = kind_attrs(3)
    assert sorted(a for g in groups for a in g) == sorted(OPTIONAL)
    for k, part in enumerate(tr.parts):
        own = {TAGS.index(a) for a in groups[tr.kind[k]]}
        seen = set(np.unique(part.labels[part.labels >= 0]).tolist())
        assert own <= seen <= own | {0, 1, 2}          # its kind's tags and the shared ones
    assert set(np.unique(tr.val.labels[tr.val.labels >= 0]).tolist()) == set(range(len(TAGS)))
    # unbiased with every device and π = 1 equals FedAvg (Σ n_k/n = 1)
    ub = ScheduledTrainer(ProxyConfig(**{**cfg.__dict__, "aggregation": "unbiased"}))
    fa = ScheduledTrainer(cfg)
    ub.round(np.ones(4, bool), np.ones(4))
    fa.round(np.ones(4, bool))
    for n in fa.global_state:
        torch.testing.assert_close(ub.global_state[n], fa.global_state[n])
    # one device with π = 1/2: w + (n_k/n)/π (w_k - w)
    ub2 = ScheduledTrainer(ProxyConfig(**{**cfg.__dict__, "aggregation": "unbiased"}))
    start = {n: t.clone() for n, t in ub2.global_state.items()}
    state = ub2.rngs[1].bit_generator.state
    local = ub2.local_update(1)
    ub2.global_state = start
    ub2.rngs[1].bit_generator.state = state
    ub2.round(np.array([False, True, False, False]), np.full(4, 0.5))
    c = ub2.sizes[1] / ub2.sizes.sum() / 0.5
    for n in start:
        torch.testing.assert_close(ub2.global_state[n], start[n] + c * (local[n] - start[n]))
    with pytest.raises(ValueError, match="^inclusion:"):
        ub2.round(np.ones(4, bool))
    with pytest.raises(ValueError, match="^split:"):
        ProxyConfig(split="bogus")
