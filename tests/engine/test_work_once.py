"""Work done once: the pair table is built once per solve (every method, every bound)."""

from __future__ import annotations

import importlib.util

import pytest

from sfl_opt import Problem, solve
from sfl_opt.methods import METHODS
from sfl_opt.model import delay


def _builds(fn) -> int:
    before = delay.BUILDS["pair_table"]
    fn()
    return delay.BUILDS["pair_table"] - before


@pytest.mark.parametrize("method", sorted(METHODS))
def test_one_pair_table_per_solve(tiny_problem, method) -> None:
    if method == "milp" and importlib.util.find_spec("pyomo") is None:
        pytest.skip("method milp needs pyomo (pip install 'sfl-opt[pyomo]')")
    solve(tiny_problem)  # warm-up (kernels) outside the count
    seed = 0 if METHODS[method].random else None
    assert _builds(lambda: solve(tiny_problem, method, seed=seed)) == 1


@pytest.mark.parametrize("kw", [{"mode": "bcd"}, {"bound": False}, {"split_mode": "per_client"},
                                {"downlink": "allocated"}, {"client_memory": 2.2e9}])
def test_one_pair_table_per_solve_in_every_variant(kw) -> None:
    scenario = {k: v for k, v in kw.items() if k in ("downlink", "client_memory")}
    opts = {k: v for k, v in kw.items() if k not in scenario}
    pr = Problem.default(2, clients=3, subchannels=4, **scenario)
    assert _builds(lambda: solve(pr, **opts)) == 1


def test_relaxation_bound_reuses_the_table(tiny_problem) -> None:
    pytest.importorskip("cvxpy", reason="the relaxation bound needs cvxpy")
    assert _builds(lambda: solve(tiny_problem, bound="relaxation")) == 1


def test_counter_counts_builds(tiny_problem) -> None:
    # the instrument itself: a direct build counts one
    assert _builds(lambda: delay.pair_table(tiny_problem)) == 1


# ------------------------------------------------------------------ profile cache
def test_bundled_profile_is_parsed_once() -> None:
    from sfl_opt.model import profiles

    Problem.default(0)  # parses the bundled profile (or finds it parsed)
    before = profiles.PARSES["profile"]
    for seed in range(3):
        Problem.default(seed)
    assert profiles.PARSES["profile"] == before


def test_profile_cache_sees_an_edited_file(tmp_path) -> None:
    import json
    import os

    from sfl_opt.model import profiles

    path = tmp_path / "p.json"
    src = profiles.bundled_profile_path()
    data = json.loads(src.read_text())
    path.write_text(json.dumps(data))
    first = Problem.default(0, profile=path)
    before = profiles.PARSES["profile"]
    assert Problem.default(0, profile=path) == first
    assert profiles.PARSES["profile"] == before  # cached
    data["workload"]["fwd"] = [2 * x for x in data["workload"]["fwd"]]
    path.write_text(json.dumps(data))
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))  # a new version
    edited = Problem.default(0, profile=path)
    assert profiles.PARSES["profile"] == before + 1
    assert edited.workload.fwd == pytest.approx(2 * first.workload.fwd)


def test_load_profile_returns_a_private_copy() -> None:
    from sfl_opt.model import profiles

    src = profiles.bundled_profile_path()
    mine = profiles.load_profile(src)
    mine["model"]["layers"] = -1
    assert profiles.read_profile(src)["model"]["layers"] > 0
    assert profiles.load_profile(src)["model"]["layers"] > 0


# ------------------------------------------------------------------ figures' runs
def test_shared_memo_runs_each_distinct_run_once(monkeypatch) -> None:
    from sfl_opt.experiments import analysis
    from sfl_opt.experiments import sweep as sweep_mod

    calls = []
    real = sweep_mod.run_task
    monkeypatch.setattr(sweep_mod, "run_task", lambda t: calls.append(t) or real(t))
    base = {"profile": None, "layers": 2, "hidden": 16, "seq": 8, "ranks": (1, 2),
            "subchannels": 6}
    methods = ["sflllm", "fully_random"]
    memo: sweep_mod.RunMemo = {}
    cmp = analysis.compare(2, methods, executor="serial", progress=False,
                           base=base, memo=memo)
    assert len(calls) == 4 and len(cmp) == 4
    # p_max's grid holds the default 0.2: those runs are compare's, not run again
    t = sweep_mod.sweep("p_max", [0.1, 0.2], methods, range(2), executor="serial",
                        progress=False, base=base, memo=memo)
    assert len(calls) == 8 and len(t) == 8
    fresh = sweep_mod.sweep("p_max", [0.1, 0.2], methods, range(2), executor="serial",
                            progress=False, base=base)
    assert t == fresh  # same table as without the memo (time column aside)
    assert len(calls) == 16
    assert {r.param for r in t} == {"p_max"}


def test_run_key_treats_explicit_defaults_as_the_default() -> None:
    from sfl_opt.experiments.figures import GRIDS
    from sfl_opt.experiments.sweep import SweepTask, default_value, run_key, scenario_kwargs

    ref = run_key(SweepTask("clients", 5.0, "sflllm", 0))
    hits = []
    for name, grid in GRIDS.items():
        d = default_value(name)
        if d in grid.values:
            assert run_key(SweepTask(name, float(d), "sflllm", 0)) == ref, name
            # and the keys are right to call them the same run: the same Problem
            assert Problem.default(0, **scenario_kwargs(name, d)) == Problem.default(0), name
            hits.append(name)
        other = next(x for x in grid.values if x != d)
        assert run_key(SweepTask(name, float(other), "sflllm", 0)) != ref
    assert len(hits) == 6  # subchannel_bw, p_max, client_flops, server_flops, I, seq


def test_make_figures_counts_each_run_once(monkeypatch, tmp_path) -> None:
    from sfl_opt.experiments import figures
    from sfl_opt.experiments import sweep as sweep_mod

    calls = []
    real = sweep_mod.run_task
    monkeypatch.setattr(sweep_mod, "run_task", lambda t: calls.append(sweep_mod.run_key(t))
                        or real(t))
    monkeypatch.setattr(figures, "bcd_trace", lambda *a, **k: [1.0])
    base = {"profile": None, "layers": 2, "hidden": 16, "seq": 8, "ranks": (1, 2),
            "subchannels": 6}
    figures.make_figures(tmp_path, quick=True, seeds=1, executor="serial", progress=False,
                         params=["p_max", "server_flops"], regimes=False, base=base)
    assert len(calls) == len(set(calls))  # no run twice
    # compare: 7 methods; each sweep: 3 values of which the default is compare's
    assert len(calls) == 7 + 2 * 2 * 7


# ------------------------------------------------------------------ the certificate
def _counted(fn) -> tuple[int, int, object]:
    """(closed-form pair-bound builds, dual bounds solved, result) of ``fn()``."""
    from sfl_opt.engine import prepared
    from sfl_opt.methods import exact

    c0, d0 = prepared.BOUND_BUILDS["closed_form"], exact.DUAL_SOLVES["link"]
    out = fn()
    return (prepared.BOUND_BUILDS["closed_form"] - c0, exact.DUAL_SOLVES["link"] - d0, out)


@pytest.mark.parametrize("kw", [{}, {"mode": "bcd"}, {"downlink": "allocated"}])
def test_closed_form_pair_bounds_once_per_link(kw) -> None:
    """SflLLM's pair bounds (the closed forms) are the certificate's: computed once per
    stage link of a solve, not once by the method and again by the certificate."""
    scenario = {k: x for k, x in kw.items() if k == "downlink"}
    pr = Problem.default(2, clients=3, subchannels=4, **scenario)
    opts = {k: x for k, x in kw.items() if k not in scenario}
    solve(pr, **opts)  # warm-up
    closed, _, res = _counted(lambda: solve(pr, **opts))
    assert closed == (2 if scenario else 1)  # one per stage link (s, and d)
    assert res.lower_bound is not None and res.lower_bound <= res.delay


def test_certificate_reuses_the_exact_methods_bounds(tiny_problem) -> None:
    tiny = tiny_problem
    """``exact`` proves every pair's bound (its root duals and searches): the
    certificate solves no dual again, and the bound stays valid (the oracle's optimum)."""
    from sfl_opt.engine.prepared import prepare
    from sfl_opt.methods.exact import native_lower_bound
    from sfl_opt.testing import enumerate_optimum

    solve(tiny, "exact")  # warm-up
    _, alone, _ = _counted(lambda: solve(tiny, "exact", bound=False))
    closed, duals, res = _counted(lambda: solve(tiny, "exact"))
    assert alone > 0 and duals == alone  # nothing recomputed for the certificate
    assert closed == 1
    opt = enumerate_optimum(tiny)
    assert res.status == "optimal" and res.lower_bound <= opt.delay * (1 + 1e-12)
    assert res.delay == pytest.approx(opt.delay, rel=1e-9)
    # the instrument: a certificate without the method's bounds solves its own duals
    _, own, lb = _counted(lambda: native_lower_bound(prepare(tiny), upper=res.delay))
    assert own > 0 and lb <= opt.delay * (1 + 1e-12)


def test_certificate_with_known_bounds_is_valid_and_not_looser() -> None:
    """Handing the certificate a method's bounds never loosens it below them and never
    lifts it above the optimum (random small instances, against brute force)."""
    import numpy as np

    from sfl_opt.engine.prepared import PairBounds, prepare
    from sfl_opt.methods.exact import native_lower_bound_details
    from sfl_opt.testing import enumerate_optimum

    for seed in range(3):
        pr = Problem.default(seed, clients=3, subchannels=4, ranks=(2, 8))
        prep = prepare(pr)
        opt = enumerate_optimum(pr).delay
        plain = native_lower_bound_details(prep)
        # known: half of the plain bounds (valid, looser), and the round link's
        known = PairBounds(plain["tf"], np.where(np.isnan(plain["ts"]), np.nan,
                                                  0.5 * plain["ts"]))
        got = native_lower_bound_details(prep, known=known)
        assert got["bound"] <= opt * (1 + 1e-12)
        floor = float(np.min(prep.total(np.arange(prep.P), np.fmax(
            known.stage, prep.stage_bounds() * (1 - 1e-12)), known.tf)))
        assert got["bound"] >= floor * (1 - 1e-12)
