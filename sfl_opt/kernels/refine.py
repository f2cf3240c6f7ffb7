"""Local-search refinement of a subchannel assignment, re-scored with exact power control.

Moves: hand one subchannel to another client (the giver keeps at least one); swaps:
exchange two subchannels between two clients. At the current optimal deadline t of the
assignment, let ``phi = max(max_k P_k(t) / p_max[k], sum_k P_k(t) / p_total)`` with P_k(t)
the least power client k needs (phi = 1 at the optimum: some cap is tight). A move
lowers the optimal deadline iff it makes every cap slack at t, i.e. its phi < 1, and
only the two clients it touches change their P_k, so each candidate costs two small
water-fillings.

The scan is first-improvement and cyclic: subchannels are visited in turn from where the
last accepted move left off; for a subchannel the best of its moves is applied if it
lowers phi (at the same t) by more than ``tol``, and the scan goes on. When no move
improves, swaps are scanned the same way. While the total cap binds, t is
re-solved only when neither improves any more (if any change was applied since it was
last solved, phi returns to 1 and the search continues); while a client's own cap binds,
t is re-solved after every change (cheap: no root search). The search stops when nothing
improves at a freshly solved t, or after ``max_moves`` accepted changes.
Candidates are skipped without computing when they cannot help: a client that would
leave a received subchannel unused at its current water level gains nothing from it.

``perturb_search`` wraps it in an iterated local search: from the best assignment so far
it reassigns a few random subchannels (random numbers are passed in, so the kernel is
deterministic in both compiled and pure-Python form), re-runs the local search and keeps
the result if it is better.
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
def _need_and_level(la, inva, bw, idx, a, b, k, rate, buf_la, buf_inv, buf_bw, active):
    """Least power of client k for ``rate`` with its set idx[a:b], and its water level."""
    n = 0
    for q in range(a, b):
        m = idx[q]
        buf_la[n] = la[k, m]
        buf_inv[n] = inva[k, m]
        buf_bw[n] = bw[m]
        n += 1
    return min_power_for_rate(buf_la, buf_inv, buf_bw, n, rate, active)


@kernel
def _max_excluding(ratio, top, i, j):
    for q in range(top.shape[0]):
        k = top[q]
        if k >= 0 and k != i and k != j:
            return ratio[k]
    return 0.0


@kernel
def _phi_after(base, new_i, new_j, i, j, need, pmax, total, ptot):
    """phi after clients i and j change their least power to new_i and new_j (W);
    ``base`` is the largest cap ratio of the other clients."""
    phi = max(base, new_i / pmax[i], new_j / pmax[j])
    if ptot < math.inf:
        phi = max(phi, (total - need[i] - need[j] + new_i + new_j) / ptot)
    return phi


@kernel
def refine_assign(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol):
    """Improve ``assign0`` by cyclic first-improvement move/swap local search.

    Returns ``(assign, t, psd, moves)`` with t (s) and psd (W/Hz) from exact power
    control of the final assignment.
    """
    K, M = la.shape
    assign = assign0.copy()
    buf_la = np.empty(M + 1)
    buf_inv = np.empty(M + 1)
    buf_bw = np.empty(M + 1)
    active = np.empty(M + 1, dtype=np.bool_)
    need = np.empty(K)
    level = np.empty(K)
    ratio = np.empty(K)
    rate = np.empty(K)
    top = -np.ones(3, dtype=np.int64)
    moves = 0
    pos_move = 0
    pos_swap = 0
    t, psd, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
    stale = False  # moves applied since t was last re-solved
    while moves < max_moves:
        start, idx = gather_clients(assign, K)
        total = 0.0
        for k in range(K):
            rate[k] = S / (t - c[k])
            need[k], level[k] = _need_and_level(la, inva, bw, idx, start[k], start[k + 1], k,
                                                rate[k], buf_la, buf_inv, buf_bw, active)
            ratio[k] = need[k] / pmax[k]
            total += need[k]
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
        phi_cur = ratio[top[0]]
        if ptot < math.inf and total / ptot > phi_cur:
            phi_cur = total / ptot
        threshold = phi_cur - tol
        kind = 0
        best_m = -1
        best_x = -1
        # ---- moves: subchannel m from its owner i to the best other client j
        for step in range(M):
            m = (pos_move + step) % M
            i = assign[m]
            if start[i + 1] - start[i] < 2:
                continue
            new_i = _need_without(la, inva, bw, idx, start[i], start[i + 1], i, m, -1,
                                  rate[i], buf_la, buf_inv, buf_bw, active)
            if new_i / pmax[i] >= threshold:
                continue
            best_phi = threshold
            for j in range(K):
                if j == i:
                    continue
                base = _max_excluding(ratio, top, i, j)
                if base >= best_phi:
                    continue
                if inva[j, m] >= level[j]:
                    continue  # m would stay unused by j at its current level: no gain
                new_j = _need_without(la, inva, bw, idx, start[j], start[j + 1], j, -1, m,
                                      rate[j], buf_la, buf_inv, buf_bw, active)
                phi = _phi_after(base, new_i, new_j, i, j, need, pmax, total, ptot)
                if phi < best_phi:
                    best_phi = phi
                    kind = 1
                    best_m = m
                    best_x = j
            if kind != 0:
                pos_move = m + 1
                break
        # ---- swaps, only when no move improves
        if kind == 0:
            for step in range(M):
                m = (pos_swap + step) % M
                i = assign[m]
                best_phi = threshold
                for m2 in range(M):
                    j = assign[m2]
                    if j == i or m2 == m:
                        continue
                    if bw[m] == bw[m2] and la[i, m2] <= la[i, m] and la[j, m] <= la[j, m2]:
                        continue  # neither client gets a better subchannel
                    if inva[i, m2] >= level[i] and inva[j, m] >= level[j]:
                        continue  # neither would use what it receives: no gain
                    base = _max_excluding(ratio, top, i, j)
                    if base >= best_phi:
                        continue
                    new_i = _need_without(la, inva, bw, idx, start[i], start[i + 1], i, m, m2,
                                          rate[i], buf_la, buf_inv, buf_bw, active)
                    if new_i / pmax[i] >= best_phi:
                        continue
                    new_j = _need_without(la, inva, bw, idx, start[j], start[j + 1], j, m2, m,
                                          rate[j], buf_la, buf_inv, buf_bw, active)
                    phi = _phi_after(base, new_i, new_j, i, j, need, pmax, total, ptot)
                    if phi < best_phi:
                        best_phi = phi
                        kind = 2
                        best_m = m
                        best_x = m2
                if kind != 0:
                    pos_swap = m + 1
                    break
        if kind == 0:
            if not stale:
                break
            # the caps are slack at t: re-solve the deadline exactly and go on
            t, psd, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
            stale = False
            continue
        if kind == 1:
            assign[best_m] = best_x
        else:
            i = assign[best_m]
            assign[best_m] = assign[best_x]
            assign[best_x] = i
        moves += 1
        if ptot < math.inf and total / ptot >= ratio[top[0]]:
            stale = True  # the total cap binds: re-solving t costs a root search, defer it
        else:  # a client's own cap binds: re-solving t is cheap and keeps pruning sharp
            t, psd, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
            stale = False
    if stale:
        t, psd, status, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol)
    return assign, t, psd, moves


@kernel
def perturb_search(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, rand):
    """Iterated local search from ``assign0``.

    ``rand`` (kicks, 2 * size) holds uniform numbers in [0, 1): row q drives kick q,
    which moves ``size`` random subchannels each to a random other client, chosen by its
    rank in gain on that subchannel (a giver keeps at least one), before the local
    search. Returns ``(assign, t, psd, moves)`` of the best
    assignment found.
    """
    K, M = la.shape
    best, t_best, psd_best, moves = refine_assign(la, inva, bw, assign0, c, S, pmax, ptot,
                                                  rtol, max_moves, tol)
    count = np.empty(K, dtype=np.int64)
    for q in range(rand.shape[0]):
        a = best.copy()
        for k in range(K):
            count[k] = 0
        for m in range(M):
            count[a[m]] += 1
        size = rand.shape[1] // 2
        for e in range(size):
            m = int(rand[q, 2 * e] * M) % M
            i = a[m]
            if count[i] < 2:
                continue
            # the r-th best other client on subchannel m (by gain, so that relabelling
            # the clients relabels the answer)
            r = int(rand[q, 2 * e + 1] * (K - 1)) % (K - 1)
            j = -1
            for _ in range(r + 1):
                nxt = -1
                for k in range(K):
                    if k == i:
                        continue
                    if j >= 0 and (la[k, m] > la[j, m] or (la[k, m] == la[j, m] and k <= j)):
                        continue  # already passed over
                    if nxt < 0 or la[k, m] > la[nxt, m]:
                        nxt = k
                j = nxt
            a[m] = j
            count[i] -= 1
            count[j] += 1
        a2, t2, psd2, mv = refine_assign(la, inva, bw, a, c, S, pmax, ptot, rtol, max_moves,
                                         tol)
        moves += mv
        if t2 < t_best * (1.0 - tol):
            best = a2
            t_best = t2
            psd_best = psd2
    return best, t_best, psd_best, moves
