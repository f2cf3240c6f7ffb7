"""Per-client cut layers (``split_mode="per_client"``): the exact split-vector kernel
against enumeration of every vector, the per-client delay terms against a direct
computation from the workload, the per-client power kernel, the bound against brute
force, the joint search never above the common-split optimum, and the validation.

The kernel tests also run as plain Python (``NUMBA_DISABLE_JIT=1``) in
:func:`test_pure_python_path`.
"""

from __future__ import annotations

import functools
import itertools
import math
import os

import numpy as np
import pytest

from sfl_opt import Problem, ValidationError, evaluate, solve
from sfl_opt import kernels as kn
from sfl_opt.engine.prepared import LinkPoint, prepare
from sfl_opt.errors import InfeasiblePointError
from sfl_opt.kernels.demand_power import demand_power_control
from sfl_opt.kernels.split import best_split_vector, vector_objective
from sfl_opt.methods.per_client import best_vector, split_problem
from sfl_opt.model.client_splits import client_terms, split_vector, vector_terms
from sfl_opt.model.delay import pair_table
from sfl_opt.testing import assignments, small_problem

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"


# ------------------------------------------------------------------ the kernel
def _brute(V, lam, W, feas):
    best = math.inf
    for c in itertools.product(*[np.flatnonzero(feas[k]) for k in range(W.shape[0])]):
        best = min(best, vector_objective(V, lam, W, np.array(c, dtype=np.int64)))
    return best


@pytest.mark.parametrize("seed", range(8))
def test_kernel_split_vector_matches_enumeration(seed: int) -> None:
    """Random terms (any H, ties, infeasible entries, weights over four decades): the
    threshold search equals the least objective over all n^K vectors, and its vector
    attains it."""
    rng = np.random.default_rng([18, seed])
    for trial in range(40):
        H, K, n = int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 6))
        V = rng.random((H, K, n)) * 10.0 ** rng.uniform(-3, 3, size=(H, 1, 1))
        if trial % 3 == 0:
            V = np.round(V * 4) / 4  # ties
        lam = 10.0 ** rng.uniform(-2, 2, size=H)
        W = rng.random((K, n)) * 10.0 ** rng.uniform(-3, 3)
        if trial % 4 == 0:
            W = np.tile(np.sort(W[0])[::-1], (K, 1))  # one server-work curve
        feas = rng.random((K, n)) < 0.7
        feas[np.arange(K), rng.integers(0, n, size=K)] = True
        V = np.where(feas[None], V, np.inf)
        val, choice, thr, _ = best_split_vector(V, lam, W, feas)
        want = _brute(V, lam, W, feas)
        assert val == pytest.approx(want, rel=1e-12, abs=1e-300)
        assert feas[np.arange(K), choice].all()
        assert vector_objective(V, lam, W, choice) == pytest.approx(want, rel=1e-12)
        assert np.all(np.max(V[:, np.arange(K), choice], axis=1) <= thr)


def test_kernel_split_vector_infeasible_client() -> None:
    """A client with no candidate: value inf, choice -1 (no vector)."""
    V = np.ones((2, 2, 3))
    feas = np.array([[True, False, True], [False, False, False]])
    val, choice, _, _ = best_split_vector(V, np.ones(2), np.ones((2, 3)), feas)
    assert val == math.inf and (choice == -1).all()


# ----------------------------------------------------------- per-client power
@pytest.mark.parametrize("seed", range(6))
def test_demand_power_control(seed: int) -> None:
    """Equal payloads: the plain power control's deadline. Unequal: feasible, every cap
    held, and a deadline 1e-7 shorter needs more power than the caps allow (checked
    with the plain kernel's client_needs, one client at a time)."""
    p = small_problem(seed, K=3, M=6, p_total=[0.3, np.inf][seed % 2])
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    rng = np.random.default_rng(seed)
    a = next(iter(assignments(3, 6)))
    a = np.ascontiguousarray(rng.permutation(a), np.int64)
    c = rng.uniform(0, 0.2, 3)
    t0, _, _, _ = kn.power_control(la, inva, p.bw_s, a, c, 3e6, p.p_max, p.p_total_s, 1e-13)
    t1, _, st = demand_power_control(la, inva, p.bw_s, a, c, np.full(3, 3e6), p.p_max,
                                     p.p_total_s, 1e-13)
    assert st == 0 and t1 == pytest.approx(t0, rel=1e-10)
    S = rng.uniform(1e5, 1e7, 3)
    t, psd, st = demand_power_control(la, inva, p.bw_s, a, c, S, p.p_max, p.p_total_s, 1e-13)
    rate = np.bincount(a, weights=p.bw_s * np.log2(1 + psd * p.gain_s[a, np.arange(6)]
                                                    / p.noise_psd), minlength=3)
    power = np.bincount(a, weights=psd * p.bw_s, minlength=3)
    assert np.max(c + S / rate) <= t * (1 + 1e-9)
    assert (power <= p.p_max * (1 + 1e-9)).all() and power.sum() <= p.p_total_s * (1 + 1e-9)
    tt = t * (1 - 1e-7)
    need = np.array([kn.client_needs(la, inva, p.bw_s, a, c, float(S[k]), tt)[k]
                     for k in range(3)])
    assert (need > p.p_max).any() or need.sum() > p.p_total_s


# --------------------------------------------------------------- delay terms
def _mixed(seed: int = 0, K: int = 4) -> Problem:
    """A small instance with per-client memory caps: client 0 holds only the first
    cut, the others everything."""
    base = small_problem(seed, K=K, M=K + 2, N=K + 1, L=5)
    from sfl_opt.model.workload import Workload

    wl = Workload.gpt2(5, 256, 128)
    from sfl_opt.model.memory import memory_table

    need = memory_table(wl, base.batch, base.splits, base.ranks)
    caps = np.full(K, np.inf)
    caps[0] = float(need[0].max()) * 1.0001  # only split 1 (every rank) fits client 0
    return base.replace(workload=wl, client_memory=caps)


def test_evaluate_vector_terms() -> None:
    """``evaluate`` with a split per client: an array of equal cuts gives the int's
    delay; a mixed vector's terms equal a direct computation from the workload
    (server work summed over the clients' batches, broadcast of the deepest client's
    adapters)."""
    p = _mixed()
    r = solve(p)
    kw = r.evaluate_kwargs()
    b0 = evaluate(p, **kw)
    b1 = evaluate(p, **dict(kw, split=np.full(p.K, r.split)))
    assert b1.total == pytest.approx(b0.total, rel=1e-14)
    vec = np.array([1, 2, 4, 3])
    bd = evaluate(p, **dict(kw, split=vec))
    w, b, q = p.workload, p.batch, float(r.rank)
    wcf = np.array([w.embed_fwd + np.sum(w.fwd[:s] + q * w.fwd_rank[:s]) for s in vec])
    ws = np.array([w.head_fwd + w.head_bwd + np.sum(w.fwd[s:] + w.bwd[s:]
                                                   + q * (w.fwd_rank[s:] + w.bwd_rank[s:]))
                   for s in vec])
    sad = np.array([q * w.param_bits * np.sum(w.lora_params[:s]) for s in vec])
    assert np.allclose(bd.client_fwd, b * wcf / p.client_flops, rtol=1e-12)
    assert bd.server == pytest.approx(b * ws.sum() / p.server_flops, rel=1e-12)
    assert np.allclose(bd.fed_upload, sad / bd.rate_f, rtol=1e-12)
    assert bd.broadcast == pytest.approx(sad.max() / p.rate_bcast, rel=1e-12)
    assert np.array_equal(bd.split, vec)
    up = b * (w.act_bits[vec - 1] + w.label_bits) / bd.rate_s
    assert bd.t_up_stage == pytest.approx(np.max(b * wcf / p.client_flops + up), rel=1e-12)


def test_evaluate_vector_memory_and_validation() -> None:
    """Client 0's cap admits only split 1: a vector deeper for the others is accepted
    (the common split 3 is not); client 0 deeper is rejected naming client_memory; a
    wrong shape or a non-candidate names ``split``."""
    p = _mixed()
    r = solve(p)
    kw = r.evaluate_kwargs()
    evaluate(p, **dict(kw, split=np.array([1, 4, 4, 4])))
    with pytest.raises(InfeasiblePointError, match="client_memory"):
        evaluate(p, **dict(kw, split=3))
    with pytest.raises(InfeasiblePointError, match="client 0"):
        evaluate(p, **dict(kw, split=np.array([2, 1, 1, 1])))
    with pytest.raises(ValidationError, match="split"):
        evaluate(p, **dict(kw, split=np.array([1, 1])))
    with pytest.raises(ValidationError, match="split"):
        evaluate(p, **dict(kw, split=np.array([1, 1, 9, 1])))
    with pytest.raises(ValidationError, match="split"):
        split_vector(p, [1.5, 1, 1, 1])


# --------------------------------------------------- the exact step on a problem
@pytest.mark.parametrize("seed", range(4))
def test_split_step_exact_against_evaluate(seed: int) -> None:
    """With an allocation held, the kernel's best (rank, vector) equals the least
    ``evaluate`` total over every vector within the memory caps and every rank."""
    p = _mixed(seed, K=3)
    r = solve(p)
    prep = prepare(p)
    links = {"s": LinkPoint(r.assign_s, r.psd_s, 0.0), "f": LinkPoint(r.assign_f, r.psd_f, 0.0)}
    terms = client_terms(p, pair_table(p))
    tot, idx, q, _ = best_vector(prep, terms, links, np.arange(p.ranks.size))
    kw = r.evaluate_kwargs()
    best = math.inf
    for rank in p.ranks:
        for vec in itertools.product(p.splits, repeat=p.K):
            try:
                bd = evaluate(p, **dict(kw, split=np.array(vec), rank=int(rank)))
            except InfeasiblePointError:
                continue
            best = min(best, bd.total)
    assert tot == pytest.approx(best, rel=1e-12)
    got = evaluate(p, **dict(kw, split=terms.splits[idx], rank=int(terms.ranks[q])))
    assert got.total == pytest.approx(best, rel=1e-12)
    V, lam, W, feas = split_problem(prep, terms, {"s": got.rate_s, "f": got.rate_f,
                                                  "d": p.rate_down}, q)
    assert feas[np.arange(p.K), idx].all()


# ------------------------------------------------------------------ the solve
@functools.lru_cache(maxsize=1)
def _instances() -> list[Problem]:
    out = [_mixed(s, K=k) for s, k in ((0, 3), (1, 4), (2, 5))]
    out += [small_problem(s, K=3, M=5, N=4, L=5) for s in range(3)]
    out += [small_problem(7, K=3, M=5, N=4, L=5, D=4), small_problem(8, K=3, M=4, N=4, L=5,
                                                                      band="shared")]
    devs = ["iphone-15-pro-npu", "jetson-orin-nano-8gb", "laptop-rtx-4060"]
    out += [Problem.default(seed=s, clients=k, subchannels=max(20, k), devices=devs)
            for s, k in ((0, 6), (1, 12), (2, 9))]
    return out


@pytest.mark.parametrize("i", range(11))
def test_per_client_never_above_common(i: int) -> None:
    """Mixed memory caps, small instances, an allocated downlink, a shared band and
    device cohorts: the per-client delay is at most the common split's (the same
    search's), equals ``evaluate`` of its point, and is above its own lower bound."""
    p = _instances()[i]
    r0 = solve(p, seed=0)
    r1 = solve(p, seed=0, split_mode="per_client")
    assert r1.split_mode == "per_client" and r1.split.shape == (p.K,)
    assert r1.delay <= r0.delay * (1 + 1e-12)
    assert r1.info["common_delay"] == pytest.approx(r0.delay, rel=1e-12)
    bd = evaluate(p, **r1.evaluate_kwargs())
    assert bd.total == pytest.approx(r1.delay, rel=1e-12)
    assert r1.lower_bound is not None and r1.lower_bound <= r1.delay
    need = p.memory_need(r1.split, r1.rank) if p.workload.has_memory else None
    if need is not None:
        assert (need <= p.client_memory).all()


def test_per_client_gains_where_the_small_client_binds() -> None:
    """Two clients, a slow server: client 1 can hold only the first cut, client 0 (fast,
    unlimited memory) takes more blocks off the server — strictly better than any
    common split, which client 1's memory pins to 1."""
    p = _mixed(0, K=2)
    p = p.replace(client_memory=p.client_memory[::-1].copy(),
                  client_flops=np.array([20e12, 0.5e12]), server_flops=2e12)
    r0 = solve(p)
    r1 = solve(p, split_mode="per_client")
    assert r0.split == 1
    assert r1.split[1] == 1 and r1.split[0] > 1
    assert r1.delay < r0.delay * (1 - 1e-3)


def test_per_client_json_and_kwargs() -> None:
    p = _mixed()
    r = solve(p, split_mode="per-client")
    d = r.to_dict()
    assert d["split_mode"] == "per_client" and len(d["split"]) == p.K
    assert all(isinstance(x, int) for x in d["split"])
    r.to_json()


# ----------------------------------------------------------------- the bound
def _brute_per_client(p: Problem) -> float:
    """The per-client optimum of a tiny instance: every rank, split vector within the
    caps, s-link assignment (exact power) and f-link assignment (exact power for the
    per-client adapter payloads)."""
    la_s, inva_s = kn.normalise(p.gain_s, p.noise_psd)
    la_f, inva_f = kn.normalise(p.gain_f, p.noise_psd)
    best = math.inf
    A_s = [np.ascontiguousarray(a, np.int64) for a in assignments(p.K, p.M)]
    A_f = [np.ascontiguousarray(a, np.int64) for a in assignments(p.K, p.N)]
    terms = client_terms(p, pair_table(p))
    for rank in p.ranks:
        for vec in itertools.product(p.splits, repeat=p.K):
            vt = vector_terms(p, np.array(vec), int(rank), terms)
            if not vt["fits"].all():
                continue
            assert np.ptp(vt["s_up"]) == 0  # one activation size: one S_up
            up = min(kn.power_control(la_s, inva_s, p.bw_s, a, vt["tcf"], float(vt["s_up"][0]),
                                      p.p_max, p.p_total_s, 1e-13)[0] for a in A_s)
            fed = min(demand_power_control(la_f, inva_f, p.bw_f, a, np.zeros(p.K),
                                           vt["s_ad"], p.p_max, p.p_total_f, 1e-13)[0]
                      for a in A_f)
            dn = float(np.max(vt["s_dn"] / p.rate_down + vt["tcb"]))
            t_round = (p.local_iters * (up + vt["ts"] + dn) + fed
                       + vt["s_bc"] / p.rate_bcast)
            best = min(best, vt["rounds"] * t_round)
    return best


@pytest.mark.parametrize("seed", range(4))
def test_per_client_bound_valid_against_brute_force(seed: int) -> None:
    """On tiny instances (K=2, M=3, N=2, 3 cuts, 2 ranks, mixed memory caps): bound <=
    brute-force per-client optimum <= the solve's per-client delay <= common delay."""
    p = small_problem(seed, K=2, M=3, N=2, L=4, ranks=(1, 8))
    from sfl_opt.model.memory import memory_table
    from sfl_opt.model.workload import Workload

    wl = Workload.gpt2(4, 256, 128)
    need = memory_table(wl, p.batch, p.splits, p.ranks)
    p = p.replace(workload=wl, client_memory=np.array([np.inf, need[1].max() * 1.0001]),
                  server_flops=[0.5e12, 5e12, 50e12, 2e12][seed])
    # plain Shannon rates: the brute force below uses the uncapped kernels
    p = p.replace(max_se=math.inf, se_attenuation=1.0)
    opt = _brute_per_client(p)
    r1 = solve(p, split_mode="per_client")
    r0 = solve(p)
    assert r1.lower_bound <= opt * (1 + 1e-9)
    assert opt <= r1.delay * (1 + 1e-9)
    assert r1.delay <= r0.delay * (1 + 1e-12)


# ------------------------------------------------------------------ validation
def test_split_mode_validation() -> None:
    p = small_problem(0)
    with pytest.raises(ValidationError, match="split_mode"):
        solve(p, split_mode="each")
    for method in ("exact", "random_split", "fully_random"):
        with pytest.raises(ValidationError, match="split_mode"):
            solve(p, method, split_mode="per_client")
    with pytest.raises(ValidationError, match="power"):
        solve(p, power="cvxpy", split_mode="per_client")
    with pytest.raises(ValidationError, match="bound"):
        solve(p, bound="relaxation", split_mode="per_client")
    with pytest.raises(ValidationError, match="fading"):
        solve(p, fading="saa", split_mode="per_client")
    assert solve(p, split_mode="common").split_mode == "common"


# ------------------------------------------------------------- pure-Python path
@pytest.mark.skipif(JIT_DISABLED, reason="already running as plain Python")
@pytest.mark.slow
def test_pure_python_path(rerun_without_jit) -> None:
    """The kernel tests again with NUMBA_DISABLE_JIT=1 (plain Python kernels)."""
    rerun_without_jit(__file__, "-k", "kernel or demand_power or split_step")


# ------------------------------------------------------------------ command line
def test_cli_split_mode(tmp_path, capsys) -> None:
    """``sfl-opt solve --split-mode per-client`` prints one cut per client and writes
    the vector; a method that cannot honour it exits 2 naming split_mode."""
    from sfl_opt.cli import main

    out = tmp_path / "r.json"
    assert main(["solve", "--devices", "iphone-15-pro-npu", "laptop-rtx-4060", "--clients",
                 "4", "--split-mode", "per-client", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert "split points (one per client)" in text
    import json

    data = json.loads(out.read_text())
    assert data["split_mode"] == "per_client" and len(data["split"]) == 4
    assert main(["solve", "--method", "exact", "--split-mode", "per-client"]) == 2
    assert "split_mode" in capsys.readouterr().err


def test_per_client_deterministic() -> None:
    """Same seed, same answer (kicks draw from the seed)."""
    p = _instances()[8]
    a = solve(p, seed=3, split_mode="per_client")
    b = solve(p, seed=3, split_mode="per_client")
    assert a.delay == b.delay and np.array_equal(a.split, b.split)
    assert np.array_equal(a.assign_s, b.assign_s) and np.array_equal(a.psd_f, b.psd_f)


def test_gain_study_writes_the_figure(tmp_path) -> None:
    """The gain study on one small cohort: every gain >= 0, the CSV records the protocol
    and one row per run, and the summary's interval is computed over the seeds."""
    from sfl_opt.experiments import client_gain as cg

    runs = cg.run(["gpt2-small"], {"phones+laptops": cg.COHORTS["phones+laptops"]},
                  seeds=[0, 1], clients=4, progress=False)
    assert len(runs) == 2 and all(r.gain >= -1e-12 for r in runs)
    assert all(len(r.splits) == 4 for r in runs)
    (s,) = cg.summary(runs)
    assert s["seeds"] == 2 and s["mean"] == pytest.approx(np.mean([r.gain for r in runs]))
    paths = cg.plot(runs, tmp_path / "g", clients=4)
    csv = (tmp_path / "g.csv").read_text().splitlines()
    assert csv[0].startswith("# protocol") and len(csv) == 2 + len(runs)
    assert all(p.exists() for p in paths)


@pytest.mark.parametrize("seed", range(8))
def test_per_client_wide_instances(seed: int) -> None:
    """The wide distribution of the test suite (80 dB of SNR, 10x bandwidths, binding
    and slack total caps, rescaled units), with a memory cap on one client: never above
    the common split, ``evaluate`` agrees, the bound is below the delay."""
    from sfl_opt.testing import wide_problem

    p = wide_problem(seed)
    from sfl_opt.model.memory import memory_table
    from sfl_opt.model.workload import Workload

    wl = Workload.gpt2(p.L, 256, 128)
    need = memory_table(wl, p.batch, p.splits, p.ranks)
    caps = np.full(p.K, np.inf)
    caps[seed % p.K] = float(need[min(1, need.shape[0] - 1)].max()) * 1.0001
    p = p.replace(workload=wl, client_memory=caps,
                  server_flops=[0.3e12, 3e12, 30e12, 300e12][seed % 4])
    r0 = solve(p, seed=seed)
    r1 = solve(p, seed=seed, split_mode="per_client")
    assert r1.delay <= r0.delay * (1 + 1e-12)
    assert evaluate(p, **r1.evaluate_kwargs()).total == pytest.approx(r1.delay, rel=1e-12)
    assert r1.lower_bound <= r1.delay
    assert (p.memory_need(r1.split, r1.rank) <= p.client_memory).all()


def test_per_client_time_limit_and_bcd() -> None:
    """A time limit that has passed returns the common point as a valid per-client
    point (termination limit_reached, limit time); bcd with max_iter=1 alternates once."""
    p = _instances()[9]
    r = solve(p, split_mode="per_client", time_limit=1e-9)
    assert str(r.termination) == "limit_reached (time limit)"
    assert evaluate(p, **r.evaluate_kwargs()).total == pytest.approx(r.delay, rel=1e-12)
    r = solve(p, split_mode="per_client", mode="bcd", max_iter=1)
    assert r.info["alternations"] == 1
    assert r.delay <= solve(p, mode="bcd", max_iter=1).delay * (1 + 1e-12)


def test_cli_per_client_gain(tmp_path, capsys) -> None:
    """``sfl-opt per-client-gain`` on one cohort and two seeds writes the figure and
    prints the table; a malformed ``--seeds`` or cohort exits 2 naming it."""
    from sfl_opt.cli import main

    assert main(["per-client-gain", "--models", "gpt2-small", "--cohorts", "phones+laptops",
                 "--seeds", "0-1", "--clients", "4", "--out", str(tmp_path),
                 "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "phones+laptops" in out and (tmp_path / "per_client_gain.png").exists()
    with pytest.raises(SystemExit) as info:  # a usage error (sfl_opt.cli.options)
        main(["per-client-gain", "--seeds", "x", "--out", str(tmp_path)])
    assert info.value.code == 2
    assert capsys.readouterr().err.startswith("sfl-opt: error: argument --seeds")
    assert main(["per-client-gain", "--cohorts", "tablets", "--out", str(tmp_path)]) == 2
    assert "--cohorts" in capsys.readouterr().err
