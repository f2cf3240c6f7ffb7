"""Exact power control of a fixed assignment when every client has its own payload.

Problem (one link): minimise t over psd >= 0 subject to ``c_k + S_k / R_k <= t`` for
every client, ``sum psd*bw <= p_max[k]`` per client and ``<= p_total`` overall — the
problem of :func:`.power.power_control` with a payload ``S_k`` (bits) per client, as
with per-client cut layers (``split_mode="per_client"``: the adapter upload ``S_ad,k``
and, when the cut activations differ in size, the uplink ``S_up,k``).

For a given t client k needs ``S_k / (t - c_k)`` bit/s, whose least power P_k(t) is
water-filling over its own subchannels and decreases strictly in t; t is feasible iff
every ``P_k(t) <= p_max[k]`` and ``sum_k P_k(t) <= p_total``. The least t with every
client at its cap is ``t_lo = max_k (c_k + S_k / Rmax_k)``; if the total cap holds there
it is the optimum, otherwise bisection between t_lo and the deadline at which every
client at ``min(p_max, p_total/K)`` is feasible finds it to relative ``rtol`` (the
returned t is feasible). ``lcap``: the spectral-efficiency cap on log2(1 + SNR) of a
subchannel (box-constrained water-filling, :mod:`.waterfill`; inf: none). Units: s,
bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .power import _segments
from .waterfill import capped_psd, max_rate_for_power, min_power_for_rate


@kernel
def _need(start, sla, sinv, sbw, c, S, t, active, lcap):
    """Total least power (W) of every client at deadline t."""
    total = 0.0
    for k in range(c.shape[0]):
        a, b = start[k], start[k + 1]
        d = t - c[k]
        if d <= 0.0:
            return math.inf
        p, _ = min_power_for_rate(sla[a:b], sinv[a:b], sbw[a:b], b - a, S[k] / d, active,
                                  lcap)
        total += p
    return total


@kernel
def demand_power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap=math.inf):
    """Optimal deadline and psd of a fixed assignment with per-client payloads.

    ``la``, ``inva`` (K, M) normalised gains (see waterfill), ``bw`` (M,) Hz,
    ``assign`` (M,) client per subchannel, ``c`` (K,) s, ``S`` (K,) bits, ``pmax`` (K,)
    W, ``ptot`` W (inf allowed), ``rtol`` relative tolerance on t. Returns ``(t, psd
    (M,), status)``: status 1 (t = inf) when a client has no subchannel.
    """
    K = c.shape[0]
    M = assign.shape[0]
    psd = np.zeros(M)
    start, idx, sla, sinv, sbw = _segments(la, inva, bw, assign, K)
    for k in range(K):
        if start[k + 1] == start[k]:
            return math.inf, psd, 1
    active = np.empty(M, dtype=np.bool_)
    t_lo = -math.inf
    t_hi = -math.inf
    for k in range(K):
        a, b = start[k], start[k + 1]
        r, _ = max_rate_for_power(sla[a:b], sinv[a:b], sbw[a:b], b - a, pmax[k], active,
                                  lcap)
        tk = c[k] + S[k] / r
        if tk > t_lo:
            t_lo = tk
        q = min(pmax[k], ptot / K)
        r2, _ = max_rate_for_power(sla[a:b], sinv[a:b], sbw[a:b], b - a, q, active, lcap)
        tk2 = c[k] + S[k] / r2
        if tk2 > t_hi:
            t_hi = tk2
    t = t_lo
    if _need(start, sla, sinv, sbw, c, S, t_lo, active, lcap) > ptot:
        it = 0
        while t_hi - t_lo > rtol * t_hi and it < 400:
            mid = 0.5 * (t_lo + t_hi)
            if _need(start, sla, sinv, sbw, c, S, mid, active, lcap) <= ptot:
                t_hi = mid
            else:
                t_lo = mid
            it += 1
        t = t_hi
    total = 0.0
    for k in range(K):
        a, b = start[k], start[k + 1]
        p, w = min_power_for_rate(sla[a:b], sinv[a:b], sbw[a:b], b - a, S[k] / (t - c[k]),
                                  active, lcap)
        scale = 1.0
        if p > pmax[k]:
            scale = pmax[k] / p
        for q in range(a, b):
            x = capped_psd(w - sinv[q], sinv[q], lcap)
            psd[idx[q]] = x * scale if x > 0.0 else 0.0
        total += p * scale
    if total > ptot:
        f = ptot / total
        for m in range(M):
            psd[m] *= f
    return t, psd, 0


__all__ = ["demand_power_control"]
