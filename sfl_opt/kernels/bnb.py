"""Branch-and-bound pieces for the exact subchannel assignment of one link.

- :func:`branch_order`: the order in which subchannels are fixed (strongest first);
- :func:`symmetry_classes`: identical subchannels (same bandwidth and gains) and
  identical clients (same fixed delay, cap and gains), used to break symmetry;
- :func:`child_allowed`: whether a child (subchannel m to client k) survives symmetry
  breaking and the "every client gets a subchannel" counting argument;
- :func:`node_bound`: the native Lagrangian bound (:mod:`.lagrange`) of a partial
  assignment, warm-started from the parent's multipliers.

Units: s, bits, W, W/Hz, Hz.
"""

from __future__ import annotations

import numpy as np

from ._jit import kernel
from .lagrange import link_dual_bound


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
def child_allowed(fixed, count, m, k, sub_prev, cli_prev, free_after):
    """Whether fixing subchannel m to client k keeps a canonical, completable node.

    Symmetry breaking (valid because relabelling identical subchannels or identical
    clients maps solutions onto solutions of the same value): identical subchannels
    take non-decreasing owners in index order (the earlier one must already be fixed:
    :func:`branch_order` keeps them adjacent); a client identical to an earlier one may
    be used only once the earlier one is. Counting: the clients still without a
    subchannel must fit into the ``free_after`` subchannels left free."""
    K = count.shape[0]
    q = sub_prev[m]
    if q >= 0 and fixed[q] >= 0 and k < fixed[q]:
        return False
    j = cli_prev[k]
    if j >= 0 and count[j] == 0:
        return False
    empty = 0
    for i in range(K):
        if count[i] == 0 and i != k:
            empty += 1
    return empty <= free_after


@kernel
def node_bound(la, inva, bw, fixed, c, S, pmax, ptot, z, max_iter, target):
    """Native bound (s) of a partial assignment (see :func:`.lagrange.link_dual_bound`);
    ``z`` is updated in place."""
    return link_dual_bound(la, inva, bw, fixed, c, S, pmax, ptot, z, max_iter, target)
