"""Speed of the core solver (pytest-benchmark). Run: ``make bench`` or
``python -m pytest benchmarks/bench_core.py``.

Targets (issue #2): the default scenario's full solve, warm, at most 20 ms; K = 50,
M = N = 256, L = 12 at most 2 s; cost growing about linearly in K*M; the jitted kernels
against their pure-Python form as a ratio measured in one run. Compilation is excluded:
every benchmark warms its function up first.
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


SIZES = [(5, 20), (10, 64), (20, 128), (50, 256)]


def test_scaling_in_k_times_m(benchmark) -> None:
    """Median solve time per size and the log-log slope against K*M (1 = linear)."""
    _warm(Problem.default(seed=1))
    times = []
    for K, M in SIZES:
        p = Problem.default(seed=0, clients=K, subchannels=M, p_total=0.12 * K)
        solve(p)
        runs = []
        for _ in range(3):
            t0 = time.perf_counter()
            solve(p)
            runs.append(time.perf_counter() - t0)
        times.append(float(np.median(runs)))
    km = np.array([K * M for K, M in SIZES], dtype=float)
    slope = float(np.polyfit(np.log(km), np.log(times), 1)[0])
    benchmark.extra_info.update({"K*M": km.tolist(), "seconds": times, "loglog_slope": slope})
    print(f"\nscaling: K*M={km.tolist()} seconds={[round(t, 4) for t in times]} "
          f"slope={slope:.2f}")
    p = Problem.default(seed=0, clients=SIZES[-1][0], subchannels=SIZES[-1][1])
    benchmark.pedantic(solve, args=(p,), rounds=1, iterations=1)


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
