"""Time limits (issue 20): every method that honours ``time_limit`` returns within
``time_limit + max(5 %, 0.2 s)`` with its best point and a certified bound, and
``method="exact"`` starts from plain ``solve``'s point.

These check the contract on instances the methods cannot finish in the limit (the
instances are moderately large, the limits short); they are not speed tests (those
live in ``benchmarks/``).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from sfl_opt import Problem, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.methods.exact import native_lower_bound, native_lower_bound_details
from sfl_opt.testing import enumerate_optimum, small_problem


def tolerance(limit: float) -> float:
    """The issue's tolerance on a time limit, s."""
    return limit + max(0.05 * limit, 0.2)


def check_point(pr: Problem, res) -> None:
    """The result is a feasible point whose delay evaluates, with a valid-looking bound."""
    dn = {} if res.assign_d is None else {"assign_d": res.assign_d, "psd_d": res.psd_d}
    bd = evaluate(pr, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f,
                  **dn)
    assert bd.total == pytest.approx(res.delay, rel=1e-9)
    assert res.lower_bound is not None and 0 < res.lower_bound <= res.delay
    assert math.isfinite(res.gap) and 0 <= res.gap < 1


@pytest.fixture(scope="module")
def big() -> Problem:
    solve(Problem.default(0, clients=3, subchannels=6), "exact")  # compile outside the clock
    return Problem.default(0, clients=120, subchannels=480)


@pytest.mark.parametrize("method,kw", [("sflllm", {}), ("sflllm", {"mode": "bcd"}),
                                       ("exact", {}), ("fixed_rank", {})])
def test_time_limit_is_honoured(big, method, kw):
    """K = 120, M = 480: SflLLM with its bound takes longer than 0.4 s, exact far
    longer."""
    limit = 0.4
    t0 = time.perf_counter()
    res = solve(big, method, time_limit=limit, **kw)
    wall = time.perf_counter() - t0
    assert res.timings["total"] <= tolerance(limit)
    assert wall <= tolerance(limit) + 0.05
    check_point(big, res)


def test_exact_time_limit_on_a_medium_instance():
    """K = 20, M = 80: ``exact`` used to compute the root bounds and heuristics of every
    pair (7.5 s) before its first look at the clock."""
    pr = Problem.default(0, clients=20, subchannels=80)
    res = solve(pr, "exact", time_limit=0.5)
    assert res.timings["total"] <= tolerance(0.5)
    assert res.termination.limit == "time" and res.status == "feasible"
    check_point(pr, res)


def test_exact_is_never_worse_than_plain_solve():
    """K = 20, M = 40: ``exact`` under a time limit once returned a point 0.094 % worse
    than plain ``solve()``; it now starts from that point."""
    pr = Problem.default(0, clients=20, subchannels=40)
    plain = solve(pr)
    ex = solve(pr, "exact", time_limit=4.0)  # plain solve gets up to half of it
    assert ex.delay <= plain.delay * (1 + 1e-12)
    assert ex.info["heuristic_delay"] == pytest.approx(plain.delay, rel=1e-12)
    assert ex.lower_bound <= ex.delay


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_cut_short_keeps_a_valid_bound(seed):
    """A time limit far too short to certify: the point is feasible and the bound is
    below the enumerated optimum."""
    pr = small_problem(seed, K=3, M=6, N=4, p_total=(0.6, 0.3, math.inf)[seed])
    res = solve(pr, "exact", time_limit=1e-3)
    opt = enumerate_optimum(pr).delay
    assert res.delay >= opt * (1 - 1e-9)
    assert res.lower_bound <= opt * (1 + 1e-12)


def test_native_bound_with_a_past_deadline_is_the_closed_form():
    """The anytime bound: with no time left every pair keeps its closed-form bound,
    which is valid and not above the full bound."""
    pr = Problem.default(1, clients=8, subchannels=24)
    prep = prepare(pr)
    full = native_lower_bound_details(prep)
    late = native_lower_bound_details(prep, deadline=time.perf_counter() - 1.0)
    assert late["timed_out"] and not full["timed_out"]
    assert late["solved"] == 0
    assert 0 < late["bound"] <= full["bound"] * (1 + 1e-12)
    cheap = np.min(prep.total(np.arange(prep.P), late["cheap"],
                              prep.link("f").cheap_bound(None)))
    assert late["bound"] == pytest.approx(cheap, rel=1e-9)
    assert native_lower_bound(prep, deadline=time.perf_counter() - 1.0) == late["bound"]


def test_timed_refine_stops_at_the_deadline():
    """A large link's local search with a past deadline returns its start (exact power);
    with a generous one it improves on it like the untimed search."""
    pr = Problem.default(0, clients=100, subchannels=400)
    ln = prepare(pr).link("s")
    g = ln.greedy(0)
    late = ln.refine(g.assign, 0, deadline=time.perf_counter() - 1.0)
    assert np.array_equal(late.assign, g.assign) and late.t == pytest.approx(g.t, rel=1e-12)
    timed = ln.refine(g.assign, 0, deadline=time.perf_counter() + 60.0)
    free = ln.refine(g.assign, 0)
    assert timed.t < g.t
    assert timed.t <= free.t * (1 + 1e-3)


def test_exact_progress_reports():
    """``progress`` receives the incumbent, bound and gap while the search runs."""
    pr = Problem.default(0, clients=20, subchannels=80)
    seen: list[dict] = []
    res = solve(pr, "exact", time_limit=2.5, progress=seen.append)
    assert seen, "no progress report in 2.5 s"
    for d in seen:
        assert d["lower"] <= d["delay"] and 0 <= d["gap"] < 1 and d["elapsed"] > 0
    assert res.delay <= seen[0]["delay"] * (1 + 1e-12)


def test_cli_exact_with_a_time_limit_and_progress(capsys):
    """``sfl-opt solve --method exact --time-limit`` stops in time and says how far it
    got on stderr (``--no-progress`` silences it)."""
    from sfl_opt.cli import main

    code = main(["solve", "--method", "exact", "--time-limit", "2.5", "--clients", "20",
                 "--subchannels", "80"])
    assert code in (0, 1)
    captured = capsys.readouterr()
    assert "(termination: limit_reached, time limit)" in captured.out
    err = captured.err
    assert "sfl-opt: exact" in err and "gap" in err
    main(["solve", "--method", "exact", "--time-limit", "1.5", "--clients", "20",
          "--subchannels", "80", "--no-progress"])
    assert "sfl-opt: exact" not in capsys.readouterr().err
