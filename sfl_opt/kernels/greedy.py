"""Straggler-first greedy subchannel allocation (the SflLLM paper's step (a)).

While allocating, a client's current delay is ``c_k + S / R_k`` with R_k its best rate
(water-filling) at a power budget ``min(p_max[k], p_total / K)``. First every client gets
one subchannel: repeatedly, among clients without one, the client whose delay with its
best free subchannel would be largest takes that subchannel. Then each remaining
subchannel goes to the client with the largest current delay, which takes its best free
subchannel (largest gain). Units: s, bits, W, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import max_rate_for_power


@kernel
def _client_delay(la, inva, bw, assign, k, c_k, S, budget, buf_la, buf_inv, buf_bw, active):
    n = 0
    for m in range(assign.shape[0]):
        if assign[m] == k:
            buf_la[n] = la[k, m]
            buf_inv[n] = inva[k, m]
            buf_bw[n] = bw[m]
            n += 1
    if n == 0:
        return math.inf
    r, _ = max_rate_for_power(buf_la, buf_inv, buf_bw, n, budget, active)
    return c_k + S / r


@kernel
def greedy_assign(la, inva, bw, c, S, pmax, ptot):
    """Assignment (M,) of subchannels to clients; needs K <= M."""
    K, M = la.shape
    assign = -np.ones(M, dtype=np.int64)
    budget = np.empty(K)
    for k in range(K):
        budget[k] = min(pmax[k], ptot / K)
    has = np.zeros(K, dtype=np.bool_)
    buf_la = np.empty(M)
    buf_inv = np.empty(M)
    buf_bw = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    # phase 1: one subchannel each, the worst-off client first
    for _ in range(K):
        worst_k = -1
        worst_m = -1
        worst_val = -math.inf
        for k in range(K):
            if has[k]:
                continue
            best_m = -1
            for m in range(M):
                if assign[m] < 0 and (best_m < 0 or la[k, m] > la[k, best_m]):
                    best_m = m
            buf_la[0] = la[k, best_m]
            buf_inv[0] = inva[k, best_m]
            buf_bw[0] = bw[best_m]
            r, _ = max_rate_for_power(buf_la, buf_inv, buf_bw, 1, budget[k], active)
            val = c[k] + S / r
            if val > worst_val:
                worst_val = val
                worst_k = k
                worst_m = best_m
        assign[worst_m] = worst_k
        has[worst_k] = True
    # phase 2: each free subchannel to the current straggler
    delay = np.empty(K)
    for k in range(K):
        delay[k] = _client_delay(la, inva, bw, assign, k, c[k], S, budget[k], buf_la, buf_inv,
                                 buf_bw, active)
    for _ in range(M - K):
        k = 0
        for j in range(1, K):
            if delay[j] > delay[k]:
                k = j
        best_m = -1
        for m in range(M):
            if assign[m] < 0 and (best_m < 0 or la[k, m] > la[k, best_m]):
                best_m = m
        assign[best_m] = k
        delay[k] = _client_delay(la, inva, bw, assign, k, c[k], S, budget[k], buf_la, buf_inv,
                                 buf_bw, active)
    return assign
