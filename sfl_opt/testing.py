"""Testing helpers (public: used by the tests, the benchmarks and plugin authors):
:func:`small_problem` instances and the enumeration oracle :func:`enumerate_optimum`.

Enumeration oracle for small instances: every assignment of both links, exact power.

Independent of the solver's search: it enumerates all K^M (and K^N) assignments in
which every client has a subchannel, solves each one's power exactly with the
``power_control`` kernel (itself checked against an independent bisection in
``test_kernels``), and composes the total delay of every (split, rank) pair by
``evaluate`` of the best point of each pair.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernels import normalise, power_control
from .model.delay import evaluate, pair_table
from .model.problem import Problem


def assignments(K: int, M: int) -> Iterator[np.ndarray]:
    """Every assignment of M subchannels to K clients giving each client at least one."""
    for combo in itertools.product(range(K), repeat=M):
        if len(set(combo)) == K:
            yield np.array(combo, dtype=np.int64)


@dataclass
class OracleResult:
    delay: float
    split: int
    rank: int
    assign_s: np.ndarray
    psd_s: np.ndarray
    assign_f: np.ndarray
    psd_f: np.ndarray
    grid: np.ndarray  # (P,) optimal total per pair
    assign_d: np.ndarray | None = None  # the allocated downlink's (None: fixed rates)
    psd_d: np.ndarray | None = None


def best_link(la: np.ndarray, inva: np.ndarray, bw: np.ndarray, c: np.ndarray, S: float,
              pmax: np.ndarray, ptot: float, K: int,
              lcap: float = np.inf) -> tuple[float, Any, Any]:
    """(deadline, assignment, psd) of the best assignment of one link, by enumeration
    (``lcap``: the cap on log2(1 + SNR) per subchannel)."""
    best = (np.inf, None, None)
    for a in assignments(K, bw.size):
        t, psd, status, _ = power_control(la, inva, bw, a, c, S, pmax, ptot, 1e-13, lcap)
        if t < best[0]:
            best = (t, a, psd)
    return best


def enumerate_optimum(problem: Problem) -> OracleResult:
    """The exact optimum of a small problem by full enumeration (pairs over a client's
    ``client_memory`` are skipped: their ``grid`` entry is inf)."""
    pr = problem
    K = pr.K
    tab = pair_table(pr)
    la_s, inva_s = normalise(pr.gain_s, pr.noise_psd)
    la_f, inva_f = normalise(pr.gain_f, pr.noise_psd)
    # the spectral-efficiency cap; the attenuation alpha divides the bits (prepared.py)
    lcap, alpha = pr.se_cap, pr.se_attenuation
    _, a_f, psd_f = best_link(la_f, inva_f, pr.bw_f, np.zeros(K), 1.0 / alpha, pr.p_max,
                              pr.p_total_f, K, lcap)
    grid = np.empty(len(tab))
    best = None
    if pr.gain_d is not None:  # the allocated downlink: the base station's budget only
        la_d, inva_d = normalise(pr.gain_d, pr.noise_psd)
        cap_d = np.full(K, float(pr.p_total_d))  # type: ignore[arg-type]
    for p in range(len(tab)):
        if (pr.client_memory < np.inf).any() and (
                pr.memory_need(int(tab.split[p]), int(tab.rank[p])) > pr.client_memory).any():
            grid[p] = np.inf  # over a client's memory cap: not a candidate
            continue
        c = tab.w_client_fwd[p] / pr.client_flops
        _, a_s, psd_s = best_link(la_s, inva_s, pr.bw_s, c, float(tab.s_up[p]) / alpha,
                                  pr.p_max, pr.p_total_s, K, lcap)
        dn: dict[str, Any] = {}
        if pr.gain_d is not None:
            _, a_d, psd_d = best_link(la_d, inva_d, pr.bw_d, tab.w_client_bwd[p]
                                      / pr.client_flops, float(tab.s_dn[p]) / alpha, cap_d,
                                      float(pr.p_total_d), K, lcap)  # type: ignore[arg-type]
            dn = {"assign_d": a_d, "psd_d": psd_d}
        total = evaluate(pr, int(tab.split[p]), int(tab.rank[p]), a_s, psd_s, a_f, psd_f,
                         **dn).total
        grid[p] = total
        if best is None or total < best.delay:
            best = OracleResult(total, int(tab.split[p]), int(tab.rank[p]), a_s, psd_s, a_f,
                                psd_f, grid, **dn)
    assert best is not None
    return best


def small_problem(seed: int, K: int = 3, M: int = 5, N: int = 4, L: int = 4,
                  ranks: tuple[int, ...] = (1, 4, 16), p_total: float = 0.6,
                  D: int | None = None, band: str = "separate") -> Problem:
    """A random small instance in the style of the default scenario; ``D`` downlink
    subchannels make its downlink allocated (SPEC §8.4), ``band="shared"`` pools the
    s-link's and f-link's subchannels."""
    rng = np.random.default_rng(seed)
    radio: dict[str, Any] = {"band": band}
    if D is not None:
        radio.update(downlink="allocated", subchannels_d=D)
    base = Problem.default(seed=seed, clients=K, subchannels=M, subchannels_f=N, layers=L,
                           hidden=256, seq=128, ranks=ranks, p_total=p_total, profile=None,
                           **radio)
    # vary compute and rounds a little more so that different pairs can win
    return base.replace(client_flops=rng.uniform(0.05e12, 1e12, size=K),
                        rounds=np.sort(rng.uniform(100, 300, size=len(ranks)))[::-1].copy())


def wide_problem(seed: int) -> Problem:
    """A random small instance from a wide distribution (issue 10): K in 2..4, M and N in
    K..7; per-client mean gains log-uniform over 1e-13..1e-5 (about 80 dB of SNR at the
    -174 dBm/Hz noise) with Rayleigh fading per subchannel; subchannel bandwidths uniform
    over 0.1..1 MHz (10x heterogeneity); p_max uniform 0.05..0.5 W; p_total cycling
    through inf, 0.3 and 0.7 of the sum of the p_max (binding or not); in one instance
    of four the gains and the noise are scaled together by 10^U(-3, 3) (the same problem
    in other units of power gain)."""
    rng = np.random.default_rng([10, seed])
    K = int(rng.integers(2, 5))
    M = int(rng.integers(K, 8))
    N = int(rng.integers(K, 8))
    base = small_problem(seed, K=K, M=M, N=N)
    mean = 10.0 ** rng.uniform(-13, -5, size=K)
    gain_s = mean[:, None] * rng.exponential(1.0, size=(K, M))
    gain_f = mean[:, None] * rng.exponential(1.0, size=(K, N))
    p_max = rng.uniform(0.05, 0.5, size=K)
    share = [np.inf, 0.3, 0.7][seed % 3]
    p_total = float(share * p_max.sum())
    noise = base.noise_psd
    if seed % 4 == 3:
        scale = 10.0 ** rng.uniform(-3, 3)
        gain_s, gain_f, noise = gain_s * scale, gain_f * scale, noise * scale
    return base.replace(gain_s=gain_s, gain_f=gain_f, noise_psd=noise, p_max=p_max,
                        bw_s=rng.uniform(1e5, 1e6, size=M), bw_f=rng.uniform(1e5, 1e6, size=N),
                        p_total_s=p_total, p_total_f=p_total)


__all__ = ["OracleResult", "assignments", "best_link", "enumerate_optimum", "small_problem",
           "wide_problem"]
