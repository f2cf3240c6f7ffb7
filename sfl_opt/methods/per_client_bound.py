"""The native lower bound with per-client cut layers (``split_mode="per_client"``).

A relaxation in which every client's terms take, each on its own, their best cut within
the client's memory cap (the candidates client k can hold at rank r, ``F_k(r)``): for
any split vector, allocation and power at rank r (terms of :mod:`sfl_opt.model.client_splits`)

- up stage ``max_k (TcF_k(l_k) + S_up(l_k)/Rs_k) >= max_k (c_k + S/Rs_k)`` with
  ``c_k = min_{l in F_k} TcF_k(l)`` and ``S = min_l S_up(l)``; the least of the right
  side over every allocation is bounded by the link's native Lagrangian bound
  (:mod:`sfl_opt.kernels.lagrange`, via ``LinkArrays.root_bound``);
- server ``Ts >= b sum_k min_{l in F_k} Ws(l) / server_flops``;
- down stage: ``max_k min_{l in F_k} (S_dn(l)/rate_down_k + TcB_k(l))`` with fixed
  rates, the link bound with ``c_k = min TcB_k``, ``S = min S_dn`` when allocated;
- per round ``max_k S_ad,k/Rf_k + S_bc/rate_bcast >= S_ad,min (tf + 1/rate_bcast)``
  with ``tf`` the round link's bound on ``max_k 1/Rf_k`` (s/bit).

A second relaxation keeps the coupling between a client's compute and the server's
work: every rate at its largest (client k alone with every subchannel of the link at
``p_max[k]``, ``Link.rate_bounds``; the fixed downlink's own rates), the best split
vector of those rates is exact (:func:`sfl_opt.kernels.split.best_split_vector`), and
each term only decreases when a rate grows. The bound is the least over the ranks every
client can run of the larger of the two. It is valid (tests check it against
enumeration of every split vector and assignment of tiny instances) and looser than the
common-split bound, which does not bound a per-client optimum. Units: s.
"""

from __future__ import annotations

import math
import time

import numpy as np

from ..engine.prepared import PreparedProblem
from ..kernels.bounds import stage_lower_bound
from ..kernels.split import best_split_vector_budget
from ..model.client_splits import ClientTerms, client_terms
from .exact import LinkArrays, bound_iterations, link_of, timed_dual_bound
from .per_client import SPLIT_COST, split_problem


def per_client_lower_bound(prep: PreparedProblem, upper: float = math.inf,
                           deadline: float | None = None) -> float:
    """A lower bound (s) on the least T_total over every per-client split vector, rank,
    allocation and power (module docstring). ``upper`` (s, a known delay) is accepted
    for symmetry with :func:`~sfl_opt.methods.exact.native_lower_bound` and not used.
    ``deadline`` (``time.perf_counter()`` value): the links' dual bounds stop improving
    there (:func:`~sfl_opt.methods.exact.timed_dual_bound`) and a link with no time
    left keeps its closed-form bound (``kernels.bounds``): looser, still valid."""
    pr = prep.problem
    t = client_terms(pr, prep.full_table())
    it = bound_iterations(prep)
    f_arr = link_of(prep, prep.round_link, None)
    tf = _dual_or_closed_form(prep, prep.round_link, f_arr, it, deadline)
    I = float(pr.local_iters)
    fl = pr.client_flops
    rall = _largest_rates(prep)
    best = math.inf
    for q in range(t.ranks.size):
        fits = t.fits[:, :, q]
        if not fits.any(axis=1).all():
            continue  # some client cannot hold any cut at this rank
        anyfit = fits.any(axis=0)

        cf = _least(fits, t.wcf[None, :, q]) / fl
        cb = _least(fits, t.wcb[None, :, q]) / fl
        ts = float(np.sum(_least(fits, t.ws[None, :, q])) / pr.server_flops)
        up = _link_bound(prep, "s", cf, float(np.min(t.s_up[anyfit])), it, deadline)
        if "d" in prep.stage_links:
            down = _link_bound(prep, "d", cb, float(np.min(t.s_dn[anyfit])), it, deadline)
        else:
            dn = (t.s_dn[None, :] / pr.rate_down[:, None] + t.wcb[None, :, q] / fl[:, None])
            down = float(np.max(_least(fits, dn)))
        s_ad = float(np.min(t.s_ad[anyfit, q]))
        total = t.rounds[q] * (I * (up + ts + down) + s_ad * (tf + 1.0 / pr.rate_bcast))
        coupled = _coupled(prep, t, rall, q, deadline)
        best = min(best, max(float(total), float(coupled)))
    return best


def _coupled(prep: PreparedProblem, t: ClientTerms, rall: dict[str, np.ndarray], q: int,
             deadline: float | None) -> float:
    """The second relaxation of rank index ``q`` (s): the exact best split vector at the
    largest rates; with a ``deadline`` its search gets the work that fits before it at
    the measured speed (:data:`~sfl_opt.methods.per_client.SPLIT_COST`), and a search
    stopped early proves nothing (``-inf``)."""
    V, lam, W, feas = split_problem(prep, t, rall, q)
    cap = -1
    t0 = time.perf_counter()
    if deadline is not None:
        cap = int((deadline - t0) / SPLIT_COST["unit"])
        if cap < V.size:
            return -math.inf
    val, _, _, _, work = best_split_vector_budget(V, lam, W, feas, cap)
    SPLIT_COST["unit"] = (time.perf_counter() - t0) / max(int(work), V.size)
    if 0 < cap <= work:
        return -math.inf
    return float(t.rounds[q] * val * (1 - 1e-12))


def _largest_rates(prep: PreparedProblem) -> dict[str, np.ndarray]:
    """(K,) bit/s: each client's rate alone with every subchannel of each link at its
    cap (the fixed downlink: ``rate_down``)."""
    # the kernels' rates are unattenuated (prepared.py): times alpha for bit/s
    out = {n: prep.link(n).rate_bounds[0] * prep.link(n).alpha
           for n in (*prep.stage_links, prep.round_link)}
    if "d" not in out:
        out["d"] = prep.problem.rate_down
    return out


def _least(fits: np.ndarray, x: np.ndarray) -> np.ndarray:
    """(K,) each client's least of ``x`` ((K, n) or (1, n)) over its own candidates
    ``fits (K, n)``."""
    return np.min(np.where(fits, x, np.inf), axis=1)


def _link_bound(prep: PreparedProblem, name: str, c: np.ndarray, S: float, it: int,
                deadline: float | None = None) -> float:
    """Native bound (s) on ``min max_k (c_k + S/R_k)`` over the allocations of ``name``
    (``deadline``: see :func:`per_client_lower_bound`)."""
    base = link_of(prep, name, None) if not prep.link(name).per_pair else link_of(prep, name, 0)
    arr = LinkArrays(base.la, base.inva, base.bw, base.pmax, base.ptot,
                     np.asarray(c, float), float(S) / prep.link(name).alpha, base.lcap)
    return _dual_or_closed_form(prep, name, arr, it, deadline)


def _dual_or_closed_form(prep: PreparedProblem, name: str, arr: LinkArrays, it: int,
                         deadline: float | None) -> float:
    """``arr.root_bound(it)`` without a deadline; with one, the dual bound that fits
    before it (:func:`~sfl_opt.methods.exact.timed_dual_bound`), at least the closed
    form on the link's cached rate bounds (``Link.rate_bounds``)."""
    if deadline is None:
        return float(arr.root_bound(it)[0])
    rall, rsum = prep.link(name).rate_bounds
    closed = float(stage_lower_bound(arr.c, arr.S, rall, rsum, 1e-12)) * (1 - 1e-12)
    dual, _ = timed_dual_bound(arr, -np.ones(arr.M, np.int64), None, it, math.inf, deadline)
    return max(closed, float(dual))


__all__ = ["per_client_lower_bound"]
