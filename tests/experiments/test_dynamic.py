"""Block fading (SPEC §8.4): the fading process, training runs, and SAA."""

from __future__ import annotations

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError, evaluate, solve
from sfl_opt.cli import main
from sfl_opt.experiments.dynamic import simulate_training
from sfl_opt.model.fading import GaussMarkovFading, estimate_large_scale, iid_samples, with_gains
from sfl_opt.model.scenario import large_scale_gains
from sfl_opt.testing import enumerate_optimum, small_problem


@pytest.fixture(scope="module")
def prob() -> Problem:
    return Problem.default(seed=3, clients=3, subchannels=5, ranks=(2, 8), layers=4,
                           hidden=256, seq=128, profile=None, downlink="allocated",
                           subchannels_d=4)


# ----------------------------------------------------------------- the process
def test_round_zero_is_the_problem_and_statistics(prob) -> None:
    large = large_scale_gains(3, clients=3, subchannels=5)
    fad = GaussMarkovFading(prob, 0.8, np.random.default_rng(0), large=large)
    g0 = fad.next()
    np.testing.assert_allclose(g0["s"], prob.gain_s, rtol=1e-12)
    np.testing.assert_allclose(g0["d"], prob.gain_d, rtol=1e-12)
    # normalised power |h|^2: mean 1 (Rayleigh) and lag-1 correlation rho^2
    fad = GaussMarkovFading(prob, 0.8, np.random.default_rng(1), large=large)
    x = np.array([fad.next()["s"] / large["s"][:, None] for _ in range(4000)])[100:]
    assert x.mean() == pytest.approx(1.0, abs=0.05)
    a, b = x[:-1].ravel(), x[1:].ravel()
    assert np.corrcoef(a, b)[0, 1] == pytest.approx(0.64, abs=0.05)
    # rho = 1 holds round 0
    fad = GaussMarkovFading(prob, 1.0, np.random.default_rng(2))
    fad.next()
    np.testing.assert_allclose(fad.next()["f"], prob.gain_f, rtol=1e-12)


def test_mobility_keeps_clients_in_the_ring(prob) -> None:
    ls = large_scale_gains(3, clients=3, subchannels=5)
    fad = GaussMarkovFading(prob, 0.0, np.random.default_rng(0), large=ls,
                            distance=ls["distance"], step=150.0)
    for _ in range(200):
        fad.next()
        assert np.all((fad.dist >= 50.0) & (fad.dist <= 500.0))
    with pytest.raises(ValidationError, match="^distance"):
        GaussMarkovFading(prob, 0.0, np.random.default_rng(0), step=10.0)
    with pytest.raises(ValidationError, match="^rho"):
        GaussMarkovFading(prob, 1.5, np.random.default_rng(0))


def test_estimated_large_scale_is_the_mean_gain(prob) -> None:
    est = estimate_large_scale(prob)
    assert set(est) == {"s", "f", "d"}
    np.testing.assert_allclose(est["d"], prob.gain_d.mean(axis=1))


# ----------------------------------------------------------------- the runs
@pytest.mark.parametrize("rho", [0.0, 0.7])
@pytest.mark.parametrize("seed", [0, 1])
def test_adaptive_never_worse_than_static(prob, rho: float, seed: int) -> None:
    ada = simulate_training(prob, seed=seed, policy="adaptive", rho=rho, rounds=12)
    fixed = simulate_training(prob, seed=seed, policy="static", rho=rho, rounds=12)
    res = simulate_training(prob, seed=seed, policy="static", rho=rho, rounds=12,
                            static_power="resolved")
    # per round: the adaptive optimum <= the static point re-evaluated on the round
    assert np.all(ada.round_delays <= res.round_delays * (1 + 1e-9))
    assert np.all(res.round_delays <= fixed.round_delays * (1 + 1e-9))
    assert ada.total <= fixed.total
    for run in (ada, fixed, res):
        assert np.all(run.bounds <= run.round_delays * (1 + 1e-9))
        assert run.total == pytest.approx(run.rounds_r * run.round_delays.mean())


def test_round_zero_and_a_frozen_channel_are_the_nominal_solution(prob) -> None:
    nominal = solve(prob)
    bd = evaluate(prob, **nominal.evaluate_kwargs())
    run = simulate_training(prob, seed=0, policy="static", rho=1.0)
    assert run.round_delays.size == int(np.ceil(bd.rounds))
    np.testing.assert_allclose(run.round_delays, bd.t_round, rtol=1e-12)
    assert run.total == pytest.approx(nominal.delay, rel=1e-12)
    ada = simulate_training(prob, seed=0, policy="adaptive", rho=1.0)
    assert ada.total <= nominal.delay * (1 + 1e-9)
    assert (run.split, run.rank) == (nominal.split, nominal.rank)


def test_round_delay_is_evaluate_on_the_round_channel(prob) -> None:
    """Rebuild round 1's channel independently and re-evaluate the static point on it."""
    nominal = solve(prob)
    run = simulate_training(prob, seed=5, policy="static", rho=0.3, rounds=2)
    fad = GaussMarkovFading(prob, 0.3, np.random.default_rng([5, 140]))
    fad.next()
    g1 = fad.next()
    bd = evaluate(with_gains(prob, g1), **nominal.evaluate_kwargs())
    assert run.round_delays[1] == pytest.approx(bd.t_round, rel=1e-12)


def test_run_arguments_are_validated(prob) -> None:
    with pytest.raises(ValidationError, match="^policy"):
        simulate_training(prob, policy="oracle")
    with pytest.raises(ValidationError, match="^pair"):
        simulate_training(prob, pair=(99, 2))
    with pytest.raises(ValidationError, match="^rounds"):
        simulate_training(prob, rounds=0)
    run = simulate_training(prob, pair=(2, 8), rounds=3, policy="adaptive")
    assert (run.split, run.rank) == (2, 8) and run.reopt_time.size == 3


# ----------------------------------------------------------------- SAA
def test_saa_against_per_sample_oracles() -> None:
    """The SAA estimate of each pair against the mean over the same samples of the
    exact per-sample optimum (enumeration): never below, within a few percent."""
    p = small_problem(7, K=2, M=3, N=2, L=3, ranks=(1, 8))
    r = solve(p, fading="saa", samples=4, seed=3, prune=False)
    assert evaluate(p, **r.evaluate_kwargs()).total == r.delay
    grid = r.grid.ravel()
    assert (r.split, r.rank) == (int(p.splits[np.argmin(grid) // p.ranks.size]),
                                 int(p.ranks[np.argmin(grid) % p.ranks.size]))
    draws = iid_samples(p, 4, np.random.default_rng([3, 14]))
    exact = np.mean([enumerate_optimum(with_gains(p, g)).grid for g in draws], axis=0)
    assert np.all(grid >= exact * (1 - 1e-9))
    assert np.all(grid <= exact * 1.05)
    lower = r.info["saa"]["lower"]
    assert np.all(lower <= exact * (1 + 1e-9))


def test_saa_options_through_the_contract(prob) -> None:
    a = solve(prob, fading="saa", samples=6, seed=1)
    b = solve(prob, fading="saa", samples=6, seed=1)
    assert a.delay == b.delay and np.array_equal(a.grid, b.grid, equal_nan=True)
    assert a.info["saa"]["samples"] == 6 and "saa" in a.timings
    with pytest.raises(ValidationError, match="^samples"):
        solve(prob, samples=6)
    with pytest.raises(ValidationError, match="^fading"):
        solve(prob, fading="robust")
    with pytest.raises(ValidationError, match="^options"):
        solve(prob, "equal_power", fading="saa")
    saa_run = simulate_training(prob, seed=1, pair="saa", samples=6, rounds=3)
    assert (saa_run.split, saa_run.rank) == (a.split, a.rank)


def test_cli_dynamic(capsys, tmp_path) -> None:
    out = tmp_path / "runs.json"
    assert main(["dynamic", "--rho", "0.5", "--rounds", "3", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "static:" in text and "adaptive:" in text and "ms/round" in text
    assert out.exists()


# ----------------------------------------------------------------- figures, shares
@pytest.mark.slow
def test_radio_figures_and_shares(tmp_path) -> None:
    import csv

    from sfl_opt.experiments.radio_figures import (
        format_shares,
        make_radio_figures,
        stage_share_rows,
    )

    paths = make_radio_figures(tmp_path, quick=True, seeds=1, executor="serial",
                               progress=False)
    names = {p.name for p in paths}
    for stem in ("band_vs_clients", "fading_vs_rho"):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.csv"} <= names
    rows = list(csv.DictReader((tmp_path / "band_vs_clients.csv").open()))
    sep = {r["clients"]: float(r["median_delay_s"]) for r in rows
           if r["config"] == "separate, fixed downlink"}
    shared = {r["clients"]: float(r["median_delay_s"]) for r in rows
              if r["config"] == "shared, fixed downlink"}
    assert all(shared[k] <= sep[k] * (1 + 1e-9) for k in sep)
    assert sep["2"] == pytest.approx(solve(Problem.default(0, clients=2), seed=0).delay)
    share = stage_share_rows([0])
    first = share[0]
    assert first["mean_delay_s"] == pytest.approx(solve(Problem.default(0), seed=0).delay)
    for r in share:
        assert sum(r[k] for k in ("client_fwd_uplink", "server", "downlink_client_bwd",
                                  "adapter_upload")) == pytest.approx(1.0)
    assert format_shares(share).count("\n") == len(share) + 1


@pytest.mark.slow
def test_relaxation_bound_per_round_against_the_oracle() -> None:
    """The per-round bounds against each round's exact optimum of the run's pair
    (enumeration on the round's gains): cheap <= relaxation <= optimum <= adaptive."""
    pytest.importorskip("cvxpy")
    p = small_problem(11, K=2, M=3, N=2, L=3, ranks=(1, 8), D=3)
    cheap = simulate_training(p, seed=4, policy="adaptive", rho=0.2, rounds=3)
    relax = simulate_training(p, seed=4, policy="adaptive", rho=0.2, rounds=3,
                              bound="relaxation")
    np.testing.assert_array_equal(cheap.round_delays, relax.round_delays)
    assert np.all(cheap.bounds <= relax.bounds * (1 + 1e-12))
    fad = GaussMarkovFading(p, 0.2, np.random.default_rng([4, 140]))
    i = list(zip(p.splits.repeat(p.ranks.size), np.tile(p.ranks, p.splits.size),
                 strict=True)).index((relax.split, relax.rank))
    for t in range(3):
        g = fad.next()
        opt = enumerate_optimum(with_gains(p, g)).grid[i] / relax.rounds_r  # T_round
        assert relax.bounds[t] <= opt * (1 + 1e-9)
        assert opt <= relax.round_delays[t] * (1 + 1e-9)
    with pytest.raises(ValidationError, match="^bound"):
        simulate_training(p, bound="exact")


# ------------------------------------------------------------------ work once
def test_training_rounds_do_not_validate_whole_problems(prob) -> None:
    """A round's problem shares the validated fields (only its gains are checked): the
    whole-problem validations of a run do not grow with its rounds."""
    from sfl_opt.model import problem as pm

    def validations(rounds: int) -> int:
        before = pm.VALIDATIONS["problem"]
        simulate_training(prob, seed=2, policy="static", rounds=rounds)
        return pm.VALIDATIONS["problem"] - before

    validations(1)  # anything memoised on the first run
    assert validations(2) == validations(9) <= 1


def test_with_gains_equals_the_validated_copy(prob) -> None:
    """``with_gains`` (gains checked, the rest shared) gives the problem ``replace``
    gives (every field validated), and checks the gains as the constructor does."""
    rng = np.random.default_rng(5)
    gains = {n: getattr(prob, f"gain_{n}") * rng.exponential(size=getattr(
        prob, f"gain_{n}").shape) for n in ("s", "f", "d")}
    fast = with_gains(prob, gains)
    slow = prob.replace(**{f"gain_{n}": g for n, g in gains.items()})
    assert fast == slow and fast != prob
    assert not fast.gain_s.flags.writeable
    assert fast.gain_s is not prob.gain_s and fast.bw_s is prob.bw_s  # shared, read-only
    with pytest.raises(ValidationError, match="^gain_s"):
        with_gains(prob, {"s": prob.gain_s[:, :-1]})
    with pytest.raises(ValidationError, match="^gain_f"):
        with_gains(prob, {"f": -prob.gain_f})
    with pytest.raises(ValidationError, match="^gains"):
        with_gains(prob, {"x": prob.gain_s})
    fixed = Problem.default(seed=3, clients=3, subchannels=5, ranks=(2, 8), layers=4,
                            hidden=256, seq=128, profile=None)
    with pytest.raises(ValidationError, match="^with_gains"):
        fixed.with_gains(gain_d=prob.gain_d)
