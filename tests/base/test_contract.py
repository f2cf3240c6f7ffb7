"""The solve contract: methods declare what they honour, solve rejects what a method would
ignore and alone assembles the result with honest labels."""

from __future__ import annotations

import numpy as np
import pytest

import sfl_opt
from sfl_opt import (
    Limit,
    Problem,
    Status,
    Termination,
    TerminationReason,
    ValidationError,
    evaluate,
    solve,
)
from sfl_opt.engine.prepared import Link, PreparedProblem, prepare
from sfl_opt.methods import ARGUMENTS, METHODS, Options, Outcome, register_method


@pytest.fixture(scope="module")
def small() -> Problem:
    return Problem.default(seed=3, clients=3, subchannels=4, ranks=(2, 8))


def test_status_and_termination_are_exported() -> None:
    assert sfl_opt.Status is Status and sfl_opt.Termination is Termination
    assert sfl_opt.TerminationReason is TerminationReason and sfl_opt.Limit is Limit
    assert Status.OPTIMAL == "optimal" and TerminationReason.LIMIT_REACHED == "limit_reached"
    assert Limit.TIME == "time"
    assert Status.FEASIBLE.success and not Status.ERROR.success


def test_termination_keeps_the_reason_apart_from_the_limit() -> None:
    t = Termination.at_limit(Limit.TIME)
    assert (t.reason, t.limit, t.by_limit) == ("limit_reached", "time", True)
    assert Termination.at_limit("iteration", found=False).reason == "no_solution_found"
    c = Termination(TerminationReason.CONVERGED)
    assert (c.limit, c.by_limit, str(c)) == ("none", False, "converged")
    assert str(t) == "limit_reached (time limit)" and Termination(t) == t
    assert t.to_dict() == {"reason": "limit_reached", "limit": "time", "detail": ""}
    assert len({t, Termination.at_limit(Limit.TIME), c}) == 2  # hashable, equal by value
    # a limit reason needs its limit, other reasons take none; unknown values name the field
    with pytest.raises(ValueError, match="^Termination limit: reason limit_reached needs"):
        Termination(TerminationReason.LIMIT_REACHED)
    with pytest.raises(ValueError, match="^Termination limit: reason optimal takes no"):
        Termination(TerminationReason.OPTIMAL, Limit.TIME)
    with pytest.raises(ValueError, match="^Termination reason: expected one of"):
        Termination("stopped")
    with pytest.raises(ValueError, match="^Termination limit: expected one of"):
        Termination(TerminationReason.LIMIT_REACHED, "nodes")


def test_every_termination_member_is_documented() -> None:
    """Each member of Status, TerminationReason and Limit has a ``#:`` doc comment."""
    import inspect
    import re

    for enum in (Status, TerminationReason, Limit):
        lines = inspect.getsource(enum).splitlines()
        members = [(m.group(1), lines[i - 1].strip()) for i, line in enumerate(lines)
                   if (m := re.match(r"    ([A-Z_]+) = ", line))]
        assert [n for n, _ in members] == [m.name for m in enum]
        assert all(doc.startswith("#: ") and len(doc) > 10 for _, doc in members), enum


def test_first_edition_terminations_still_work_and_warn() -> None:
    with pytest.warns(DeprecationWarning, match="Termination.TIME_LIMIT is deprecated"):
        old = Termination.TIME_LIMIT
    assert old == Termination.at_limit(Limit.TIME)
    with pytest.warns(DeprecationWarning, match="Termination\\('iteration_limit'\\)"):
        assert Termination("iteration_limit").limit == "iteration"
    with pytest.warns(DeprecationWarning, match="comparing a Termination"):
        assert old == "time_limit" and old != "converged"
    with pytest.warns(DeprecationWarning):
        assert Termination(TerminationReason.OPTIMAL) == "converged"  # the old value
    with pytest.warns(DeprecationWarning):
        assert Termination.NO_SUBCHANNEL.detail == "no_subchannel"
    with pytest.raises(AttributeError):
        Termination.STOPPED  # noqa: B018
    for name, value in (("CONVERGED", "converged"), ("ENUMERATED", "enumerated"),
                        ("INACCURATE", "inaccurate"), ("INFEASIBLE", "infeasible"),
                        ("SOLVER_ERROR", "solver_error"), ("TIME_LIMIT", "time_limit")):
        with pytest.warns(DeprecationWarning):
            assert getattr(Termination, name).legacy_name == value


def test_every_spec_is_consistent() -> None:
    for spec in METHODS.values():
        assert set(spec.honours) <= set(ARGUMENTS), spec.name
        for arg, mode in spec.mode_only.items():
            assert arg in spec.honours and mode in spec.modes, spec.name
        assert spec.power in ("any", "native", "equal"), spec.name


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"milp"}))
def test_result_labels_say_what_ran(small, name: str) -> None:
    spec = METHODS[name]
    kw = {"seed": 1} if spec.accepts("seed") else {}
    res = solve(small, name, **kw)
    assert res.method == name
    assert isinstance(res.status, Status) and isinstance(res.termination, Termination)
    assert res.to_dict()["termination"] == res.termination.to_dict()
    assert res.mode == (spec.modes[0] if spec.modes else "")
    assert res.power == ("native" if spec.power == "any" else spec.power)
    bd = evaluate(small, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)
    assert bd.total == res.delay


@pytest.mark.parametrize("name", sorted(METHODS))
def test_ignored_arguments_are_rejected(small, name: str) -> None:
    spec = METHODS[name]
    values = {"seed": 1, "refine": False, "max_iter": 3, "max_moves": 50, "prune": False,
              "kicks": 1, "time_limit": 10.0}
    for arg, val in values.items():
        if not spec.accepts(arg, "bcd" if arg == "max_iter" and spec.modes else None):
            with pytest.raises(ValidationError) as exc:
                solve(small, name, **{arg: val})
            assert str(exc.value).startswith(arg)
    if not spec.modes:
        with pytest.raises(ValidationError, match="^mode"):
            solve(small, name, mode="nested")
    if spec.power != "any":
        with pytest.raises(ValidationError, match="^power"):
            solve(small, name, power="cvxpy")
        with pytest.raises(ValidationError, match="^power_options"):
            solve(small, name, power_options={"rtol": 1e-9})


def test_mode_only_arguments(small) -> None:
    with pytest.raises(ValidationError, match="^max_iter.*nested"):
        solve(small, max_iter=5)
    with pytest.raises(ValidationError, match="^prune.*bcd"):
        solve(small, mode="bcd", prune=False)
    assert solve(small, mode="bcd", max_iter=5).mode == "bcd"


def test_equal_power_accepts_its_own_power_rule_only(small) -> None:
    assert solve(small, "equal_power", power="equal").power == "equal"
    with pytest.raises(ValidationError, match="^power"):
        solve(small, "equal_power", power="native")


def test_bound_time_is_in_the_total(small) -> None:
    res = solve(small, bound=True)
    assert res.lower_bound is not None and res.lower_bound <= res.delay
    assert res.timings["total"] >= res.timings["bound"]
    assert res.timings["total"] >= res.timings["bound"] + res.timings["f_link"]


def test_a_plugin_method_gets_the_contract(small) -> None:
    """A method registered from outside: solve validates against its declaration and
    assembles the result from its Outcome."""
    seen: dict[str, Options] = {}

    def first_pair(prep: PreparedProblem, opts: Options) -> Outcome:
        seen["opts"] = opts
        s, f = prep.link("s"), prep.link("f")
        pf = f.greedy(None)
        ps = s.greedy(0, refine=opts.refine)
        return Outcome(0, {"s": ps, "f": pf}, Status.FEASIBLE,
                       Termination(TerminationReason.ENUMERATED),
                       history=[float(prep.total(0, ps.t, pf.t))], info={"note": "toy"})

    register_method("toy_first_pair", first_pair, "first pair only", power="native",
                    honours=("refine",))
    try:
        res = solve(small, "toy_first_pair", refine=False)
        assert seen["opts"].refine is False and seen["opts"].power is None
        assert (res.method, res.power, res.mode) == ("toy_first_pair", "native", "")
        assert (res.split, res.rank) == (int(small.splits[0]), int(small.ranks[0]))
        assert res.delay == pytest.approx(res.history[0], rel=1e-12)
        assert res.termination.reason == "enumerated" and res.info == {"note": "toy"}
        with pytest.raises(ValidationError, match="^seed"):
            solve(small, "toy_first_pair", seed=1)
    finally:
        del METHODS["toy_first_pair"]


def test_optimal_from_a_heuristic_needs_a_proof(small) -> None:
    """A non-exact method that claims "optimal" keeps it only when the bound proves a
    gap <= 1e-6 (the last pair alone is not the optimum here)."""
    def last_pair_claims_optimal(prep: PreparedProblem, opts: Options) -> Outcome:
        s, f = prep.link("s"), prep.link("f")
        p = prep.P - 1
        return Outcome(p, {"s": s.greedy(p), "f": f.greedy(None)}, Status.OPTIMAL,
                       Termination(TerminationReason.ENUMERATED))

    register_method("toy_claims_optimal", last_pair_claims_optimal, "claims", power="native")
    try:
        res = solve(small, "toy_claims_optimal")
        assert res.gap > 1e-6 and res.status == "feasible"
        assert solve(small, "toy_claims_optimal", bound=False).status == "feasible"
    finally:
        del METHODS["toy_claims_optimal"]


def test_prepared_total_and_its_inverse(small) -> None:
    prep = prepare(small)
    tf = prep.link("f").greedy(None).t
    for p in range(prep.P):
        t = prep.link("s").greedy(p).t
        total = float(prep.total(p, t, tf))
        assert prep.stage_for_total(p, total, tf) == pytest.approx(t, rel=1e-12)
    # the per-pair composition equals the exact evaluation of the point
    s = prep.link("s").greedy(1)
    f = prep.link("f").greedy(None)
    split, rank = prep.pair(1)
    bd = evaluate(small, split, rank, s.assign, s.psd, f.assign, f.psd)
    assert float(prep.total(1, s.t, f.t)) == pytest.approx(bd.total, rel=1e-9)


def test_link_demand_and_unknown_link(small) -> None:
    prep = prepare(small)
    c, S = prep.link("s").demand(2)
    assert np.allclose(c, prep.tab.w_client_fwd[2] / small.client_flops)
    assert S == prep.tab.s_up[2]
    c, S = prep.link("f").demand(None)
    assert not c.any() and S == 1.0
    with pytest.raises(ValidationError, match="^link"):
        prep.link("x")


def _with_downlink(problem: Problem) -> PreparedProblem:
    """A prepared problem with a third, allocated link "d" (the down stage
    max_k (TcB_k + S_dn/Rd_k)), built from the public Link API the way an allocated
    downlink would be: the s-link's channel, the base station's 2 W, no per-client cap
    (p_max = p_total: the kernels take finite caps)."""
    prep = prepare(problem)
    pr, tab = problem, prep.tab
    d = Link.build("d", 2, pr.gain_s * 3.0, pr.bw_s, np.full(pr.K, 2.0), 2.0,
                   pr.noise_psd, pr.client_flops, work=tab.w_client_bwd, bits=tab.s_dn)
    return PreparedProblem(pr, tab, {**prep.links, "d": d}, tab.w_server / pr.server_flops,
                           stage_links=("s", "d"))


@pytest.mark.parametrize("mode", ["nested", "bcd"])
def test_methods_handle_a_third_link(small, mode) -> None:
    from sfl_opt.methods.sflllm import solve_sflllm

    prep = _with_downlink(small)
    out = solve_sflllm(prep, Options(mode=mode, kicks=2, seed=0))
    assert set(out.points) == {"s", "d", "f"}
    p = out.pair
    stages = {}
    for name in ("s", "d", "f"):
        link = prep.link(name)
        pt = out.points[name]
        exact = link.exact_power(pt.assign, p if link.per_pair else None)
        assert pt.t == pytest.approx(exact.t, rel=1e-9)  # each point is its exact power
        stages[name] = exact.t
    total = float(prep.total(p, stages["s"] + stages["d"], stages["f"]))
    assert out.grid[p] == pytest.approx(total, rel=1e-9)
    # closed form of the composition: rounds (I (t_s + Ts + t_d) + S_ad (t_f + 1/bcast))
    tab = prep.tab
    direct = tab.rounds[p] * (small.local_iters * (stages["s"] + tab.w_server[p]
                                                   / small.server_flops + stages["d"])
                              + tab.s_ad[p] * (stages["f"] + 1 / small.rate_bcast))
    assert total == pytest.approx(direct, rel=1e-12)
    # the random baselines draw every link too
    from sfl_opt.methods.baselines import solve_fully_random, solve_random_subchannels

    for fn in (solve_fully_random, solve_random_subchannels):
        assert set(fn(prep, Options(seed=1)).points) == {"s", "d", "f"}


def test_array_records_are_read_only() -> None:
    """The frozen array records (one pattern, ``sfl_opt._records.ArrayRecord``): the
    fields and the numbers in their arrays cannot change."""
    import dataclasses

    import numpy as np

    from sfl_opt._records import ArrayRecord
    from sfl_opt.engine.prepared import PairBounds
    from sfl_opt.online import OnlineProblem, simulate, split_bandwidth
    from sfl_opt.online.schedule import RoundDecision
    from sfl_opt.online.simulate import Trace

    prob = OnlineProblem.default(seed=0, devices=4)
    tr = simulate(prob, "lyapunov", 1e4, 3, seed=0)
    split = split_bandwidth(np.ones(2), np.array([1e7, 2e7]), np.array([1e6, 1e6]),
                            np.array([0.1, 0.1]), np.array([1e5, 1e5]), 1e6)
    given = np.array([1.0, np.nan])
    pb = PairBounds(0.5, given)
    assert given.flags.writeable  # PairBounds keeps its own copy
    for rec, name in ((tr, "queues"), (split, "bandwidth"), (pb, "stage")):
        assert isinstance(rec, ArrayRecord)
        with pytest.raises(ValueError, match="read-only"):
            getattr(rec, name)[0] = 1.0
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(rec, name, None)
    assert issubclass(RoundDecision, ArrayRecord) and issubclass(Trace, ArrayRecord)


def _timing_keys_known(timings: dict) -> list[str]:
    from sfl_opt.engine.result import TIMINGS

    return [k for k in timings
            if k not in TIMINGS and not (k.startswith("common_") and k[7:] in TIMINGS)]


@pytest.mark.parametrize("name", sorted(METHODS))
def test_every_timing_key_is_documented(small, name: str) -> None:
    """One set of ``timings`` keys (``engine.result.TIMINGS``), whatever ran: no
    "bounds"/"root_bounds" beside "bound"."""
    import importlib.util

    spec = METHODS[name]
    if any(importlib.util.find_spec(m) is None for m in spec.requires):
        pytest.skip(f"method {name} needs {spec.requires}")
    kw = {"seed": 1} if spec.accepts("seed") else {}
    res = solve(small, name, **kw)
    assert _timing_keys_known(res.timings) == [] and "bound" in res.timings


@pytest.mark.parametrize("kw", [{"mode": "bcd"}, {"split_mode": "per_client"},
                                {"local_iters": (1, 2)}, {"fading": "saa", "samples": 3}])
def test_timing_keys_of_every_variant_are_documented(small, kw) -> None:
    problem = small
    if "local_iters" in kw:
        problem = Problem.default(seed=3, clients=3, subchannels=4, ranks=(2, 8),
                                  local_iters=kw["local_iters"])
        kw = {}
    res = solve(problem, **kw)
    assert _timing_keys_known(res.timings) == []


def test_glossary_lists_every_timing_key_and_outcome(repo_root) -> None:
    """docs/glossary.md stays true to the code: every timings key, reason and limit."""
    from sfl_opt.engine.result import TIMINGS

    text = (repo_root / "docs" / "glossary.md").read_text()
    for key in TIMINGS:
        assert f"| `{key}` |" in text, key
    for member in (*TerminationReason, *Limit, *Status):
        assert f"`{member}`" in text, member
