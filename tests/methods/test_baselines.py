"""Baselines (SPEC §3): feasibility, determinism, what each one ablates, and that SflLLM
beats them on the default scenario."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfl_opt import Problem, evaluate, solve
from sfl_opt.methods import METHODS
from sfl_opt.methods.baselines import BASELINES, equal_psd, median_rank, random_assignment
from sfl_opt.model.delay import client_power, link_rates

NAMES = sorted(BASELINES)
RANDOM = sorted(n for n, spec in BASELINES.items() if spec.get("random"))


@pytest.fixture(scope="module")
def problems() -> list[Problem]:
    return [Problem.default(seed=s) for s in range(10)]


def _check_feasible(p: Problem, r) -> None:
    assert r.status == ("optimal" if r.gap <= 1e-6 else "feasible")  # the default bound
    bd = evaluate(p, r.split, r.rank, r.assign_s, r.psd_s, r.assign_f, r.psd_f)
    assert bd.total == r.delay
    for link, a, bw, ptot in (("s", r.assign_s, p.bw_s, p.p_total_s),
                              ("f", r.assign_f, p.bw_f, p.p_total_f)):
        assert set(np.unique(a).tolist()) == set(range(p.K)), link
        psd = r.psd_s if link == "s" else r.psd_f
        power = client_power(bw, a, psd, p.K)
        assert (power <= p.p_max * (1 + 1e-9)).all()
        assert power.sum() <= ptot * (1 + 1e-9)


def test_all_registered() -> None:
    for name in ("random_subchannels", "equal_power", "random_split", "fixed_rank",
                 "random_rank", "fully_random"):
        assert name in METHODS
        assert METHODS[name].random == (name in RANDOM)
    assert METHODS["fixed_rank"].options == ("rank",)


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize("seed", [0, 3])
def test_baseline_feasible(problems, name: str, seed: int) -> None:
    p = problems[seed]
    r = solve(p, name, seed=seed)
    assert r.method == name
    _check_feasible(p, r)


@pytest.mark.parametrize("name", NAMES)
def test_baseline_feasible_small_and_bcd(name: str) -> None:
    p = Problem.default(seed=7, clients=3, subchannels=4, ranks=(2, 8))
    for mode in METHODS[name].modes or (None,):
        r = solve(p, name, seed=1, mode=mode)
        assert r.mode == (mode or "")
        _check_feasible(p, r)


@pytest.mark.parametrize("name", RANDOM)
def test_same_seed_same_answer(problems, name: str) -> None:
    p = problems[1]
    a, b = solve(p, name, seed=5), solve(p, name, seed=5)
    assert a.delay == b.delay and (a.split, a.rank) == (b.split, b.rank)
    assert np.array_equal(a.assign_s, b.assign_s) and np.array_equal(a.psd_s, b.psd_s)
    assert np.array_equal(a.assign_f, b.assign_f) and np.array_equal(a.psd_f, b.psd_f)
    # the seed matters: over a few seeds the answers are not all the same
    delays = {solve(p, name, seed=s).delay for s in range(6)}
    assert len(delays) > 1


def test_random_assignment_every_client_served() -> None:
    rng = np.random.default_rng(0)
    counts = np.zeros(4)
    for _ in range(200):
        a = random_assignment(rng, 10, 4)
        assert a.shape == (10,) and a.min() >= 0 and a.max() < 4
        assert (np.bincount(a, minlength=4) >= 1).all()
        counts += np.bincount(a, minlength=4)
    # uniform over clients on average (each gets 1 + 6/4 = 2.5 expected)
    assert np.allclose(counts / 200, 2.5, atol=0.3)
    with pytest.raises(ValueError, match="clients"):
        random_assignment(rng, 3, 4)


@settings(max_examples=50, deadline=None)
@given(st.integers(1, 6), st.integers(0, 10), st.floats(0.01, 2.0), st.floats(0.01, 5.0),
       st.integers(0, 2**31))
def test_equal_psd_is_largest_feasible(k: int, extra: int, pmax: float, ptot: float,
                                       seed: int) -> None:
    rng = np.random.default_rng(seed)
    m = k + extra
    bw = rng.uniform(0.5e6, 2e6, size=m)
    p_max = rng.uniform(0.5, 1.0, size=k) * pmax
    a = random_assignment(rng, m, k)
    psd = equal_psd(bw, a, p_max, ptot)
    power = np.array([psd * bw[a == i].sum() for i in range(k)])
    assert (power <= p_max * (1 + 1e-12)).all() and power.sum() <= ptot * (1 + 1e-12)
    # one cap is tight: no larger common psd is feasible
    tight = np.isclose(power, p_max, rtol=1e-9).any() or np.isclose(power.sum(), ptot, rtol=1e-9)
    assert tight


def test_equal_power_uses_one_psd_per_link(problems) -> None:
    p = problems[2]
    r = solve(p, "equal_power")
    for psd, bw, a, ptot in ((r.psd_s, p.bw_s, r.assign_s, p.p_total_s),
                             (r.psd_f, p.bw_f, r.assign_f, p.p_total_f)):
        assert np.all(psd == psd[0]) and psd[0] > 0
        assert psd[0] == pytest.approx(equal_psd(bw, a, p.p_max, ptot), rel=1e-15)
    # the s-link stage equals the formula with the delay model's rates
    rs = link_rates(p.gain_s, p.bw_s, r.assign_s, r.psd_s, p.noise_psd, p.K, p.max_se,
                    p.se_attenuation)
    assert np.allclose(r.breakdown.rate_s, rs, rtol=1e-12)
    # exact power on the same assignment is never worse (independent: sflllm pipeline)
    assert solve(p, seed=0).delay <= r.delay * (1 + 1e-12)


def test_fully_random_equal_power_and_random_choices(problems) -> None:
    p = problems[0]
    rs = [solve(p, "fully_random", seed=s) for s in range(12)]
    for r in rs:
        assert np.all(r.psd_s == r.psd_s[0]) and np.all(r.psd_f == r.psd_f[0])
    assert len({r.split for r in rs}) > 2 and len({r.rank for r in rs}) > 1


def test_fixed_rank_default_is_median_and_option(problems) -> None:
    p = problems[0]
    assert median_rank(p.ranks) == 4 and median_rank(np.array([8, 1, 2, 4])) == 2
    assert solve(p, "fixed_rank").rank == 4
    assert solve(p, "fixed_rank", rank=16).rank == 16
    for bad in (3, "4", 4.0, True):
        with pytest.raises(ValueError, match="^rank"):
            solve(p, "fixed_rank", rank=bad)
    with pytest.raises(ValueError, match="options"):
        solve(p, "equal_power", rank=4)


def _only_rank(p: Problem, rank: int) -> Problem:
    """The problem with the one candidate rank ``rank`` (and its rounds)."""
    col = list(p.ranks).index(rank)
    return p.replace(ranks=np.array([rank]), rounds=np.asarray(p.rounds)[[col]])


def test_restricted_pairs_match_full_grid(problems) -> None:
    """fixed_rank / random_split / random_rank are SflLLM on a row or column of the grid:
    with pruning and the kicks of the iterated local search off (kicks draw their random
    numbers per pair index, which differs in a smaller problem), each equals SflLLM on
    the problem whose candidates are that row or column. The full search shares the
    assignments it finds between pairs (re-scoring), so on each row or column it is at
    least as good as the greedy start of every pair there."""
    p = problems[4]
    full = solve(p, prune=False, seed=2, kicks=0)
    greedy = solve(p, prune=False, seed=2, refine=False).grid
    assert (full.grid <= greedy * (1 + 1e-12)).all()
    for rank in (1, 8):
        r = solve(p, "fixed_rank", rank=rank, prune=False, seed=2, kicks=0)
        assert r.rank == rank
        col = list(p.ranks).index(rank)
        alone = solve(_only_rank(p, rank), prune=False, seed=2, kicks=0)
        assert r.delay == pytest.approx(alone.delay, rel=1e-12)
        assert r.grid[:, col] == pytest.approx(alone.grid[:, 0], rel=1e-12)
    r = solve(p, "random_split", seed=2, prune=False, kicks=0)
    assert r.split == r.info["fixed_split"]
    alone = solve(p.replace(splits=np.array([r.split])), prune=False, seed=2, kicks=0)
    assert r.delay == pytest.approx(alone.delay, rel=1e-12)
    assert np.isinf(r.grid).sum() == (p.splits.size - 1) * p.ranks.size
    r = solve(p, "random_rank", seed=2, prune=False, kicks=0)
    assert r.rank == r.info["fixed_rank"]
    alone = solve(_only_rank(p, r.rank), prune=False, seed=2, kicks=0)
    assert r.delay == pytest.approx(alone.delay, rel=1e-12)


def test_random_subchannels_holds_one_assignment(problems) -> None:
    p = problems[5]
    r = solve(p, "random_subchannels", seed=3)
    # its grid is the search over pairs with the assignment held: the chosen pair is best
    assert r.delay == pytest.approx(np.min(r.grid), rel=1e-9)
    assert np.isfinite(r.grid).all()


def test_sflllm_beats_every_baseline_on_average(problems) -> None:
    """Over 10 seeds of the default scenario (scenario seed = method seed)."""
    base = np.array([solve(p, seed=s).delay for s, p in enumerate(problems)])
    for name in NAMES:
        d = np.array([solve(p, name, seed=s).delay for s, p in enumerate(problems)])
        assert base.mean() <= d.mean(), name
        if name == "fully_random":
            assert np.mean(1 - base / d) >= 0.40


@settings(max_examples=12, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 6), st.integers(0, 6), st.integers(0, 100))
def test_every_baseline_feasible_on_random_small_scenarios(scenario: int, k: int, extra: int,
                                                           seed: int) -> None:
    p = Problem.default(scenario, clients=k, subchannels=k + extra, ranks=(1, 4, 16),
                        p_max=0.05 + 0.05 * (seed % 5))
    for name in NAMES:
        _check_feasible(p, solve(p, name, seed=seed))


def test_the_baseline_list_is_defined_once() -> None:
    """The studies' list is the registration's (one definition), in its order, and every
    baseline has its label and its colour and marker."""
    from sfl_opt.experiments import analysis, plots

    assert analysis.BASELINES == tuple(BASELINES)
    for name in analysis.BASELINES:
        assert name in analysis.METHOD_LABELS and name in plots.METHOD_STYLE, name
