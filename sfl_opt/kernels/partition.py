"""Exact subchannel assignment of one small link by dynamic programming over subsets.

An assignment is a partition of the M subchannels into K non-empty sets, one per client.
For a deadline t, client k holding the set s needs the least power P_k(t, s) (water-
filling, :mod:`.waterfill`); t is feasible for some assignment iff there is a partition
with ``P_k(t, s_k) <= p_max[k]`` for every k and ``sum_k P_k(t, s_k) <= p_total``. Both
are decided exactly over all K^M assignments by a DP over subsets, O(K 3^M):

* ``p_total = inf``: the optimal deadline of a client on its own set is
  ``g_k(s) = c_k + S / Rmax_k(s)`` (rate at p_max[k]), and the link optimum is
  ``min over partitions of max_k g_k(s_k)`` — a min-max partition DP, exact in one pass.
* ``p_total`` finite: that min-max value ``t_lo`` is a lower bound (no partition meets the
  per-client caps before it); a partition of least total need at t (min-sum DP, clients
  over their cap excluded) decides feasibility, which is monotone in t, so bisection on
  ``[t_lo, t_hi]`` (``t_hi`` feasible, e.g. a heuristic's deadline) brackets the optimum
  to ``rtol``; the partition found at the feasible end is the answer.

The chosen assignment is then re-solved by :func:`.power.power_control`, so its deadline
and psd are exactly those of the other kernels. Cheap when ``K * 3^M`` is small
(:func:`partition_is_cheap`); units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .power import power_control
from .waterfill import max_rate_for_power, min_power_for_rate

#: largest K * 3^M for which a link is solved by the subset DP
PARTITION_BUDGET = 30_000


@kernel
def partition_is_cheap(K, M):
    """Whether the subset DP of a link with K clients and M subchannels is cheap."""
    if M > 12 or K > M:
        return False
    return K * 3**M <= PARTITION_BUDGET


@kernel
def _gather_subset(la, inva, bw, k, s, buf_la, buf_inv, buf_bw):
    """Copy client k's normalised gains and the bandwidths of the set ``s`` (bit mask)."""
    n = 0
    m = 0
    while s > 0:
        if s & 1:
            buf_la[n] = la[k, m]
            buf_inv[n] = inva[k, m]
            buf_bw[n] = bw[m]
            n += 1
        s >>= 1
        m += 1
    return n


@kernel
def _own_cap_delays(la, inva, bw, c, S, pmax, out, lcap):
    """``out[k, s] = c_k + S / Rmax_k(s)``: client k's best deadline on set s alone, s."""
    K, M = la.shape
    buf_la = np.empty(M)
    buf_inv = np.empty(M)
    buf_bw = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    for k in range(K):
        out[k, 0] = math.inf
        for s in range(1, 1 << M):
            n = _gather_subset(la, inva, bw, k, s, buf_la, buf_inv, buf_bw)
            r, _ = max_rate_for_power(buf_la, buf_inv, buf_bw, n, pmax[k], active, lcap)
            out[k, s] = c[k] + S / r if r > 0.0 else math.inf


@kernel
def _needs_at(la, inva, bw, c, S, pmax, t, out, lcap):
    """``out[k, s] = P_k(t, s)`` (W), or inf when it exceeds p_max[k] or t <= c_k."""
    K, M = la.shape
    buf_la = np.empty(M)
    buf_inv = np.empty(M)
    buf_bw = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    for k in range(K):
        out[k, 0] = math.inf
        if t <= c[k]:
            for s in range(1, 1 << M):
                out[k, s] = math.inf
            continue
        rate = S / (t - c[k])
        for s in range(1, 1 << M):
            n = _gather_subset(la, inva, bw, k, s, buf_la, buf_inv, buf_bw)
            p, _ = min_power_for_rate(buf_la, buf_inv, buf_bw, n, rate, active, lcap)
            out[k, s] = p if p <= pmax[k] else math.inf


@kernel
def _partition_dp(cost, minmax, choice):
    """Best partition of all subchannels into K non-empty sets, one per client.

    ``cost`` (K, 2^M): a client's cost on each set; combined by max (``minmax``) or by
    sum. ``choice[k, mask]`` records client k's set in the best split of ``mask`` among
    clients 0..k. Returns the optimal combined cost of the full set (inf if none).
    """
    K, n_masks = cost.shape
    full = n_masks - 1
    best = cost[0].copy()
    for mask in range(n_masks):
        choice[0, mask] = mask
    nxt = np.empty(n_masks)
    for k in range(1, K):
        for mask in range(n_masks):
            val = math.inf
            arg = 0
            s = mask
            while s > 0:  # every non-empty subset s of mask for client k
                rest = mask ^ s
                if rest != 0:
                    a = cost[k, s]
                    b = best[rest]
                    x = (a if a > b else b) if minmax else a + b
                    if x < val:
                        val = x
                        arg = s
                s = (s - 1) & mask
            nxt[mask] = val
            choice[k, mask] = arg
        best[:] = nxt
    return best[full]


@kernel
def _unroll(choice, M):
    """The assignment (M,) encoded by ``choice`` for the full set."""
    K = choice.shape[0]
    assign = np.zeros(M, dtype=np.int64)
    mask = (1 << M) - 1
    for k in range(K - 1, -1, -1):
        s = choice[k, mask]
        for m in range(M):
            if (s >> m) & 1:
                assign[m] = k
        mask ^= s
    return assign


@kernel
def partition_optimum(la, inva, bw, c, S, pmax, ptot, rtol, t_hi, lcap=math.inf):
    """The optimal assignment of a small link (see the module docstring).

    ``la``, ``inva`` (K, M), ``bw`` (M,) Hz, ``c`` (K,) s, ``S`` bits, ``pmax`` (K,) W,
    ``ptot`` W (inf allowed), ``rtol`` the bisection tolerance on t, ``t_hi`` a deadline
    known to be feasible (s; only used when ``ptot`` is finite, inf to derive one),
    ``lcap`` the spectral-efficiency cap (inf: none).
    Returns ``(assign, t, psd)`` with t (s) and psd (W/Hz) from ``power_control``.
    """
    K, M = la.shape
    n_masks = 1 << M
    cost = np.empty((K, n_masks))
    choice = np.zeros((K, n_masks), dtype=np.int64)
    _own_cap_delays(la, inva, bw, c, S, pmax, cost, lcap)
    t_lo = _partition_dp(cost, True, choice)
    assign = _unroll(choice, M)
    # among the partitions feasible just above t_lo, the one of least total power: it
    # meets the total cap if any does, and it breaks the many ties of the min-max (only
    # the slowest client matters) the same way whatever the clients' labels
    _needs_at(la, inva, bw, c, S, pmax, t_lo * (1.0 + rtol), cost, lcap)
    if _partition_dp(cost, False, choice) <= ptot:
        assign = _unroll(choice, M)
    elif ptot < math.inf:
        if not t_hi < math.inf:  # the min-max partition with the total cap shared
            t_hi, _, _, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap)
        hi = t_hi * (1.0 + rtol)
        _needs_at(la, inva, bw, c, S, pmax, hi, cost, lcap)
        if _partition_dp(cost, False, choice) <= ptot:
            assign = _unroll(choice, M)
        lo = t_lo
        for _ in range(200):
            if hi - lo <= 0.25 * rtol * hi:
                break
            mid = 0.5 * (lo + hi)
            _needs_at(la, inva, bw, c, S, pmax, mid, cost, lcap)
            if _partition_dp(cost, False, choice) <= ptot:
                hi = mid
                assign = _unroll(choice, M)
            else:
                lo = mid
    t, psd, _, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap)
    return assign, t, psd
