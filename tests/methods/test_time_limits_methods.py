"""Time limits of every method (issue 20): the logic, not the speed (speed lives in
``benchmarks/bench_time_limits.py``). A limit far too short for the instance makes each
method take its deadline checks; the result must say ``termination.limit == "time"`` and
still be a feasible point whose delay evaluates, with a valid bound."""

from __future__ import annotations

import importlib.util
import math
import time

import numpy as np
import pytest

from sfl_opt import Problem, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.kernels import link_rate_bounds, link_rate_bounds_sorted
from sfl_opt.methods import METHODS
from sfl_opt.methods.per_client_bound import per_client_lower_bound
from sfl_opt.model.fading import iid_samples, iter_samples

HAS_PYOMO = all(importlib.util.find_spec(m) is not None for m in ("pyomo", "highspy"))


@pytest.fixture(scope="module")
def big() -> Problem:
    """K M = 72 * 288 > TIMED_LINK: the large-link code paths (timed searches, greedy in
    blocks) run."""
    return Problem.default(1, clients=72, subchannels=288)


def check_point(pr: Problem, res) -> None:
    """A feasible point whose delay evaluates, with a bound below it."""
    bd = evaluate(pr, **res.evaluate_kwargs())
    assert bd.total == pytest.approx(res.delay, rel=1e-9)
    assert res.lower_bound is not None and 0 < res.lower_bound <= res.delay
    assert math.isfinite(res.gap) and 0 <= res.gap < 1


CASES = [("sflllm", {}), ("sflllm", {"mode": "bcd"}),
         ("sflllm", {"fading": "saa", "samples": 4}),
         ("sflllm", {"split_mode": "per_client"}),
         ("random_subchannels", {}), ("equal_power", {}), ("random_split", {}),
         ("fixed_rank", {}), ("random_rank", {}), ("exact", {}),
         ("milp", {})]


@pytest.mark.parametrize("method,kw", CASES, ids=[f"{m}{kw or ''}" for m, kw in CASES])
def test_every_method_stops_at_its_limit_with_a_feasible_point(big, method, kw):
    if method == "milp" and not HAS_PYOMO:
        pytest.skip("milp needs pyomo and highspy")
    assert METHODS[method].accepts("time_limit")
    res = solve(big, method, time_limit=1e-6, **kw)
    assert res.termination.limit == "time", res.termination
    assert res.status == "feasible"
    check_point(big, res)
    assert "prepare" in res.timings and res.timings["prepare"] <= res.timings["total"]


def test_a_one_shot_baseline_accepts_a_time_limit(big):
    """``fully_random`` draws once: nothing to cut, it says it enumerated its draw."""
    res = solve(big, "fully_random", time_limit=1e-6, seed=3)
    assert res.termination.reason == "enumerated" and res.termination.limit == "none"
    check_point(big, res)
    assert res.delay == solve(big, "fully_random", seed=3).delay


def test_what_the_cut_short_methods_report(big):
    P = prepare(big).P
    res = solve(big, "equal_power", time_limit=1e-6)
    assert 1 <= res.info["searched"] < P
    res = solve(big, "random_subchannels", time_limit=1e-6, seed=1)
    assert 1 <= res.info["searched"] < P
    res = solve(big, "sflllm", fading="saa", samples=6, time_limit=1e-6)
    saa = res.info["saa"]
    # no time for one sample (it costs about what preparing the problem did): the
    # nominal search, said in info
    assert saa["timed_out"] and saa["samples"] == 0 and saa["evaluated"] == 0
    res = solve(big, "sflllm", split_mode="per_client", time_limit=1e-6)
    assert np.asarray(res.split).shape == (big.K,)


def test_the_first_pair_under_a_limit_is_the_least_bound_one(big):
    """On a large link the greedy visits the pairs in order of their cheap bound: with no
    time left only the most promising pair is allocated."""
    res = solve(big, time_limit=1e-6, bound=False)
    grid = res.grid[np.isfinite(res.grid)]
    assert grid.size == 1
    prep = prepare(big)
    f_t = prep.link("f").greedy(None).t
    lb = prep.total(np.arange(prep.P), prep.stage_bounds(), f_t)
    assert prep.pair(int(np.argmin(lb))) == (res.split, res.rank)


@pytest.mark.parametrize("method,kw", [("sflllm", {}), ("random_subchannels", {}),
                                       ("equal_power", {}), ("sflllm", {"fading": "saa",
                                                                         "samples": 3})])
def test_a_generous_limit_gives_the_unlimited_answer(method, kw):
    """A limit that is not reached changes nothing (same seed, same answer)."""
    pr = Problem.default(2, clients=6, subchannels=18)
    free = solve(pr, method, seed=4, **kw)
    timed = solve(pr, method, seed=4, time_limit=300.0, **kw)
    assert timed.delay == free.delay
    assert timed.termination.reason == free.termination.reason
    assert np.array_equal(timed.assign_s, free.assign_s)


def test_the_limit_covers_preparation():
    """``timings["prepare"]`` (validation, preparation, the rate bounds) is part of the
    total, and a limit shorter than it still returns a point."""
    pr = Problem.default(0, clients=40, subchannels=160)
    res = solve(pr, time_limit=1e-6)
    assert 0 < res.timings["prepare"] < res.timings["total"]
    check_point(pr, res)


@pytest.mark.skipif(not HAS_PYOMO, reason="milp needs pyomo and highspy")
def test_milp_builds_no_model_that_cannot_finish(big):
    """K M = 20 736 entries and 0.05 s: the MILP is not built (it would take seconds);
    the heuristic point comes back with its bound."""
    t0 = time.perf_counter()
    res = solve(big, "milp", time_limit=0.05)
    assert res.termination.limit == "time"
    assert "f_milp" not in res.info.get("stats", {})
    check_point(big, res)
    assert time.perf_counter() - t0 < 30  # not a timing test: it did not build a model


@pytest.mark.parametrize("seed", range(6))
def test_rate_bounds_on_the_gain_order_equal_the_plain_kernel(seed):
    """The prefix water-filling of ``link_rate_bounds_sorted`` gives the full kernel's
    rates: capped and uncapped, strong and deeply faded clients, tiny and huge powers."""
    rng = np.random.default_rng(seed)
    K, M = int(rng.integers(1, 9)), int(rng.integers(8, 200))
    K = min(K, M)
    gain = 10 ** rng.uniform(-16, -4, (K, M)) * rng.exponential(1.0, (K, M))
    from sfl_opt.kernels import gain_order, normalise

    la, inva = normalise(gain, 4e-21)
    order = gain_order(la)
    bw = rng.uniform(1e4, 1e6, M)
    pmax = 10 ** rng.uniform(-4, 1, K)
    for lcap in (math.inf, 7.4, 0.3):
        for ptot in (math.inf, float(pmax.sum()) * 0.3):
            a = link_rate_bounds(la, inva, bw, pmax, ptot, lcap)
            b = link_rate_bounds_sorted(la, inva, bw, pmax, ptot, order, lcap)
            np.testing.assert_allclose(b[0], a[0], rtol=1e-12)
            assert b[1] == pytest.approx(a[1], rel=1e-12)


def test_per_client_bound_with_no_time_left_is_valid_and_looser():
    pr = Problem.default(0, clients=6, subchannels=24)
    prep = prepare(pr)
    full = per_client_lower_bound(prep)
    late = per_client_lower_bound(prep, deadline=time.perf_counter() - 1.0)
    assert 0 < late <= full * (1 + 1e-12)
    res = solve(pr, split_mode="per_client")
    assert late <= res.delay


def test_samples_drawn_lazily_are_the_same_samples():
    pr = Problem.default(0, clients=4, subchannels=8, downlink="allocated")
    a = iid_samples(pr, 5, np.random.default_rng(3))
    b = list(iter_samples(pr, 5, np.random.default_rng(3)))
    assert len(a) == len(b) == 5
    for x, y in zip(a, b, strict=True):
        assert x.keys() == y.keys()
        for n in x:
            np.testing.assert_array_equal(x[n], y[n])
