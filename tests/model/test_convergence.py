"""Convergence models (issue 22): Table (log-log in iterations, flagged extrapolation),
PowerLaw (closed form, fit with residuals and CIs), Callable, the Problem's model and
JSON round-trip, and the local iterations I as a decision of ``solve``."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from sfl_opt.convergence import Callable, PowerLaw, Table, from_dict

from sfl_opt import Problem, ValidationError, evaluate, solve

RANKS = [1, 4, 16]
ITERS = [1, 5, 20, 50]
N = np.array([[300.0, 330.0, 420.0, 600.0],
              [200.0, 215.0, 280.0, 390.0],
              [150.0, 160.0, 210.0, 300.0]])


def law() -> PowerLaw:
    return PowerLaw(RANKS, [1.0, 0.9, 0.85], [3.0, 3.5, 4.0], [1.1, 1.0, 0.95], n0=5.0,
                    beta=0.8, c=0.02)


def test_table_interpolates_iterations_in_log_log() -> None:
    t = Table(RANKS, ITERS, N)
    for q, r in enumerate(RANKS):
        for j, i in enumerate(ITERS):
            assert t.iterations(r, i) == N[q, j]
            assert t.rounds(r, i) == pytest.approx(N[q, j] / i, rel=1e-15)
        for i, (a, b) in ((10, (1, 2)), (3, (0, 1)), (37, (2, 3))):
            x = math.log(i / ITERS[a]) / math.log(ITERS[b] / ITERS[a])
            want = N[q, a] ** (1 - x) * N[q, b] ** x
            assert t.iterations(r, i) == pytest.approx(want, rel=1e-12)
            assert not t.extrapolated(r, i)
    # a rank between measured ranks: log-log in the rank too
    x = math.log(2) / math.log(4)
    assert t.iterations(2, 5) == pytest.approx(N[0, 1] ** (1 - x) * N[1, 1] ** x, rel=1e-12)
    with pytest.raises(ValidationError, match="^rank"):
        t.iterations(32, 5)


def test_table_extrapolates_by_the_fitted_drift_and_flags_it() -> None:
    form = law()
    t = Table(RANKS, ITERS, N, form=form)
    for i in (100, 200):
        want = N[2, -1] * (1 + form.c * (i - 1)) / (1 + form.c * 49)
        assert t.iterations(16, i) == pytest.approx(want, rel=1e-12)
        assert t.extrapolated(16, i) and "EXTRAPOLATED" in t.note(16, i)
    # more rounds than a clamp on rounds would give (rounds(50) * 50 / I without drift)
    assert t.rounds(16, 200) > N[2, -1] / 200
    held = Table(RANKS, ITERS, N)
    assert held.iterations(16, 200) == N[2, -1] and held.extrapolated(16, 200)
    assert "held" in held.note(16, 200)


def test_scale_multiplies_iterations_not_rounds_per_iteration() -> None:
    t = Table(RANKS, ITERS, N, scale=26.3)
    assert t.iterations(4, 20) == pytest.approx(26.3 * 280.0, rel=1e-15)
    assert t.rounds(4, 20) == pytest.approx(26.3 * 280.0 / 20, rel=1e-15)
    assert t.with_scale(1.0).iterations(4, 20) == 280.0


def test_powerlaw_closed_form() -> None:
    m = law()
    for q, r in enumerate(RANKS):
        n1 = (m.a[q] / (m.target[q] - m.l_inf[q])) ** (1 / m.beta) - m.n0
        assert m.iterations(r, 1) == pytest.approx(n1, rel=1e-12)
        # the fitted loss curve reaches the target exactly at n1
        assert float(m.loss(r, n1)) == pytest.approx(m.target[q], rel=1e-12)
        for i in (5, 50, 200):
            assert m.iterations(r, i) == pytest.approx(n1 * (1 + 0.02 * (i - 1)), rel=1e-12)
    with pytest.raises(ValidationError, match="^target"):
        PowerLaw([1], [1.0], [2.0], [0.9], n0=1.0, beta=1.0, c=0.0)


def synthetic_runs(truth: PowerLaw, noise: float, seed: int = 0) -> list[dict]:
    rng = np.random.default_rng(seed)
    runs = []
    for r in RANKS:
        for i in (1, 5, 20, 50, 100):
            for _ in range(3):
                n = truth.iterations(r, i) * (1 + noise * rng.standard_normal())
                pts = [(k, float(truth.loss(r, k)) + noise * 0.01 * rng.standard_normal())
                       for k in range(0, 400, 10)] if i == 1 else []
                runs.append({"rank": r, "local_iters": i, "iterations": n,
                             "target": float(truth.target[RANKS.index(r)]), "points": pts})
    return runs


def test_fit_recovers_the_parameters_of_noiseless_curves() -> None:
    truth = law()
    model, rep = PowerLaw.fit(synthetic_runs(truth, 0.0))
    np.testing.assert_allclose(model.l_inf, truth.l_inf, rtol=1e-4)
    np.testing.assert_allclose(model.a, truth.a, rtol=1e-3)
    assert model.beta == pytest.approx(truth.beta, rel=1e-3)
    assert model.c == pytest.approx(truth.c, rel=1e-3)
    assert rep["max_rel_residual"] < 1e-3
    assert model.residual == rep["max_rel_residual"]


def test_fit_with_noise_has_confidence_intervals_and_reproduces_the_table() -> None:
    truth = law()
    runs = synthetic_runs(truth, 0.05, seed=3)
    model, rep = PowerLaw.fit(runs)
    lo, hi = rep["ci95"]["c"]
    assert lo < model.c < hi
    assert abs(model.c - truth.c) <= 3 * (hi - lo) / 2
    lo, hi = rep["ci95"]["beta"]
    assert lo < model.beta < hi
    # the fitted model reproduces every measured cell within its stated residual
    for cell in rep["residuals"]:
        got = model.iterations(cell["rank"], cell["local_iters"])
        assert abs(got / cell["measured"] - 1) <= model.residual + 1e-12
    assert len(rep["residuals"]) == len(RANKS) * 5


def test_fit_errors_name_the_argument() -> None:
    with pytest.raises(ValidationError, match="^curves"):
        PowerLaw.fit([])
    with pytest.raises(ValidationError, match="^curves"):
        PowerLaw.fit([{"rank": 1, "local_iters": 5, "iterations": 3.0, "target": 1.0,
                       "points": []}])


def test_callable_model() -> None:
    m = Callable(lambda r, i, s: 100.0 / r * (1 + 0.01 * i), scale=2.0)
    assert m.iterations(4, 10) == pytest.approx(2.0 * 25.0 * 1.1)
    assert m.rounds(4, 10) == pytest.approx(5.5)
    with pytest.raises(ValidationError, match="^convergence"):
        Callable(lambda r, i, s: float("nan")).iterations(1, 1)
    with pytest.raises(ValidationError, match="^fn"):
        Callable(3)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="^convergence"):
        m.to_dict()


@pytest.mark.parametrize("model", [Table(RANKS, ITERS, N, scale=3.0, form=law()), law()])
def test_dict_round_trip(model) -> None:
    back = from_dict(json.loads(json.dumps(model.to_dict())))
    assert back == model
    for r in (1, 2, 4, 16):
        for i in (1, 7, 50, 300):
            assert back.iterations(r, i) == model.iterations(r, i)


def small(**kw) -> Problem:
    return Problem.default(0, clients=2, subchannels=3, **kw)


def test_problem_carries_a_model_and_round_trips() -> None:
    base = small()
    t = Table(RANKS, ITERS, N * 10)
    p = base.replace(convergence=t, ranks=RANKS, rounds=None, local_iters=(5, 20, 50))
    assert p.local_iters == (5, 20, 50) and p.chooses_local_iters
    assert p.rounds.shape == (3, 3)
    np.testing.assert_allclose(p.rounds[1], [t.rounds(r, 20) for r in RANKS])
    assert Problem.from_json(p.to_json()) == p
    q = p.at_local_iters(20)
    assert q.local_iters == 20 and np.allclose(q.rounds, p.rounds[1])
    with pytest.raises(ValidationError, match="^local_iters"):
        p.at_local_iters(7)
    with pytest.raises(ValidationError, match="^rounds"):
        base.replace(convergence=t, ranks=RANKS, rounds=[1.0, 2.0, 3.0])
    with pytest.raises(ValidationError, match="^convergence"):
        Problem.from_json(p.replace(convergence=Callable(lambda r, i, s: 10.0)).to_json())


def test_old_json_without_a_model_loads_as_a_table_at_its_i() -> None:
    p = small(profile=None)
    data = json.loads(p.to_json())
    assert "convergence" not in data  # the derived table is not written
    q = Problem.from_json(json.dumps(data))
    assert q == p and q.convergence.derived
    for r, n in zip(q.ranks.tolist(), q.rounds.tolist(), strict=True):
        assert q.convergence.rounds(r, q.local_iters) == pytest.approx(n, rel=1e-15)
        # the same iterations at another I
        assert q.convergence.iterations(r, 5) == pytest.approx(n * q.local_iters, rel=1e-15)
    # replacing rounds rebuilds the derived table
    q2 = q.replace(rounds=q.rounds * 2)
    assert q2.convergence.rounds(1, q.local_iters) == pytest.approx(2 * q.rounds[0])


def test_default_takes_a_candidate_set() -> None:
    p = Problem.default(local_iters=(5, 20, 50, 100))
    assert p.local_iters_candidates == (5, 20, 50, 100)
    for j, i in enumerate(p.local_iters):
        np.testing.assert_allclose(p.rounds[j], p.convergence.rounds_for(p.ranks, i))
    with pytest.raises(ValidationError, match="^local_iters"):
        Problem.default(local_iters=(5, 5))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("c", [0.0, 0.03, 0.3])
def test_choosing_i_matches_brute_force(seed: int, c: float) -> None:
    # drift c; iterations per rank at I = 1 as in N, aggregation cost from the default
    form = PowerLaw(RANKS, [1.0, 0.9, 0.85], [3.0, 3.5, 4.0], [1.1, 1.0, 0.95], n0=5.0,
                    beta=0.8, c=c)
    p = small().replace(convergence=form.with_scale(20.0), ranks=RANKS, rounds=None,
                        local_iters=(1, 5, 20, 100))
    brute = min((solve(p.at_local_iters(i), "exact").delay, i)
                for i in p.local_iters_candidates)
    res = solve(p, "exact")
    assert res.delay == pytest.approx(brute[0], rel=1e-9)
    assert res.local_iters == brute[1]
    assert str(res.status) == "optimal" and res.gap <= 1e-6
    assert evaluate(p, **res.evaluate_kwargs()).total == pytest.approx(res.delay, rel=1e-12)
    heur = solve(p)
    assert heur.delay >= res.delay * (1 - 1e-9)
    assert heur.lower_bound <= res.delay * (1 + 1e-9)
    assert set(heur.info["local_iters"]) == {"1", "5", "20", "100"}


def test_evaluate_needs_the_point_i_of_a_candidate_problem() -> None:
    p = small().replace(convergence=law(), ranks=RANKS, rounds=None, local_iters=(5, 50))
    res = solve(p)
    kw = res.evaluate_kwargs()
    kw.pop("local_iters")
    with pytest.raises(ValidationError, match="^local_iters"):
        evaluate(p, **kw)


def test_drift_makes_the_best_i_finite() -> None:
    # with drift the delay per I first falls (fewer aggregations) then rises
    # when the aggregation (f-link upload) costs as much as some iterations
    form = law().with_scale(50.0)
    base = small()
    p = base.replace(convergence=form, ranks=RANKS, rounds=None, bw_f=base.bw_f * 1e-3,
                     local_iters=(1, 2, 5, 10, 20, 50, 100, 200, 500))
    res = solve(p, bound=False)  # every candidate solved, none pruned
    delays = {int(i): d["delay"] for i, d in res.info["local_iters"].items()}
    assert res.local_iters not in (1, 500)
    assert res.delay == min(delays.values())
    assert delays[1] > res.delay and delays[500] > res.delay
