"""Speed of the core solver (pytest-benchmark). Run: ``make bench`` or
``python -m pytest benchmarks/bench_core.py``.

Targets (issue #2): the default scenario's full solve, warm, at most 20 ms; K = 50,
M = N = 256, L = 12 at most 2 s; cost growing about linearly in K*M; the jitted kernels
against their pure-Python form as a ratio measured in one run. Issue #10: K = 200,
M = N = 1024 in at most 100x the default scenario's solve (both timed in one run, the
ratio reported) with a gap of at most 1 % to the cheap lower bound, at the default's
total cap of 0.6 W (binding hard for 200 clients) and at 0.12 W per client; the scaling
series up to K = 500, M = N = 2048 at both caps with its log-log slope. Compilation is
excluded: every benchmark warms its function up first. Times are CPU seconds of this process
(``time.process_time``) where a ratio is reported, so that other jobs on a shared
machine disturb the ratio less.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from sfl_opt import Problem, solve
from sfl_opt import kernels as kn
from sfl_opt.model.delay import check_magnitudes, pair_table


def _warm(p: Problem) -> None:
    solve(p)


def test_default_full_solve(benchmark) -> None:
    p = Problem.default(seed=0)
    _warm(p)
    res = benchmark(solve, p)
    benchmark.extra_info["delay_s"] = res.delay
    benchmark.extra_info["target_s"] = 0.020


def test_default_full_solve_bcd(benchmark) -> None:
    p = Problem.default(seed=0)
    solve(p, mode="bcd")
    benchmark(solve, p, mode="bcd")


@pytest.mark.parametrize("p_total", [0.6, 6.0])
def test_large_k50_m256(benchmark, p_total) -> None:
    """p_total = 0.6 W (the default's cap, binding hard for 50 clients) and 6 W."""
    p = Problem.default(seed=0, clients=50, subchannels=256, p_total=p_total)
    _warm(Problem.default(seed=1))
    res = benchmark.pedantic(solve, args=(p,), rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["delay_s"] = res.delay
    benchmark.extra_info["target_s"] = 2.0


SIZES = [(5, 20), (10, 64), (20, 128), (50, 256), (200, 1024), (500, 2048)]


def _cpu_median(fn, runs: int) -> float:
    """Median CPU seconds of ``fn()`` over ``runs`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return float(np.median(times))


def cheap_lower_bound(p: Problem) -> float:
    """A lower bound on T_total (s) valid for every allocation and pair: the cheap stage
    bounds of ``kernels.bounds`` on both links (the f-link as c = 0, S = 1 bit), composed
    with the allocation-independent terms of each pair (docs/model.md §3)."""
    tab = pair_table(p)
    la_s, inva_s = kn.normalise(p.gain_s, p.noise_psd)
    la_f, inva_f = kn.normalise(p.gain_f, p.noise_psd)
    rall, rsum = kn.link_rate_bounds(la_f, inva_f, p.bw_f, p.p_max, p.p_total_f, p.se_cap)
    tf = kn.stage_lower_bound(np.zeros(p.K), 1.0 / p.se_attenuation, rall, rsum, 1e-12)
    rall, rsum = kn.link_rate_bounds(la_s, inva_s, p.bw_s, p.p_max, p.p_total_s, p.se_cap)
    best = np.inf
    for q in range(len(tab)):
        c = tab.w_client_fwd[q] / p.client_flops
        ts = kn.stage_lower_bound(c, float(tab.s_up[q]) / p.se_attenuation, rall, rsum, 1e-12)
        fixed_iter = (tab.w_server[q] / p.server_flops
                      + np.max(tab.s_dn[q] / p.rate_down + tab.w_client_bwd[q] / p.client_flops))
        total = tab.rounds[q] * (p.local_iters * (ts + fixed_iter)
                                 + tab.s_ad[q] * (tf + 1.0 / p.rate_bcast))
        best = min(best, float(total))
    return best


#: the total caps of the scaling series: the default's 0.6 W for any K (binding hard for
#: many clients), and 0.12 W per client (the default's share for 5 clients)
CAPS = {"0.6W": lambda K: 0.6, "0.12W_per_client": lambda K: 0.12 * K}


def _scaled(K: int, M: int, cap: str = "0.12W_per_client", seed: int = 0
            ) -> tuple[Problem, int]:
    """The scaling series: the default scenario with K clients, M = N subchannels and
    the total cap ``CAPS[cap]`` at ``seed`` (every seed is solvable: a deeply faded
    subchannel is never refused, issue 20); returns the problem and its seed."""
    p = Problem.default(seed=seed, clients=K, subchannels=M, p_total=CAPS[cap](K))
    check_magnitudes(p)  # raises if the scenario were refused: the benchmark must not hide it
    return p, seed


@pytest.mark.parametrize("cap", list(CAPS))
def test_scaling_in_k_times_m(benchmark, cap: str) -> None:
    """Median solve CPU time per size and the log-log slope against K*M (1 = linear)."""
    _warm(Problem.default(seed=1))
    probs = [_scaled(K, M, cap) for K, M in SIZES]
    times = [_cpu_median(lambda q=q: solve(q, bound=False), 3 if q.K * q.M < 10**5 else 1)
             for q, _ in probs]
    km = np.array([K * M for K, M in SIZES], dtype=float)
    slope = float(np.polyfit(np.log(km), np.log(times), 1)[0])
    tail = float(np.polyfit(np.log(km[-3:]), np.log(times[-3:]), 1)[0])
    benchmark.extra_info.update({"cap": cap, "K*M": km.tolist(), "cpu_seconds": times,
                                 "seeds": [s for _, s in probs], "loglog_slope": slope,
                                 "loglog_slope_last3": tail})
    print(f"\nscaling ({cap}): K*M={km.tolist()} cpu seconds={[round(t, 4) for t in times]} "
          f"slope={slope:.2f} (last three sizes {tail:.2f})")
    benchmark.pedantic(solve, args=(probs[3][0],), kwargs={"bound": False}, rounds=1,
                       iterations=1)


@pytest.mark.parametrize("cap", list(CAPS))
def test_k200_m1024_against_default(benchmark, cap: str) -> None:
    """K = 200, M = N = 1024 against the default scenario in one run: the CPU-time ratio
    (target <= 100 at 0.6 W, the binding cap) and the gap to the cheap lower bound
    (target <= 1 %)."""
    small = Problem.default(seed=0)
    big, seed = _scaled(200, 1024, cap)
    # the search alone on both sides (the native bound's cost: benchmarks/bench_bound.py)
    t_small = _cpu_median(lambda: solve(small, bound=False), 21)
    t_big = _cpu_median(lambda: solve(big, bound=False), 3)
    res = solve(big)  # with the default native bound: res.gap
    lb = cheap_lower_bound(big)
    ratio = t_big / t_small
    gap = res.delay / lb - 1.0
    benchmark.extra_info.update({"cap": cap, "seed": seed, "default_cpu_s": t_small,
                                 "k200_cpu_s": t_big, "ratio": ratio,
                                 "gap_to_cheap_bound": gap, "target_ratio": 100.0,
                                 "target_gap": 0.01, "refined": res.info.get("refined"),
                                 "pruned": res.info.get("pruned"),
                                 "skipped": res.info.get("skipped"), "native_gap": res.gap,
                                 "bound_cpu_s": res.timings.get("bound")})
    print(f"\nK=200, M=N=1024 ({cap}, seed {seed}): {t_big:.3f} s CPU vs default "
          f"{t_small * 1e3:.2f} ms -> ratio {ratio:.0f}x; gap to the cheap bound {gap:.3%}, "
          f"to the native bound {res.gap:.3%} (bound {res.timings.get('bound', 0):.2f} s)")
    assert res.delay >= lb * (1 - 1e-9)  # the bound is a bound
    benchmark.pedantic(solve, args=(big,), kwargs={"bound": False}, rounds=1, iterations=1)


_KERNEL_SNIPPET = r"""
import json, time, numpy as np
from sfl_opt import Problem, kernels as kn
p = Problem.default(seed=0)
la, inva = kn.normalise(p.gain_s, p.noise_psd)
a = (np.arange(p.M) % p.K).astype(np.int64)
c = np.linspace(0.05, 0.3, p.K)
args = (la, inva, p.bw_s, a, c, 5e7, p.p_max, p.p_total_s, 1e-12)
kn.power_control(*args)
g_args = (la, inva, p.bw_s, c, 5e7, p.p_max, p.p_total_s, kn.gain_order(la))
kn.greedy_assign(*g_args)
out = {}
for name, fn, fa in (("power_control", kn.power_control, args),
                     ("greedy_assign", kn.greedy_assign, g_args)):
    n = 0
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 0.5:
        fn(*fa)
        n += 1
    out[name] = (time.perf_counter() - t0) / n
print(json.dumps(out))
"""


def _kernel_times(disable_jit: bool) -> dict[str, float]:
    env = dict(os.environ)
    if disable_jit:
        env["NUMBA_DISABLE_JIT"] = "1"
    else:
        env.pop("NUMBA_DISABLE_JIT", None)
    out = subprocess.run([sys.executable, "-c", _KERNEL_SNIPPET], env=env, capture_output=True,
                         text=True, check=True, timeout=600)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT") == "1", reason="needs the JIT")
def test_kernels_jit_vs_pure_python(benchmark) -> None:
    """The same kernel calls timed compiled and as plain Python, in one run."""
    jit = _kernel_times(False)
    py = _kernel_times(True)
    ratio = {k: py[k] / jit[k] for k in jit}
    benchmark.extra_info.update({"jit_s": jit, "python_s": py, "speedup": ratio})
    print("\njit vs pure Python (s per call): "
          + ", ".join(f"{k}: {jit[k]:.2e} vs {py[k]:.2e} ({ratio[k]:.0f}x)" for k in jit))
    p = Problem.default(seed=0)
    la, inva = kn.normalise(p.gain_s, p.noise_psd)
    a = (np.arange(p.M) % p.K).astype(np.int64)
    c = np.linspace(0.05, 0.3, p.K)
    benchmark(kn.power_control, la, inva, p.bw_s, a, c, 5e7, p.p_max, p.p_total_s, 1e-12)
    assert all(r > 1 for r in ratio.values())


@pytest.mark.parametrize("K,M", [(200, 1024), (1000, 4096)])
def test_large_default_scenarios_every_seed(benchmark, K: int, M: int) -> None:
    """``Problem.default(seed, clients=K, subchannels=M)`` on seeds 0-4: every seed is
    solved, none refused (issue 20: seed 0 at K=200 and all five at K=1000 were refused by
    check_magnitudes for one deeply faded subchannel). Records delay, status, native gap
    and wall time per seed."""
    _warm(Problem.default(seed=1))
    rows = []
    for seed in range(5):
        p = Problem.default(seed=seed, clients=K, subchannels=M)
        t0 = time.perf_counter()
        res = solve(p)
        rows.append({"seed": seed, "delay_s": res.delay, "status": str(res.status),
                     "native_gap": res.gap, "wall_s": time.perf_counter() - t0})
        assert res.success and np.isfinite(res.delay)
    benchmark.extra_info.update({"K": K, "M": M, "runs": rows})
    print(f"\nK={K}, M=N={M}: " + "; ".join(
        f"seed {r['seed']}: {r['delay_s']:.6g} s {r['status']} gap {r['native_gap']:.2%} "
        f"({r['wall_s']:.1f} s)" for r in rows))
    benchmark.pedantic(lambda: None, rounds=1, iterations=1)
