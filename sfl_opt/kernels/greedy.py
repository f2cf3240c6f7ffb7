"""Straggler-first greedy subchannel allocation (the SflLLM paper's step (a)).

While allocating, a client's current delay is ``c_k + S / R_k`` with R_k its best rate
(water-filling) at a power budget ``min(p_max[k], p_total / K)``. First every client gets
one subchannel: repeatedly, among clients without one, the client whose delay with its
best free subchannel would be largest takes that subchannel. Then each remaining
subchannel goes to the client with the largest current delay, which takes its best free
subchannel (largest gain). Units: s, bits, W, Hz.

Each client's subchannels are visited in its own order of decreasing gain (``order``,
computed once per link), so finding a client's best free subchannel is amortised O(1)
and its rate after taking one is O(1) (running sums over its active subchannels, see
``_add_subchannel``); the straggler is the root of a max-heap on the delays (ties to the
smaller index), so the whole allocation costs O(K M + M log K).

With a spectral-efficiency cap ``lcap`` (log2(1 + SNR) per subchannel, :mod:`.waterfill`)
the running sums no longer give the rate (the strongest subchannels saturate first and
leave the prefix structure), so a client's best rate is recomputed by capped
water-filling over its subchannels (O(n) per step).
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .power import power_control
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
def _before(delay, a, b):
    """Whether client a is served before b: a larger delay, ties to the smaller index."""
    return delay[a] > delay[b] or (delay[a] == delay[b] and a < b)


@kernel
def _sift_down(heap, delay, q):
    """Restore the heap order below position q (the root is the next client served)."""
    n = heap.shape[0]
    while True:
        best = q
        for child in (2 * q + 1, 2 * q + 2):
            if child < n and _before(delay, heap[child], heap[best]):
                best = child
        if best == q:
            return
        heap[q], heap[best] = heap[best], heap[q]
        q = best


@kernel
def _add_subchannel(k, m, la, inva, bw, budget, sums, closed):
    """Client k takes subchannel m, its weakest so far; returns its new best rate, bit/s.

    At a fixed power budget P the water level on the active set A is
    ``w = (P + sum_A bw inva) / sum_A bw`` and the rate ``sum_A bw (log2 w + la)``. A
    client takes its subchannels by decreasing gain, so the new one has the largest
    ``inva``: it is active iff ``inva < w'`` (its level with it), and then so is every
    earlier one; once one is inactive, every later one is too (``closed``). So
    ``sums[k] = (sum bw, sum bw inva, sum bw la)`` over the active prefix gives the rate
    in O(1) (water-filling from scratch would cost O(n) per step).
    """
    if not closed[k]:
        b = sums[k, 0] + bw[m]
        w = (budget[k] + sums[k, 1] + bw[m] * inva[k, m]) / b
        if inva[k, m] < w:
            sums[k, 0] = b
            sums[k, 1] += bw[m] * inva[k, m]
            sums[k, 2] += bw[m] * la[k, m]
        else:
            closed[k] = True
    w = (budget[k] + sums[k, 1]) / sums[k, 0]
    return sums[k, 0] * math.log2(w) + sums[k, 2]


@kernel
def _capped_rate(k, m, la, inva, bw, budget, mem, cnt, bla, binv, bbw, active, lcap):
    """Client k takes subchannel m; its best rate (bit/s) at its budget with the cap
    ``lcap`` (capped water-filling over its members ``mem[k, :cnt[k]]``)."""
    mem[k, cnt[k]] = m
    cnt[k] += 1
    for q in range(cnt[k]):
        j = mem[k, q]
        bla[q] = la[k, j]
        binv[q] = inva[k, j]
        bbw[q] = bw[j]
    r, _ = max_rate_for_power(bla, binv, bbw, cnt[k], budget[k], active, lcap)
    return r


@kernel
def greedy_assign(la, inva, bw, c, S, pmax, ptot, order, lcap=math.inf):
    """Assignment (M,) of subchannels to clients; needs K <= M. ``order`` is
    ``gain_order(la)``; ``lcap`` the spectral-efficiency cap (inf: none)."""
    K, M = la.shape
    assign = -np.ones(M, dtype=np.int64)
    budget = np.empty(K)
    for k in range(K):
        budget[k] = min(pmax[k], ptot / K)
    ptr = np.zeros(K, dtype=np.int64)
    sums = np.zeros((K, 3))  # over each client's active subchannels: bw, bw inva, bw la
    closed = np.zeros(K, dtype=np.bool_)
    cnt = np.zeros(K, dtype=np.int64)
    delay = np.full(K, math.inf)
    capped = lcap < math.inf
    mem = np.empty((K, M) if capped else (1, 1), dtype=np.int64)
    ccnt = np.zeros(K, dtype=np.int64)
    bla = np.empty(M)
    binv = np.empty(M)
    bbw = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    # phase 1: one subchannel each, the worst-off client first; a client's candidate
    # (its best free subchannel and the delay with it) is recomputed only once taken
    cand = -np.ones(K, dtype=np.int64)
    cand_val = np.empty(K)
    for _ in range(K):
        worst_k = -1
        worst_val = -math.inf
        for k in range(K):
            if cnt[k] > 0:
                continue
            if cand[k] < 0 or assign[cand[k]] >= 0:
                m = _best_free(order, ptr, assign, k)
                w = budget[k] / bw[m] + inva[k, m]
                cand[k] = m
                cand_val[k] = c[k] + S / (bw[m] * min(math.log2(w) + la[k, m], lcap))
            if cand_val[k] > worst_val:
                worst_val = cand_val[k]
                worst_k = k
        k = worst_k
        m = cand[k]
        assign[m] = k
        cnt[k] = 1
        if capped:
            _capped_rate(k, m, la, inva, bw, budget, mem, ccnt, bla, binv, bbw, active, lcap)
        else:
            _add_subchannel(k, m, la, inva, bw, budget, sums, closed)
        delay[k] = worst_val
    # phase 2: each free subchannel to the current straggler (a max-heap on the delay)
    heap = np.arange(K)
    for q in range(K // 2 - 1, -1, -1):
        _sift_down(heap, delay, q)
    for _ in range(M - K):
        k = heap[0]
        m = _best_free(order, ptr, assign, k)
        assign[m] = k
        cnt[k] += 1
        if capped:
            r = _capped_rate(k, m, la, inva, bw, budget, mem, ccnt, bla, binv, bbw, active,
                             lcap)
        else:
            r = _add_subchannel(k, m, la, inva, bw, budget, sums, closed)
        delay[k] = c[k] + S / r
        _sift_down(heap, delay, 0)  # k's delay only fell
    return assign


@kernel
def greedy_pairs(la, inva, bw, c_all, s_all, pmax, ptot, order, rtol, lcap=math.inf):
    """:func:`greedy_assign` plus exact power control (:func:`.power.power_control`) for
    many demands in one call: ``c_all`` (P, K) s, ``s_all`` (P,) bits. Returns
    ``(assign (P, M), t (P,) s, psd (P, M) W/Hz, status (P,))``, status 0 when every
    client holds a subchannel (always when K <= M). ``lcap``: the spectral-efficiency
    cap (inf: none)."""
    P = s_all.shape[0]
    M = la.shape[1]
    assigns = np.empty((P, M), dtype=np.int64)
    ts = np.empty(P)
    psds = np.empty((P, M))
    status = np.zeros(P, dtype=np.int64)
    for p in range(P):
        a = greedy_assign(la, inva, bw, c_all[p], s_all[p], pmax, ptot, order, lcap)
        t, psd, st, _ = power_control(la, inva, bw, a, c_all[p], s_all[p], pmax, ptot, rtol,
                                      lcap)
        assigns[p] = a
        ts[p] = t
        psds[p] = psd
        status[p] = st
    return assigns, ts, psds, status
