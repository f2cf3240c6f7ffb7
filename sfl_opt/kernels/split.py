"""Exact per-client cut layers for a fixed allocation (``split_mode="per_client"``).

With the allocation held (subchannels and psd, hence every rate) and the rank fixed, the
total delay of a split vector ``l = (l_1..l_K)`` is (docs/model.md, "Per-client cut
layers")::

    T(l) / rounds = I max_k a_k(l_k) + I max_k d_k(l_k) + max_k f_k(l_k) + max_k g(l_k)
                    + I sum_k w(l_k)

with ``a_k = TcF_k + S_up/Rs_k`` (the up stage), ``d_k = S_dn/Rd_k + TcB_k`` (the down
stage), ``f_k = S_ad(l)/Rf_k`` (adapter upload), ``g = S_ad(l)/rate_bcast`` (the
broadcast of the union of the client-side layers) and ``w = b Ws(l)/server_flops``. In
general: minimise ``sum_h lam_h max_k V[h, k, l_k] + sum_k W[k, l_k]`` over the
candidates ``l_k`` each client may hold (its memory cap).

**Thresholds.** Fix a threshold ``t_h`` for each max-term. Then the problem separates:
client k may take any candidate j with ``V[h, k, j] <= t_h`` for every h, and takes the
one of least ``W[k, j]``; call the result ``G(t) = sum_h lam_h t_h + sum_k min W``.
``G(t)`` is at least the delay of the vector it picks (each max is at most its
threshold), and at the thresholds equal to an optimal vector's maxima ``G`` is at most
the optimum. So ``min_t G(t)`` is the optimum, and ``G`` only changes where a threshold
crosses a value ``V[h, k, j]``: each threshold needs only the at most K·n values of its
own term (n candidates per client) — never the n^K vectors.

**Search.** :func:`best_split_vector` enumerates the thresholds level by level (the
heavy-weight terms first), each in increasing order from the least value that leaves
every client a candidate, and prunes with a separable lower bound: the fixed thresholds,
for every later term the least threshold that still leaves every client a candidate,
and every client's least ``W`` among the candidates still allowed. The last threshold
is a sweep: its values in increasing order, each client's least ``W`` updated as its
candidates become allowed (O(K·n) after one sort). Candidates of a term that an
earlier threshold already excludes are skipped, so are repeated values. Exact for every
input (no monotonicity assumed); tests compare it with enumeration of all n^K vectors.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel


@kernel
def _level_stats(V, W, alive, h0, tmin):
    """For the allowed candidates ``alive (K, n)``: ``tmin[i]`` (i >= h0) the least
    threshold of term i leaving each client one candidate; returns ``sum_k min W``
    (inf when a client has none)."""
    H, K, n = V.shape
    for i in range(h0, H):
        tmin[i] = -math.inf
    total = 0.0
    for k in range(K):
        wbest = math.inf
        for i in range(h0, H):
            lo = math.inf
            for j in range(n):
                if alive[k, j] and V[i, k, j] < lo:
                    lo = V[i, k, j]
            if lo > tmin[i]:
                tmin[i] = lo
        for j in range(n):
            if alive[k, j] and W[k, j] < wbest:
                wbest = W[k, j]
        total += wbest
    return total


@kernel
def _sweep(V, lam, W, alive, order, h, fixed, best_k, thr_out):
    """The last threshold h: the least ``fixed + lam_h t + sum_k min W`` over t; returns
    the value (inf if none) and writes its threshold to ``thr_out[h]``."""
    K = W.shape[0]
    n = W.shape[1]
    for k in range(K):
        best_k[k] = math.inf
    have = 0
    sumw = 0.0
    best = math.inf
    N = order.shape[0]
    q = 0
    while q < N:
        e = order[q]
        k = e // n
        j = e - k * n
        q += 1
        t = V[h, k, j]
        if alive[k, j]:
            wv = W[k, j]
            if best_k[k] == math.inf:
                have += 1
                best_k[k] = wv
                sumw += wv
            elif wv < best_k[k]:
                sumw += wv - best_k[k]
                best_k[k] = wv
        # evaluate once every entry with this value is in (G(t) is valid at any t)
        if q < N:
            e2 = order[q]
            k2 = e2 // n
            if V[h, k2, e2 - k2 * n] == t:
                continue
        if have == K:
            val = fixed + lam[h] * t + sumw
            if val < best:
                best = val
                thr_out[h] = t
    return best


@kernel
def _enter(V, lam, W, alive, h, tmin, cm, wm):
    """Start level h: reset its running minima; returns the part of the bound that does
    not depend on its threshold (every later term at its least threshold, every client's
    least W over ``alive``)."""
    H = V.shape[0]
    rest = _level_stats(V, W, alive, h, tmin)
    for i in range(h + 1, H):
        rest += lam[i] * tmin[i]
    for i in range(H):
        for k in range(cm.shape[1]):
            cm[i, k] = math.inf
    for k in range(wm.shape[0]):
        wm[k] = math.inf
    return rest


@kernel
def _child_bound(V, lam, W, alive, orders, h0, tmin, best_k, scratch):
    """A lower bound at level ``h0`` (thresholds before it fixed, ``alive`` the allowed
    candidates): for each later term i, term i solved exactly by a sweep with the other
    terms at their least thresholds; the largest of these."""
    H = V.shape[0]
    _level_stats(V, W, alive, h0, tmin)
    out = -math.inf
    for i in range(h0, H):
        other = 0.0
        for i2 in range(h0, H):
            if i2 != i:
                other += lam[i2] * tmin[i2]
        val = _sweep(V, lam, W, alive, orders[i], i, other, best_k, scratch)
        if val > out:
            out = val
    return out


@kernel
def best_split_vector(V, lam, W, feasible):
    """Least ``sum_h lam[h] max_k V[h, k, j_k] + sum_k W[k, j_k]`` over one candidate
    ``j_k`` per client with ``feasible[k, j_k]`` (module docstring).

    ``V (H, K, n)`` the per-client values of the H max-terms (finite where feasible),
    ``lam (H,)`` their weights (> 0), ``W (K, n)`` the separable cost, ``feasible (K,
    n)`` bool. Returns ``(value, choice (K,) int64, thresholds (H,), nodes)``; value
    ``inf`` and choice -1 when some client has no feasible candidate. The value is
    exact; ``choice`` attains it (ties broken towards the lower index).
    """
    val, choice, thr, nodes, _ = best_split_vector_budget(V, lam, W, feasible, -1)
    return val, choice, thr, nodes


@kernel
def best_split_vector_budget(V, lam, W, feasible, max_work):
    """:func:`best_split_vector` that stops once it has done ``max_work`` units of work
    (one unit: one client visited in an inner loop; ``max_work <= 0``: no cap) and has
    a vector. Returns ``(value, choice, thresholds, nodes, work)``; ``work >= max_work
    > 0`` means it stopped early: ``choice`` is then a valid vector of objective at most
    ``value`` (the least found), not proven the least."""
    H, K, n = V.shape
    choice = -np.ones(K, dtype=np.int64)
    thr_best = np.full(H, math.inf)
    work = 0
    for k in range(K):
        ok = False
        for j in range(n):
            if feasible[k, j]:
                ok = True
        if not ok:
            return math.inf, choice, thr_best, 0, work
    N = K * n
    orders = np.empty((H, N), dtype=np.int64)
    for h in range(H):
        orders[h] = np.argsort(V[h].ravel(), kind="mergesort")
    alive = np.zeros((H, K, n), dtype=np.bool_)
    alive[0] = feasible
    tmin = np.empty(H)
    cm = np.empty((H, H, K))      # cm[h, i, k]: least V[i, k, .] admitted so far at level h
    wm = np.empty((H, K))         # wm[h, k]: least W[k, .] admitted so far at level h
    cnt = np.zeros(H, dtype=np.int64)
    rest = np.zeros(H)
    pos = np.zeros(H, dtype=np.int64)
    thr = np.full(H, math.inf)
    fixed = np.zeros(H + 1)       # fixed[h]: sum_{i<h} lam_i thr_i
    best_k = np.empty(K)
    scratch = np.full(H, math.inf)
    best = math.inf
    nodes = 0
    h = 0
    rest[0] = _enter(V, lam, W, alive[0], 0, tmin, cm[0], wm[0])
    stop = False
    while h >= 0 and not stop:
        nodes += 1
        if h == H - 1:
            work += N
            val = _sweep(V, lam, W, alive[h], orders[h], h, fixed[h], best_k, scratch)
            if val < best:
                best = val
                for i in range(h):
                    thr_best[i] = thr[i]
                thr_best[h] = scratch[h]
            h -= 1
            continue
        descended = False
        changed = False
        while pos[h] < N:
            e = orders[h, pos[h]]
            pos[h] += 1
            k = e // n
            j = e - k * n
            t = V[h, k, j]
            if alive[h, k, j]:
                changed = True
                if wm[h, k] == math.inf:
                    cnt[h] += 1
                if W[k, j] < wm[h, k]:
                    wm[h, k] = W[k, j]
                for i in range(h + 1, H):
                    if V[i, k, j] < cm[h, i, k]:
                        cm[h, i, k] = V[i, k, j]
            if pos[h] < N:
                e2 = orders[h, pos[h]]
                k2 = e2 // n
                if V[h, k2, e2 - k2 * n] == t:
                    continue
            if cnt[h] < K or not changed:
                continue
            changed = False
            if fixed[h] + lam[h] * t + rest[h] >= best:
                pos[h] = N  # larger thresholds only cost more
                break
            work += K * (H - h)
            if max_work > 0 and work >= max_work and best < math.inf:
                stop = True
                break
            lb = fixed[h] + lam[h] * t
            for kk in range(K):
                lb += wm[h, kk]
            for i in range(h + 1, H):
                m = -math.inf
                for kk in range(K):
                    if cm[h, i, kk] > m:
                        m = cm[h, i, kk]
                lb += lam[i] * m
            if lb >= best:
                continue
            for kk in range(K):
                for jj in range(n):
                    alive[h + 1, kk, jj] = alive[h, kk, jj] and V[h, kk, jj] <= t
            fixed[h + 1] = fixed[h] + lam[h] * t
            work += (H + 1) * K * n
            if h + 1 < H - 1:
                if fixed[h + 1] + _child_bound(V, lam, W, alive[h + 1], orders, h + 1, tmin,
                                               best_k, scratch) >= best:
                    continue
            thr[h] = t
            h += 1
            pos[h] = 0
            cnt[h] = 0
            rest[h] = _enter(V, lam, W, alive[h], h, tmin, cm[h], wm[h])
            descended = True
            break
        if not descended:
            h -= 1
    if best == math.inf:
        return best, choice, thr_best, nodes, work
    # each client: the least W among the candidates within every threshold
    for k in range(K):
        wbest = math.inf
        for j in range(n):
            if not feasible[k, j]:
                continue
            ok = True
            for i in range(H):
                if V[i, k, j] > thr_best[i]:
                    ok = False
            if ok and W[k, j] < wbest:
                wbest = W[k, j]
                choice[k] = j
    return best, choice, thr_best, nodes, work


@kernel
def vector_objective(V, lam, W, choice):
    """``sum_h lam[h] max_k V[h, k, choice_k] + sum_k W[k, choice_k]`` of one vector."""
    H, K, _ = V.shape
    val = 0.0
    for h in range(H):
        m = -math.inf
        for k in range(K):
            if V[h, k, choice[k]] > m:
                m = V[h, k, choice[k]]
        val += lam[h] * m
    for k in range(K):
        val += W[k, choice[k]]
    return val


__all__ = ["best_split_vector", "best_split_vector_budget", "vector_objective"]
