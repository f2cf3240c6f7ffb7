"""The spectral-efficiency cap (issue 18 item 4): truncated Shannon per subchannel,
``bw min(alpha log2(1 + SNR), max_se)`` (3GPP TR 36.942 Annex A).

Independent references: a dense search over power splits (no water-filling), the
enumeration oracle (every assignment, exact power), cvxpy/pyomo with the cap, and the
plain-Shannon solver (a cap above every reachable SNR changes nothing).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
from scipy.optimize import minimize_scalar

from sfl_opt import Problem, available_methods, evaluate, solve
from sfl_opt.engine.prepared import prepare
from sfl_opt.errors import ValidationError
from sfl_opt.kernels import normalise, power_control
from sfl_opt.kernels.waterfill import max_rate_for_power, min_power_for_rate
from sfl_opt.testing import enumerate_optimum, small_problem

JIT_DISABLED = os.environ.get("NUMBA_DISABLE_JIT") == "1"


# ------------------------------------------------------------ one client, brute force
def _rate(bw, inva, psd, lcap):
    return float(np.sum(bw * np.minimum(np.log2(1.0 + psd / inva), lcap)))


def _best_rate_brute(bw, inva, power, lcap):
    """Max capped rate of two subchannels at ``power`` W: a dense search over the split
    of the power, refined by a bounded scalar search (no water-filling)."""
    def neg(theta):
        psd = np.array([theta, 1.0 - theta]) * power / bw
        return -_rate(bw, inva, psd, lcap)
    grid = np.linspace(0.0, 1.0, 101)
    vals = np.array([neg(x) for x in grid])
    i = int(np.argmin(vals))
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, grid.size - 1)]
    res = minimize_scalar(neg, bounds=(lo, hi), method="bounded",
                          options={"xatol": 1e-12})
    return max(-res.fun, -vals[i])


@pytest.mark.parametrize("seed", range(12))
def test_capped_waterfilling_matches_a_dense_search(seed: int) -> None:
    rng = np.random.default_rng(seed)
    bw = rng.uniform(0.2, 2.0, 2) * 1e6
    a = 10 ** rng.uniform(6, 12, 2)          # SNR per W/Hz: up to ~110 dB at the cap
    inva = 1.0 / a
    lcap = rng.uniform(2.0, 8.0)
    power = 10 ** rng.uniform(-4, 0)
    active = np.empty(2, dtype=np.bool_)
    r, w = max_rate_for_power(np.log2(a), inva, bw, 2, power, active, lcap)
    ref = _best_rate_brute(bw, inva, power, lcap)
    assert r == pytest.approx(ref, rel=1e-7)
    # the inverse: the least power for that rate, and no power at all beyond the cap
    p, _ = min_power_for_rate(np.log2(a), inva, bw, 2, 0.999 * r, active, lcap)
    assert p <= power * (1 + 1e-9)
    p_all, _ = min_power_for_rate(np.log2(a), inva, bw, 2, lcap * bw.sum(), active, lcap)
    assert p_all == pytest.approx(float(np.sum(bw * (2 ** lcap - 1) * inva)), rel=1e-12)
    p_over, _ = min_power_for_rate(np.log2(a), inva, bw, 2, 1.01 * lcap * bw.sum(), active,
                                   lcap)
    assert p_over == math.inf


def test_cap_above_every_snr_changes_nothing() -> None:
    rng = np.random.default_rng(3)
    a = 10 ** rng.uniform(0, 4, 6)
    bw = rng.uniform(0.5, 2, 6)
    active = np.empty(6, dtype=np.bool_)
    for power in (1e-3, 1.0, 1e3):
        r0, w0 = max_rate_for_power(np.log2(a), 1 / a, bw, 6, power, active)
        r1, w1 = max_rate_for_power(np.log2(a), 1 / a, bw, 6, power, active, 60.0)
        assert r1 == pytest.approx(r0, rel=1e-13) and w1 == pytest.approx(w0, rel=1e-13)


# ------------------------------------------------------- exact power control, K = 2
def _link_brute(bw, inva, owner, c, S, pmax, ptot, lcap):
    """Least deadline of a fixed assignment with two subchannels per client, by a search
    over client 0's power (client 1 takes the rest of the total cap), each client's
    rate from the dense search."""
    def deadline(q0):
        q = [q0, min(pmax[1], ptot - q0)]
        t = -math.inf
        for k in range(2):
            mine = owner == k
            r = _best_rate_brute(bw[mine], inva[k, mine], q[k], lcap)
            t = max(t, c[k] + S / r if r > 0 else math.inf)
        return t
    lo = max(0.0, ptot - pmax[1]) if math.isfinite(ptot) else pmax[0]
    hi = min(pmax[0], ptot)
    if hi - lo < 1e-15:
        return deadline(hi)
    grid = np.linspace(lo, hi, 41)
    vals = [deadline(x) for x in grid]
    i = int(np.argmin(vals))
    res = minimize_scalar(deadline, bounds=(grid[max(i - 1, 0)], grid[min(i + 1, 40)]),
                          method="bounded", options={"xatol": 1e-14})
    return min(res.fun, vals[i])


@pytest.mark.parametrize("seed", range(8))
def test_exact_power_control_at_a_binding_cap_equals_brute_force(seed: int) -> None:
    rng = np.random.default_rng([18, seed])
    bw = rng.uniform(0.5, 1.5, 4) * 1e6
    owner = np.array([0, 0, 1, 1])
    noise = 4e-21
    gain = 10 ** rng.uniform(-11, -7, (2, 4))     # up to ~100 dB SNR at 0.2 W
    pmax = np.array([0.2, 0.3])
    ptot = [math.inf, 0.25][seed % 2]
    lcap = 7.4
    S = 2e7
    c = rng.uniform(0, 0.5, 2)
    la, inva = normalise(gain, noise)
    t, psd, status, _ = power_control(la, inva, bw, owner, c, S, pmax, ptot, 1e-13, lcap)
    assert status == 0
    ref = _link_brute(bw, inva, owner, c, S, pmax, ptot, lcap)
    assert t == pytest.approx(ref, rel=2e-7)
    assert t <= ref * (1 + 1e-9)  # never worse than the brute force
    # its psd achieves t with capped rates and wastes no power above the cap
    snr = psd / inva[owner, np.arange(4)]
    assert np.all(np.log2(1 + snr) <= lcap * (1 + 1e-12))
    rates = np.bincount(owner, bw * np.minimum(np.log2(1 + snr), lcap))
    assert np.max(c + S / rates) == pytest.approx(t, rel=1e-10)


def test_binding_cap_instances_actually_saturate() -> None:
    """The instances above are in the regime the cap changes: high SNR saturates."""
    bw = np.full(2, 1e6)
    a = np.array([1e13, 1e12])  # 100+ dB at 1 W/MHz
    active = np.empty(2, dtype=np.bool_)
    r, _ = max_rate_for_power(np.log2(a), 1 / a, bw, 2, 0.2, active, 7.4)
    assert r == pytest.approx(7.4 * 2e6, rel=1e-12)
    r0, _ = max_rate_for_power(np.log2(a), 1 / a, bw, 2, 0.2, active)
    assert r0 > 2 * r


# ------------------------------------------------------------------ whole problems
def _capped(seed: int, max_se: float = 4.0, alpha: float = 1.0) -> Problem:
    """A small problem whose cap binds (4 bit/s/Hz at a few tens of dB of SNR)."""
    p = small_problem(seed, K=2, M=4, N=3, L=3, ranks=(1, 8))
    return p.replace(max_se=max_se, se_attenuation=alpha)


def _subchannel_rates(pr: Problem, gain, bw, assign, psd) -> np.ndarray:
    snr = psd * gain[assign, np.arange(assign.size)] / pr.noise_psd
    return bw * np.minimum(pr.se_attenuation * np.log2(1 + snr), pr.max_se)


@pytest.mark.parametrize("seed", range(3))
def test_every_method_honours_the_cap(seed: int) -> None:
    from sfl_opt.methods import METHODS

    pr = _capped(seed)
    oracle = enumerate_optimum(pr)
    uncapped = enumerate_optimum(pr.replace(max_se=math.inf))
    assert oracle.delay > uncapped.delay  # the cap binds on these instances
    installed = set(available_methods())  # milp needs the pyomo extra
    for name, spec in sorted(METHODS.items()):
        if name not in installed or (name == "milp" and JIT_DISABLED):
            continue
        res = solve(pr, method=name, **({"seed": 1} if spec.accepts("seed") else {}))
        ev = evaluate(pr, **res.evaluate_kwargs())
        assert res.delay == pytest.approx(ev.total, rel=1e-9), name
        assert res.delay >= oracle.delay * (1 - 1e-6), name
        for link, gain, bw in (("s", pr.gain_s, pr.bw_s), ("f", pr.gain_f, pr.bw_f)):
            a, psd = getattr(res, f"assign_{link}"), getattr(res, f"psd_{link}")
            per = _subchannel_rates(pr, gain, bw, a, psd)
            assert np.all(per <= pr.max_se * bw * (1 + 1e-12)), (name, link)
            rate = getattr(ev, f"rate_{link}")
            assert np.allclose(np.bincount(a, per, minlength=pr.K), rate, rtol=1e-12)
        if spec.exact:
            assert res.delay == pytest.approx(oracle.delay, rel=1e-6), name


@pytest.mark.parametrize("alpha", [1.0, 0.6])
def test_per_client_cuts_honour_the_cap(alpha: float) -> None:
    pr = _capped(5, max_se=4.4, alpha=alpha)
    res = solve(pr, split_mode="per_client")
    ev = evaluate(pr, **res.evaluate_kwargs())
    assert res.delay == pytest.approx(ev.total, rel=1e-9)
    common = enumerate_optimum(pr).delay
    assert res.delay <= common * (1 + 1e-9)  # never above the common-split optimum
    for link, gain, bw in (("s", pr.gain_s, pr.bw_s), ("f", pr.gain_f, pr.bw_f)):
        a, psd = getattr(res, f"assign_{link}"), getattr(res, f"psd_{link}")
        per = _subchannel_rates(pr, gain, bw, a, psd)
        assert np.all(per <= pr.max_se * bw * (1 + 1e-12))


@pytest.mark.parametrize("seed", range(4))
def test_attenuation_and_cap_match_the_enumeration(seed: int) -> None:
    pr = _capped(seed, max_se=4.4, alpha=0.6)  # TR 36.942's downlink pair
    oracle = enumerate_optimum(pr)
    ev = evaluate(pr, oracle.split, oracle.rank, oracle.assign_s, oracle.psd_s,
                  oracle.assign_f, oracle.psd_f)
    assert ev.total == pytest.approx(oracle.delay, rel=1e-12)
    res = solve(pr, method="exact")
    assert res.delay == pytest.approx(oracle.delay, rel=1e-6)
    # native bound valid at a binding cap
    assert res.lower_bound is not None and res.lower_bound <= oracle.delay * (1 + 1e-9)


@pytest.mark.requires("cvxpy", "clarabel")
@pytest.mark.parametrize("seed", range(6))
def test_native_and_relaxation_bounds_stay_below_the_capped_optimum(seed: int) -> None:
    from sfl_opt.engine.bounds import lower_bound
    from sfl_opt.methods.exact import native_lower_bound

    pr = _capped(seed, max_se=[3.0, 5.0, 7.4][seed % 3])
    opt = enumerate_optimum(pr).delay
    nb = native_lower_bound(prepare(pr))
    assert nb <= opt * (1 + 1e-9)
    assert nb >= 0.5 * opt  # and it is not vacuous
    assert lower_bound(pr) <= opt * (1 + 1e-6)
    # the capped bound is above the plain-Shannon optimum's bound on binding instances
    assert nb >= native_lower_bound(prepare(pr.replace(max_se=math.inf))) * (1 - 1e-9)


def test_power_backends_agree_at_a_binding_cap() -> None:
    from sfl_opt.power import available_backends, get_backend

    pr = _capped(1)
    ctx = prepare(pr)
    s = ctx.link("s")
    pt = s.greedy(0)
    sub = s.power_subproblem(pt.assign, 0)
    assert sub.lcap == pytest.approx(4.0)
    native = get_backend("native").solve(sub)
    assert native.t == pytest.approx(pt.t, rel=1e-12)
    for name in available_backends():
        sol = get_backend(name).solve(sub)
        assert sol.t == pytest.approx(native.t, rel=1e-5), name
        assert sol.t >= native.t * (1 - 1e-9), name


@pytest.mark.requires("cvxpy", "clarabel", "pyomo", "highspy")
def test_solve_with_a_power_backend_and_a_cap() -> None:
    pr = _capped(2)
    base = solve(pr)
    for name in ("cvxpy", "pyomo"):
        res = solve(pr, power=name)
        assert res.delay == pytest.approx(evaluate(pr, **res.evaluate_kwargs()).total,
                                          rel=1e-12)
        assert res.delay == pytest.approx(base.delay, rel=1e-4), name


def test_default_scenario_radio(default_problem) -> None:
    p = default_problem
    assert p.max_se == 7.4 and p.se_attenuation == 1.0
    # 5 dB noise figure on the -174 dBm/Hz floor
    assert 10 * math.log10(p.noise_psd / 1e-3) == pytest.approx(-169.0, abs=1e-9)
    old = Problem.default(seed=0, max_se=math.inf, noise_figure_db=0)
    assert old.max_se == math.inf and old.noise_psd < p.noise_psd
    # the fixed downlink rates are capped too
    assert np.all(p.rate_down <= 7.4 * 20e6 / p.K * (1 + 1e-12))
    r = solve(p)
    r_old = solve(old)
    assert r.delay > r_old.delay
    for link, gain, bw in (("s", p.gain_s, p.bw_s), ("f", p.gain_f, p.bw_f)):
        per = _subchannel_rates(p, gain, bw, getattr(r, f"assign_{link}"),
                                getattr(r, f"psd_{link}"))
        assert np.all(per <= 7.4 * bw * (1 + 1e-12))


def test_allocated_downlink_honours_the_cap() -> None:
    pr = small_problem(4, K=2, M=3, N=3, L=3, ranks=(1, 8), D=3).replace(max_se=3.0)
    oracle = enumerate_optimum(pr)
    res = solve(pr, method="exact")
    assert res.delay == pytest.approx(oracle.delay, rel=1e-6)
    per = _subchannel_rates(pr, pr.gain_d, pr.bw_d, res.assign_d, res.psd_d)
    assert np.all(per <= 3.0 * pr.bw_d * (1 + 1e-12))


def test_json_round_trip_and_validation() -> None:
    p = _capped(0, max_se=5.5, alpha=0.75)
    q = Problem.from_json(p.to_json())
    assert q == p and q.max_se == 5.5 and q.se_attenuation == 0.75
    plain = p.replace(max_se=math.inf, se_attenuation=1.0)
    data = json.loads(plain.to_json())
    assert "max_se" not in data and "se_attenuation" not in data  # old files stay valid
    assert Problem.from_json(plain.to_json()).max_se == math.inf
    for field, bad in (("max_se", 0.0), ("max_se", -1.0), ("max_se", float("nan")),
                       ("max_se", 5000.0), ("se_attenuation", 0.0),
                       ("se_attenuation", 1.5), ("max_se", "7")):
        with pytest.raises(ValidationError, match=field):
            p.replace(**{field: bad})
    with pytest.raises(ValidationError, match="max_se"):
        Problem.default(seed=0, max_se=-2)


def test_cli_max_se() -> None:
    env = dict(os.environ)
    out = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "default", "--max-se", "5.5",
                          "--noise-figure-db", "0"], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    p = Problem.from_json(out.stdout)
    assert p.max_se == 5.5
    out = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "default", "--max-se", "inf"],
                         capture_output=True, text=True, env=env)
    assert Problem.from_json(out.stdout).max_se == math.inf
    bad = subprocess.run([sys.executable, "-m", "sfl_opt.cli", "default", "--max-se", "-1"],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 2 and "max_se" in bad.stderr


def test_phi_upper_bounds_the_capped_dual_term() -> None:
    from sfl_opt.kernels import lagrange as lg

    for lcap in (0.5, 3.0, 7.4, 20.0):
        top = 2.0 ** lcap
        for v in np.concatenate([np.geomspace(1.0001, 1e12, 300), [top, top * (1 + 1e-12)]]):
            x = np.longdouble(v)
            if x <= top:
                ref = float(np.log(x) - 1 + 1 / x)
            else:
                ref = float(np.longdouble(lcap) * np.log(np.longdouble(2)) - (top - 1) / x)
            got = lg.phi_upper(float(v), lcap)
            assert got >= ref
            assert got <= ref * (1 + 1e-9) + 1e-13


def test_single_client_capped_bound_is_tight() -> None:
    """One client: time sharing relaxes nothing, so the dual of the capped problem is
    tight (it equals the exact capped power control)."""
    from sfl_opt.methods.exact import LinkArrays

    rng = np.random.default_rng(5)
    for _ in range(10):
        M = int(rng.integers(1, 6))
        bw = 10 ** rng.uniform(5, 7, M)
        gain = 10 ** rng.uniform(-9, -6, (1, M))  # 60..100 dB at the cap: it binds
        la, inva = normalise(gain, 4e-21)
        lcap = float(rng.uniform(2, 9))
        arr = LinkArrays(la, inva, bw, np.array([0.2]), math.inf, np.array([0.01]), 1e8,
                         lcap)
        t, _, _, _ = power_control(la, inva, bw, np.zeros(M, np.int64), arr.c, arr.S,
                                   arr.pmax, arr.ptot, 1e-13, lcap)
        b, _ = arr.root_bound()
        assert b <= t
        assert b == pytest.approx(t, rel=1e-8)
