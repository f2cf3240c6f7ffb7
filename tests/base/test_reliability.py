"""Issue 11: every bad or extreme input gets a clear answer — a ValueError naming the
field (or the CLI's one-line message and a non-zero exit), an honest status, or the
right number."""

from __future__ import annotations

import json
import math
import pickle
import sys
from concurrent.futures import ProcessPoolExecutor

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sfl_opt import Problem, Workload, evaluate, solve
from sfl_opt.cli import main
from sfl_opt.errors import (
    BackendError,
    InfeasiblePointError,
    MissingDependencyError,
    NumericalRangeError,
    ValidationError,
)
from sfl_opt.experiments.sweep import SweepTable, implausible, sweep
from sfl_opt.model.problem import FORMAT_VERSION
from sfl_opt.online.bandwidth import min_bandwidth
from sfl_opt.online.problem import OnlineProblem

PROBLEM_FIELDS = {"gain_s", "gain_f", "bw_s", "bw_f", "noise_psd", "p_max", "p_total_s",
                  "p_total_f", "client_flops", "server_flops", "rate_down", "rate_bcast",
                  "batch", "local_iters", "splits", "ranks", "rounds", "workload"}


@pytest.fixture(scope="module")
def small() -> Problem:
    """A small default-like scenario (analytic workload), fast to solve."""
    return Problem.default(0, clients=2, subchannels=3, profile=None, layers=3, hidden=16,
                           seq=8, ranks=(1, 2))


# ----------------------------------------------------------------- pickling
@given(field=st.text(min_size=1, max_size=20), expected=st.text(max_size=40),
       got=st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=30),
                     st.lists(st.floats(allow_nan=False), max_size=5)))
def test_validation_errors_pickle_with_message_and_fields(field, expected, got):
    for cls in (ValidationError, NumericalRangeError):
        err = cls(field, expected, got)
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is cls and str(back) == str(err)
        assert (back.field, back.expected, back.got) == (err.field, err.expected, err.got)


def test_every_error_type_pickles():
    for err in (InfeasiblePointError("psd_s: over the cap"), BackendError("power: nope"),
                MissingDependencyError("--bound", "cvxpy", "cvxpy")):
        back = pickle.loads(pickle.dumps(err))
        assert type(back) is type(err) and str(back) == str(err)


def _failing_sweep(executor):
    # p_max = 1e-17 W: the rate underflows (a NumericalRangeError naming gain_s)
    return sweep("p_max", [1e-17, 0.2], ["sflllm"], seeds=[0], executor=executor,
                 progress=False, base={"clients": 2, "subchannels": 3, "profile": None})


def test_a_failed_sweep_task_is_a_row_with_its_error(tmp_path):
    table = _failing_sweep("serial")
    assert len(table) == 2
    bad, = table.failed()
    assert bad.value == 1e-17 and bad.status == "error" and math.isnan(bad.delay)
    assert bad.error.startswith("NumericalRangeError: gain_s:")
    good, = table.select(param="p_max")
    assert good.value == 0.2 and good.status == "feasible" and good.delay > 0
    again = SweepTable.from_csv(table.to_csv(tmp_path / "t.csv"))
    assert again == table and again.failed()[0].error == bad.error


@pytest.mark.slow
def test_a_failed_task_does_not_kill_the_process_pool():
    with ProcessPoolExecutor(max_workers=2) as pool:
        table = _failing_sweep(pool)
    assert table == _failing_sweep("serial")


# ----------------------------------------------------------------- overflow
@pytest.mark.parametrize("change,field", [
    (dict(server_flops=1e-300), "server_flops"),
    (dict(rate_down=[1e-300] * 2), "rate_down"),
    (dict(rounds=[1e307] * 2), "rounds"),
])
def test_overflow_is_an_error_naming_the_field_not_a_feasible_inf(small, change, field):
    p = small.replace(**change)
    with pytest.raises(NumericalRangeError) as info:
        solve(p)
    assert info.value.field == field


def test_evaluate_never_returns_an_infinite_delay(small):
    res = solve(small)
    p = small.replace(rounds=[1e307] * 2, local_iters=10**6)
    with pytest.raises(NumericalRangeError, match="overflows"):
        evaluate(p, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)


def test_cli_exits_non_zero_on_overflow(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(Problem.default(0).replace(server_flops=1e-300).to_json())
    assert main(["solve", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("sfl-opt: error: server_flops:")


# ------------------------------------------------- kernel-crashing magnitudes
def _act_bits(p: Problem, scale: float) -> Problem:
    wd = p.workload.to_dict()
    wd["act_bits"] = [x * scale for x in wd["act_bits"]]
    return p.replace(workload=Workload.from_dict(wd))


@pytest.mark.parametrize("make,fields", [
    (lambda p: p.replace(p_max=[1e-17] * p.K), {"gain_s", "gain_f"}),
    (lambda p: p.replace(client_flops=[1e-6, 1e-5]), {"client_flops"}),
    (lambda p: p.replace(noise_psd=1e-3), {"gain_s", "gain_f"}),
    (lambda p: _act_bits(p, 1e300), {"workload"}),
    (lambda p: p.replace(gain_s=np.full(p.gain_s.shape, 1e300)), {"gain_s"}),
    (lambda p: p.replace(gain_f=np.full(p.gain_f.shape, 1e-300)), {"gain_f"}),
    # found by the fuzz: subnormal gains with tiny bandwidths (a ZeroDivisionError before)
    (lambda p: p.replace(gain_f=np.full(p.gain_f.shape, 1e-311), bw_f=[1e-294] * p.N,
                         noise_psd=3.4e-29, p_total_f=2e-7), {"gain_f"}),
    # an SNR of 1e3 on 1e-280 Hz subchannels: the adapter upload takes ~1e280 s
    (lambda p: p.replace(bw_f=[1e-280] * p.N,
                         gain_f=np.full(p.gain_f.shape, p.noise_psd * 1e-280 * 1e3 / 0.2)),
     {"bw_f"}),
    # found by the fuzz (a ZeroDivisionError reported as "problem" before): huge
    # bandwidths with huge gains make transfer times of 1e-205..1e-300 s, whose squares
    # underflow in the power control; powers of 1e-201 W underflow in the bound
    (lambda p: p.replace(gain_f=p.gain_f * 1e300, bw_f=p.bw_f * 1e300,
                         noise_psd=p.noise_psd * 1e4), {"bw_f"}),
    (lambda p: p.replace(gain_f=p.gain_f * 1e200, bw_f=p.bw_f * 1e200), {"bw_f"}),
    (lambda p: p.replace(noise_psd=p.noise_psd * 1e-200, p_max=p.p_max * 1e-200),
     {"p_max"}),
    (lambda p: p.replace(p_total_s=1e-160), {"p_total_s"}),
])
def test_magnitudes_that_crashed_the_kernels_are_rejected_naming_a_field(small, make, fields):
    p = make(small)
    with pytest.raises(ValidationError) as info:
        solve(p)
    assert info.value.field in fields, str(info.value)


@pytest.mark.parametrize("scale", [1e-140, 1e140])
def test_tiny_and_huge_power_scales_solve_like_the_original(small, scale):
    """Powers and noise scaled together (the same SNRs) down to 1e-140 W and up: the same
    plan and delay as at realistic scale (the limits sit far from realistic values)."""
    ref = solve(small)
    p = small.replace(p_max=small.p_max * scale, p_total_s=small.p_total_s * scale,
                      p_total_f=small.p_total_f * scale, noise_psd=small.noise_psd * scale)
    res = solve(p)
    assert (res.split, res.rank) == (ref.split, ref.rank)
    assert res.delay == pytest.approx(ref.delay, rel=1e-9)
    assert np.array_equal(res.assign_s, ref.assign_s)


_FUZZED = ("gain_s", "gain_f", "bw_s", "bw_f", "noise_psd", "p_max", "p_total_s", "p_total_f",
           "client_flops", "server_flops", "rate_down", "rate_bcast", "rounds")
_decades = st.one_of(st.just(0.0), st.floats(-12, 12),
                     st.sampled_from([-300.0, -200.0, 200.0, 300.0]))


@settings(max_examples=120, deadline=None)
@given(exps=st.fixed_dictionaries({f: _decades for f in (*_FUZZED, "act_bits")}))
def test_fuzz_wide_magnitudes_error_naming_a_field_or_a_result_evaluate_accepts(small, exps):
    """Every field scaled by 10**e (e log-uniform over +-12 decades, sometimes +-300): the
    solve either raises a ValidationError naming a field of the problem (or an
    InfeasiblePointError) or returns a point that evaluate accepts with the same delay."""
    try:
        with np.errstate(over="ignore"):
            kw = {f: np.asarray(getattr(small, f)) * 10.0 ** exps[f] for f in _FUZZED}
        kw = {f: float(x) if x.ndim == 0 else x for f, x in kw.items()}
        p = _act_bits(small.replace(**kw), 10.0 ** exps["act_bits"])
    except ValidationError as exc:  # e.g. a value that overflows to inf
        assert exc.field.split(".")[0] in PROBLEM_FIELDS
        return
    try:
        res = solve(p)
    except ValidationError as exc:
        assert exc.field.split(".")[0] in PROBLEM_FIELDS, str(exc)
        return
    except InfeasiblePointError as exc:
        assert str(exc).startswith(("psd_s:", "psd_f:", "assign_s:", "assign_f:"))
        return
    assert res.success and math.isfinite(res.delay)
    bd = evaluate(p, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f, res.psd_f)
    assert bd.total == res.delay


# ----------------------------------------------------------- JSON and fields
def test_workload_from_dict_missing_field_names_it(small):
    wd = small.workload.to_dict()
    del wd["bwd"]
    with pytest.raises(ValidationError) as info:
        Workload.from_dict(wd)
    assert info.value.field == "workload.bwd"
    data = json.loads(small.to_json())
    del data["workload"]["act_bits"]
    with pytest.raises(ValidationError, match="workload.act_bits"):
        Problem.from_json(json.dumps(data))


def test_json_integers_beyond_float_range_are_rejected(small):
    data = json.loads(small.to_json())
    text = json.dumps(data).replace(json.dumps(data["server_flops"]), "1" + "0" * 400, 1)
    with pytest.raises(ValidationError, match="server_flops"):
        Problem.from_json(text)
    data["p_max"] = [10**400] * small.K
    with pytest.raises(ValidationError, match="p_max: expected numbers within float64 range"):
        Problem.from_json(json.dumps(data))


@pytest.mark.parametrize("value", [10**400, 2**63, 2**53 + 1])
def test_huge_batch_is_rejected(small, value):
    with pytest.raises(ValidationError, match="batch"):
        small.replace(batch=value)


def test_unknown_format_version_is_rejected(small):
    data = json.loads(small.to_json())
    assert data["sfl_opt_problem"] == FORMAT_VERSION
    data["sfl_opt_problem"] = 2
    with pytest.raises(ValidationError, match="sfl_opt_problem"):
        Problem.from_json(json.dumps(data))


@pytest.mark.parametrize("change,field", [
    (dict(gain_s="complex"), "gain_s"),
    (dict(p_max=["0.2", "0.2"]), "p_max"),
    (dict(p_total_s="0.6"), "p_total_s"),
    (dict(splits=[True]), "splits"),
    (dict(ranks=[1.0, 2.5]), "ranks"),
    (dict(ranks=[1, 2**63]), "ranks"),
])
def test_silent_coercions_are_rejected(small, change, field):
    if change.get("gain_s") == "complex":
        change = dict(gain_s=small.gain_s.astype(complex))
    with pytest.raises(ValidationError) as info:
        small.replace(**change)
    assert info.value.field == field


@pytest.mark.parametrize("kw,field", [
    (dict(shadowing_db=-1), "shadowing_db"),
    (dict(bs_bandwidth=-1), "bs_bandwidth"),
    (dict(bs_power=0), "bs_power"),
    (dict(client_flops=5e11), "client_flops"),
    (dict(client_flops=(1e12,)), "client_flops"),
    (dict(ranks=(1.7,)), "ranks"),
    (dict(ranks=[2**63]), "ranks"),
    (dict(ranks=[True]), "ranks"),
    (dict(subchannel_bw="1e6"), "subchannel_bw"),
    (dict(r_min=600.0), "r_max"),
    (dict(batch=10**400), "batch"),
    (dict(ranks=(1, 1024)), "ranks"),                  # above GPT-2 small's d = 768
    (dict(ranks=(1, 32), hidden=16, profile=None), "ranks"),
])
def test_default_overrides_name_the_argument(kw, field):
    with pytest.raises(ValidationError) as info:
        Problem.default(0, **kw)
    assert info.value.field == field


@pytest.mark.parametrize("kw,field", [
    (dict(shadowing_db=-1), "shadowing_db"), (dict(bandwidth=-1), "bandwidth"),
    (dict(flops=5e11), "flops"), (dict(rank=1.7), "rank"), (dict(rank=2**63), "rank"),
    (dict(rank=1000), "rank"), (dict(deadline=0), "deadline"),
])
def test_online_default_overrides_name_the_argument(kw, field):
    with pytest.raises(ValidationError) as info:
        OnlineProblem.default(0, devices=3, **kw)
    assert info.value.field == field


def test_profile_whose_layers_disagree_with_its_arrays_is_rejected(tmp_path):
    from sfl_opt.model.profiles import bundled_profile_path, load_profile

    data = json.loads(bundled_profile_path().read_text())
    data["model"]["layers"] = data["model"]["layers"] + 1
    path = tmp_path / "p.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ValidationError, match=r"profile\.workload\.\w+: expected one entry"):
        load_profile(path)


# ----------------------------------------------------------------- messages
def test_total_power_message_shows_the_excess(small):
    res = solve(small)
    psd = np.array(res.psd_s) * (small.p_total_s * (1 + 1e-6) / res.breakdown.power_s.sum())
    p = small.replace(p_max=[10.0] * small.K)
    with pytest.raises(InfeasiblePointError) as info:
        evaluate(p, res.split, res.rank, res.assign_s, psd, res.assign_f, res.psd_f)
    msg = str(info.value)
    assert "exceeds p_total_s=0.6 W by 6e-07 W" in msg and "relative 1e-06" in msg


def test_zero_rate_message_says_what_underflowed(small):
    res = solve(small)
    # rates are log1p(snr)/ln 2 (issue 20): a psd of 1e-300 still has its (tiny) rate and
    # an enormous, finite delay; only a snr that underflows to 0 gives zero rate
    psd = np.where(np.asarray(res.psd_s) > 0, 1e-300, 0.0)
    bd = evaluate(small, res.split, res.rank, res.assign_s, psd, res.assign_f, res.psd_f)
    assert 1e250 < bd.total < np.inf and (bd.rate_s > 0).all()
    psd = np.where(np.asarray(res.psd_s) > 0, 5e-324, 0.0)
    with pytest.raises(InfeasiblePointError, match="underflows to 0"):
        evaluate(small, res.split, res.rank, res.assign_s, psd, res.assign_f, res.psd_f)
    with pytest.raises(InfeasiblePointError, match="no power on its subchannels"):
        evaluate(small, res.split, res.rank, res.assign_s, np.zeros(small.M), res.assign_f,
                 res.psd_f)


@pytest.mark.parametrize("cmd", ["sweep clients", "compare"])
def test_seeds_option_is_named(cmd, capsys):
    with pytest.raises(SystemExit) as info:
        main([*cmd.split(), "--seeds", "abc"])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("sfl-opt: error: argument --seeds: expected N (seeds 0..N-1)")
    assert "got 'abc'" in err and err.count("\n") == 1


# ------------------------------------------------------- online min_bandwidth
def _min_bandwidth_reference(rate: float, a: float) -> float:
    """b with b log2(1 + a/b) = rate, by 60-digit bisection on log b."""
    with mpmath.workdps(60):
        r, aa = mpmath.mpf(rate), mpmath.mpf(a)
        lo, hi = mpmath.mpf(-1000), mpmath.log(r) + 2000  # b in e^-1000 .. r e^2000
        f = lambda lb: mpmath.exp(lb) * mpmath.log1p(aa / mpmath.exp(lb)) / mpmath.log(2) - r  # noqa: E731
        for _ in range(300):
            mid = (lo + hi) / 2
            if f(mid) >= 0:
                hi = mid
            else:
                lo = mid
        return float(mpmath.exp(hi))


@settings(max_examples=60, deadline=None)
@given(log_a=st.floats(0.0, 280.0), frac=st.floats(-12.0, -1e-6))
def test_min_bandwidth_matches_a_high_precision_reference(log_a, frac):
    """Over SNRs a = p g / N0 from 1 Hz to 1e280 Hz and rates from 1e-12 to ~1 times the
    limit a / ln 2: the closed form agrees with a 60-digit reference."""
    a = 10.0 ** log_a
    rate = a / math.log(2) * 10.0 ** frac
    got = float(min_bandwidth(np.array([rate]), np.array([1.0]), np.array([a]))[0])
    want = _min_bandwidth_reference(rate, a)
    assert got == pytest.approx(want, rel=1e-9)


def test_min_bandwidth_at_very_high_snr_is_monotone():
    """The issue's symptom: gains >= 1e3 gave 1.2e7 Hz where 1e22 gave 2.3e5 Hz. More SNR
    never needs more bandwidth."""
    a = 10.0 ** np.arange(6.0, 300.0, 7.0)
    b = min_bandwidth(np.full(a.size, 1e6), np.ones(a.size), a)
    assert np.isfinite(b).all() and (np.diff(b) < 0).all()


# ----------------------------------------------------- optional dependencies
def _one_line_error(capsys, extra):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and f"pip install 'sfl-opt[{extra}]'" in err[0], err
    return err[0]


def test_bound_without_cvxpy(monkeypatch, capsys, small):
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    with pytest.raises(MissingDependencyError, match=r"sfl-opt\[cvxpy\]"):
        solve(small, bound="relaxation")
    assert solve(small).lower_bound is not None  # the default native bound needs no cvxpy
    assert main(["solve", "--bound", "relaxation"]) == 2
    _one_line_error(capsys, "cvxpy")


def test_milp_without_pyomo(monkeypatch, capsys, small):
    monkeypatch.setitem(sys.modules, "pyomo", None)
    monkeypatch.setitem(sys.modules, "pyomo.environ", None)
    with pytest.raises(MissingDependencyError, match=r"sfl-opt\[pyomo\]"):
        solve(small, "milp")
    assert main(["solve", "--method", "milp"]) == 2
    _one_line_error(capsys, "pyomo")


def test_power_backend_without_its_package_names_the_extra(monkeypatch, small):
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    with pytest.raises(BackendError, match=r"sfl-opt\[cvxpy\]"):
        solve(small, power="cvxpy")


@pytest.mark.parametrize("cmd", [["profile"],
                                 ["measure-rounds", "--profile", "p.json", "--target-loss", "1"]])
def test_harness_commands_without_torch(monkeypatch, capsys, cmd):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert main(cmd) == 2
    _one_line_error(capsys, "harness")


def test_dask_without_distributed(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "distributed", None)
    assert main(["compare", "--seeds", "1", "--dask", "tcp://127.0.0.1:1", "--quiet"]) == 2
    _one_line_error(capsys, "dask")


# -------------------------------------------------------------------- the CLI
def test_random_method_without_seed_uses_seed_0_and_says_so(capsys):
    assert main(["solve", "--method", "fully_random"]) == 0
    first = capsys.readouterr()
    assert "using --seed 0" in first.err
    assert main(["solve", "--method", "fully_random", "--seed", "0"]) == 0
    second = capsys.readouterr()
    strip = [ln for ln in first.out.splitlines() if "solve time" not in ln]
    assert strip == [ln for ln in second.out.splitlines() if "solve time" not in ln]


def test_fixed_rank_options_reach_the_method(capsys):
    assert main(["solve", "--method", "fixed_rank", "--rank", "16", "--kicks", "0"]) == 0
    assert "LoRA rank: r = 16" in capsys.readouterr().out
    assert main(["solve", "--mode", "bcd", "--max-iter", "1", "--max-moves", "5"]) == 0
    assert main(["solve", "--power-option", "rtol=1e-6"]) in (0, 2)


def test_scenario_seed_with_a_file_is_an_error(tmp_path, capsys):
    path = tmp_path / "s.json"
    path.write_text(Problem.default(0).to_json())
    assert main(["solve", str(path), "--scenario-seed", "3"]) == 2
    assert "--scenario-seed" in capsys.readouterr().err
    assert main(["solve", str(path), "--profile", "x.json"]) == 2
    assert "--profile" in capsys.readouterr().err


def test_json_into_a_missing_folder_fails_before_solving(tmp_path, capsys, monkeypatch):
    import sfl_opt.cli.core as cli

    monkeypatch.setattr(cli, "solve", lambda *a, **k: pytest.fail("solved first"))
    assert main(["solve", "--out", str(tmp_path / "nope" / "out.json")]) == 2
    assert "--out" in capsys.readouterr().err


def test_profile_option_builds_the_default_from_that_profile(capsys):
    from sfl_opt.model.profiles import PROFILES_DIR

    tiny = PROFILES_DIR / "cpu-gpt2-tiny.json"
    assert main(["default", "--profile", str(tiny)]) == 0
    assert Problem.from_json(capsys.readouterr().out) == Problem.default(0, profile=tiny)


def test_solve_time_excludes_compilation_and_includes_the_bound(small):
    from sfl_opt.solve import warmup

    warmup()
    assert warmup() == 0.0  # once per process; solve calls it before its clock starts
    res = solve(small, bound=True)
    assert res.timings["total"] >= res.timings["bound"] > 0


def test_sweep_warns_about_implausible_si_values(capsys):
    assert implausible("subchannel_bw", 0.5) is not None
    assert implausible("subchannel_bw", 1e6) is None
    assert "Hz" in implausible("subchannel_bw", 0.5)


def test_compare_progress_bar_is_labelled_compare(monkeypatch):
    import sfl_opt.experiments.analysis as analysis

    seen = {}
    monkeypatch.setattr(analysis, "sweep", lambda *a, **k: seen.update(k) or SweepTable([]))
    analysis.compare(1, ["sflllm"], executor="serial", progress=False)
    assert seen["desc"] == "compare"


# ---------------------------------------------------------------------- docs
ROOT = __import__("pathlib").Path(__file__).resolve().parents[2]


def test_docs_name_the_command_and_the_papers_and_stay_inside_the_repository():
    import re

    online = (ROOT / "docs" / "online.md").read_text()
    cli = (ROOT / "sfl_opt" / "cli" / "online.py").read_text()
    assert "python -m sfl_opt.cli.online" not in online + cli
    assert "sfl-opt online" in online
    for path in [ROOT / "README.md", *(ROOT / "docs").glob("*.md")]:
        text = path.read_text()
        assert not re.search(r"seed 00\d", text), path
        for target in re.findall(r"\]\(([^)#]+)", text) + re.findall(r"`(\.\./[^`]+)`", text):
            if target.startswith(("http://", "https://")):
                continue
            resolved = (path.parent / target).resolve()
            assert resolved.is_relative_to(ROOT) and resolved.exists(), (path, target)


@pytest.mark.parametrize("cmd,target", [
    (["compare", "--seeds", "1", "--serial", "--quiet"], "compare"),
    (["sweep", "clients", "--values", "2", "--seeds", "1", "--serial", "--quiet"], "sweep"),
    (["figures", "--quick", "--serial", "--quiet"], "make_figures"),
])
def test_experiment_commands_pass_the_profile(cmd, target, monkeypatch, tmp_path):
    import sfl_opt.cli.experiments as ex
    from sfl_opt.model.profiles import bundled_profile_path

    monkeypatch.chdir(tmp_path)  # the commands check their output folder first
    profile = str(bundled_profile_path())

    seen = {}

    def fake(*a, **k):
        seen.update(k)
        raise SystemExit(0)

    monkeypatch.setattr(ex, target, fake)
    with pytest.raises(SystemExit):
        main([*cmd, "--profile", profile])
    assert seen["base"] == {"profile": profile}


def test_a_slow_kernel_compilation_is_announced_once_with_its_time(monkeypatch, caplog):
    """From Python too (issue 20): a WARNING on the sfl_opt logger, once per process."""
    import importlib
    import logging
    import time

    s = importlib.import_module("sfl_opt.solve")  # the module, not the function

    monkeypatch.setitem(s._WARM, "done", False)
    monkeypatch.setattr(s, "_compile_kernels", lambda: time.sleep(1.5))
    with caplog.at_level(logging.WARNING, logger="sfl_opt"):
        assert s.warmup() >= 1.5
        assert s.warmup() == 0.0  # once per process
    msgs = [r.getMessage() for r in caplog.records if r.name == "sfl_opt"]
    assert len(msgs) == 1 and "compiling the Numba kernels" in msgs[0]
    assert "15-120 s" in msgs[0]
    # a fast warm-up (the disk cache) says nothing
    caplog.clear()
    monkeypatch.setitem(s._WARM, "done", False)
    monkeypatch.setattr(s, "_compile_kernels", lambda: None)
    with caplog.at_level(logging.WARNING, logger="sfl_opt"):
        s.warmup()
        time.sleep(1.2)
    assert not caplog.records


def test_the_announcement_reaches_stderr_without_logging_configured():
    import subprocess
    import sys

    code = ("import importlib, time; s = importlib.import_module('sfl_opt.solve'); "
            "s._compile_kernels = lambda: time.sleep(1.5); s.warmup()")
    err = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=120).stderr
    assert err.count("compiling the Numba kernels") == 1
