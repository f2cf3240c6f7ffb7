"""Time limits that hold on a loaded machine (issue 20): the work a method cannot
interrupt is sized from what the call measured, so a slower machine stops earlier
instead of overrunning. Slowness is injected deterministically (a slow stage, a cost
estimate), never measured against a wall clock here; speed lives in
``benchmarks/bench_time_limits.py``."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sfl_opt import Problem, evaluate, solve
from sfl_opt.engine.prepared import LinkPoint, prepare
from sfl_opt.kernels.split import (
    best_split_vector,
    best_split_vector_budget,
    vector_objective,
)
from sfl_opt.methods import per_client
from sfl_opt.model.client_splits import client_terms


def _terms(seed: int, H: int = 3, K: int = 60, n: int = 12):
    rng = np.random.default_rng([20, seed])
    V = rng.random((H, K, n)) * 10.0 ** rng.uniform(-1, 1, size=(H, 1, 1))
    lam = 10.0 ** rng.uniform(-1, 1, size=H)
    W = np.tile(np.sort(rng.random(n))[::-1], (K, 1)) * 0.3
    feas = rng.random((K, n)) < 0.8
    feas[np.arange(K), rng.integers(0, n, size=K)] = True
    return np.where(feas[None], V, np.inf), lam, W, feas


@pytest.mark.parametrize("seed", range(4))
def test_split_search_with_a_work_cap_returns_a_valid_vector(seed):
    """A capped search stops early (``work >= cap``) with a feasible vector whose
    objective is at most the value it reports, which is not below the exact optimum;
    uncapped it is the exact search."""
    V, lam, W, feas = _terms(seed)
    exact, ch, _, nodes = best_split_vector(V, lam, W, feas)
    val, choice, _, nd, work = best_split_vector_budget(V, lam, W, feas, -1)
    assert val == exact and np.array_equal(choice, ch) and nd == nodes
    cap = V.shape[0] * V[0].size  # about one descent
    val, choice, _, nd, work = best_split_vector_budget(V, lam, W, feas, cap)
    assert work >= cap and nd < nodes  # it stopped early
    assert feas[np.arange(W.shape[0]), choice].all()
    got = vector_objective(V, lam, W, choice)
    assert got <= val * (1 + 1e-12) and val >= exact * (1 - 1e-12)


def _per_client_state(K: int = 30, M: int = 120):
    pr = Problem.default(0, clients=K, subchannels=M)
    prep = prepare(pr)
    res = solve(pr)
    terms = client_terms(pr, prep.full_table())
    links = {"s": LinkPoint(res.assign_s, res.psd_s, 0.0),
             "f": LinkPoint(res.assign_f, res.psd_f, 0.0)}
    ranks = np.flatnonzero(np.isin(terms.ranks, prep.ranks))
    return prep, terms, links, ranks


def test_split_step_sizes_its_search_to_the_time_left(monkeypatch):
    """With a deadline, every rank's search gets a work cap that fits its share of the
    time left at the measured speed (before: uncapped, 9-14 s at K = 1000 for a 2 s
    limit); on a machine measured slow no search fits and none runs."""
    prep, terms, links, ranks = _per_client_state()
    caps: list[int] = []
    real = per_client.best_split_vector_budget

    def spy(V, lam, W, feas, cap):
        caps.append(int(cap))
        return real(V, lam, W, feas, cap)

    monkeypatch.setattr(per_client, "best_split_vector_budget", spy)
    free = per_client.best_vector(prep, terms, links, ranks)
    assert caps and all(c == -1 for c in caps)  # no deadline: exact, uncapped
    caps.clear()
    unit = 1e-6
    monkeypatch.setitem(per_client.SPLIT_COST, "unit", unit)
    t0 = time.perf_counter()
    timed = per_client.best_vector(prep, terms, links, ranks, deadline=t0 + 0.02)
    assert caps and all(c > 0 for c in caps)
    # the first rank: its share of the time left at the speed it was told (later ranks
    # use the speed the first one measured)
    assert caps[0] * unit <= per_client.SPLIT_SHARE * 0.02 / ranks.size * (1 + 1e-9)
    assert timed[0] >= free[0] * (1 - 1e-12)  # capped: never better than exact
    caps.clear()
    monkeypatch.setitem(per_client.SPLIT_COST, "unit", 1.0)  # a very slow machine
    slow = per_client.best_vector(prep, terms, links, ranks, deadline=time.perf_counter() + 0.02)
    assert caps == [] and slow[0] == math.inf  # no rank fits: none searched


def test_per_client_bound_never_trusts_a_search_cut_short(monkeypatch):
    """The coupled relaxation of the per-client bound is the exact split search at the
    largest rates; cut short by the deadline it proves nothing and the bound falls back
    to the separable relaxation (still valid, never above the full bound)."""
    from sfl_opt.methods import per_client_bound as pcb

    pr = Problem.default(0, clients=30, subchannels=120)
    prep = prepare(pr)
    full = pcb.per_client_lower_bound(prep)
    monkeypatch.setitem(per_client.SPLIT_COST, "unit", 1e-3)
    cut = pcb.per_client_lower_bound(prep, deadline=time.perf_counter() + 0.5)
    assert 0 < cut <= full * (1 + 1e-12)
    res = solve(pr, split_mode="per_client")
    assert cut <= res.delay and evaluate(pr, **res.evaluate_kwargs()).total == \
        pytest.approx(res.delay, rel=1e-9)


# ------------------------------------------------------- the reserve after the method
def test_method_limit_reserves_in_proportion_to_the_preparation():
    """The method's share: the bound's share of the limit on a fast machine, the
    preparation time times ``RESERVE_RATIO`` once that is larger (a loaded machine)."""
    import importlib

    s = importlib.import_module("sfl_opt.solve")
    assert s.method_limit(2.0, 0.01, False, True) == pytest.approx(2.0 * (1 - s.BOUND_SHARE))
    assert s.method_limit(2.0, 0.01, True, True) == \
        pytest.approx(2.0 * (1 - s.BOUND_SHARE_EXACT))
    assert s.method_limit(2.0, 0.01, False, False) == pytest.approx(2.0 - 0.005)
    assert s.method_limit(2.0, 1.2, False, True) == pytest.approx(2.0 - s.RESERVE_RATIO * 1.2)


def test_a_slow_preparation_makes_the_method_stop_earlier(monkeypatch):
    """Load simulated by a sleep in the preparation: the method is told to stop
    ``RESERVE_RATIO`` x the preparation time before the limit, not the fixed share
    (which on a loaded machine left too little for the work after its last check)."""
    import importlib

    s = importlib.import_module("sfl_opt.solve")
    from sfl_opt.methods import sflllm

    pr = Problem.default(0, clients=12, subchannels=48)
    solve(pr)  # compiled
    real_prepare, real_nested = s.prepare, sflllm._solve_nested
    seen: dict[str, float] = {}

    def slow_prepare(*a, **k):
        time.sleep(0.4)
        return real_prepare(*a, **k)

    def spy(ctx, opts, pairs=None):
        seen["limit"] = opts.time_limit
        return real_nested(ctx, opts, pairs)

    monkeypatch.setattr(s, "prepare", slow_prepare)
    monkeypatch.setattr(sflllm, "_solve_nested", spy)
    res = solve(pr, time_limit=1.0)
    prepared = res.timings["prepare"]
    assert prepared >= 0.4
    assert seen["limit"] == pytest.approx(1.0 - s.RESERVE_RATIO * prepared, rel=1e-9)
    assert seen["limit"] < 1.0 * (1 - s.BOUND_SHARE)  # earlier than the fixed share
    assert res.termination.limit == "time" or res.delay == solve(pr).delay


def test_bcd_past_its_deadline_skips_the_search_over_every_pair():
    """bcd's search over every pair (an O(P K M) kernel) is not started once the
    deadline has passed: the allocated pair's own point comes back (before, the search
    always ran)."""
    pr = Problem.default(1, clients=72, subchannels=288)
    res = solve(pr, mode="bcd", time_limit=1e-6)
    assert res.termination.limit == "time"
    assert np.isfinite(res.grid).sum() == 1
    assert evaluate(pr, **res.evaluate_kwargs()).total == pytest.approx(res.delay, rel=1e-9)
    assert res.lower_bound is not None and res.lower_bound <= res.delay


def test_a_method_is_compiled_before_the_clock_of_its_first_timed_solve(monkeypatch):
    """A method's own kernels (e.g. ``exact``'s branch and bound) compile on first use:
    with a time limit, ``solve`` runs the method once on a tiny instance before the
    clock starts (once per process); without one it does not."""
    import importlib

    s = importlib.import_module("sfl_opt.solve")
    monkeypatch.setattr(s, "_WARM_METHODS", set())
    calls: list[str] = []
    real = s.solve

    def spy(problem, method="sflllm", **kw):
        calls.append(f"{method}:K{problem.K}")
        return real(problem, method, **kw)

    monkeypatch.setattr(s, "solve", spy)
    pr = Problem.default(0, clients=5, subchannels=15)
    real(pr, "exact")
    assert calls == []
    real(pr, "exact", time_limit=30.0)
    assert calls == ["exact:K3"]
    real(pr, "exact", time_limit=30.0)
    assert calls == ["exact:K3"]  # once per process
