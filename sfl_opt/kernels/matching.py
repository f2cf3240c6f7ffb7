"""The "every client needs a subchannel" structure where K = M: the link's optimum by
bisection on the deadline with an assignment problem, certified from below.

With as many subchannels as clients (K = M) every assignment is a perfect matching:
each client owns exactly one subchannel. For a deadline t client k needs rate
``D_k(t) = S / (t - c_k)``, on subchannel m at least the power
``P_km(t) = bw_m inva_km (2^(D_k(t) / bw_m) - 1)`` (W; one subchannel: no water-filling
choice left), computed with ``expm1`` (exact for a tiny spectral efficiency). With the
spectral-efficiency cap ``lcap`` (truncated Shannon: a subchannel carries at most
``bw_m lcap`` bit/s, see :mod:`.waterfill`) a rate ``D_k(t) > bw_m lcap`` is out of reach
on m at any power: ``P_km(t) = inf`` (with a relative margin of ``CAP_SAFE`` so that
rounding never declares a reachable rate unreachable). The deadline t is feasible iff
some perfect matching f has ``P_{k f(k)}(t) <= p_max[k]`` for every k and
``sum_k P_{k f(k)}(t) <= p_total``: a min-cost assignment problem with cost ``P_km(t)``,
or a cost ``BIG > p_total`` where ``P_km(t) > p_max[k]`` (a matching through such an
entry costs more than the budget).
Feasibility only improves with t, so a bisection brackets the optimum; a deadline is
*certified infeasible* when a dual-feasible ``(u, v)`` of the assignment LP (integral,
so its dual bounds the integer minimum) proves the min cost above ``p_total``, with the
costs rounded down (``P_km`` deflated by ``1e-12``, the dual sum deflated too). The
largest certified-infeasible deadline is a lower bound on the link's optimum, tight to
the bisection tolerance: the time-sharing relaxation of :mod:`.lagrange` loses 11-16 %
here (it lets two clients share a subchannel). Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel

#: relative deflation of the powers in the certificate (rounding of 2^x and products)
POWER_SAFE = 1e-12
#: a spectral efficiency is declared beyond the cap only above ``lcap (1 + CAP_SAFE)``
CAP_SAFE = 1e-12
#: ln 2
LN2 = math.log(2.0)


@kernel
def assignment_lower_bound(d):
    """A certified lower bound on ``min sum_i d[i, f(i)]`` over injective f: rows ->
    columns of the (R, F) cost matrix ``d`` (R <= F, entries finite and >= 0), by the
    Hungarian algorithm's column potentials. Returns 0 when R = 0 and inf when R > F."""
    R, F = d.shape
    if R == 0:
        return 0.0
    if R > F:
        return math.inf
    u = np.zeros(R + 1)
    v = np.zeros(F + 1)
    p = np.zeros(F + 1, dtype=np.int64)  # p[j]: row (1-based) matched to column j
    way = np.zeros(F + 1, dtype=np.int64)
    minv = np.empty(F + 1)
    used = np.empty(F + 1, dtype=np.bool_)
    for i in range(1, R + 1):
        p[0] = i
        j0 = 0
        for j in range(F + 1):
            minv[j] = math.inf
            used[j] = False
        while True:
            used[j0] = True
            i0 = p[j0]
            delta = math.inf
            j1 = -1
            for j in range(1, F + 1):
                if not used[j]:
                    cur = d[i0 - 1, j - 1] - u[i0] - v[j]
                    if cur < minv[j]:
                        minv[j] = cur
                        way[j] = j0
                    if minv[j] < delta:
                        delta = minv[j]
                        j1 = j
            if j1 < 0:  # pragma: no cover - only with non-finite costs
                return 0.0
            for j in range(F + 1):
                if used[j]:
                    u[p[j]] += delta
                    v[j] -= delta
                else:
                    minv[j] -= delta
            j0 = j1
            if p[j0] == 0:
                break
        while True:
            j1 = way[j0]
            p[j0] = p[j1]
            j0 = j1
            if j0 == 0:
                break
    # certificate: v <= 0 (clipped), u_i = min_j (d_ij - v_j): dual feasible
    total = 0.0
    scale = 0.0
    for j in range(1, F + 1):
        vj = min(v[j], 0.0)
        total += vj
        scale += abs(vj)
    for i in range(R):
        ui = math.inf
        for j in range(F):
            x = d[i, j] - min(v[j + 1], 0.0)
            if x < ui:
                ui = x
        total += ui
        scale += abs(ui)
    return total - 1e-13 * scale


@kernel
def _infeasible(la, inva, bw, c, S, pmax, ptot, t, d, lcap):
    """Whether deadline t is certified infeasible for a square link (module doc);
    ``d`` (K, K) is scratch for the costs, ``lcap`` the spectral-efficiency cap."""
    K, M = inva.shape
    capped = ptot < pmax.sum()
    big = 2.0 * ptot + 1.0 if capped else 1.0
    for k in range(K):
        span = t - c[k]
        if not span > 0.0:
            return True
        rate = S / span
        for m in range(M):
            x = rate / bw[m]
            if x > lcap * (1.0 + CAP_SAFE) or not x < 1000.0:
                p = math.inf
            else:
                p = bw[m] * inva[k, m] * math.expm1(min(x, lcap) * LN2) * (1.0 - POWER_SAFE)
            if p > pmax[k]:
                d[k, m] = big
            else:
                d[k, m] = p if capped else 0.0
    lb = assignment_lower_bound(d)
    if capped:
        return lb * (1.0 - POWER_SAFE) > ptot
    return lb > 0.5


@kernel
def square_link_bound(la, inva, bw, c, S, pmax, ptot, lo, hi, rtol, lcap=math.inf):
    """Certified lower bound (s) on the optimal deadline of a link with K = M (module
    doc), by bisection between ``lo`` (a valid lower bound) and ``hi`` (a feasible
    deadline, e.g. an assignment's), to the relative tolerance ``rtol``; ``lcap`` the
    spectral-efficiency cap, log2(1 + SNR) per subchannel (inf: none)."""
    K, M = inva.shape
    d = np.empty((K, M))
    for _ in range(200):
        if not hi - lo > rtol * hi:
            break
        mid = 0.5 * (lo + hi)
        if _infeasible(la, inva, bw, c, S, pmax, ptot, mid, d, lcap):
            lo = mid
        else:
            hi = mid
    return lo
