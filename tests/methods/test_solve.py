"""solve(): optimality against the enumeration oracle, feasibility, properties, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sfl_opt import BackendError, Problem, SolveResult, ValidationError, evaluate, solve
from sfl_opt import kernels as kn
from sfl_opt.engine.prepared import prepare
from sfl_opt.testing import enumerate_optimum, small_problem


def check_point(p: Problem, r: SolveResult) -> None:
    """The returned point is feasible and its delay is evaluate() of it."""
    bd = evaluate(p, r.split, r.rank, r.assign_s, r.psd_s, r.assign_f, r.psd_f)
    assert bd.total == r.delay
    assert math.isfinite(r.delay) and r.delay > 0
    assert np.all(np.bincount(r.assign_s, minlength=p.K) >= 1)
    assert np.all(np.bincount(r.assign_f, minlength=p.K) >= 1)


# ------------------------------------------------------------ against the oracle
@pytest.fixture(scope="module")
def oracle_gaps() -> dict[str, np.ndarray]:
    gaps: dict[str, list[float]] = {"nested": [], "bcd": [], "nested_nokick": []}
    for seed in range(24):
        p = small_problem(seed, K=3, M=5, N=4, L=4, ranks=(1, 4, 16),
                          p_total=[0.3, 0.6, math.inf][seed % 3])
        opt = enumerate_optimum(p).delay
        for name, kw in (("nested", {}), ("bcd", {"mode": "bcd"}),
                         ("nested_nokick", {"kicks": 0})):
            r = solve(p, **kw)
            check_point(p, r)
            assert r.delay >= opt * (1 - 1e-9), "better than the exact optimum?"
            gaps[name].append(r.delay / opt - 1)
    return {k: np.array(v) for k, v in gaps.items()}


def test_nested_within_one_percent_median_five_worst(oracle_gaps) -> None:
    g = oracle_gaps["nested"]
    assert np.median(g) <= 0.01
    assert g.max() <= 0.05


def test_bcd_within_bounds(oracle_gaps) -> None:
    g = oracle_gaps["bcd"]
    assert np.median(g) <= 0.01
    assert g.max() <= 0.05


def test_kicks_help(oracle_gaps) -> None:
    assert oracle_gaps["nested"].mean() <= oracle_gaps["nested_nokick"].mean() + 1e-12


def test_grid_holds_achieved_delay_per_pair() -> None:
    p = small_problem(3)
    r = solve(p, prune=False)
    assert r.grid.shape == (p.splits.size, p.ranks.size)
    assert r.grid.min() == pytest.approx(r.delay, rel=1e-12)
    opt = enumerate_optimum(p)
    # no pair can beat its exact optimum
    assert np.all(r.grid.ravel() >= opt.grid * (1 - 1e-9))


# --------------------------------------------------------------- properties
problems = st.builds(
    lambda seed, K, extra, ptot: small_problem(seed, K=K, M=K + extra, N=K + extra // 2 + 1,
                                               L=3, ranks=(2, 8), p_total=ptot),
    st.integers(0, 10_000), st.integers(1, 4), st.integers(0, 4),
    st.sampled_from([0.2, 0.6, math.inf]))


@given(problems, st.sampled_from(["nested", "bcd"]), st.booleans())
def test_returned_point_is_feasible_and_exact(p, mode, refine) -> None:
    r = solve(p, mode=mode, refine=refine)
    check_point(p, r)
    assert (r.termination.reason, r.termination.limit) in (("converged", "none"),
                                                         ("limit_reached", "iteration"))
    # the default bound certifies the heuristic's point when it is optimal
    assert r.status == ("optimal" if r.gap <= 1e-6 else "feasible")
    assert r.history and r.delay <= min(r.history) * (1 + 1e-9)


@given(problems, st.integers(0, 2**31 - 1))
def test_permuting_clients_permutes_the_answer(p, seed) -> None:
    perm = np.random.default_rng(seed).permutation(p.K)
    r = solve(p)
    q = solve(p.permute_clients(perm))
    assert q.delay == pytest.approx(r.delay, rel=1e-9)
    inv = np.argsort(perm)
    if q.delay == r.delay:  # generic case: the same assignment, relabelled
        # (a subchannel without power is worth nothing: its owner is a free tie)
        # and a slack client's subchannel may go to either of two tied clients: the
        # relabelled point of the original answer scores the same on the permuted problem
        qp = p.permute_clients(perm)
        kw = r.evaluate_kwargs()
        kw["assign_s"], kw["assign_f"] = inv[r.assign_s], inv[r.assign_f]
        assert evaluate(qp, **kw).total == pytest.approx(q.delay, rel=1e-9)


def exact_s_stage(p: Problem, assign: np.ndarray, c: np.ndarray, S: float) -> float:
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    return kn.power_control(la, inva, p.bw_s, assign, c, S, p.p_max, p.p_total_s, 1e-13)[0]


@given(problems, st.integers(0, 10_000), st.floats(1.0, 3.0))
def test_more_resources_never_hurt_the_exact_subproblems(p, seed, factor) -> None:
    """Power control and the (split, rank) search are exact for a fixed assignment:
    more power, bandwidth or client compute cannot raise their optimum."""
    rng = np.random.default_rng(seed)
    a = np.concatenate([np.arange(p.K), rng.integers(0, p.K, p.M - p.K)]).astype(np.int64)
    c = rng.uniform(0, 0.5, p.K)
    base = exact_s_stage(p, a, c, 2e6)
    more_p = p.replace(p_max=p.p_max * factor, p_total_s=p.p_total_s * factor)
    assert exact_s_stage(more_p, a, c, 2e6) <= base * (1 + 1e-10)
    more_bw = p.replace(bw_s=p.bw_s * factor)
    assert exact_s_stage(more_bw, a, c, 2e6) <= base * (1 + 1e-10)
    k = int(rng.integers(p.K))
    faster = p.replace(client_flops=p.client_flops * np.where(np.arange(p.K) == k, factor, 1))

    def best_total(q: Problem) -> float:
        ctx = prepare(q)
        f = kn.power_control(*kn.normalise(q.gain_f, q.noise_psd), q.bw_f,
                             np.arange(q.N, dtype=np.int64) % q.K, np.zeros(q.K), 1.0, q.p_max,
                             q.p_total_f, 1e-13)[0]
        tot, _ = kn.search_pairs(*ctx.link("s").arrays()[:2], q.bw_s, a, q.p_max, q.p_total_s,
                                 q.client_flops, ctx.tab.w_client_fwd, ctx.tab.s_up,
                                 ctx.tab.rounds, ctx.fixed_iter, ctx.fixed_round(f),
                                 float(q.local_iters), 1e-13)
        return float(tot.min())

    assert best_total(faster) <= best_total(p) * (1 + 1e-10)
    assert best_total(more_p) <= best_total(p) * (1 + 1e-10)


def test_deterministic() -> None:
    p = Problem.default(seed=2)
    a, b = solve(p), solve(p)
    assert a.delay == b.delay and np.array_equal(a.assign_s, b.assign_s)
    assert np.array_equal(a.psd_f, b.psd_f)
    c, d = solve(p, seed=5), solve(p, seed=5)
    assert c.delay == d.delay and np.array_equal(c.assign_s, d.assign_s)


# ----------------------------------------------------------------- the default
def test_default_scenario_both_modes(default_problem) -> None:
    p = default_problem
    nested = solve(p)
    bcd = solve(p, mode="bcd")
    for r in (nested, bcd):
        check_point(p, r)
        assert r.split in p.splits and r.rank in p.ranks
        assert set(r.timings) >= {"total"} and r.timings["total"] > 0
        assert r.rounds_source == p.rounds_source
    assert nested.delay <= bcd.delay * (1 + 1e-9)
    # bcd: each outer iteration improves until the last, which did not (converged)
    h = bcd.history
    assert all(h[i + 1] < h[i] for i in range(len(h) - 2))
    assert bcd.termination.reason == "converged" and (len(h) == 1 or h[-1] >= h[-2] * (1 - 1e-12))
    assert bcd.delay == pytest.approx(min(h), rel=1e-9)
    # no refinement is never better than refinement
    assert nested.delay <= solve(p, refine=False).delay * (1 + 1e-12)


def test_prune_does_not_change_the_answer() -> None:
    """A pruned pair's lower bound is at least the best delay found, so refining it cannot
    win: pruning gives the same delay, and it does prune."""
    pruned = 0
    for seed in range(4):
        p = Problem.default(seed=seed)
        a = solve(p)
        b = solve(p, prune=False)
        assert a.delay == pytest.approx(b.delay, rel=1e-12)
        assert b.info["pruned"] == 0
        pruned += a.info["pruned"]
    assert pruned > 0


def test_time_limit_returns_best_point() -> None:
    p = Problem.default(seed=0, clients=20, subchannels=80)
    r = solve(p, time_limit=1e-6)
    check_point(p, r)
    assert r.termination.limit == "time" and r.status == "feasible"


def test_result_json(default_problem) -> None:
    p = default_problem
    r = solve(p)
    d = json.loads(r.to_json())
    assert d["delay"] == r.delay and d["split"] == r.split and len(d["assign_s"]) == p.M
    assert d["breakdown"]["total"] == r.delay
    assert "SolveResult(delay=" in repr(r)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("kwargs,field", [
    (dict(method="nope"), "method"),
    (dict(power="nope"), "power"),
    (dict(power=3), "power"),
    (dict(seed=-1), "seed"),
    (dict(seed=1.5), "seed"),
    (dict(mode="fast"), "mode"),
    (dict(assign="magic"), "assign"),
    (dict(refine="yes"), "refine"),
    (dict(bound=1), "bound"),
    (dict(prune="no"), "prune"),
    (dict(max_iter=0), "max_iter"),
    (dict(max_moves=-3), "max_moves"),
    (dict(time_limit=0), "time_limit"),
    (dict(kicks=-1), "kicks"),
    (dict(rank=4), "options"),
    (dict(power_options=3), "power_options"),
])
def test_bad_arguments_are_named(kwargs, field) -> None:
    with pytest.raises(ValueError) as exc:
        solve(Problem.default(seed=0), **kwargs)
    assert str(exc.value).startswith(field)


def test_problem_must_be_a_problem() -> None:
    with pytest.raises(ValidationError, match="problem"):
        solve({"gain_s": 1})


def test_unknown_backend_lists_installed() -> None:
    with pytest.raises(BackendError, match="installed: .*native"):
        solve(Problem.default(seed=0), power="gurobi")
