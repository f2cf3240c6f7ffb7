"""Exact power control for a fixed subchannel assignment (the ``native`` backend).

Problem (one link): minimise t over psd >= 0 subject to ``c_k + S / R_k <= t`` for every
client, ``sum psd*bw <= p_max[k]`` per client and ``<= p_total`` overall, where
``R_k = sum_{m in k} bw_m log2(1 + psd_m gain_km / N0)`` (each term capped at ``bw_m lcap``
with a spectral-efficiency cap ``lcap``, bit/s/Hz: box-constrained water-filling, see
:mod:`.waterfill`; P_k(t) stays convex and decreasing, so nothing else changes).

For a given t, client k needs ``S / (t - c_k)`` bit/s; its least power P_k(t) is
water-filling over its own subchannels and decreases strictly in t. So t is feasible iff
``P_k(t) <= p_max[k]`` for all k and ``sum_k P_k(t) <= p_total``, and the optimum is the
smallest feasible t: ``t_lo = max_k (c_k + S / Rmax_k)`` if the total cap holds there
(Rmax_k is client k's rate at p_max[k]), else the root of ``sum_k P_k(t) = p_total``.
The total need is convex and decreasing in t, so Newton's method from ``t_lo`` converges
monotonically from the infeasible side; the answer is certified by checking feasibility
at ``t (1 + rtol/2)``, with bisection as the fall-back. Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import capped_psd, max_rate_for_power, min_power_for_rate

#: ln 2 (a rate is bw * log1p(snr) / ln 2: stable for a deeply faded subchannel)
LN2 = math.log(2.0)
STATUS_OK = 0
STATUS_NO_SUBCHANNEL = 1


@kernel
def gather_clients(assign, K):
    """CSR grouping of subchannels by client: ``(start (K+1,), idx (M,))``."""
    M = assign.shape[0]
    start = np.zeros(K + 1, dtype=np.int64)
    for m in range(M):
        start[assign[m] + 1] += 1
    for k in range(K):
        start[k + 1] += start[k]
    fill = start[:K].copy()
    idx = np.empty(M, dtype=np.int64)
    for m in range(M):
        k = assign[m]
        idx[fill[k]] = m
        fill[k] += 1
    return start, idx


@kernel
def _segments(la, inva, bw, assign, K):
    """Per-client contiguous copies of (la, inva, bw) in CSR order."""
    start, idx = gather_clients(assign, K)
    M = assign.shape[0]
    sla = np.empty(M)
    sinv = np.empty(M)
    sbw = np.empty(M)
    for p in range(M):
        m = idx[p]
        k = assign[m]
        sla[p] = la[k, m]
        sinv[p] = inva[k, m]
        sbw[p] = bw[m]
    return start, idx, sla, sinv, sbw


@kernel
def _total_need(start, sla, sinv, sbw, c, S, t, active, lcap):
    """``(sum_k P_k(t), -d/dt sum_k P_k(t))``: total least power (W) and its slope.

    With water level w_k, dP_k/dR_k = w_k ln 2 and dR_k/dt = -S / (t - c_k)^2.
    """
    K = c.shape[0]
    total = 0.0
    slope = 0.0
    for k in range(K):
        a, b = start[k], start[k + 1]
        d = t - c[k]
        p, w = min_power_for_rate(sla[a:b], sinv[a:b], sbw[a:b], b - a, S / d, active, lcap)
        total += p
        slope += LN2 * w * S / (d * d)
    return total, slope


@kernel
def power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap=math.inf):
    """Optimal deadline and psd for a fixed assignment.

    ``la``, ``inva``: (K, M) normalised gains (see waterfill); ``bw`` (M,) Hz; ``assign``
    (M,) client per subchannel; ``c`` (K,) fixed delays, s; ``S`` bits per client;
    ``pmax`` (K,) W; ``ptot`` W (inf allowed); ``rtol`` relative tolerance on t;
    ``lcap`` the spectral-efficiency cap, log2(1 + SNR) per subchannel (inf: none).

    Returns ``(t, psd (M,), status, iterations)``: t in s is feasible and within
    ``rtol`` of the optimum; status 1 means a client has no subchannel (t = inf).
    """
    K = c.shape[0]
    M = assign.shape[0]
    psd = np.zeros(M)
    start, idx, sla, sinv, sbw = _segments(la, inva, bw, assign, K)
    for k in range(K):
        if start[k + 1] == start[k]:
            return math.inf, psd, STATUS_NO_SUBCHANNEL, 0
    active = np.empty(M, dtype=np.bool_)
    t_lo = -math.inf
    for k in range(K):
        a, b = start[k], start[k + 1]
        r, _ = max_rate_for_power(sla[a:b], sinv[a:b], sbw[a:b], b - a, pmax[k], active,
                                  lcap)
        tk = c[k] + S / r
        if tk > t_lo:
            t_lo = tk
    iters = 0
    t = t_lo
    need_lo, slope_lo = _total_need(start, sla, sinv, sbw, c, S, t_lo, active, lcap)
    if need_lo > ptot:
        # an upper end: every client at min(p_max, p_total/K) is feasible
        t_hi = -math.inf
        for k in range(K):
            a, b = start[k], start[k + 1]
            q = min(pmax[k], ptot / K)
            r, _ = max_rate_for_power(sla[a:b], sinv[a:b], sbw[a:b], b - a, q, active, lcap)
            tk = c[k] + S / r
            if tk > t_hi:
                t_hi = tk
        # Newton from the left: the total need is convex and decreasing in t, so each
        # tangent step stays on the infeasible side and converges monotonically.
        while iters < 100:
            iters += 1
            x = t_lo + (need_lo - ptot) / slope_lo
            if not x < t_hi:
                break
            if x - t_lo <= 0.25 * rtol * x:
                t_lo = x
                break
            need_x, slope_x = _total_need(start, sla, sinv, sbw, c, S, x, active, lcap)
            if need_x <= ptot:  # landed on the root itself (rounding)
                t_hi = x
                break
            t_lo = x
            need_lo = need_x
            slope_lo = slope_x
        # certify a feasible end within rtol of t_lo; bisection as the fall-back
        x = t_lo * (1.0 + 0.5 * rtol)
        if x < t_hi and _total_need(start, sla, sinv, sbw, c, S, x, active, lcap)[0] <= ptot:
            t_hi = x
        while t_hi - t_lo > rtol * t_hi and iters < 300:
            mid = 0.5 * (t_lo + t_hi)
            if _total_need(start, sla, sinv, sbw, c, S, mid, active, lcap)[0] <= ptot:
                t_hi = mid
            else:
                t_lo = mid
            iters += 1
        t = t_hi
    # psd at t; scale by at most a rounding error so that every cap holds exactly
    total = 0.0
    for k in range(K):
        a, b = start[k], start[k + 1]
        p, w = min_power_for_rate(sla[a:b], sinv[a:b], sbw[a:b], b - a, S / (t - c[k]),
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
    return t, psd, STATUS_OK, iters


@kernel
def client_needs(la, inva, bw, assign, c, S, t, lcap=math.inf):
    """Least power (W) of each client to meet deadline ``t`` with its subchannels."""
    K = c.shape[0]
    start, idx, sla, sinv, sbw = _segments(la, inva, bw, assign, K)
    active = np.empty(assign.shape[0], dtype=np.bool_)
    need = np.empty(K)
    for k in range(K):
        a, b = start[k], start[k + 1]
        if t <= c[k]:
            need[k] = math.inf
        else:
            need[k], _ = min_power_for_rate(sla[a:b], sinv[a:b], sbw[a:b], b - a,
                                            S / (t - c[k]), active, lcap)
    return need


@kernel
def link_check(gain, bw, assign, psd, noise_psd, c, S, pmax, ptot, lcap=math.inf):
    """``(deadline, violation)`` of a psd on one link: ``max_k (c_k + S / R_k)`` in s
    (inf when a client has zero rate; each subchannel's rate capped at ``bw lcap``), and
    the largest relative excess over a power cap or below zero (0 when every constraint
    holds)."""
    K = c.shape[0]
    rate = np.zeros(K)
    power = np.zeros(K)
    viol = 0.0
    for m in range(assign.shape[0]):
        k = assign[m]
        rate[k] += bw[m] * min(math.log1p(psd[m] * gain[k, m] / noise_psd) / LN2, lcap)
        power[k] += psd[m] * bw[m]
        if -psd[m] > viol:
            viol = -psd[m]
    t = -math.inf
    total = 0.0
    for k in range(K):
        x = c[k] + S / rate[k] if rate[k] > 0.0 else math.inf
        if x > t:
            t = x
        v = power[k] / pmax[k] - 1.0
        if v > viol:
            viol = v
        total += power[k]
    if ptot < math.inf and total / ptot - 1.0 > viol:
        viol = total / ptot - 1.0
    return t, viol
