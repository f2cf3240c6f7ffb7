"""Straggler-first greedy subchannel allocation (the SflLLM paper's step (a)).

While allocating, a client's current delay is ``c_k + S / R_k`` with R_k its best rate
(water-filling) at a power budget ``min(p_max[k], p_total / K)``. First every client gets
one subchannel: repeatedly, among clients without one, the client whose delay with its
best free subchannel would be largest takes that subchannel. Then each remaining
subchannel goes to the client with the largest current delay, which takes its best free
subchannel (largest gain). Units: s, bits, W, Hz.

Each client's subchannels are visited in its own order of decreasing gain (``order``,
computed once per link), so finding a client's best free subchannel is amortised O(1)
and the whole allocation costs O(K M + M * n) for n subchannels per client.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import max_rate_for_power


@kernel
def gain_order(la):
    """(K, M) subchannel indices of each client by decreasing gain."""
    K, M = la.shape
    order = np.empty((K, M), dtype=np.int64)
    for k in range(K):
        order[k] = np.argsort(-la[k])
    return order


@kernel
def _best_free(order, ptr, assign, k):
    """Advance client k's pointer past taken subchannels; return its best free one."""
    M = assign.shape[0]
    while ptr[k] < M and assign[order[k, ptr[k]]] >= 0:
        ptr[k] += 1
    return order[k, ptr[k]] if ptr[k] < M else -1


@kernel
def greedy_assign(la, inva, bw, c, S, pmax, ptot, order):
    """Assignment (M,) of subchannels to clients; needs K <= M. ``order`` is
    ``gain_order(la)``."""
    K, M = la.shape
    assign = -np.ones(M, dtype=np.int64)
    budget = np.empty(K)
    for k in range(K):
        budget[k] = min(pmax[k], ptot / K)
    ptr = np.zeros(K, dtype=np.int64)
    # per-client member values, contiguous blocks of length M (only n_k used)
    mla = np.empty((K, M))
    minv = np.empty((K, M))
    mbw = np.empty((K, M))
    cnt = np.zeros(K, dtype=np.int64)
    active = np.empty(M, dtype=np.bool_)
    delay = np.full(K, math.inf)
    # phase 1: one subchannel each, the worst-off client first
    for _ in range(K):
        worst_k = -1
        worst_m = -1
        worst_val = -math.inf
        for k in range(K):
            if cnt[k] > 0:
                continue
            m = _best_free(order, ptr, assign, k)
            mla[k, 0] = la[k, m]
            minv[k, 0] = inva[k, m]
            mbw[k, 0] = bw[m]
            r, _ = max_rate_for_power(mla[k], minv[k], mbw[k], 1, budget[k], active)
            val = c[k] + S / r
            if val > worst_val:
                worst_val = val
                worst_k = k
                worst_m = m
        k = worst_k
        assign[worst_m] = k
        mla[k, 0] = la[k, worst_m]
        minv[k, 0] = inva[k, worst_m]
        mbw[k, 0] = bw[worst_m]
        cnt[k] = 1
        delay[k] = worst_val
    # phase 2: each free subchannel to the current straggler
    for _ in range(M - K):
        k = 0
        for j in range(1, K):
            if delay[j] > delay[k]:
                k = j
        m = _best_free(order, ptr, assign, k)
        assign[m] = k
        n = cnt[k]
        mla[k, n] = la[k, m]
        minv[k, n] = inva[k, m]
        mbw[k, n] = bw[m]
        cnt[k] = n + 1
        r, _ = max_rate_for_power(mla[k], minv[k], mbw[k], n + 1, budget[k], active)
        delay[k] = c[k] + S / r
    return assign
