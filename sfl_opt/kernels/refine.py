"""Refinement of a subchannel assignment, re-scored with exact power control.

``refine_assign`` solves a small link exactly (subset DP over all assignments,
:mod:`.partition`) and a larger one by move/swap local search with incremental
evaluation (:mod:`.localsearch`).

``perturb_search`` wraps the local search in an iterated local search: from the best
assignment so far it reassigns a few random subchannels (random numbers are passed in,
so the kernel is deterministic in both compiled and pure-Python form), re-runs the
local search and keeps the result if it is better. Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .localsearch import local_search
from .partition import partition_is_cheap, partition_optimum
from .power import power_control


@kernel
def refine_assign(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, lcap=math.inf):
    """Improve ``assign0``: the exact optimum by the subset DP when the link is small
    (:func:`.partition.partition_is_cheap`), else move/swap local search
    (:func:`.localsearch.local_search`).

    Returns ``(assign, t, psd, moves)`` with t (s) and psd (W/Hz) from exact power
    control of the final assignment; ``moves`` counts accepted local-search changes (for
    the DP: the subchannels whose client changed).
    """
    K, M = la.shape
    if not partition_is_cheap(K, M):
        return local_search(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, lcap)
    t0, psd0, _, _ = power_control(la, inva, bw, assign0, c, S, pmax, ptot, rtol, lcap)
    a, t, psd = partition_optimum(la, inva, bw, c, S, pmax, ptot, rtol, t0, lcap)
    if not t < t0:
        return assign0.copy(), t0, psd0, 0
    moves = 0
    for m in range(M):
        if a[m] != assign0[m]:
            moves += 1
    return a, t, psd, moves


@kernel
def perturb_search(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, rand,
                   patience, lcap=math.inf):
    """Iterated local search from ``assign0``.

    ``rand`` (rows, 2 * size) holds uniform numbers in [0, 1): row q drives kick q,
    which moves ``size`` random subchannels each to a random other client, chosen by its
    rank in gain on that subchannel (a giver keeps at least one), before the local
    search. Kicks are *adaptive*: the search stops after ``patience`` kicks in a row
    without improvement (or when the rows run out), so it goes on while kicks still
    pay. Returns ``(assign, t, psd, moves)`` of the best assignment found.
    """
    K, M = la.shape
    if partition_is_cheap(K, M):  # refine_assign is exact: nothing left to find
        return refine_assign(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, lcap)
    best, t_best, psd_best, moves = refine_assign(la, inva, bw, assign0, c, S, pmax, ptot,
                                                  rtol, max_moves, tol, lcap)
    count = np.empty(K, dtype=np.int64)
    idle = 0  # kicks since the last improvement
    for q in range(rand.shape[0]):
        if idle >= patience:
            break
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
                                         tol, lcap)
        moves += mv
        idle += 1
        if t2 < t_best * (1.0 - tol):
            best = a2
            t_best = t2
            psd_best = psd2
            idle = 0
    return best, t_best, psd_best, moves
