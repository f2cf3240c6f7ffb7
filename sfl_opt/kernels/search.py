"""Exhaustive search over the (split, rank) candidates for a fixed s-link assignment.

For every candidate pair the s-link power is re-optimised exactly (``power_control``)
and the total delay is composed as in SPEC §2:

    total = rounds * (I * (t_s + fixed_iter) + fixed_round)

where ``t_s`` = max_k (TcF_k + S_up / Rs_k) is the s-link stage, ``fixed_iter`` = Ts +
max_k (S_dn / rate_down_k + TcB_k) and ``fixed_round`` = S_ad * (max_k 1/Rf_k + 1/rate_bcast)
do not depend on the s-link allocation. Units: s, bits, FLOP, FLOP/s.
"""

from __future__ import annotations

import math

import numpy as np

from ._jit import kernel
from .power import power_control


@kernel
def compose_total(rounds, local_iters, t_s, fixed_iter, fixed_round):
    """Total delay (s) from the s-link stage and the allocation-independent terms."""
    return rounds * (local_iters * (t_s + fixed_iter) + fixed_round)


@kernel
def search_pairs(la, inva, bw, assign, pmax, ptot, client_flops, w_fwd, s_up, rounds,
                 fixed_iter, fixed_round, local_iters, rtol, lcap=math.inf):
    """Totals (P,) and s-link stage times (P,) of every pair for a fixed assignment.

    ``w_fwd`` (P,) is b * WcF in FLOP, ``s_up`` (P,) bits; the best pair is the argmin.
    """
    P = w_fwd.shape[0]
    K = client_flops.shape[0]
    totals = np.empty(P)
    t_s = np.empty(P)
    c = np.empty(K)
    for p in range(P):
        for k in range(K):
            c[k] = w_fwd[p] / client_flops[k]
        t, _, _, _ = power_control(la, inva, bw, assign, c, s_up[p], pmax, ptot, rtol, lcap)
        t_s[p] = t
        totals[p] = compose_total(rounds[p], local_iters, t, fixed_iter[p], fixed_round[p])
    return totals, t_s
