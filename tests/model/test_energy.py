"""Energy on every result (sfl_opt.model.energy) and per-client energy budgets
(sfl_opt.methods.budget): checked against hand computations and brute force."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from sfl_opt import Problem, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.errors import InfeasiblePointError, InfeasibleProblemError, ValidationError
from sfl_opt.methods import METHODS
from sfl_opt.methods.budget import budget_power, least_energy, power_cap_for_energy
from sfl_opt.model.energy import DEFAULTS, STAGES, cpu_power
from sfl_opt.model.hardware import DEVICES, SERVERS
from sfl_opt.testing import small_problem


def _hand_energy(p: Problem, split: int, rank: int, a_s, psd_s, a_f, psd_f) -> dict:
    """The energy of a point straight from the formulas (no Breakdown, no pair table)."""
    w = p.workload
    b, I, K = p.batch, p.local_iters, p.K
    r = float(rank)
    wcf = w.embed_fwd + sum(w.fwd[j] + r * w.fwd_rank[j] for j in range(split))
    wcb = w.embed_bwd + sum(w.bwd[j] + r * w.bwd_rank[j] for j in range(split))
    ws = (w.head_fwd + w.head_bwd + sum(w.fwd[j] + w.bwd[j] + r * (w.fwd_rank[j] + w.bwd_rank[j])
                                        for j in range(split, w.layers)))
    s_up = b * (w.act_bits[split - 1] + w.label_bits)
    s_dn = b * w.act_bits[split - 1]
    s_ad = r * w.param_bits * sum(w.lora_params[j] for j in range(split))
    rounds = float(p.rounds[list(p.ranks).index(rank)])
    out = {"client": np.zeros(K), "server": 0.0, "bs": 0.0}
    for k in range(K):
        ps = sum(psd_s[m] * p.bw_s[m] for m in range(p.M) if a_s[m] == k)
        rs = sum(p.bw_s[m] * math.log2(1 + psd_s[m] * p.gain_s[k, m] / p.noise_psd)
                 for m in range(p.M) if a_s[m] == k)
        pf = sum(psd_f[n] * p.bw_f[n] for n in range(p.N) if a_f[n] == k)
        rf = sum(p.bw_f[n] * math.log2(1 + psd_f[n] * p.gain_f[k, n] / p.noise_psd)
                 for n in range(p.N) if a_f[n] == k)
        jpf = p.compute_power[k] / p.client_flops[k]       # J per FLOP
        comp = I * b * (wcf + wcb) * jpf
        out["client"][k] = rounds * (comp + I * ps * s_up / rs + pf * s_ad / rf)
        out["bs"] += rounds * I * (p.bs_power / K) * s_dn / p.rate_down[k]
    out["server"] = rounds * I * K * b * ws * p.server_power / p.server_flops
    out["bs"] += rounds * p.bs_power * s_ad / p.rate_bcast
    out["total"] = out["client"].sum() + out["server"] + out["bs"]
    return out


def test_energy_equals_a_hand_computation():
    p = small_problem(3).replace(compute_power=[3.0, 7.5, 12.0], server_power=250.0,
                                 bs_power=4.0)
    res = solve(p)
    hand = _hand_energy(p, res.split, res.rank, res.assign_s, res.psd_s, res.assign_f,
                        res.psd_f)
    e = res.energy
    np.testing.assert_allclose(e.per_client, hand["client"], rtol=1e-10)
    assert e.server == pytest.approx(hand["server"], rel=1e-10)
    assert e.base_station == pytest.approx(hand["bs"], rel=1e-10)
    assert e.total == pytest.approx(hand["total"], rel=1e-10)
    assert sum(e.per_stage.values()) == pytest.approx(e.total, rel=1e-12)
    assert set(e.per_stage) == set(STAGES)
    # evaluate returns the same energy on the breakdown, and the delay is unchanged
    bd = evaluate(p, **res.evaluate_kwargs())
    assert bd.total == res.delay
    np.testing.assert_array_equal(bd.energy.per_client, e.per_client)
    np.testing.assert_allclose(e.per_round * e.rounds, e.per_client)


def test_energy_of_an_allocated_downlink_uses_its_powers():
    p = Problem.default(1, clients=3, subchannels=6, downlink="allocated", profile=None)
    res = solve(p, bound=False)
    bd = res.breakdown
    hand = res.energy.rounds * p.local_iters * float(np.sum(bd.power_d * bd.downlink))
    assert res.energy.downlink == pytest.approx(hand, rel=1e-12)
    assert res.energy.broadcast == pytest.approx(
        res.energy.rounds * p.bs_power * bd.broadcast, rel=1e-12)


def test_energy_is_in_json_and_report():
    p = small_problem(1)
    res = solve(p)
    d = json.loads(res.to_json())
    assert d["energy"]["total"] == pytest.approx(res.energy.total)
    assert len(d["energy"]["per_client"]) == p.K
    assert d["breakdown"]["energy"]["per_stage"]["uplink"] == pytest.approx(
        res.energy.per_stage["uplink"])
    from sfl_opt.experiments.report import format_report

    txt = format_report(p, res)
    assert "energy per training run" in txt and f"{res.energy.total:,.1f}" in txt


def test_energy_fields_default_validate_and_round_trip():
    p = small_problem(0)
    assert np.all(p.compute_power == DEFAULTS["compute_power"])
    assert p.server_power == DEFAULTS["server_power"] and np.isinf(p.client_energy).all()
    q = p.replace(compute_power=[1.0, 2.0, 3.0], client_energy=[1e3, np.inf, 5e2])
    assert Problem.from_json(q.to_json()) == q
    # a file written before the energy fields still loads (with the defaults)
    old = json.loads(p.to_json())
    for name in ("compute_power", "server_power", "bs_power", "client_energy"):
        old.pop(name)
    assert Problem.from_json(json.dumps(old)) == p
    for field, bad in (("compute_power", [-1.0, 1.0, 1.0]), ("server_power", -3.0),
                       ("bs_power", float("nan")), ("client_energy", 0.0),
                       ("compute_power", [1.0, 2.0])):
        with pytest.raises(ValidationError, match=field):
            p.replace(**{field: bad})
    perm = q.permute_clients(np.array([2, 0, 1]))
    assert perm.compute_power.tolist() == [3.0, 1.0, 2.0]
    assert perm.client_energy.tolist() == [5e2, 1e3, np.inf]


def test_catalogue_has_power_and_source_and_default_uses_it():
    for spec in [*DEVICES.values(), *SERVERS.values()]:
        assert spec.power > 0 and spec.power_source
        assert spec.j_per_flop == pytest.approx(spec.power / spec.flops)
        # J/FLOP of real hardware lies between 1e-13 and 1e-9
        assert 1e-13 < spec.j_per_flop < 1e-9
    p = Problem.default(0, devices=["jetson-orin-nano-8gb", "raspberry-pi-5"], server="L4",
                        profile=None)
    assert p.compute_power.tolist() == [15.0, 8.0, 15.0, 8.0, 15.0]
    assert p.server_power == SERVERS["L4"].power
    assert cpu_power(1e-28, 2e9) == pytest.approx(1e-28 * 8e27)


# ---------------------------------------------------------------- budgets


def test_evaluate_enforces_the_budget_naming_the_client():
    p = small_problem(2)
    res = solve(p)
    cap = res.energy.per_client.copy()
    cap[1] *= 0.999
    q = p.replace(client_energy=cap)
    with pytest.raises(InfeasiblePointError, match="client_energy: client 1"):
        evaluate(q, **res.evaluate_kwargs())
    # at the point's own energy it is accepted
    evaluate(p.replace(client_energy=res.energy.per_client), **res.evaluate_kwargs())


def _budget_between(p: Problem, frac: float) -> np.ndarray:
    """A budget ``frac`` of the way from the least energy to the unbudgeted optimum's."""
    res = solve(p)
    floor = least_energy(prepare(p)).min(axis=0)
    return floor + frac * (res.energy.per_client - floor)


@pytest.mark.parametrize("method", sorted(METHODS))
def test_every_method_honours_a_budget(method):
    spec = METHODS[method]
    if method == "milp":
        pytest.importorskip("pyomo")
        pytest.importorskip("highspy")
    p = small_problem(4, K=2, M=3, N=3)
    free = solve(p)
    budget = _budget_between(p, 0.3)
    q = p.replace(client_energy=budget)
    kw = {"seed": 0} if spec.random else {}
    try:
        res = solve(q, method, **kw)
    except InfeasibleProblemError as exc:  # a baseline's own pair may not fit: stated
        assert "client_energy" in str(exc) and method != "sflllm"
        return
    assert (res.energy.per_client <= budget * (1 + 1e-9)).all()
    evaluate(q, **res.evaluate_kwargs())  # enforced: no error
    # the unbudgeted bound stays a valid bound of the budgeted problem
    assert res.lower_bound <= res.delay * (1 + 1e-12)
    assert free.lower_bound <= res.delay * (1 + 1e-12)
    assert res.delay >= free.delay * (1 - 1e-9) or method != "sflllm"


def test_budget_binding_raises_the_delay_and_a_slack_one_changes_nothing():
    p = small_problem(5)
    free = solve(p)
    slack = solve(p.replace(client_energy=free.energy.per_client * 1.01))
    assert slack.delay == free.delay and slack.info["budget"]["binding"] is False
    d = [solve(p.replace(client_energy=_budget_between(p, f))).delay for f in (0.8, 0.5, 0.3)]
    assert free.delay <= d[0] <= d[1] <= d[2]


def test_an_infeasible_budget_is_an_error_naming_the_client():
    p = small_problem(6)
    floor = least_energy(prepare(p)).min(axis=0)
    cap = floor * 2
    cap[2] = floor[2] * 0.99
    with pytest.raises(InfeasibleProblemError, match="client_energy: client 2"):
        solve(p.replace(client_energy=cap))


def _best_rate(q: float, bw: np.ndarray, inva: np.ndarray) -> float:
    """The best rate (bit/s) of total power ``q`` W over 1-3 subchannels, by a grid over
    every split of the power (no water-filling)."""
    n = bw.size
    if n == 1:
        return float(bw[0] * np.log2(1 + q / bw[0] / inva[0]))
    g = np.linspace(0.0, 1.0, 201 if n == 2 else 61)
    if n == 2:
        fr = np.stack([g, 1 - g], axis=1)
    else:
        f1, f2 = np.meshgrid(g, g, indexing="ij")
        keep = f1 + f2 <= 1
        fr = np.stack([f1[keep], f2[keep], 1 - f1[keep] - f2[keep]], axis=1)
    ps = fr * q / bw
    return float(np.max(np.sum(bw * np.log2(1 + ps / inva), axis=1)))


def test_power_cap_for_energy_against_a_grid():
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(1, 4))
        gain = 10 ** rng.uniform(-14, -8, n)
        noise = 10 ** rng.uniform(-21, -19)
        bw = rng.uniform(0.2e6, 2e6, n)
        la, inva = np.log2(gain / noise), noise / gain
        p_max = 0.3
        eps = math.log(2) * inva.min() * float(rng.uniform(1.01, 3.0))
        cap = power_cap_for_energy(la, inva, bw, eps, p_max)
        assert 0 < cap <= p_max
        # the cap meets the energy per bit (the grid's best rate is at most water-filling's)
        assert cap / _best_rate(cap, bw, inva) <= eps * (1 + 1e-3)
        if cap < p_max:  # and a little more power does not, however it is split
            q = cap * 1.05
            assert q / _best_rate(q, bw, inva) > eps * (1 - 1e-3)
    # at or below the infimum nothing positive meets it
    assert power_cap_for_energy(np.array([60.0]), np.array([1e-18]), np.array([1e6]),
                                math.log(2) * 1e-18, 1.0) == 0.0


def _brute_one_client(p: Problem, pair: int, budget: float, grid: int = 150) -> float:
    """Least T_total of a 1-client problem with M = 2, N = 1 under an energy budget, by
    a zoomed grid over the two s-link powers (every power split, not just
    water-filling)."""
    prep = prepare(p)
    tab = prep.tab
    rounds, I = tab.rounds[pair], p.local_iters
    s = prep.link("s")
    c, S = s.demand(pair)
    ad = tab.s_ad[pair]
    e_fix = rounds * I * p.compute_power[0] * (tab.w_client_fwd[pair]
                                               + tab.w_client_bwd[pair]) / p.client_flops[0]
    pm = float(p.p_max[0])

    def rate_f(pf):
        return p.bw_f[0] * np.log2(1 + pf / p.bw_f[0] * p.gain_f[0, 0] / p.noise_psd)

    def best_on(a1, a2):
        """Every (P1, P2) of the grid; the f-link power is the largest one the rest of
        the budget pays for (energy per bit of one subchannel grows with its power:
        found by vectorised bisection), which gives its shortest upload."""
        P1, P2 = np.meshgrid(a1, a2, indexing="ij")
        ok = (P1 + P2 <= pm * (1 + 1e-12)) & (P1 + P2 > 0)
        rs = (p.bw_s[0] * np.log2(1 + P1 / p.bw_s[0] * p.gain_s[0, 0] / p.noise_psd)
              + p.bw_s[1] * np.log2(1 + P2 / p.bw_s[1] * p.gain_s[0, 1] / p.noise_psd))
        with np.errstate(divide="ignore", invalid="ignore"):
            left = budget - e_fix - rounds * I * (P1 + P2) * S / rs
            lo, hi = np.zeros_like(P1), np.full_like(P1, pm)
            for _ in range(100):
                mid = 0.5 * (lo + hi)
                fits = rounds * mid * ad / rate_f(mid) <= left
                lo, hi = np.where(fits, mid, lo), np.where(fits, hi, mid)
            rf = rate_f(lo)
            total = rounds * (I * (c[0] + S / rs + prep.fixed_iter[pair])
                              + ad * (1.0 / rf + 1.0 / p.rate_bcast))
        total = np.where(ok & (lo > 0) & np.isfinite(total), total, np.inf)
        i = np.unravel_index(int(np.argmin(total)), total.shape)
        return float(total[i]), (P1[i], P2[i])

    q = pm * np.concatenate([[0.0], np.logspace(-9, 0, grid)])
    best, x = best_on(q, q)
    step = 10 ** (9 / (grid - 1))
    for _ in range(5):  # zoom in around the best grid point (a fresh grid each time)
        axes = [np.concatenate([[0.0], np.geomspace(max(v, pm * 1e-12) / step,
                                                    max(v, pm * 1e-12) * step, grid)])
                for v in x]
        b2, x2 = best_on(*axes)
        if b2 < best:
            best, x = b2, x2
        step = step ** 0.3
    return best


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_budget_power_against_brute_force_one_client(seed):
    p = small_problem(seed, K=1, M=2, N=1)
    prep = prepare(p)
    pair = 0
    assigns = {"s": np.array([0, 0]), "f": np.array([0])}
    floor = least_energy(prep)[pair, 0]
    free = evaluate(p, *prep.pair(pair), assigns["s"],
                    prep.link("s").exact_power(assigns["s"], pair).psd, assigns["f"],
                    prep.link("f").exact_power(assigns["f"], None).psd)
    for frac in (0.6, 0.2, 0.02):
        budget = floor + frac * (free.energy.per_client[0] - floor)
        bp = budget_power(prep, pair, assigns, np.array([budget]))
        assert bp is not None
        brute = _brute_one_client(p, pair, budget)
        # never worse than the grid, and the grid (fine near the optimum) is close
        assert bp.total <= brute * (1 + 1e-9)
        assert bp.total >= brute * (1 - 2e-3)
        # the point meets the budget exactly as evaluate computes it
        pts = bp.points
        bd = evaluate(p.replace(client_energy=[budget]), *prep.pair(pair), pts["s"].assign,
                      pts["s"].psd, pts["f"].assign, pts["f"].psd)
        assert bd.total == pytest.approx(bp.total, rel=1e-9)
