"""Branch-and-bound pieces for the exact subchannel assignment of one link.

- :func:`branch_order`: the order in which subchannels are fixed (strongest first);
- :func:`symmetry_classes`: identical subchannels (same bandwidth and gains) and
  identical clients (same fixed delay, cap and gains), used to break symmetry;
- :func:`child_allowed`: whether a child (subchannel m to client k) survives symmetry
  breaking and the "every client gets a subchannel" counting argument;
- :func:`branch_choice`: the most contested free subchannel at the node's multipliers, or
  the one of largest regret;
- :func:`count_infeasible`: a counting test (whole subchannels per client) that
  captures integrality the relaxation ignores;
- :func:`power_count_infeasible`: the same with the total cap (a small DP);
- :func:`node_bound`: the native Lagrangian bound (:mod:`.lagrange`) of a partial
  assignment, warm-started from the parent's multipliers.

Every function that computes rates takes the spectral-efficiency cap ``lcap`` (log2(1 +
SNR) per subchannel, :mod:`.waterfill`; inf: none). Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .columns import client_min_size, gather_fixed
from .lagrange import LN2, ZMAX, link_dual_bound, phi_upper
from .waterfill import min_power_for_rate


@kernel
def branch_order(la, bw):
    """Subchannels by decreasing best rate potential ``bw_m max_k la_km`` (bit/s per
    unit log2 SNR); ties broken by index, so identical subchannels end up adjacent."""
    K, M = la.shape
    key = np.empty(M)
    for m in range(M):
        b = la[0, m]
        for k in range(1, K):
            if la[k, m] > b:
                b = la[k, m]
        key[m] = -bw[m] * max(b, 1e-300)
    return np.argsort(key, kind="mergesort")


@kernel
def symmetry_classes(la, bw, c, pmax):
    """``(sub_prev (M,), cli_prev (K,))``: for each subchannel the previous identical one in
    index order (-1 if none), for each client the previous identical client (-1)."""
    K, M = la.shape
    sub_prev = -np.ones(M, dtype=np.int64)
    for m in range(M):
        for q in range(m - 1, -1, -1):
            if bw[q] != bw[m]:
                continue
            same = True
            for k in range(K):
                if la[k, q] != la[k, m]:
                    same = False
                    break
            if same:
                sub_prev[m] = q
                break
    cli_prev = -np.ones(K, dtype=np.int64)
    for k in range(K):
        for j in range(k - 1, -1, -1):
            if c[j] != c[k] or pmax[j] != pmax[k]:
                continue
            same = True
            for m in range(M):
                if la[j, m] != la[k, m]:
                    same = False
                    break
            if same:
                cli_prev[k] = j
                break
    return sub_prev, cli_prev


@kernel
def child_allowed(fixed, count, m, k, sub_prev, cli_prev):
    """Whether fixing subchannel m to client k (m free in ``fixed``) keeps a node that
    still has a canonical completion.

    Canonical form (valid because relabelling identical subchannels or identical clients
    maps solutions onto solutions of the same value; both are lex-leader conditions for
    the same index order, so they hold together for the lexicographically least member
    of every orbit): within a group of identical subchannels the owners do not decrease
    with the index; of two identical clients j < k, j owns the smaller least index.
    Counting: the clients still without a subchannel must fit into the free ones.
    """
    K = count.shape[0]
    M = fixed.shape[0]
    # identical subchannels: owners non-decreasing in index within the group
    q = sub_prev[m]
    while q >= 0:
        if fixed[q] >= 0 and fixed[q] > k:
            return False
        q = sub_prev[q]
    for q in range(m + 1, M):
        if fixed[q] >= 0 and fixed[q] < k:
            r = sub_prev[q]
            while r >= 0 and r != m:
                r = sub_prev[r]
            if r == m:
                return False
    # counting (after the fix)
    empty = 0
    free_after = 0
    for i in range(K):
        if count[i] == 0 and i != k:
            empty += 1
    for i in range(M):
        if fixed[i] < 0 and i != m:
            free_after += 1
    if empty > free_after:
        return False
    # identical clients: for j = cli_prev[k2], some index below k2's least one must be
    # j's or still free
    for k2 in range(K):
        j = cli_prev[k2]
        if j < 0:
            continue
        least = M
        for i in range(M):
            o = k if i == m else fixed[i]
            if o == k2:
                least = i
                break
        if least == M:
            continue
        ok = False
        for i in range(least):
            o = k if i == m else fixed[i]
            if o == j or o < 0:
                ok = True
                break
        if not ok:
            return False
    return True


@kernel
def branch_choice(inva, bw, fixed, z, pmax, ptot, forced, lcap=math.inf, regret=False):
    """The free subchannel to branch on and its clients in the order to try.

    At the node's multipliers z (see :mod:`.lagrange`), the time-sharing relaxation gives
    subchannel m to the client with the largest dual term ``h_km``; a subchannel is
    *contested* when its second-largest term is close to its largest (there the relaxed
    optimum shares it). Returns ``(m, clients by decreasing h_km)``; m = -1 when no
    subchannel is free. ``forced`` >= 0 picks that subchannel instead. With ``regret``
    the subchannel of largest *regret* ``top1 - top2`` (of the terms ``bw_m h_km``) is
    taken instead: the dual value lost when m goes to any but its favourite, so every
    such child's bound rises at the parent's multipliers and the favourite alone keeps
    the parent's bound; m = -1 when every free subchannel's regret is 0 (no assignment
    moves the bound)."""
    K, M = inva.shape
    lam = 0.0
    s = 0.0
    for k in range(K):
        s += pmax[k]
    if ptot < s:
        lam = math.exp(min(max(z[2 * K], -ZMAX), ZMAX))
    h = np.empty(K)
    best_m = -1
    best_score = -1.0
    for m in range(M):
        if fixed[m] >= 0 or (forced >= 0 and m != forced):
            continue
        top1 = 0.0
        top2 = 0.0
        for k in range(K):
            mu = math.exp(min(max(z[k], -ZMAX), ZMAX))
            nu = math.exp(min(max(z[K + k], -ZMAX), ZMAX))
            x = mu / ((nu + lam) * LN2 * inva[k, m])
            v = bw[m] * mu * phi_upper(x, lcap) if x > 1.0 else 0.0
            if v > top1:
                top2 = top1
                top1 = v
            elif v > top2:
                top2 = v
        if regret:
            score = top1 - top2  # (the terms carry bw[m])
            if not score > 0.0:
                continue
        else:
            score = top2 / top1 if top1 > 0.0 else 0.0
        if score > best_score:
            best_score = score
            best_m = m
    if best_m < 0:
        return best_m, np.arange(K)
    for k in range(K):
        mu = math.exp(min(max(z[k], -ZMAX), ZMAX))
        nu = math.exp(min(max(z[K + k], -ZMAX), ZMAX))
        x = mu / ((nu + lam) * LN2 * inva[k, best_m])
        h[k] = mu * phi_upper(x, lcap) if x > 1.0 else -1.0 / x
    return best_m, np.argsort(-h, kind="mergesort")


@kernel
def node_bound(la, inva, bw, fixed, c, S, pmax, ptot, z, max_iter, target, lcap=math.inf):
    """Native bound (s) of a partial assignment (see :func:`.lagrange.link_dual_bound`);
    ``z`` is updated in place."""
    return link_dual_bound(la, inva, bw, fixed, c, S, pmax, ptot, z, max_iter, target, lcap)


@kernel
def count_infeasible(la, inva, bw, fixed, c, S, pmax, t, order, equal_bw, lcap=math.inf):
    """Whether no completion of ``fixed`` meets deadline t, by counting whole subchannels.

    Client k needs rate ``D_k = S / (t - c_k)`` at power ``p_max[k]`` (the total cap only
    lowers rates). Let n_k be the least number of free subchannels that, added to its
    fixed ones, can reach D_k: with equal bandwidths the best n-subset is the n
    strongest (``order``: each client's subchannels by decreasing gain) and its rate is
    water-filling over them; otherwise the rate of any n-subset is bounded by
    ``R(fixed) + sum of the n largest single-subchannel rates at p_max`` (the rate is
    subadditive in the set and increasing in the power). The free subchannels go to one
    client each, so ``sum_k n_k > #free`` (or an unreachable D_k) proves infeasibility
    — integrality that the time-sharing relaxation ignores."""
    K, M = la.shape
    nfree = 0
    for m in range(M):
        if fixed[m] < 0:
            nfree += 1
    active = np.empty(M, dtype=np.bool_)
    bla = np.empty(M)
    binv = np.empty(M)
    bbw = np.empty(M)
    total = 0
    for k in range(K):
        d = t - c[k]
        if not d > 0.0:
            return True
        extra = client_min_size(k, la, inva, bw, fixed, S / d, pmax[k], order, equal_bw,
                                lcap, bla, binv, bbw, active)
        if extra < 0:
            return True
        total += extra
        if total > nfree:
            return True
    return False


@kernel
def power_count_infeasible(la, inva, bw, fixed, c, S, pmax, ptot, t, order, lcap=math.inf):
    """The counting test with the total cap (equal bandwidths only): ``P_k(n)``, the least
    power at which client k reaches ``D_k(t)`` with its fixed subchannels and the n
    strongest free ones, is a lower bound on its power with *any* n free ones; if even
    the cheapest split ``min sum_k P_k(n_k)`` over ``sum_k n_k <= #free`` (a small
    dynamic programme) exceeds ``p_total``, or every split breaks a ``p_max``, no
    completion meets t. Powers are rounded towards feasible."""
    K, M = la.shape
    nfree = 0
    for m in range(M):
        if fixed[m] < 0:
            nfree += 1
    active = np.empty(M, dtype=np.bool_)
    bla = np.empty(M)
    binv = np.empty(M)
    bbw = np.empty(M)
    best = np.full(nfree + 1, math.inf)
    best[0] = 0.0
    new = np.empty(nfree + 1)
    pk = np.empty(nfree + 1)
    for k in range(K):
        d = t - c[k]
        if not d > 0.0:
            return True
        need = S / d
        n = gather_fixed(k, fixed, la, inva, bw, bla, binv, bbw)
        j = 0
        for q in range(M + 1):
            # pk[j]: least power with j extra subchannels (the j strongest free ones)
            if j > nfree:
                break
            if q > 0:
                m = order[k, q - 1]
                if fixed[m] >= 0:
                    continue
                bla[n] = la[k, m]
                binv[n] = inva[k, m]
                bbw[n] = bw[m]
                n += 1
            if n == 0:
                pk[j] = math.inf
            else:
                p, _ = min_power_for_rate(bla, binv, bbw, n, need, active, lcap)
                p *= 1.0 - 1e-12  # rounding: err towards feasible
                pk[j] = p if p <= pmax[k] else math.inf
            j += 1
        for j2 in range(j, nfree + 1):
            pk[j2] = pk[j - 1] if j > 0 else math.inf
        for a in range(nfree + 1):
            v = math.inf
            for e in range(a + 1):
                x = best[a - e] + pk[e]
                if x < v:
                    v = x
            new[a] = v
        for a in range(nfree + 1):
            best[a] = new[a]
    lo = math.inf
    for a in range(nfree + 1):
        if best[a] < lo:
            lo = best[a]
    return lo > ptot
