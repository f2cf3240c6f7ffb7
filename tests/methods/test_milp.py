"""The certified MILP method (``solve(p, "milp")``) against the enumeration oracle."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from sfl_opt import ValidationError, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.methods.milp import RTOL, LinkMILP, exact_link
from sfl_opt.testing import best_link, enumerate_optimum, small_problem

pytestmark = pytest.mark.requires("pyomo", "highspy")


def check_certified(pr, res, oracle) -> None:
    assert res.status == "optimal" and res.termination.reason == "optimal"
    # a valid point whose delay is the oracle optimum to the certificate's tolerance
    bd = evaluate(pr, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)
    assert bd.total == pytest.approx(res.delay, rel=1e-12)
    assert res.delay >= oracle.delay * (1 - 1e-9)
    assert res.delay <= oracle.delay * (1 + RTOL)
    # the certified bound is below the true optimum and within the tolerance of it
    assert res.lower_bound <= oracle.delay * (1 + 1e-12)
    assert res.lower_bound >= oracle.delay * (1 - 3 * RTOL)
    assert res.gap <= 3 * RTOL


@pytest.mark.parametrize("seed,p_total", [(0, 0.6), (1, 0.3), (2, math.inf), (3, 0.6),
                                          (4, 0.2), (5, 0.45)])
def test_exact_equals_oracle_small(seed, p_total):
    pr = small_problem(seed, K=3, M=5, N=4, p_total=p_total)
    oracle = enumerate_optimum(pr)
    res = solve(pr, "milp")
    check_certified(pr, res, oracle)
    assert (res.method, res.power, res.mode) == ("milp", "native", "")


@pytest.mark.parametrize("seed,probe", [(0, "top"), (1, "top"), (2, "mid"), (3, "mid")])
def test_exact_link_from_a_poor_incumbent(seed, probe):
    """The MILP oracle has to do the work: start every pair from a random assignment."""
    K, M = 3, 6
    pr = small_problem(seed, K=K, M=M, N=4, p_total=[0.6, 0.25, math.inf, 0.4][seed])
    ctx = prepare(pr)
    rng = np.random.default_rng(100 + seed)
    milp = LinkMILP(ctx, "s")
    for p in rng.choice(ctx.P, 2, replace=False):
        p = int(p)
        la, inva, bw, pmax, ptot = ctx.link("s").arrays()
        c, S = ctx.link("s").demand(p)
        t_opt, _, _ = best_link(la, inva, bw, c, S, pmax, ptot, K, ctx.link("s").lcap)
        a0 = np.concatenate([np.arange(K), rng.integers(0, K, M - K)])
        pt, lo, _ = exact_link(milp, p, ctx.link("s").exact_power(a0, p), 0.0, RTOL, probe=probe)
        assert pt.t <= t_opt * (1 + RTOL)
        assert lo <= t_opt * (1 + 1e-12)
        assert pt.t - lo <= RTOL * pt.t * (1 + 1e-9)
    assert milp.stats.milps >= 2


def test_exact_time_limit_returns_best_point():
    pr = small_problem(7, K=3, M=6, N=4)
    res = solve(pr, "milp", time_limit=1e-6)
    assert res.status == "feasible" and res.termination.limit == "time"
    bd = evaluate(pr, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)
    assert bd.total == pytest.approx(res.delay, rel=1e-12)
    assert res.lower_bound is not None and res.lower_bound <= res.delay
    heur = solve(pr)
    assert res.delay <= heur.delay * (1 + 1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [0, 1])
def test_exact_certifies_k4_m8(seed):
    pr = small_problem(seed, K=4, M=8, N=6)
    oracle = enumerate_optimum(pr)
    res = solve(pr, "milp")
    check_certified(pr, res, oracle)


def test_exact_solver_trouble_returns_best_point(monkeypatch):
    from sfl_opt.errors import SflOptError
    from sfl_opt.methods import milp as exact

    def broken(self, p, t):
        raise SflOptError("HiGHS stopped with error")

    monkeypatch.setattr(exact.LinkMILP, "probe", broken)
    pr = small_problem(8, K=3, M=6, N=4)
    res = solve(pr, "milp")
    assert res.status == "feasible" and res.termination.reason == "solver_error"
    assert "HiGHS" in res.info["error"]
    assert res.delay == pytest.approx(solve(pr).delay, rel=1e-12)
    assert res.lower_bound <= res.delay


def test_exact_with_bound_keeps_the_certified_bound():
    pr = small_problem(2, K=3, M=5, N=4)
    res = solve(pr, "milp", bound=True)
    assert res.status == "optimal"
    assert res.gap <= 3 * RTOL  # the relaxation alone is looser (several percent here)
    assert res.lower_bound <= res.delay


def test_assign_exact_is_a_deprecated_alias_of_milp():
    pr = small_problem(0, K=3, M=5, N=4)
    with pytest.warns(DeprecationWarning, match="milp"):
        res = solve(pr, assign="exact")
    assert res.method == "milp" and res.status == "optimal"
    assert res.delay == solve(pr, "milp").delay


@pytest.mark.parametrize("kwargs,field", [
    (dict(method="fixed_rank", rank=1, assign="exact"), "assign"),
    (dict(method="sflllm", assign="exact", power="cvxpy"), "power"),
    (dict(method="sflllm", assign="exact", mode="bcd"), "mode"),
    (dict(method="sflllm", assign="exact", refine=False), "refine"),
    (dict(method="milp", kicks=3), "kicks"),
    (dict(method="milp", seed=1), "seed"),
])
def test_milp_rejects_what_it_would_ignore(kwargs, field):
    """The mislabelling of issue 12: fixed_rank + assign="exact" used to return the joint
    optimum under the name fixed_rank; the MILP stamped power/mode/refine it ignored."""
    pr = small_problem(0, K=2, M=3, N=2)
    method = kwargs.pop("method")
    with warnings.catch_warnings(), pytest.raises(ValidationError) as exc:
        warnings.simplefilter("ignore", DeprecationWarning)
        solve(pr, method, **kwargs)
    assert str(exc.value).startswith(field)
