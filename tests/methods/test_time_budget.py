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
