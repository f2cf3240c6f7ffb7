"""Local-search refinement of a subchannel assignment, re-scored with exact power control.

Moves: hand one subchannel to another client (the giver keeps at least one); swaps:
exchange two subchannels between two clients. At the current optimal deadline t of the
assignment, let ``phi = max(max_k P_k(t) / p_max[k], sum_k P_k(t) / p_total)`` with P_k(t)
the least power client k needs (phi = 1 at the optimum: some cap is tight). A move
lowers the optimal deadline iff it makes every cap slack at t, i.e. its phi < 1, and
only the two clients it touches change their P_k, so each candidate costs two small
water-fillings. The best candidate (least phi) is applied, t is re-solved exactly, and
the search repeats until no candidate has phi < 1 - ``tol`` or ``max_moves`` is reached.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .power import gather_clients, power_control
from .waterfill import min_power_for_rate


@kernel
def _need_without(la, inva, bw, idx, a, b, k, skip, add, rate, buf_la, buf_inv, buf_bw,
                  active):
    """Least power of client k for ``rate`` with its set idx[a:b] minus ``skip`` plus ``add``
    (either may be -1)."""
    n = 0
    for q in range(a, b):
        m = idx[q]
        if m == skip:
            continue
        buf_la[n] = la[k, m]
        buf_inv[n] = inva[k, m]
        buf_bw[n] = bw[m]
        n += 1
    if add >= 0:
        buf_la[n] = la[k, add]
        buf_inv[n] = inva[k, add]
        buf_bw[n] = bw[add]
        n += 1
    if n == 0:
        return math.inf
    p, _ = min_power_for_rate(buf_la, buf_inv, buf_bw, n, rate, active)
    return p


@kernel
def _max_excluding(ratio, top, i, j):
    for q in range(top.shape[0]):
        k = top[q]
        if k >= 0 and k != i and k != j:
            return ratio[k]
    return 0.0


@kernel
def refine_assign(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol):
    """Improve ``assign0`` by best-improvement move/swap local search.

    Returns ``(assign, t, psd, moves)`` with t and psd from exact power control of the
    final assignment.
    """
    K, M = la.shape
    assign = assign0.copy()
    buf_la = np.empty(M + 1)
    buf_inv = np.empty(M + 1)
    buf_bw = np.empty(M + 1)
    active = np.empty(M + 1, dtype=np.bool_)
    need = np.empty(K)
    ratio = np.empty(K)
    rate = np.empty(K)
    top = -np.ones(3, dtype=np.int64)
    moves = 0
    t, psd, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
    while moves < max_moves:
        start, idx = gather_clients(assign, K)
        total = 0.0
        for k in range(K):
            rate[k] = S / (t - c[k])
            need[k] = _need_without(la, inva, bw, idx, start[k], start[k + 1], k, -1, -1,
                                    rate[k], buf_la, buf_inv, buf_bw, active)
            ratio[k] = need[k] / pmax[k]
            total += need[k]
        # indices of the three largest ratios
        for q in range(3):
            top[q] = -1
        for k in range(K):
            x = ratio[k]
            if top[0] < 0 or x > ratio[top[0]]:
                top[2] = top[1]
                top[1] = top[0]
                top[0] = k
            elif top[1] < 0 or x > ratio[top[1]]:
                top[2] = top[1]
                top[1] = k
            elif top[2] < 0 or x > ratio[top[2]]:
                top[2] = k
        best_phi = 1.0 - tol
        best_kind = 0
        best_m = -1
        best_x = -1
        for m in range(M):
            i = assign[m]
            if start[i + 1] - start[i] < 2:
                continue
            new_i = _need_without(la, inva, bw, idx, start[i], start[i + 1], i, m, -1,
                                  rate[i], buf_la, buf_inv, buf_bw, active)
            for j in range(K):
                if j == i:
                    continue
                new_j = _need_without(la, inva, bw, idx, start[j], start[j + 1], j, -1, m,
                                      rate[j], buf_la, buf_inv, buf_bw, active)
                phi = max(_max_excluding(ratio, top, i, j), new_i / pmax[i], new_j / pmax[j])
                if ptot < math.inf:
                    phi = max(phi, (total - need[i] - need[j] + new_i + new_j) / ptot)
                if phi < best_phi:
                    best_phi = phi
                    best_kind = 1
                    best_m = m
                    best_x = j
        for m in range(M):
            i = assign[m]
            for m2 in range(m + 1, M):
                j = assign[m2]
                if j == i:
                    continue
                new_i = _need_without(la, inva, bw, idx, start[i], start[i + 1], i, m, m2,
                                      rate[i], buf_la, buf_inv, buf_bw, active)
                if new_i / pmax[i] >= best_phi:
                    continue
                new_j = _need_without(la, inva, bw, idx, start[j], start[j + 1], j, m2, m,
                                      rate[j], buf_la, buf_inv, buf_bw, active)
                phi = max(_max_excluding(ratio, top, i, j), new_i / pmax[i], new_j / pmax[j])
                if ptot < math.inf:
                    phi = max(phi, (total - need[i] - need[j] + new_i + new_j) / ptot)
                if phi < best_phi:
                    best_phi = phi
                    best_kind = 2
                    best_m = m
                    best_x = m2
        if best_kind == 0:
            break
        if best_kind == 1:
            assign[best_m] = best_x
        else:
            i = assign[best_m]
            assign[best_m] = assign[best_x]
            assign[best_x] = i
        moves += 1
        t_new, psd_new, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
        t = t_new
        psd = psd_new
    return assign, t, psd, moves
