"""The per-client subchannel-set bound: a Lagrangian (Dantzig-Wolfe) bound on one link
that keeps each client's integral choice of subchannels.

For a deadline t client k needs rate ``D_k(t) = S / (t - c_k)``; with a set ``A`` of
subchannels (its fixed ones ``F_k`` plus free ones ``T``) the least power is ``P_k(A)``
(water-filling, :mod:`.waterfill`, with the spectral-efficiency cap ``lcap``). The
deadline is feasible iff disjoint sets exist with ``P_k(A_k) <= p_max[k]`` and
``sum_k P_k(A_k) <= p_total``. Relax it to the weighted budget
``sum_k w_k P_k(A_k) <= B`` (``w = 1, B = min(p_total, sum p_max)`` when the total cap can
bind, else ``w_k = 1 / p_max[k], B = K``: both hold at every feasible point) and price the
"each free subchannel at most once" constraints with ``pi_m >= 0``: every feasible point
has

    sum_k min_T (w_k P_k(F_k + T) + pi(T))  -  sum_m pi_m  <=  B,

so a deadline whose left side exceeds B is infeasible, for *any* prices (the dual of the
set-partitioning LP over per-client columns, a Dantzig-Wolfe bound). The time-sharing
relaxation (:mod:`.lagrange`) lets a client use a fraction of a subchannel; here the
column is a whole set, which captures that a client needing 2.04 subchannels at the cap
needs 3 (default scenario, K = 10, M = 40: the time-sharing bound is 4.3 % below the
best assignment, this one 1 %).

The pricing ``min_T w P(F + T) + pi(T)`` is bounded from below per size ``n = |T|`` by
convex duality of the water-filling: for a fixed set
``P(A) = max_mu (mu D - sum_{m in A} g_m(mu))`` with
``g_m(mu) = max_p (mu r_m(p) - p)`` (at most the water level's value), so

    min_{|T| = n} w P(F + T) + pi(T)  >=  max_mu [ w mu D - w sum_F g_m - top_n(w g_m - pi_m) ]

(any mu; the max is a concave problem, solved by bisection on its slope). Sizes whose n
best free subchannels cannot reach ``D_k`` at ``p_max[k]`` are skipped (the counting
argument of :func:`.bnb.count_infeasible`), sizes from ``n_min + NSIZES`` on share one
bound (the top ``n`` plus every positive term). The prices are optimised by a projected
subgradient step (Polyak's, towards B); validity never depends on them. Every rounding
errs low: the demands are deflated, each ``g`` inflated, each candidate value deflated in
proportion to its terms. Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .waterfill import max_rate_for_power

LN2 = math.log(2.0)
#: sizes n_min, ..., n_min + NSIZES - 1 are bounded one by one, larger ones together
NSIZES = 5
#: bisection steps of the multiplier mu (log space) per size
MU_STEPS = 26
#: subgradient steps without improvement after which the step is halved
STALL = 4
#: relative deflation of a candidate value (against its largest terms)
VAL_SAFE = 1e-11


@kernel
def _gr(inva, bw, mu, lcap):
    """``(g, r)``: an upper bound on ``max_p (mu r(p) - p)`` for one subchannel (W) and the
    rate (bit/s) at the maximiser (the water level ``mu / ln 2``, psd boxed at the cap)."""
    w = mu / LN2
    psd = w - inva
    if not psd > 0.0:
        return 1e-13 * bw * w + 1e-300, 0.0
    if lcap < math.inf:
        pc = inva * math.expm1(lcap * LN2)
        if psd >= pc:
            psd = pc
            x = lcap
        else:
            x = math.log1p(psd / inva) / LN2
    else:
        x = math.log1p(psd / inva) / LN2
    r = bw * x
    g = mu * r - bw * psd
    if g < 0.0:
        g = 0.0
    return g * (1.0 + 1e-12) + 1e-12 * bw * psd + 1e-13 * bw * w + 1e-300, r


@kernel
def gather_fixed(k, fixed, la, inva, bw, bla, binv, bbw):
    """Copy client k's fixed subchannels (``fixed[m] == k``) — their ``la``, ``inva`` and
    ``bw`` — to the front of the buffers ``bla``, ``binv``, ``bbw``; returns how many."""
    n = 0
    for m in range(fixed.size):
        if fixed[m] == k:
            bla[n] = la[k, m]
            binv[n] = inva[k, m]
            bbw[n] = bw[m]
            n += 1
    return n


@kernel
def client_min_size(k, la, inva, bw, fixed, D, pmax_k, gorder, equal_bw, lcap, bla, binv,
                    bbw, active):
    """Least number of free subchannels client k needs on top of its fixed ones to reach
    ``D`` at ``pmax_k`` (err towards feasible); -1 when no number suffices. With equal
    bandwidths its best n free ones (``gorder``: its gain order) are the best set of
    size n; otherwise each free subchannel's rate alone is an upper bound on its share."""
    K, M = la.shape
    n = gather_fixed(k, fixed, la, inva, bw, bla, binv, bbw)
    base = 0.0
    if n > 0:
        base, _ = max_rate_for_power(bla, binv, bbw, n, pmax_k, active, lcap)
    if base * (1.0 + 1e-12) >= D:
        return 0
    if equal_bw:
        extra = 0
        for j in range(M):
            m = gorder[k, j]
            if fixed[m] >= 0:
                continue
            bla[n] = la[k, m]
            binv[n] = inva[k, m]
            bbw[n] = bw[m]
            n += 1
            extra += 1
            r, _ = max_rate_for_power(bla, binv, bbw, n, pmax_k, active, lcap)
            if r * (1.0 + 1e-12) >= D:
                return extra
        return -1
    single = np.empty(M)
    ns = 0
    for m in range(M):
        if fixed[m] < 0:
            bla[0] = la[k, m]
            binv[0] = inva[k, m]
            bbw[0] = bw[m]
            single[ns], _ = max_rate_for_power(bla, binv, bbw, 1, pmax_k, active, lcap)
            ns += 1
    srt = np.sort(single[:ns])
    acc = base
    for j in range(ns - 1, -1, -1):
        acc += srt[j]
        if acc * (1.0 + 1e-12) >= D:
            return ns - j
    return -1


@kernel
def _eval_mu(k, inva, bw, fixed, mu, wk, pi, lcap, vals, rates, idx, nsel):
    """At multiplier mu: ``(gF, rF, nf)`` of client k's fixed set and, for its nf free
    subchannels, ``vals = w g - pi`` (``rates``, ``idx`` alike), the largest ``nsel``
    first in decreasing order (partial selection; the rest unordered)."""
    M = fixed.shape[0]
    gF = 0.0
    rF = 0.0
    nf = 0
    for m in range(M):
        g, r = _gr(inva[k, m], bw[m], mu, lcap)
        if fixed[m] == k:
            gF += g
            rF += r
        elif fixed[m] < 0:
            vals[nf] = wk * g - pi[m]
            rates[nf] = r
            idx[nf] = m
            nf += 1
    for j in range(min(nsel, nf)):
        b = j
        for q in range(j + 1, nf):
            if vals[q] > vals[b]:
                b = q
        if b != j:
            v = vals[j]
            vals[j] = vals[b]
            vals[b] = v
            r = rates[j]
            rates[j] = rates[b]
            rates[b] = r
            i = idx[j]
            idx[j] = idx[b]
            idx[b] = i
    return gF, rF, nf


@kernel
def client_price(k, la, inva, bw, fixed, D, wk, pi, nmin, lcap, use, vals, rates, idx):
    """``(bound, power)``: a lower bound on ``min_T w_k P_k(F_k + T) + pi(T)`` over the
    free sets T of size at least ``nmin`` (module doc), and the dual estimate of the
    minimising set's power (W); adds 1 to ``use[m]`` for the m of that set (a
    subgradient of the prices). inf when ``nmin < 0`` (no set suffices)."""
    M = fixed.shape[0]
    if nmin < 0:
        return math.inf, math.inf
    lo0 = math.inf
    hi0 = -math.inf
    bmin = math.inf
    for m in range(M):
        if fixed[m] < 0 or fixed[m] == k:
            v = math.log(LN2 * inva[k, m])
            lo0 = min(lo0, v)
            hi0 = max(hi0, v)
            bmin = min(bmin, bw[m])
    if not lo0 < math.inf:
        return math.inf, math.inf  # no subchannel at all (D > 0)
    lo0 -= 0.01
    hi0 += LN2 * min(lcap, D / bmin) + 0.5
    hi0 = min(hi0, 700.0)
    lo0 = max(lo0, -700.0)
    nfree = 0
    for m in range(M):
        if fixed[m] < 0:
            nfree += 1
    best = math.inf
    best_n = -1
    best_mu = 0.0
    top = min(nmin + NSIZES, nfree)
    for n in range(nmin, top + 1):
        tail = n == nmin + NSIZES  # sizes >= n together
        a = lo0
        b = hi0
        vmax = -math.inf
        vmu = 0.0
        for step in range(MU_STEPS + 1):
            lm = 0.5 * (a + b) if step < MU_STEPS else a
            mu = math.exp(lm)
            gF, rF, nf = _eval_mu(k, inva, bw, fixed, mu, wk, pi, lcap, vals, rates, idx, n)
            s = 0.0
            sr = 0.0
            sa = 0.0
            for j in range(nf):
                if j < n or (tail and vals[j] > 0.0):
                    s += vals[j]
                    sr += rates[j]
                    sa += abs(vals[j]) + pi[idx[j]]
            val = wk * mu * D - wk * gF - s
            val -= VAL_SAFE * (wk * mu * D + wk * gF + sa)
            if val > vmax:
                vmax = val
                vmu = mu
            if step < MU_STEPS:
                if D - rF - sr > 0.0:
                    a = lm
                else:
                    b = lm
        if vmax < best:
            best = vmax
            best_n = n
            best_mu = vmu
        if n >= nfree:
            break
    power = math.inf
    if best_n >= 0 and best < math.inf:
        tail = best_n == nmin + NSIZES
        gF, _, nf = _eval_mu(k, inva, bw, fixed, best_mu, wk, pi, lcap, vals, rates, idx,
                             best_n)
        power = best_mu * D - gF
        for j in range(nf):
            if j < best_n or (tail and vals[j] > 0.0):
                use[idx[j]] += 1.0
                power -= (vals[j] + pi[idx[j]]) / wk
    return best, power


@kernel
def set_weights(pmax, ptot):
    """``(w (K,), B)``: the budget of the relaxation (module doc)."""
    K = pmax.shape[0]
    s = 0.0
    for k in range(K):
        s += pmax[k]
    w = np.ones(K)
    if ptot < s:
        return w, ptot
    for k in range(K):
        w[k] = 1.0 / pmax[k]
    return w, float(K)


@kernel
def client_sizes(la, inva, bw, fixed, c, S, pmax, t, gorder, equal_bw, lcap):
    """(K,) least free-set sizes at deadline t (``client_min_size``); -1: unreachable
    (or t <= c_k)."""
    K, M = la.shape
    out = np.empty(K, dtype=np.int64)
    bla = np.empty(M)
    binv = np.empty(M)
    bbw = np.empty(M)
    active = np.empty(M, dtype=np.bool_)
    for k in range(K):
        d = t - c[k]
        if not d > 0.0:
            out[k] = -1
            continue
        out[k] = client_min_size(k, la, inva, bw, fixed, S / d, pmax[k], gorder, equal_bw,
                                 lcap, bla, binv, bbw, active)
    return out


@kernel
def set_dual_value(la, inva, bw, fixed, c, S, pmax, w, t, pi, nmin, lcap, use, power):
    """The certified left side at deadline t (module doc; inf when a client cannot reach
    its demand): ``sum_k price_k - sum_m pi_m - sum_k nu_k p_max[k]``, where the
    multipliers ``pi`` (M + K,) hold the prices and then ``nu_k p_max[k]`` (the
    per-client caps, moved into the column costs ``(w_k + nu_k) P_k``: valid as every
    column meeting its cap then costs at most ``w_k P_k``). ``use`` (M,) receives the
    minimising sets' subchannel counts, ``power`` (K,) their estimated powers (W)."""
    K, M = la.shape
    vals = np.empty(M)
    rates = np.empty(M)
    idx = np.empty(M, dtype=np.int64)
    for m in range(M):
        use[m] = 0.0
    tot = 0.0
    scale = 0.0
    for k in range(K):
        d = t - c[k]
        if not d > 0.0 or nmin[k] < 0:
            return math.inf
        D = S / d * (1.0 - 1e-12)
        nu = 0.0
        if pmax[k] < math.inf and pi[M + k] > 0.0:
            nu = pi[M + k] / pmax[k]
            tot -= pi[M + k]
            scale += pi[M + k]
        u, power[k] = client_price(k, la, inva, bw, fixed, D, w[k] + nu, pi, nmin[k], lcap,
                                   use, vals, rates, idx)
        if not u < math.inf:
            return math.inf
        tot += u
        scale += abs(u)
    for m in range(M):
        if fixed[m] < 0:
            tot -= pi[m]
            scale += pi[m]
    return tot - 1e-13 * (K + M) * scale


@kernel
def set_infeasible(la, inva, bw, fixed, c, S, pmax, ptot, t, pi, iters, gorder, equal_bw,
                   lcap):
    """Whether deadline t is certified infeasible for every completion of ``fixed``
    (module doc), optimising the multipliers ``pi`` (M + K,: the prices, then the caps'
    ``nu_k p_max[k]``; updated in place, kept >= 0) for up to ``iters`` subgradient
    steps. Returns ``(infeasible, best value - B)``."""
    K, M = la.shape
    w, B = set_weights(pmax, ptot)
    nmin = client_sizes(la, inva, bw, fixed, c, S, pmax, t, gorder, equal_bw, lcap)
    for k in range(K):
        if nmin[k] < 0:
            return True, math.inf
    if not B < math.inf:
        return False, -math.inf
    use = np.empty(M)
    power = np.empty(K)
    sub = np.empty(M + K)
    best = -math.inf
    best_pi = pi.copy()
    target = B * (1.0 + 1e-4) + 1e-300
    theta = 1.0
    stall = 0
    for it in range(iters + 1):
        v = set_dual_value(la, inva, bw, fixed, c, S, pmax, w, t, pi, nmin, lcap, use, power)
        if v != v:
            break  # NaN: give up (the best prices so far are kept)
        if v > best:
            best = v
            best_pi[:] = pi
            stall = 0
        else:
            stall += 1
            if stall >= STALL:  # Polyak's step with a damping that halves on a stall
                theta *= 0.5
                stall = 0
        if v > B:
            return True, v - B
        if it == iters:
            break
        nrm = 0.0
        for m in range(M):
            sub[m] = use[m] - 1.0 if fixed[m] < 0 else 0.0
        for k in range(K):
            # the cap's subgradient, relative (nu p_max is in the prices' units)
            x = (power[k] - pmax[k]) / pmax[k] if pmax[k] < math.inf else 0.0
            sub[M + k] = x if x == x and abs(x) < 1e6 else 0.0
        for i in range(M + K):
            if pi[i] <= 0.0 and sub[i] < 0.0:
                sub[i] = 0.0  # projected
            nrm += sub[i] * sub[i]
        if not nrm > 0.0:
            break
        step = theta * (target - v) / nrm
        for i in range(M + K):
            pi[i] = max(0.0, pi[i] + step * sub[i])
    pi[:] = best_pi
    return False, best - B


@kernel
def set_bisect(la, inva, bw, fixed, c, S, pmax, ptot, lo, hi, pi, rtol, gorder, equal_bw,
               lcap):
    """The largest deadline in ``[lo, hi]`` that the prices ``pi`` prove infeasible for
    every completion of ``fixed``, by bisection (for fixed prices the left side only
    falls as t grows), to the relative tolerance ``rtol``; ``lo`` when none (``lo``
    must itself be a valid bound)."""
    w, B = set_weights(pmax, ptot)
    K, M = la.shape
    use = np.empty(M)
    power = np.empty(K)
    a = lo
    b = hi
    for _ in range(80):
        if not b - a > rtol * b:
            break
        mid = 0.5 * (a + b)
        nmin = client_sizes(la, inva, bw, fixed, c, S, pmax, mid, gorder, equal_bw, lcap)
        v = set_dual_value(la, inva, bw, fixed, c, S, pmax, w, mid, pi, nmin, lcap, use,
                           power)
        if v > B:
            a = mid
        else:
            b = mid
    return a
