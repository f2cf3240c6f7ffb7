"""Radio model, second edition (SPEC §8.4): the allocated downlink and the shared band."""

from __future__ import annotations

import math

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError, evaluate, solve
from sfl_opt.cli import main
from sfl_opt.engine.prepared import prepare
from sfl_opt.errors import InfeasiblePointError, SflOptError
from sfl_opt.methods import METHODS
from sfl_opt.model.delay import pair_table
from sfl_opt.testing import enumerate_optimum, small_problem


@pytest.fixture(scope="module")
def allocated() -> Problem:
    return Problem.default(seed=2, clients=3, subchannels=5, ranks=(2, 8),
                           downlink="allocated", subchannels_d=4)


# ----------------------------------------------------------------- the problem
def test_options_leave_the_default_draws_unchanged() -> None:
    base = Problem.default(seed=5)
    both = Problem.default(seed=5, downlink="allocated", band="shared")
    assert base.downlink == "fixed" and base.band == "separate" and base.D == 0
    assert both.downlink == "allocated" and both.band == "shared"
    M, N = base.M, base.N
    assert both.M == both.N == M + N
    np.testing.assert_array_equal(both.gain_s[:, :M], base.gain_s)
    np.testing.assert_array_equal(both.gain_f[:, M:], base.gain_f)
    np.testing.assert_array_equal(both.rate_down, base.rate_down)
    # D = 20 MHz / 1 MHz subchannels, the base station's 10 W; the gains' large scale is the
    # downlink's behind rate_down (equal-share FDMA rate of K clients at 10 W / 20 MHz)
    assert both.D == 20 and both.p_total_d == 10.0 and both.bw_d.sum() == pytest.approx(20e6)
    g = both.gain_d.mean(axis=1)  # ~ large-scale gain (Rayleigh mean 1)
    k = base.K
    rate = 20e6 / k * np.minimum(np.log2(1 + (10.0 / k) * g / (base.noise_psd * 20e6 / k)),
                                 base.max_se)  # the spectral-efficiency cap
    np.testing.assert_allclose(rate, base.rate_down, rtol=0.6)


def test_json_round_trip_and_old_files() -> None:
    p = Problem.default(seed=1, downlink="allocated", band="shared")
    q = Problem.from_json(p.to_json())
    assert q == p and q.downlink == "allocated" and q.band == "shared"
    base = Problem.default(seed=1)
    text = base.to_json()
    assert "gain_d" not in text and "band" not in text  # the first edition's files
    assert Problem.from_json(text) == base
    assert p != base and base != p


def test_downlink_validation_names_the_field() -> None:
    p = Problem.default(seed=0, clients=3, subchannels=4)
    with pytest.raises(ValidationError, match="^gain_d.*bw_d and p_total_d"):
        p.replace(gain_d=np.ones((3, 4)))
    with pytest.raises(ValidationError, match="^gain_d"):
        p.replace(gain_d=np.ones((2, 4)), bw_d=np.ones(4), p_total_d=1.0)
    with pytest.raises(ValidationError, match="^gain_d"):
        p.replace(gain_d=np.ones((3, 2)), bw_d=np.ones(2), p_total_d=1.0)
    with pytest.raises(ValidationError, match="^bw_d"):
        p.replace(gain_d=np.ones((3, 4)), bw_d=np.ones(3), p_total_d=1.0)
    with pytest.raises(ValidationError, match="^p_total_d"):
        p.replace(gain_d=np.ones((3, 4)), bw_d=np.ones(4), p_total_d=-1.0)
    with pytest.raises(ValidationError, match="^band"):
        p.replace(band="both")
    with pytest.raises(ValidationError, match="^band"):
        Problem.default(seed=0, clients=3, subchannels=4, subchannels_f=5).replace(
            band="shared")
    with pytest.raises(ValidationError, match="^downlink"):
        Problem.default(seed=0, downlink="optimal")


def test_permute_clients_permutes_the_downlink(allocated) -> None:
    perm = np.array([2, 0, 1])
    q = allocated.permute_clients(perm)
    np.testing.assert_array_equal(q.gain_d, allocated.gain_d[perm])
    r = solve(allocated)
    inv = np.argsort(perm)
    bd = evaluate(q, r.split, r.rank, inv[r.assign_s], r.psd_s, inv[r.assign_f], r.psd_f,
                  assign_d=inv[r.assign_d], psd_d=r.psd_d)
    assert bd.total == pytest.approx(r.delay, rel=1e-12)


# ---------------------------------------------------------------- evaluate
def test_evaluate_downlink_closed_form(allocated) -> None:
    pr = allocated
    r = solve(pr)
    bd = evaluate(pr, **r.evaluate_kwargs())
    # independent: per-subchannel Shannon rates summed per client
    rate = np.zeros(pr.K)
    for m, k in enumerate(r.assign_d):
        rate[k] += pr.bw_d[m] * math.log2(1 + r.psd_d[m] * pr.gain_d[k, m] / pr.noise_psd)
    np.testing.assert_allclose(bd.rate_d, rate, rtol=1e-12)
    tab = pair_table(pr)
    i = prepare(pr).pair_index(r.split, r.rank)
    tcb = tab.w_client_bwd[i] / pr.client_flops
    assert bd.t_down_stage == pytest.approx(np.max(tab.s_dn[i] / rate + tcb), rel=1e-12)
    assert bd.power_d.sum() <= pr.p_total_d * (1 + 1e-9)
    assert bd.t_iter == pytest.approx(bd.t_up_stage + bd.server + bd.t_down_stage, rel=1e-12)
    assert sum(bd.stage_shares.values()) == pytest.approx(1.0, rel=1e-12)
    # the prepared d-link's stage of the point is the same number
    d = prepare(pr).link("d").exact_power(r.assign_d, i)
    assert d.t == pytest.approx(bd.t_down_stage, rel=1e-9)


def test_evaluate_checks_the_downlink_arguments(allocated) -> None:
    r = solve(allocated)
    kw = r.evaluate_kwargs()
    with pytest.raises(ValidationError, match="^assign_d"):
        evaluate(allocated, r.split, r.rank, r.assign_s, r.psd_s, r.assign_f, r.psd_f)
    fixed = Problem.default(seed=2, clients=3, subchannels=5, ranks=(2, 8))
    with pytest.raises(ValidationError, match="^assign_d"):
        evaluate(fixed, **kw)
    # over the base station's budget whether or not it binds at the solution
    over = dict(kw, psd_d=kw["psd_d"] + allocated.p_total_d / allocated.bw_d.sum())
    with pytest.raises(InfeasiblePointError, match="psd_d"):
        evaluate(allocated, **over)
    empty = dict(kw, assign_d=np.zeros(allocated.D, dtype=int))
    with pytest.raises(InfeasiblePointError, match="assign_d"):
        evaluate(allocated, **empty)


@pytest.mark.parametrize("name", sorted(set(METHODS) - {"milp"}))
@pytest.mark.parametrize("radio", [{"downlink": "allocated"}, {"band": "shared"},
                                   {"downlink": "allocated", "band": "shared"}])
def test_evaluate_agrees_with_solve(name: str, radio: dict) -> None:
    p = Problem.default(seed=4, clients=3, subchannels=4, ranks=(2, 8), subchannels_d=3,
                        **radio) if "downlink" in radio else \
        Problem.default(seed=4, clients=3, subchannels=4, ranks=(2, 8), **radio)
    kw = {"seed": 1} if METHODS[name].accepts("seed") else {}
    r = solve(p, name, **kw)
    assert (r.assign_d is None) == (p.downlink == "fixed")
    assert evaluate(p, **r.evaluate_kwargs()).total == r.delay
    d = r.to_dict()
    assert ("assign_d" in d) == (p.downlink == "allocated")


def test_milp_says_it_does_not_cover_the_downlink(allocated) -> None:
    pytest.importorskip("pyomo")
    with pytest.raises(SflOptError, match="only per-pair link"):
        solve(allocated, "milp")


# ---------------------------------------------------------------- the oracle
def test_downlink_against_the_oracle() -> None:
    gaps = []
    for seed in range(10):
        p = small_problem(seed, K=3, M=4, N=3, L=3, ranks=(1, 8), D=4,
                          p_total=[0.3, 0.6, math.inf][seed % 3])
        opt = enumerate_optimum(p)
        r = solve(p, bound=True)
        assert r.delay >= opt.delay * (1 - 1e-9)
        assert r.lower_bound <= opt.delay * (1 + 1e-9)
        # the oracle's own point evaluates to its delay
        bd = evaluate(p, opt.split, opt.rank, opt.assign_s, opt.psd_s, opt.assign_f,
                      opt.psd_f, assign_d=opt.assign_d, psd_d=opt.psd_d)
        assert bd.total == pytest.approx(opt.delay, rel=1e-12)
        gaps.append(r.delay / opt.delay - 1)
    assert np.median(gaps) <= 0.01 and max(gaps) <= 0.05


def test_stage_bound_covers_the_downlink(allocated) -> None:
    prep = prepare(allocated)
    assert prep.stage_links == ("s", "d")
    r = solve(allocated, prune=False)
    grid = r.grid.ravel()
    lb = prep.total(np.arange(prep.P), prep.stage_bounds(),
                    prep.link("f").cheap_bound(None))
    assert np.all(lb <= grid * (1 + 1e-9))
    # the fixed downlink is no longer in the fixed terms: Ts only
    tab = prep.tab
    np.testing.assert_allclose(prep.fixed_iter, tab.w_server / allocated.server_flops)


# ---------------------------------------------------------------- shared band
def _embed(sep: Problem, assign: np.ndarray, psd: np.ndarray, first: bool) -> tuple:
    """A separate link's point in the shared pool: the other link's subchannels to
    client 0 with zero power (``first``: the link's subchannels come first)."""
    extra = sep.N if first else sep.M
    a0 = np.zeros(extra, dtype=int)
    p0 = np.zeros(extra)
    if first:
        return np.concatenate([assign, a0]), np.concatenate([psd, p0])
    return np.concatenate([a0, assign]), np.concatenate([p0, psd])


@pytest.mark.parametrize("seed", range(6))
def test_shared_band_never_worse_than_separate(seed: int) -> None:
    K = 2 + seed % 3
    kw = dict(K=K, M=K + 1 + seed % 2, N=K + seed % 2, L=3, ranks=(2, 8),
              p_total=[0.2, 0.6, math.inf][seed % 3])
    sep = small_problem(seed, **kw)
    sh = small_problem(seed, band="shared", **kw)
    r = solve(sep)
    # the separate point is feasible in the pool with the same delay (exactly)
    a_s, p_s = _embed(sep, r.assign_s, r.psd_s, first=True)
    a_f, p_f = _embed(sep, r.assign_f, r.psd_f, first=False)
    assert evaluate(sh, r.split, r.rank, a_s, p_s, a_f, p_f).total == pytest.approx(
        r.delay, rel=1e-12)
    # hence the optimum, and the solver on these instances, are never worse
    assert solve(sh).delay <= r.delay * (1 + 1e-9)
    if K == 2:
        assert enumerate_optimum(sh).delay <= enumerate_optimum(sep).delay * (1 + 1e-9)


# ---------------------------------------------------------------- the CLI
def test_cli_radio_options(capsys, tmp_path) -> None:
    assert main(["solve", "--downlink", "allocated", "--band", "shared"]) == 0
    out = capsys.readouterr().out
    assert "downlink: allocated, D=20" in out and "band: shared pool of 40" in out
    assert "R_d [Mb/s]" in out and "share of T_total" in out
    f = tmp_path / "p.json"
    f.write_text(Problem.default(0).to_json())
    assert main(["solve", str(f), "--band", "shared"]) == 2
    assert "band" in capsys.readouterr().err
    assert main(["default", "--downlink", "allocated"]) == 0
    p = Problem.from_json(capsys.readouterr().out)
    assert p.downlink == "allocated"
