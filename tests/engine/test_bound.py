"""The time-sharing relaxation bound (``bound="relaxation"``): valid against the oracle,
tight enough to be useful."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt.engine.bounds import SHAVE, TimeSharingRelaxation, lower_bound, lower_bound_details
from sfl_opt.engine.prepared import prepare
from sfl_opt.testing import enumerate_optimum, small_problem

pytestmark = pytest.mark.requires("cvxpy", "clarabel")


@pytest.mark.parametrize("seed", range(16))
def test_bound_never_exceeds_exact_optimum(seed):
    rng = np.random.default_rng(seed)
    K = int(rng.integers(2, 4))
    M = int(rng.integers(K, 6))
    N = int(rng.integers(K, 5))
    p_total = float(rng.choice([0.15, 0.3, 0.6, math.inf]))
    pr = small_problem(seed, K=K, M=M, N=N, p_total=p_total)
    opt = enumerate_optimum(pr).delay
    lb = lower_bound(pr)
    assert 0 < lb <= opt


def test_single_client_relaxation_is_exact():
    """With one client, time sharing is no relaxation: the bound equals exact power
    control with every subchannel (up to the shave)."""
    pr = small_problem(0, K=1, M=5, N=4)
    ctx = prepare(pr)
    relax = TimeSharingRelaxation(ctx, "s")
    for p in range(ctx.P):
        exact = ctx.link("s").exact_power(np.zeros(pr.M, np.int64), p).t
        lb = relax.stage(p, exact)
        assert lb <= exact
        assert lb == pytest.approx(exact, rel=10 * SHAVE)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bound_on_default_scenario(seed):
    pr = Problem.default(seed=seed)
    res = solve(pr, bound="relaxation")
    d = lower_bound_details(pr)
    assert res.lower_bound == pytest.approx(d["bound"], rel=1e-12)
    assert 0 < res.lower_bound <= res.delay
    assert res.gap == pytest.approx((res.delay - res.lower_bound) / res.delay)
    # the relaxation improves on the closed-form bounds and is within a few percent
    assert res.gap < 0.05
    cheap = float(np.min(prepare(pr).total(np.arange(d["cheap"].size), d["cheap"], d["tf"])))
    assert d["bound"] >= cheap
    assert d["failed"] == 0 and d["solved"] >= 1
