"""Shared vs per-device server, JSON round trip, policy registry, the V sweep through
an executor and the fit of the bound's constants."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from sfl_opt.errors import ValidationError
from sfl_opt.online import (
    POLICIES,
    POLICY_REGISTRY,
    OnlineProblem,
    fit_bound,
    register_policy,
    simulate,
    solve_round,
    sweep_v,
)
from sfl_opt.online.bound import psi_values
from sfl_opt.online.schedule import make_decision


def _latency_by_hand(p: OnlineProblem, g: np.ndarray, b: np.ndarray, n: int) -> np.ndarray:
    """τ_k = W_dev/f_k + server + S_dn/r_dn + S_up/r_k(b), written from the workload."""
    w = p.workload
    it = p.local_iters * p.batch
    w_dev = it * (w.embed_fwd + w.head_fwd + w.head_bwd)
    w_srv = it * float(np.sum(w.fwd + w.bwd + p.rank * (w.fwd_rank + w.bwd_rank)))
    server = (n if p.server_mode == "shared" else 1) * w_srv / p.server_flops
    bw_dn = p.downlink_bandwidth / p.K
    r_dn = bw_dn * np.log2(1 + (p.downlink_power / p.K) * g / (p.noise_psd * bw_dn))
    s_up = it * (w.act_bits[0] + w.act_bits[-1]) + p.head_params * w.param_bits
    s_dn = it * w.act_bits[-1]
    r_up = b * np.log2(1 + p.power * g / (p.noise_psd * b))
    return w_dev / p.flops + server + s_dn / r_dn + s_up / r_up


@pytest.mark.parametrize("mode", ["shared", "per_device"])
def test_latency_closed_form(mode):
    p = OnlineProblem.default(seed=3, devices=6, server_mode=mode, server_flops=2e12)
    g = p.draw_gains(np.random.default_rng(0))
    m = p.round_model(g)
    for n in (1, 3, 6):
        sched = np.zeros(p.K, dtype=bool)
        sched[:n] = True
        bw = np.where(sched, p.bandwidth / n, 0.0)
        d = make_decision(p, m, sched, bw, np.zeros(p.K), 0.0, 1.0)
        want = _latency_by_hand(p, g, np.full(p.K, p.bandwidth / n), n)
        np.testing.assert_allclose(d.latency[sched], want[sched], rtol=1e-12)
        # b_min meets the deadline with equality for the same number scheduled
        mn = p.round_model(g, count=n)
        ok = mn.feasible
        tau = _latency_by_hand(p, g, np.where(ok, mn.b_min, 1.0), n)
        np.testing.assert_allclose(tau[ok], p.deadline, rtol=1e-9)


def test_shared_server_couples_the_deadline_to_n():
    shared = OnlineProblem.default(seed=3, devices=6, server_flops=2e12)
    assert shared.server_mode == "shared"  # the default
    per = shared.replace(server_mode="per_device")
    g = shared.draw_gains(np.random.default_rng(1))
    b = [shared.round_model(g, count=n).b_min for n in range(1, 7)]
    assert all((np.diff(np.array(b), axis=0) > 0).all(axis=0)[np.isfinite(b[-1])])
    # one device scheduled: the same as a stream of its own
    np.testing.assert_array_equal(shared.round_model(g, count=1).b_min,
                                  per.round_model(g).b_min)
    with pytest.raises(ValidationError, match="server_mode"):
        shared.replace(server_mode="parallel")


def test_shared_efficient_matches_enumeration():
    p = OnlineProblem.default(seed=0, devices=8, server_flops=2e12)
    rng = np.random.default_rng(5)
    for _ in range(40):
        g = p.draw_gains(rng)
        q = rng.exponential(1.0, size=p.K) * rng.choice([0.0, 0.3, 1.0, 10.0], size=p.K)
        V, w = 10 ** rng.uniform(0, 6), rng.uniform(0.05, 1.0)
        fast = solve_round(p, g, q, V, w)
        ref = solve_round(p, g, q, V, w, exact=True)
        assert ref.objective <= fast.objective * (1 + 1e-9)
        assert fast.objective <= ref.objective * 1.01
        for d in (fast, ref):
            assert (d.latency[d.scheduled] <= p.deadline * (1 + 1e-9)).all()
            assert d.bandwidth.sum() <= p.bandwidth * (1 + 1e-9)


def test_shared_simulation_respects_deadlines():
    p = OnlineProblem.default(seed=2, devices=10, server_flops=2e12)
    for name in POLICIES:
        tr = simulate(p, name, 1e4, 40, seed=0)
        assert tr.deadline_violations == 0
        n = tr.participation
        # every scheduled device waited for the whole set's server work
        unit = p.server_flop / p.server_flops
        for t in np.flatnonzero(n > 0)[:5]:
            k = np.flatnonzero(tr.scheduled[t])[0]
            assert tr.latency[t, k] > n[t] * unit


# ------------------------------------------------------------------------ JSON
@pytest.mark.parametrize("mode", ["shared", "per_device"])
def test_json_round_trip_is_exact(mode):
    p = OnlineProblem.default(seed=4, devices=7, server_mode=mode, downlink_bandwidth=math.inf)
    text = p.to_json()
    q = OnlineProblem.from_json(text)
    assert q == p and q is not p
    assert math.isinf(q.downlink_bandwidth) and q.server_mode == mode
    for name in ("positions", "shadowing_db", "flops", "energy_budget"):
        assert np.array_equal(getattr(q, name), getattr(p, name))
    assert q.to_json() == text
    assert json.loads(text)["downlink_bandwidth"] == "inf"
    # the same decisions
    g = p.draw_gains(np.random.default_rng(0))
    a = solve_round(p, g, np.ones(p.K), 1e3)
    b = solve_round(q, g, np.ones(p.K), 1e3)
    assert a.objective == b.objective and np.array_equal(a.bandwidth, b.bandwidth)
    assert p != p.replace(deadline=2.0)


def test_json_errors_name_the_field():
    p = OnlineProblem.default(seed=0, devices=3)
    data = json.loads(p.to_json())
    with pytest.raises(ValidationError, match="json"):
        OnlineProblem.from_json("{not json")
    bad = dict(data, server_mode="both")
    with pytest.raises(ValidationError, match="server_mode"):
        OnlineProblem.from_json(json.dumps(bad))
    bad = dict(data, deadline=-1.0)
    with pytest.raises(ValidationError, match="deadline"):
        OnlineProblem.from_json(json.dumps(bad))
    bad = dict(data, power=[0.2, 0.2])
    with pytest.raises(ValidationError, match="power"):
        OnlineProblem.from_json(json.dumps(bad))
    missing = {k: x for k, x in data.items() if k != "batch"}
    with pytest.raises(ValidationError, match="batch"):
        OnlineProblem.from_json(json.dumps(missing))
    with pytest.raises(ValidationError, match="bogus"):
        OnlineProblem.from_json(json.dumps(dict(data, bogus=1)))
    with pytest.raises(ValidationError, match="online_problem"):
        OnlineProblem.from_json("[1, 2]")
    # an old file without server_mode reads as the default
    old = {k: x for k, x in data.items() if k != "server_mode"}
    assert OnlineProblem.from_json(json.dumps(old)).server_mode == "shared"


# -------------------------------------------------------------------- registry
def test_policy_registry_runs_a_registered_policy():
    assert POLICIES == tuple(POLICY_REGISTRY)[: len(POLICIES)]
    p = OnlineProblem.default(seed=0, devices=5)

    @register_policy("first_feasible")
    def _first(ctx):
        sched = np.zeros(ctx.problem.K, dtype=bool)
        feas = np.flatnonzero(ctx.model.with_count(1).feasible)
        bw = np.zeros(ctx.problem.K)
        if feas.size:
            sched[feas[0]] = True
            bw[feas[0]] = ctx.problem.bandwidth
        return ctx.decide(sched, bw, "first_feasible")

    try:
        tr = simulate(p, "first_feasible", 0.0, 20, seed=0)
        assert (tr.participation <= 1).all() and tr.deadline_violations == 0
    finally:
        del POLICY_REGISTRY["first_feasible"]
    with pytest.raises(ValidationError, match="policy"):
        simulate(p, "first_feasible", 0.0, 5)


def test_sweep_v_executor_matches_serial():
    p = OnlineProblem.default(seed=0, devices=6, server_mode="per_device")
    Vs = [1e2, 1e4, 1e3]
    serial = sweep_v(p, Vs, 30, seed=2)
    with ThreadPoolExecutor(2) as ex:
        threaded = sweep_v(p, Vs, 30, seed=2, executor=ex)
    assert [t.V for t in threaded] == Vs
    for a, b in zip(serial, threaded, strict=True):
        assert np.array_equal(a.scheduled, b.scheduled) and np.array_equal(a.energy, b.energy)
        assert np.array_equal(a.scheduled, simulate(p, "lyapunov", a.V, 30, 2).scheduled)
    with pytest.raises(ValidationError, match="executor"):
        sweep_v(p, Vs, 5, executor="threads")
    with pytest.raises(ValidationError, match="Vs"):
        sweep_v(p, [], 5)


# ---------------------------------------------------------------- bound fit
def test_fit_bound_recovers_known_constants():
    """Noise-free curves from the recursion with the problem's Ψ: the fit returns ρ,
    α = Lη²/2·(σ²/b + δ²K/(K−1)) and the constant exactly."""
    K, rho, floor = 20, 0.97, 0.3
    L, eta, b, sig2, del2 = 1.0, 0.2, 4, 2.0, 5.0
    psi = psi_values(np.arange(K + 1), K, b, L, 1e-3, eta, sig2, del2, 1e3)
    rng = np.random.default_rng(0)
    curves, counts = [], []
    for _ in range(3):
        n = rng.integers(0, K + 1, size=60)
        loss = [2.0]
        for nt in n:
            loss.append(loss[-1] if nt == 0 else floor + rho * (loss[-1] - floor) + psi[nt])
        curves.append(np.array(loss))
        counts.append(n)
    fit = fit_bound(curves, counts, K)
    alpha = 0.5 * L * eta**2 * (sig2 / b + del2 * K / (K - 1))
    assert fit.rho == pytest.approx(rho, rel=1e-9)
    assert fit.alpha == pytest.approx(alpha, rel=1e-7)
    assert fit.gamma == pytest.approx((1 - rho) * floor - 0.5 * L * eta**2 * del2 / (K - 1),
                                      rel=1e-7)
    assert fit.floor == pytest.approx(floor + psi[K] / (1 - rho), rel=1e-7)
    assert fit.residual_max < 1e-10 and fit.rows == sum(int((c > 0).sum()) for c in counts)
    np.testing.assert_allclose(fit.psi_excess(np.arange(1, K + 1)), psi[1:] - psi[K],
                               rtol=1e-6, atol=1e-12)
    with pytest.raises(ValidationError, match="curves"):
        fit_bound([np.ones(3)], [np.ones(3)], K)


def test_cli_train_options_and_reconstruction_label(capsys):
    import argparse

    from sfl_opt.cli.online import TRAIN_BATCH, TRAIN_CLASSES, TRAIN_ITERS, register

    parser = argparse.ArgumentParser(prog="sfl-opt")
    sub = parser.add_subparsers(dest="command")
    online = register(sub)
    args = parser.parse_args(["online", "--train", "--policies", "lyapunov,myopic"])
    assert args.train and args.policies == ["lyapunov", "myopic"] and args.threads == 1
    assert args.rounds is None and args.server_mode is None  # defaults chosen in run()
    with pytest.raises(SystemExit):
        parser.parse_args(["online", "--train", "--policies", "lyapunov,bogus"])
    assert "bogus" in capsys.readouterr().err
    text = " ".join(online.format_help().split())
    assert "our reading" in text and "2407.02924" in text
    from sfl_opt.harness.data import WordTokenizer  # noqa: F401  (numpy only)
    try:
        from sfl_opt.harness.ushape import TAGS, ProxyConfig
    except ImportError:
        pytest.skip("needs torch")
    # the scheduled scenario has the proxy's head, batch and local iterations
    assert TRAIN_CLASSES == len(TAGS)
    assert (TRAIN_BATCH, TRAIN_ITERS) == (ProxyConfig().batch, ProxyConfig().local_iters)


# ------------------------------------------------------------------ work once
@pytest.mark.parametrize("policy", ["lyapunov", "random", "best_channel", "fair", "all"])
def test_round_models_are_built_once_per_round_and_count(monkeypatch, policy):
    """A round's model for another number of scheduled devices is built once per count
    (the policies ask for the same counts again); the trace equals one built without
    the cache."""
    import dataclasses

    from sfl_opt.online import problem as op
    from sfl_opt.online import simulate

    prob = OnlineProblem.default(seed=2, devices=8)
    assert prob.server_mode == "shared"
    asked: list[list[int]] = []
    real_round, real_count = op.OnlineProblem.round_model, op.RoundModel.with_count

    def round_model(self, gains, count=None):
        asked.append([])
        return real_round(self, gains, count)

    def with_count(self, count):
        if count != self.count and self.server_step != 0.0:
            asked[-1].append(int(count))
        return real_count(self, count)

    monkeypatch.setattr(op.OnlineProblem, "round_model", round_model)
    monkeypatch.setattr(op.RoundModel, "with_count", with_count)
    before = dict(op.BUILDS)
    trace = simulate(prob, policy, 1e4, 40, seed=3)
    built = op.BUILDS["with_count"] - before["with_count"]
    assert op.BUILDS["round_model"] - before["round_model"] == 40
    assert built == sum(len(set(r)) for r in asked)  # one per distinct count and round
    if policy in ("lyapunov", "random", "best_channel", "fair"):
        assert built < sum(len(r) for r in asked)  # and the policy asked again
    # the same trace without the cache: every with_count rebuilt
    monkeypatch.setattr(op.RoundModel, "with_count", lambda self, count: real_count(
        dataclasses.replace(self), count))  # a fresh copy: an empty cache
    again = simulate(prob, policy, 1e4, 40, seed=3)
    for name in ("scheduled", "bandwidth", "energy", "queues", "objective"):
        np.testing.assert_array_equal(getattr(trace, name), getattr(again, name))
