"""Cheap lower bounds on the s-link stage, valid for every assignment and power.

For deadline t client k needs rate S/(t - c_k). Two relaxations bound it from below:

1. client k alone with every subchannel at p_max[k]: ``t >= c_k + S / Rall_k``;
2. the sum of the needed rates cannot exceed the largest sum rate of the link, reached
   by giving each subchannel to its best client and water-filling the power
   ``min(p_total, sum p_max)`` over all of them: ``sum_k S / (t - c_k) <= Rsum``.

The bound is the least t meeting both (bisection on the second). With a spectral-
efficiency cap ``lcap`` both rates are capped water-filling (the strongest client of a
subchannel still dominates: its capped rate is the larger at every power). Units: s,
bits, bit/s.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import max_rate_for_power


@kernel
def link_rate_bounds(la, inva, bw, pmax, ptot, lcap=math.inf):
    """``(Rall (K,), Rsum)``: per-client rate with all subchannels, and the link's sum rate."""
    K, M = la.shape
    active = np.empty(M, dtype=np.bool_)
    rall = np.empty(K)
    for k in range(K):
        rall[k], _ = max_rate_for_power(la[k], inva[k], bw, M, pmax[k], active, lcap)
    return rall, link_sum_rate(la, inva, bw, pmax, ptot, active, lcap)


@kernel
def link_sum_rate(la, inva, bw, pmax, ptot, active, lcap):
    """The link's largest sum rate (bit/s): each subchannel to its best client (the
    first in client order on a tie), the power ``min(ptot, sum pmax)`` water-filled over
    all of them. ``active`` (M,) is scratch."""
    K, M = la.shape
    # each subchannel's best client, row by row (the arrays are C-ordered)
    best_k = np.zeros(M, dtype=np.int64)
    for k in range(1, K):
        for m in range(M):
            if la[k, m] > la[best_k[m], m]:
                best_k[m] = k
    best_la = np.empty(M)
    best_inv = np.empty(M)
    for m in range(M):
        best_la[m] = la[best_k[m], m]
        best_inv[m] = inva[best_k[m], m]
    budget = min(ptot, pmax.sum())
    rsum, _ = max_rate_for_power(best_la, best_inv, bw, M, budget, active, lcap)
    return rsum


#: :func:`link_rate_bounds_sorted` water-fills each client on its best subchannels first,
#: this many, doubling until the level shows the rest unused
PREFIX = 32


@kernel
def link_rate_bounds_sorted(la, inva, bw, pmax, ptot, order, lcap=math.inf):
    """:func:`link_rate_bounds` from each client's gain order ``order (K, M)``
    (``gain_order(la)``): a client's water-filling active set is a prefix of its order
    (the subchannels whose ``inva`` lies below the level), so it water-fills its best
    ``PREFIX`` subchannels, doubling while the level reaches the next one (or every one
    of them saturates at the cap with power left): O(K * active) instead of O(K * M *
    passes), the same rates up to rounding."""
    K, M = la.shape
    bl = np.empty(M)
    bi = np.empty(M)
    bb = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    rall = np.empty(K)
    for k in range(K):
        n = min(M, PREFIX)
        while True:
            sbw = 0.0
            for q in range(n):
                m = order[k, q]
                bl[q] = la[k, m]
                bi[q] = inva[k, m]
                bb[q] = bw[m]
                sbw += bw[m]
            r, w = max_rate_for_power(bl, bi, bb, n, pmax[k], active, lcap)
            if n == M:
                break
            saturated = lcap < math.inf and r >= lcap * sbw * (1.0 - 1e-12)
            if not saturated and w <= inva[k, order[k, n]]:
                break  # the level leaves every further subchannel unused
            n = min(M, 2 * n)
        rall[k] = r
    return rall, link_sum_rate(la, inva, bw, pmax, ptot, active, lcap)


@kernel
def stage_lower_bound(c, S, rall, rsum, rtol):
    """Least t (s) with ``t >= c_k + S/rall_k`` for all k and ``sum_k S/(t-c_k) <= rsum``."""
    K = c.shape[0]
    lo = -math.inf
    for k in range(K):
        x = c[k] + S / rall[k]
        if x > lo:
            lo = x
    need = 0.0
    for k in range(K):
        need += S / (lo - c[k])
    if need <= rsum:
        return lo
    hi = lo
    for k in range(K):
        x = c[k] + K * S / rsum
        if x > hi:
            hi = x
    # at hi every term is <= rsum / K, so the sum fits
    for _ in range(200):
        if hi - lo <= rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        need = 0.0
        for k in range(K):
            need += S / (mid - c[k])
        if need <= rsum:
            hi = mid
        else:
            lo = mid
    return lo
