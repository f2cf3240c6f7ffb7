"""Power backends: registry, lazy imports, agreement native / cvxpy / pyomo, failures."""

from __future__ import annotations

import functools
import math
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfl_opt import BackendError, Limit, Problem, Termination, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.power import (
    _REGISTRY,
    available_backends,
    backend_class,
    get_backend,
    registered_backends,
)
from sfl_opt.power.base import PowerSubproblem

RTOL = 1e-4
BACKENDS = ("native", "cvxpy", "pyomo")
#: What each backend needs beyond the core install (tests skip, naming the extra, without it).
NEEDS = {"native": (), "cvxpy": ("cvxpy", "clarabel"), "pyomo": ("pyomo", "highspy")}
ALL_EXTRAS = NEEDS["cvxpy"] + NEEDS["pyomo"]
#: Each backend as a parameter that is skipped when its extra is not installed.
PARAMS = [pytest.param(n, marks=pytest.mark.requires(*NEEDS[n])) for n in BACKENDS]


@functools.cache
def backend(name: str):
    """One instance per backend for the module (the cvxpy one keeps its compiled programs)."""
    return get_backend(name)


@pytest.fixture(scope="module")
def backends():
    return {name: backend(name) for name in BACKENDS}


def subproblems(seed: int, pairs=(0, 23, 54)):
    """s-link subproblems of the default scenario at refined greedy assignments, and the
    f-link one."""
    pr = Problem.default(seed=seed)
    ctx = prepare(pr)
    out = []
    for p in pairs:
        pt = ctx.link("s").greedy(p, True)
        out.append(ctx.link("s").power_subproblem(pt.assign, p))
    f = ctx.link("f").greedy(None, True)
    out.append(ctx.link("f").power_subproblem(f.assign, None))
    return out


def check_solution(sub: PowerSubproblem, sol) -> None:
    """The answer is a valid point and its t is the deadline its psd achieves."""
    assert sol.psd.shape == (sub.M,)
    assert np.all(sol.psd >= 0)
    power = np.bincount(sub.assign, weights=sol.psd * sub.bw, minlength=sub.K)
    assert np.all(power <= sub.p_max * (1 + 1e-9))
    if math.isfinite(sub.p_total):
        assert power.sum() <= sub.p_total * (1 + 1e-9)
    # independent recomputation of max_k (c_k + S / R_k)
    rate = np.zeros(sub.K)
    for m in range(sub.M):
        k = sub.assign[m]
        rate[k] += sub.bw[m] * min(np.log2(1 + sol.psd[m] * sub.gain[k, m] / sub.noise_psd),
                                   sub.lcap)  # the spectral-efficiency cap (inf: none)
    assert sol.t == pytest.approx(np.max(sub.c + sub.S / rate), rel=1e-12)


# -- registry ----------------------------------------------------------------------------

@pytest.mark.requires(*ALL_EXTRAS)
def test_registry_lists_three_installed_backends():
    assert set(BACKENDS) <= set(registered_backends())
    assert set(BACKENDS) <= set(available_backends())
    for name in BACKENDS:
        cls = backend_class(name)
        assert cls.name == name and cls.available()
        assert isinstance(cls.capabilities, frozenset) and cls.capabilities
    assert "exact" in backend_class("native").capabilities
    assert "parametric" in backend_class("cvxpy").capabilities
    assert "outer_approximation" in backend_class("pyomo").capabilities


def test_unknown_backend_error_lists_installed():
    with pytest.raises(BackendError) as exc:
        get_backend("gurobi_magic")
    installed = available_backends()
    assert "native" in installed
    for name in installed:
        assert name in str(exc.value)
    with pytest.raises(BackendError, match="installed: " + ", ".join(installed)):
        solve(Problem.default(seed=0, clients=2, subchannels=3), power="nope")


def test_missing_backend_error_lists_installed(monkeypatch):
    monkeypatch.setitem(_REGISTRY, "ghost", "sfl_opt_no_such_module_xyz:Ghost")
    assert "ghost" in registered_backends()
    assert "ghost" not in available_backends()
    with pytest.raises(BackendError, match="not installed.*installed: .*native"):
        get_backend("ghost")


@pytest.mark.requires(*NEEDS["cvxpy"])
def test_unknown_cvxpy_solver_is_a_clear_error():
    with pytest.raises(BackendError, match="installed: .*CLARABEL"):
        get_backend("cvxpy", solver="NO_SUCH_SOLVER")


@pytest.mark.slow
def test_optional_dependencies_imported_lazily():
    code = ("import sys, sfl_opt; from sfl_opt import solve, Problem; "
            "import sfl_opt.power, sfl_opt.engine.bounds, sfl_opt.methods.milp; "
            "bad = [m for m in ('cvxpy', 'pyomo', 'highspy', 'clarabel') if m in sys.modules]; "
            "print(bad); assert not bad, bad")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120)
    assert res.returncode == 0, res.stderr + res.stdout


# -- agreement ---------------------------------------------------------------------------

@pytest.mark.requires(*ALL_EXTRAS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_backends_agree_on_default_scenario(seed, backends):
    for sub in subproblems(seed):
        sols = {name: b.solve(sub) for name, b in backends.items()}
        for name, sol in sols.items():
            assert sol.status == "optimal", (name, sol.termination)
            check_solution(sub, sol)
            assert sol.violation <= 1e-9
        ref = sols["native"].t
        for name in ("cvxpy", "pyomo"):
            assert abs(sols[name].t - ref) <= RTOL * ref, (name, sols[name].t, ref)
            # the native answer is optimal: no backend may beat it beyond round-off
            assert sols[name].t >= ref * (1 - 1e-9)
        # the pyomo LP bound is a valid lower bound (shrunk by HiGHS's feasibility
        # tolerance, so no slack is needed beyond float round-off), and close
        assert sols["pyomo"].bound <= ref * (1 + 1e-12)
        assert sols["pyomo"].bound >= ref * (1 - RTOL)
        info = sols["pyomo"].info
        # converged: the cuts hold at the LP point, or the LP bound meets the feasible
        # deadline (with the spectral-efficiency cap every client can saturate, fixing
        # the deadline; the variables of slack clients then need no cut)
        assert info["oa_violation"] <= 1e-6 or info["gap"] <= 1e-9
        assert sols["pyomo"].iterations >= 1


@st.composite
def random_subproblem(draw):
    K = draw(st.integers(1, 4))
    M = draw(st.integers(K, 8))
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    gain = 10 ** rng.uniform(-13, -7, size=(K, M))
    bw = rng.uniform(0.2e6, 2e6, size=M)
    assign = np.concatenate([rng.permutation(K), rng.integers(0, K, M - K)])
    rng.shuffle(assign)
    c = rng.uniform(0, 2.0, size=K)
    S = float(10 ** rng.uniform(5, 8))
    p_max = rng.uniform(0.05, 0.5, size=K)
    p_total = draw(st.sampled_from([math.inf, 0.5, 0.2])) * (K / 3)
    return PowerSubproblem(gain, bw, assign.astype(np.int64), c, S, p_max, p_total, 4e-21)


@pytest.mark.requires(*ALL_EXTRAS)
@settings(max_examples=25, deadline=None)
@given(sub=random_subproblem())
def test_backends_agree_on_random_instances(sub):
    nat = get_backend("native").solve(sub)
    cvx = backend("cvxpy").solve(sub)
    pyo = backend("pyomo").solve(sub)
    for sol in (nat, cvx, pyo):
        assert sol.status == "optimal", sol.termination
        check_solution(sub, sol)
    assert abs(cvx.t - nat.t) <= RTOL * nat.t
    assert abs(pyo.t - nat.t) <= RTOL * nat.t
    # a valid lower bound without slack beyond round-off (an unshrunk LP value exceeded the
    # optimum by 2e-9 relative on one draw)
    assert pyo.bound <= nat.t * (1 + 1e-12)


@pytest.mark.requires(*NEEDS["cvxpy"])
def test_cvxpy_reuses_compiled_program():
    b = get_backend("cvxpy")
    subs = subproblems(0)
    for sub in subs:
        b.solve(sub)
    # one compiled program per (K, M) shape, reused by the re-solves
    assert len(b._cache) == 1
    (prog,) = b._cache.values()
    assert prog.solves == len(subs) and prog.problem.is_dpp()


@pytest.mark.parametrize("power", PARAMS[1:])
def test_solve_with_backend_matches_native(power):
    pr = Problem.default(seed=3)
    ref = solve(pr)
    res = solve(pr, power=power)
    assert res.power == power
    assert res.termination.reason == "converged"
    assert abs(res.delay - ref.delay) <= RTOL * ref.delay
    bd = evaluate(pr, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)
    assert bd.total == pytest.approx(res.delay, rel=1e-12)
    assert res.info["power_s"]["status"] == "optimal"


# -- failures come back as a status --------------------------------------------------------

@pytest.mark.requires(*NEEDS["pyomo"])
def test_pyomo_iteration_limit_is_reported_with_a_feasible_point():
    sub = subproblems(0, pairs=(5,))[0]
    nat = get_backend("native").solve(sub)
    sol = get_backend("pyomo", max_iter=1).solve(sub)
    assert sol.status == "feasible"
    assert sol.termination == Termination.at_limit(Limit.ITERATION)
    check_solution(sub, sol)
    assert sol.t >= nat.t * (1 - 1e-12)
    assert sol.bound <= nat.t
    assert sol.info["oa_violation"] > 1e-9


@pytest.mark.requires(*NEEDS["pyomo"])
def test_pyomo_time_limit_is_reported():
    sub = subproblems(0, pairs=(5,))[0]
    sol = get_backend("pyomo", time_limit=1e-9).solve(sub)
    assert sol.status == "feasible" and sol.termination.limit == "time"
    check_solution(sub, sol)


@pytest.mark.filterwarnings("ignore:Solution may be inaccurate")
@pytest.mark.requires(*NEEDS["cvxpy"], "scs")
def test_cvxpy_solver_trouble_is_reported_with_a_feasible_point():
    sub = subproblems(0, pairs=(5,))[0]
    nat = get_backend("native").solve(sub)
    sol = get_backend("cvxpy", solver="SCS", max_iters=3).solve(sub)
    assert sol.status in ("feasible", "optimal")
    if sol.status == "feasible":
        assert sol.termination.reason in ("inaccurate", "numerical_error")
    check_solution(sub, sol)
    assert sol.t >= nat.t * (1 - 1e-9)


@pytest.mark.parametrize("name", PARAMS)
def test_client_without_subchannel_is_an_error_status(name):
    sub = subproblems(0, pairs=(0,))[0]
    bad = PowerSubproblem(sub.gain, sub.bw, np.zeros(sub.M, np.int64), sub.c, sub.S,
                          sub.p_max, sub.p_total, sub.noise_psd)
    sol = backend(name).solve(bad)
    assert sol.status == "error" and sol.t == math.inf
