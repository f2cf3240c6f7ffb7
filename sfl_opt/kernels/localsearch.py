"""Move/swap local search of a subchannel assignment with incremental evaluation.

Moves hand one subchannel to another client (the giver keeps at least one); swaps
exchange two subchannels between two clients. At the current optimal deadline t of the
assignment, ``phi = max(max_k P_k(t) / p_max[k], sum_k P_k(t) / p_total)`` with P_k(t)
the least power of client k (phi = 1 at the optimum: some cap is tight). A change lowers
the optimal deadline iff it makes every cap slack at t (its phi < 1); only the two
clients it touches change their P_k.

State kept across changes (the *incremental* part), as arrays (Numba has no structs):
every client's member list (``mem``, ``cnt``, ``pos``), the rate it needs at t
(``rate``, bit/s), its least power (``need``, W), water level (``level``, W/Hz) and cap
ratio, its own best deadline at p_max (``tk``, s), the total need (``tot``) and the
three largest ratios (``top``). Applying a change updates the two clients it touches;
the full state is rebuilt only when t is re-solved. Move evaluations are cached — a
client's need with a subchannel added (``got``), an owner's need and level without one
(``wo_need``, ``wo_level``) — and stay valid while the client is unchanged: every change
gives it a fresh version stamp (``ver``). A scan never evaluates a candidate that
provably cannot improve:

* *binding clients*: when the total cap is slack and a single client's cap binds, every
  improving change involves that client, so only its changes are scanned;
* *dirty clients*: while the total cap binds (phi = total / p_total), a move improves iff
  it saves more than ``tol * p_total``, a test on its two clients alone, and every other
  test only gets harder as phi falls; so after a full move scan found nothing at this t,
  later scans try only moves from or to the clients changed since (``dirty``, while at
  most K/4; forgotten when t is re-solved or the total cap stops binding);
* *water level*: a client whose level is below ``1/a`` of a subchannel it would receive
  leaves it unused (no gain);
* *gain bound*: at level w, adding a subchannel of bandwidth b and ``inva = 1/a`` saves at
  most ``b (w ln(w inva^-1) - w + inva)`` W (the tangent of the convex P(R) at the current
  rate, against the single-subchannel power ``b inva (2^(x/b) - 1)`` for rate x), so a
  receiver is water-filled only if the bound can beat the required saving;
* *swaps*: if a side would leave what it receives unused, the swap is no better than the
  other side's move alone, which did not improve (moves are scanned first), so only
  partners the receiving client would use are scanned (see ``_swap_candidate_ok``).

The scan is cyclic first-improvement: subchannels are visited from where the last
accepted change left off, the best change of a subchannel is applied if it lowers phi
by more than ``tol``; swaps are scanned only when no move improves. While the total cap
binds, t is re-solved only when nothing improves any more; while a client's own cap
binds, after every change (closed form). Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import inline_kernel, kernel
from .power import power_control
from .waterfill import max_rate_for_power, min_power_for_rate

#: relative safety margin of the gain bound against rounding
BOUND_SLACK = 1e-9
#: a client's rate within this (relative) of its set's spectral-efficiency cap is at it
#: (it binds; a change that leaves a client there is not an improvement)
CAP_MARGIN = 1e-9


@kernel
def _members(assign, K):
    """Member lists: ``mem[k, :cnt[k]]`` the subchannels of client k, ``pos[m]`` the index
    of m in its owner's list."""
    M = assign.shape[0]
    mem = np.empty((K, M), dtype=np.int64)
    cnt = np.zeros(K, dtype=np.int64)
    pos = np.empty(M, dtype=np.int64)
    for m in range(M):
        k = assign[m]
        mem[k, cnt[k]] = m
        pos[m] = cnt[k]
        cnt[k] += 1
    return mem, cnt, pos


@inline_kernel
def _hand_over(mem, cnt, pos, assign, m, j):
    """Move subchannel m from its owner to client j in the member lists."""
    i = assign[m]
    last = mem[i, cnt[i] - 1]
    mem[i, pos[m]] = last
    pos[last] = pos[m]
    cnt[i] -= 1
    mem[j, cnt[j]] = m
    pos[m] = cnt[j]
    cnt[j] += 1
    assign[m] = j


@inline_kernel
def _need_with(la, inva, bw, mem, cnt, k, skip, add, rate, buf_la, buf_inv, buf_bw, active, lcap,
               margin=0.0):
    """``(power, level)`` of client k for ``rate`` with its members minus ``skip`` plus
    ``add`` (either may be -1); power inf when the set is empty, and (``margin`` > 0,
    the changes a scan evaluates) when ``rate`` is within ``margin`` (relative) of the
    set's spectral-efficiency cap: such a client would bind at the cap, however little
    power it needs, so the change cannot lower the deadline."""
    n = 0
    for q in range(cnt[k]):
        m = mem[k, q]
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
        return math.inf, math.inf
    if margin > 0.0 and lcap < math.inf:
        band = 0.0
        for q in range(n):
            band += buf_bw[q]
        if rate >= lcap * band * (1.0 - margin):
            return math.inf, math.inf
    return min_power_for_rate(buf_la, buf_inv, buf_bw, n, rate, active, lcap)


@inline_kernel
def _gain_bound(b, level, inv):
    """Upper bound (W) on the power a client at water level ``level`` saves by receiving
    a subchannel of bandwidth ``b`` Hz and ``inva = inv`` (0 when it would stay unused)."""
    if level <= inv:
        return 0.0
    if level == math.inf:
        return math.inf
    return b * (level * math.log(level / inv) - level + inv) * (1.0 + BOUND_SLACK)


@inline_kernel
def _top3(ratio, top):
    """Indices of the three largest ratios into ``top`` (-1 when K < 3)."""
    for q in range(3):
        top[q] = -1
    for k in range(ratio.shape[0]):
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


@inline_kernel
def _max_excluding(ratio, top, i, j):
    """Largest ratio among the clients other than i and j."""
    for q in range(top.shape[0]):
        k = top[q]
        if k >= 0 and k != i and k != j:
            return ratio[k]
    return 0.0


@inline_kernel
def _phi_after(base, new_i, new_j, i, j, need, pmax, total, ptot):
    """phi after clients i and j change their least power to new_i and new_j (W);
    ``base`` is the largest cap ratio of the other clients."""
    phi = max(base, new_i / pmax[i], new_j / pmax[j])
    if ptot < math.inf:
        phi = max(phi, (total - need[i] - need[j] + new_i + new_j) / ptot)
    return phi


@inline_kernel
def _set_client(la, inva, bw, mem, cnt, k, pmax, rate, need, level, ratio, tot, ver, bufs_la,
                bufs_inv, bufs_bw, active, lcap):
    """Recompute client k's need, level and ratio at its rate; keep the total in step and
    invalidate what is cached about k (a fresh stamp ``ver[k]``; ``ver[K]`` counts).
    A client whose rate is at the spectral-efficiency cap of its set (``lcap`` times its
    bandwidth) binds like one at its power cap (ratio at least 1): only more bandwidth
    lets it go faster, whatever power is left."""
    p, w = _need_with(la, inva, bw, mem, cnt, k, -1, -1, rate[k], bufs_la, bufs_inv, bufs_bw,
                      active, lcap)
    tot[0] += p - need[k]
    K = need.shape[0]
    ver[K] += 1  # a stamp never used before, so no stale cache entry can match it
    ver[k] = ver[K]
    need[k] = p
    level[k] = w
    ratio[k] = p / pmax[k]
    if lcap < math.inf and ratio[k] < 1.0:
        band = 0.0
        for q in range(cnt[k]):
            band += bw[mem[k, q]]
        if rate[k] >= lcap * band * (1.0 - CAP_MARGIN):
            ratio[k] = 1.0


@kernel
def _refresh(la, inva, bw, mem, cnt, c, S, t, pmax, rate, need, level, ratio, tot, top, ver,
             buf_la, buf_inv, buf_bw, active, lcap):
    """Rebuild the whole state at a new deadline t."""
    K = c.shape[0]
    tot[0] = 0.0
    for k in range(K):
        rate[k] = S / (t - c[k])
        need[k] = 0.0
        _set_client(la, inva, bw, mem, cnt, k, pmax, rate, need, level, ratio, tot, ver,
                    buf_la, buf_inv, buf_bw, active, lcap)
    tot[0] = 0.0
    for k in range(K):
        tot[0] += need[k]
    _top3(ratio, top)


@inline_kernel
def _phi_now(ratio, top, tot, ptot):
    phi = ratio[top[0]]
    if ptot < math.inf and tot[0] / ptot > phi:
        phi = tot[0] / ptot
    return phi


@inline_kernel
def _the_binding_client(ratio, top, tot, ptot, threshold):
    """The one client every improving change must involve, or -1 when there is none
    (the total cap binds, or two clients bind)."""
    if ptot < math.inf and tot[0] / ptot >= threshold:
        return -1
    if top[1] >= 0 and ratio[top[1]] >= threshold:
        return -1
    return top[0]


@inline_kernel
def _best_receiver(la, inva, bw, mem, cnt, m, i, j_only, cands, n_cands, new_i, best_phi,
                   rate, need,
                   level, ratio, top, tot, pmax, ptot, ver, got, got_ver, buf_la, buf_inv,
                   buf_bw, active, lcap):
    """Best client to receive subchannel m from i (``j_only`` >= 0 restricts it to one):
    ``(j, phi)``, j = -1 when none beats ``best_phi``. ``got[m, j]`` caches client j's
    need with m added, valid while ``got_ver[m, j] == ver[j]``."""
    K = la.shape[0]
    best_j = -1
    lo = 0 if j_only < 0 else j_only
    hi = K if j_only < 0 else j_only + 1
    n_loop = hi - lo if n_cands < 0 else n_cands
    for q in range(n_loop):
        j = lo + q if n_cands < 0 else cands[q]
        if j == i:
            continue
        base = _max_excluding(ratio, top, i, j)
        if base >= best_phi:
            continue
        if got_ver[m, j] == ver[j]:
            new_j = got[m, j]
        else:
            ub = _gain_bound(bw[m], level[j], inva[j, m])
            if ub <= 0.0:
                continue  # m would stay unused by j at its current level: no gain
            if (need[j] - ub) / pmax[j] >= best_phi:
                continue
            if ptot < math.inf and (tot[0] - need[i] + new_i - ub) / ptot >= best_phi:
                continue
            new_j, _ = _need_with(la, inva, bw, mem, cnt, j, -1, m, rate[j], buf_la, buf_inv,
                                  buf_bw, active, lcap, CAP_MARGIN)
            got[m, j] = new_j
            got_ver[m, j] = ver[j]
        phi = _phi_after(base, new_i, new_j, i, j, need, pmax, tot[0], ptot)
        if phi < best_phi:
            best_phi = phi
            best_j = j
    return best_j, best_phi


@kernel
def _scan_moves(la, inva, bw, assign, mem, cnt, start_pos, threshold, rate, need, level,
                ratio, top, tot, pmax, ptot, ver, wo_need, wo_level, wo_ver, got, got_ver,
                buf_la, buf_inv, buf_bw, active, dirty, dlist, n_dirty, lcap):
    """First improving move from subchannel ``start_pos`` on: ``(m, j)`` or (-1, -1).
    ``wo_need[m]`` caches the owner's need without m (:func:`_ensure_without`)."""
    M = assign.shape[0]
    must = _the_binding_client(ratio, top, tot, ptot, threshold)
    for step in range(M):
        m = (start_pos + step) % M
        i = assign[m]
        if cnt[i] < 2:
            continue
        j_only = -1
        if must >= 0 and i != must:
            j_only = must  # the binding client must receive
            if inva[must, m] >= level[must]:
                continue
        _ensure_without(la, inva, bw, assign, mem, cnt, rate, m, ver, wo_need, wo_level,
                        wo_ver, buf_la, buf_inv, buf_bw, active, lcap)
        new_i = wo_need[m]
        if new_i / pmax[i] >= threshold:
            continue
        n_cands = -1  # every receiver, or (n_dirty >= 0) only the dirty clients
        if n_dirty >= 0 and not dirty[i]:
            if n_dirty == 0:
                continue
            n_cands = n_dirty
        j, _ = _best_receiver(la, inva, bw, mem, cnt, m, i, j_only, dlist, n_cands, new_i,
                              threshold, rate,
                              need, level, ratio, top, tot, pmax, ptot, ver, got, got_ver,
                              buf_la, buf_inv, buf_bw, active, lcap)
        if j >= 0:
            return m, j
    return -1, -1


@inline_kernel
def _ensure_without(la, inva, bw, assign, mem, cnt, rate, m, ver, wo_need, wo_level, wo_ver,
                    buf_la, buf_inv, buf_bw, active, lcap):
    """Make ``wo_need[m]``, ``wo_level[m]`` (the owner's need, W, and level without m)
    current: recomputed only when the owner changed since (``wo_ver[m] != ver[owner]``)."""
    i = assign[m]
    if wo_ver[m] != ver[i]:
        wo_need[m], wo_level[m] = _need_with(la, inva, bw, mem, cnt, i, m, -1, rate[i],
                                             buf_la, buf_inv, buf_bw, active, lcap,
                                             CAP_MARGIN)
        wo_ver[m] = ver[i]


@inline_kernel
def _swap_candidate_ok(bw, la, inva, m, m2, i, j, best_phi, cnt, need, ratio, top, tot,
                       pmax, ptot, wo_need, wo_level):
    """Cheap tests that a swap of m (client i) and m2 (client j) might beat ``best_phi``.

    Swaps are scanned only when no move improves. If j would leave m unused (at its level
    without m2, ``inva[j, m] >= wo_level[m2]``), the swap is no better than the move of
    m2 to i alone (j ends the same, i keeps m as well), which did not improve: skip it
    unless that move was barred (j holds only m2). Likewise for i.
    """
    if inva[j, m] >= wo_level[m2] and cnt[j] >= 2:
        return False
    if inva[i, m2] >= wo_level[m] and cnt[i] >= 2:
        return False
    lb_i = 0.0  # a lower bound on i's need after the swap, W
    if wo_need[m] < math.inf:  # (inf when m is i's only subchannel)
        lb_i = max(0.0, wo_need[m] - _gain_bound(bw[m2], wo_level[m], inva[i, m2]))
    if lb_i / pmax[i] >= best_phi:
        return False
    lb_j = 0.0
    if wo_need[m2] < math.inf:
        lb_j = max(0.0, wo_need[m2] - _gain_bound(bw[m], wo_level[m2], inva[j, m]))
    if lb_j / pmax[j] >= best_phi:
        return False
    if ptot < math.inf and (tot[0] - need[i] - need[j] + lb_i + lb_j) / ptot >= best_phi:
        return False
    return True


@inline_kernel
def _useful_partners(inva, assign, mem, cnt, i, wo_level, useful, n_useful):
    """List in ``useful[i, :n_useful[i]]`` (by index) the subchannels of other clients that
    client i would use in place of some member: ``inva[i, m2] < wo_level[m]`` for an m it
    holds (``wo_level[m]``: its level without m)."""
    M = assign.shape[0]
    thr = 0.0
    for q in range(cnt[i]):
        x = wo_level[mem[i, q]]  # made current by the caller
        if x > thr:
            thr = x
    n = 0
    for m2 in range(M):
        if assign[m2] != i and inva[i, m2] < thr:
            useful[i, n] = m2
            n += 1
    n_useful[i] = n


@kernel
def _scan_swaps(la, inva, bw, assign, mem, cnt, start_pos, threshold, rate, need, level,
                ratio, top, tot, pmax, ptot, ver, wo_need, wo_level, wo_ver, useful, n_useful,
                buf_la, buf_inv, buf_bw, active, lcap):
    """First subchannel (from ``start_pos``) with an improving swap, and its best partner:
    ``(m, m2)`` or (-1, -1).

    Partners of m (client i), in index order: the binding client's subchannels when one
    client must be involved and it is not i; every subchannel when i holds only m (it
    cannot give m away by a move); else the subchannels i would use
    (:func:`_useful_partners`, built once per scan and client, when first needed).
    """
    K, M = la.shape
    must = _the_binding_client(ratio, top, tot, ptot, threshold)
    for k in range(K):
        n_useful[k] = -1  # not built in this scan yet
    for step in range(M):
        m = (start_pos + step) % M
        i = assign[m]
        best_phi = threshold
        best_m2 = -1
        _ensure_without(la, inva, bw, assign, mem, cnt, rate, m, ver, wo_need, wo_level,
                        wo_ver, buf_la, buf_inv, buf_bw, active, lcap)
        mode = 0  # 0: every subchannel, 1: the binding client's, 2: i's useful partners
        n_part = M
        if must >= 0 and i != must:
            mode = 1
            n_part = cnt[must]
        elif cnt[i] >= 2:
            mode = 2
            if n_useful[i] < 0:
                for q in range(cnt[i]):
                    _ensure_without(la, inva, bw, assign, mem, cnt, rate, mem[i, q], ver,
                                    wo_need, wo_level, wo_ver, buf_la, buf_inv, buf_bw, active,
                                    lcap)
                _useful_partners(inva, assign, mem, cnt, i, wo_level, useful, n_useful)
            n_part = n_useful[i]
        for q in range(n_part):
            if mode == 0:
                m2 = q
            elif mode == 1:
                m2 = mem[must, q]
            else:
                m2 = useful[i, q]
            j = assign[m2]
            if j == i or m2 == m:
                continue
            if bw[m] == bw[m2] and la[i, m2] <= la[i, m] and la[j, m] <= la[j, m2]:
                continue  # neither client gets a better subchannel
            if _max_excluding(ratio, top, i, j) >= best_phi:
                continue  # another client's cap binds
            _ensure_without(la, inva, bw, assign, mem, cnt, rate, m2, ver, wo_need, wo_level,
                            wo_ver, buf_la, buf_inv, buf_bw, active, lcap)
            if not _swap_candidate_ok(bw, la, inva, m, m2, i, j, best_phi, cnt, need, ratio,
                                      top, tot, pmax, ptot, wo_need, wo_level):
                continue
            new_i, _ = _need_with(la, inva, bw, mem, cnt, i, m, m2, rate[i], buf_la, buf_inv,
                                  buf_bw, active, lcap, CAP_MARGIN)
            if new_i / pmax[i] >= best_phi:
                continue
            new_j, _ = _need_with(la, inva, bw, mem, cnt, j, m2, m, rate[j], buf_la, buf_inv,
                                  buf_bw, active, lcap, CAP_MARGIN)
            phi = _phi_after(_max_excluding(ratio, top, i, j), new_i, new_j, i, j, need, pmax,
                             tot[0], ptot)
            if phi < best_phi:
                best_phi = phi
                best_m2 = m2
        if best_m2 >= 0:
            return m, best_m2
    return -1, -1


@inline_kernel
def _own_deadline(la, inva, bw, mem, cnt, k, c, S, pmax, tk, buf_la, buf_inv, buf_bw, active, lcap):
    """``tk[k] = c_k + S / Rmax_k``: client k's best deadline at p_max[k] on its set, s."""
    n = 0
    for q in range(cnt[k]):
        m = mem[k, q]
        buf_la[n] = la[k, m]
        buf_inv[n] = inva[k, m]
        buf_bw[n] = bw[m]
        n += 1
    r, _ = max_rate_for_power(buf_la, buf_inv, buf_bw, n, pmax[k], active, lcap)
    tk[k] = c[k] + S / r if r > 0.0 else math.inf


@kernel
def _solve_deadline(la, inva, bw, assign, mem, cnt, c, S, pmax, ptot, rtol, tk, rate, need,
                    level, ratio, tot, top, ver, buf_la, buf_inv, buf_bw, active, total_binds,
                    lcap):
    """Re-solve the optimal deadline t of the current assignment and rebuild the state
    at it. ``t_lo = max_k tk[k]`` (kept per client) is optimal when the total cap holds
    there (no root search, no pass over the CSR layout); else ``power_control`` finds the
    root of the total need — directly when the total cap bound before (``total_binds``)."""
    t = -math.inf
    for k in range(c.shape[0]):
        if tk[k] > t:
            t = tk[k]
    if not total_binds:
        _refresh(la, inva, bw, mem, cnt, c, S, t, pmax, rate, need, level, ratio, tot, top,
                 ver, buf_la, buf_inv, buf_bw, active, lcap)
    if total_binds or (ptot < math.inf and tot[0] > ptot):
        t, _, _, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap)
        _refresh(la, inva, bw, mem, cnt, c, S, t, pmax, rate, need, level, ratio, tot, top,
                 ver, buf_la, buf_inv, buf_bw, active, lcap)
    return t


@inline_kernel
def _clear_dirty(dirty, dlist, n_dirty, value):
    """Unmark the dirty clients; returns ``value`` (the new count: 0, or -1 for none
    known)."""
    for q in range(max(n_dirty, 0)):
        dirty[dlist[q]] = False
    return value


@kernel
def local_search(la, inva, bw, assign0, c, S, pmax, ptot, rtol, max_moves, tol, lcap=math.inf):
    """Improve ``assign0`` by cyclic first-improvement move/swap local search.

    Returns ``(assign, t, psd, moves)`` with t (s) and psd (W/Hz) from exact power
    control of the final assignment.
    """
    K, M = la.shape
    assign = assign0.copy()
    mem, cnt, pos = _members(assign, K)
    buf_la = np.empty(M + 1)
    buf_inv = np.empty(M + 1)
    buf_bw = np.empty(M + 1)
    active = np.empty(M + 1, dtype=np.bool_)
    tk = np.empty(K)
    rate = np.empty(K)
    need = np.zeros(K)
    level = np.empty(K)
    ratio = np.empty(K)
    tot = np.zeros(1)
    top = -np.ones(3, dtype=np.int64)
    # caches of the move evaluations, valid while the client's version is unchanged
    ver = np.zeros(K + 1, dtype=np.int64)
    wo_need = np.empty(M)
    wo_level = np.empty(M)
    wo_ver = -np.ones(M, dtype=np.int64)
    got = np.empty((M, K))
    got_ver = -np.ones((M, K), dtype=np.int64)
    useful = np.empty((K, M), dtype=np.int64)
    n_useful = np.empty(K, dtype=np.int64)
    moves = 0
    pos_move = 0
    pos_swap = 0
    for k in range(K):
        _own_deadline(la, inva, bw, mem, cnt, k, c, S, pmax, tk, buf_la, buf_inv, buf_bw,
                      active, lcap)
    _solve_deadline(la, inva, bw, assign, mem, cnt, c, S, pmax, ptot, rtol, tk, rate, need,
                    level, ratio, tot, top, ver, buf_la, buf_inv, buf_bw, active, False, lcap)
    stale = False  # changes applied since t was last re-solved
    # while the total cap binds, a move's test depends only on its two clients (its
    # saving must exceed tol * p_total): after a full move scan found none, only moves
    # from or to the clients changed since (``dirty``) are scanned
    dirty = np.zeros(K, dtype=np.bool_)
    dlist = np.empty(K, dtype=np.int64)
    n_dirty = -1  # -1: no full scan without an improving move at this t yet
    while moves < max_moves:
        threshold = _phi_now(ratio, top, tot, ptot) - tol
        total_binds = ptot < math.inf and tot[0] / ptot >= ratio[top[0]]
        if not total_binds:
            n_dirty = _clear_dirty(dirty, dlist, n_dirty, -1)
        use = n_dirty if n_dirty <= K // 4 else -1
        m, x = _scan_moves(la, inva, bw, assign, mem, cnt, pos_move, threshold, rate, need,
                           level, ratio, top, tot, pmax, ptot, ver, wo_need, wo_level,
                           wo_ver, got, got_ver, buf_la, buf_inv, buf_bw, active, dirty,
                           dlist, use, lcap)
        if m < 0 and use < 0 and total_binds:
            n_dirty = _clear_dirty(dirty, dlist, n_dirty, 0)
        if m >= 0:
            pos_move = m + 1
            i = assign[m]
            _hand_over(mem, cnt, pos, assign, m, x)
            j = x
        else:
            m, x = _scan_swaps(la, inva, bw, assign, mem, cnt, pos_swap, threshold, rate,
                               need, level, ratio, top, tot, pmax, ptot, ver, wo_need,
                               wo_level, wo_ver, useful, n_useful, buf_la, buf_inv, buf_bw,
                               active, lcap)
            if m < 0:
                if not stale:
                    break
                # the caps are slack at t: re-solve the deadline exactly and go on
                _solve_deadline(la, inva, bw, assign, mem, cnt, c, S, pmax, ptot, rtol, tk,
                                rate, need, level, ratio, tot, top, ver, buf_la, buf_inv,
                                buf_bw, active, True, lcap)
                stale = False
                n_dirty = _clear_dirty(dirty, dlist, n_dirty, -1)
                continue
            pos_swap = m + 1
            i = assign[m]
            j = assign[x]
            _hand_over(mem, cnt, pos, assign, m, j)
            _hand_over(mem, cnt, pos, assign, x, i)
        moves += 1
        for k in (i, j):
            _own_deadline(la, inva, bw, mem, cnt, k, c, S, pmax, tk, buf_la, buf_inv, buf_bw,
                          active, lcap)
        if total_binds:  # re-solving t costs a root search: defer it, update i and j
            for k in (i, j):
                _set_client(la, inva, bw, mem, cnt, k, pmax, rate, need, level, ratio, tot,
                            ver, buf_la, buf_inv, buf_bw, active, lcap)
            _top3(ratio, top)
            stale = True
            if n_dirty >= 0:
                for k in (i, j):
                    if not dirty[k]:
                        dirty[k] = True
                        dlist[n_dirty] = k
                        n_dirty += 1
        else:  # a client's own cap binds: re-solving t is cheap and keeps pruning sharp
            _solve_deadline(la, inva, bw, assign, mem, cnt, c, S, pmax, ptot, rtol, tk, rate,
                            need, level, ratio, tot, top, ver, buf_la, buf_inv, buf_bw, active,
                            False, lcap)
            stale = False
            n_dirty = _clear_dirty(dirty, dlist, n_dirty, -1)
    t, psd, _, _ = power_control(la, inva, bw, assign, c, S, pmax, ptot, rtol, lcap)
    return assign, t, psd, moves
