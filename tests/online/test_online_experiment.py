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


def test_calibrated_problem_with_the_data_share_term(prob):
    sizes = np.arange(1.0, prob.K + 1)
    p = calibrated_problem(prob, 0.004, 0.02, data_sizes=sizes)
    s = np.zeros(prob.K, bool)
    s[[1, 6]] = True
    assert p.psi_set(s) == pytest.approx(0.004 / 2 + 0.02 * (1 - 9 / sizes.sum()))
    assert p.psi_set(np.zeros(prob.K, bool)) == pytest.approx(0.008 + 0.02)
    q = calibrated_problem(prob, -0.001, 0.02)          # α < 0 clipped: β only
    assert q.psi_table[1] == pytest.approx(0.0, abs=1e-15)
    assert q.coverage_weight == 0.02


def _synthetic_runs(rho, gamma, alpha, beta=0.0, seeds=3, T=60, e=10, noise=0.0, K=20):
    """Fixed-N runs of loss_{t+1} = ρ loss_t + γ + α/N + β(1 − c_t) with N random
    devices of Dirichlet data shares, the set redrawn every e rounds (so the coverage c
    is constant within an evaluation interval and the e-round fit is exact)."""
    runs = []
    rng = np.random.default_rng(0)
    for s in seeds if isinstance(seeds, list) else range(seeds):
        share = rng.dirichlet(np.ones(K))
        for N in CALIBRATION_N:
            loss = [2.0 + 0.1 * s]
            cover = []
            for t in range(T):
                if t % e == 0:
                    c = share[rng.choice(K, N, replace=False)].sum()
                cover.append(c)
                loss.append(rho * loss[-1] + gamma + alpha / N + beta * (1 - c))
            at = list(range(0, T + 1, e))
            val = np.array(loss)[at] + noise * rng.normal(size=len(at))
            runs.append({"N": N, "seed": s, "eval_rounds": at, "val_loss": val.tolist(),
                         "counts": [N] * T, "coverage": cover})
    return runs


@pytest.mark.parametrize("model", ["count", "coverage", "both"])
def test_fit_recovers_the_recursion_from_noise_free_curves(model):
    """Curves made by the recursion with the terms of ``model``: the e-round fit and its
    conversion back to one round give ρ, α and β (closed form of the e-round sum)."""
    alpha = 0.03 if model != "coverage" else 0.0
    beta = 0.05 if model != "count" else 0.0
    fit = fit_participation(_synthetic_runs(0.95, 0.01, alpha, beta), boot=50, model=model)
    assert fit["rho"] == pytest.approx(0.95, rel=1e-9)
    assert fit["alpha"] == pytest.approx(alpha, rel=1e-7, abs=1e-10)
    assert fit["beta"] == pytest.approx(beta, rel=1e-7, abs=1e-10)
    for name, true in (("alpha", alpha), ("beta", beta)):
        lo, hi = fit[f"{name}_ci95"]
        assert lo - 1e-9 <= true <= hi + 1e-9
    assert fit["eval_every"] == 10 and fit["terms"] == model
    assert set(fit["paired_vs_largest_N"]) == {str(n) for n in CALIBRATION_N}
    with pytest.raises(ValidationError, match="^model:"):
        fit_participation(_synthetic_runs(0.95, 0.01, alpha, beta), boot=5, model="x")


def test_fit_with_noise_finds_a_real_effect_and_not_a_missing_one():
    """With noise, a true β = 0.05 gives a CI that excludes 0 and covers 0.05; with no
    effect the CIs of α and β cover 0."""
    fit = fit_participation(_synthetic_runs(0.9, 0.02, 0.0, 0.05, seeds=6, noise=0.005),
                            boot=300, model="both")
    lo, hi = fit["beta_ci95"]
    assert 0 < lo <= 0.05 <= hi
    null = fit_participation(_synthetic_runs(0.9, 0.02, 0.0, 0.0, seeds=6, noise=0.01),
                             boot=300, model="both")
    for name in ("alpha", "beta"):
        lo, hi = null[f"{name}_ci95"]
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
    assert len(rows) == 6 * 3 and rows[0][:5] == ["lyapunov", 10.0, 0, 0, 0]
    assert {r[3] for r in rows} == {0, 1, 2}
    # the same policy with the energy guard is a separate label
    guarded = [dict(r, energy_guard=True) for r in runs if r["policy"] == "all"]
    st2 = compare(runs + guarded)
    assert "all +guard" in st2["policies"]
    assert "lyapunov V=10 - all +guard (final)" in st2["paired_differences"]


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
