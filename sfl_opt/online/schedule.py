"""The per-round drift-plus-penalty problem (SPEC §4): choose the devices and split the
bandwidth.

    minimise  V·w_t·Ψ(N) + Σ_k Q_k a_k E_k(b_k)
    over      a ∈ {0,1}^K,  b_k ≥ b_k^min for a_k = 1,  Σ_k a_k b_k ≤ B.

For a fixed set the split is the exact convex program of :mod:`.bandwidth`.

Set choice (``exact=False``), with every candidate set re-solved exactly:

1. **Lagrangian scan.** Pricing bandwidth at λ makes devices separable: device k
   costs φ_k(λ) = min_{b ∈ [b_k^min, B]} Q_k E_k(b) + λ b, and for a fixed λ the best
   set is, for some N, the N devices of smallest φ (Ψ depends on N only), with N
   chosen by scanning the prefix sums. Bisection on log λ finds the price at which
   the chosen set's bandwidth demand crosses B (the dual optimum); both sets at the
   crossing are candidates, as are the neighbouring prefix sizes N ± 1.
2. **Local search.** From the best candidate, repeatedly try the most promising
   additions, removals and swaps — ranked by their first-order change at the current
   exact price — re-solving each exactly, and take the best improving move until none
   improves.

``exact=True`` enumerates every subset of the deadline-feasible devices (K ≤ 16).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .. import _validation as v
from ..errors import ValidationError
from ..kernels._jit import kernel
from .bandwidth import (
    _solve_u,
    energy_kernel,
    response_scratch,
    response_setup,
    split_kernel,
)
from .problem import OnlineProblem, RoundModel

#: Enumeration limit of ``exact=True``.
EXACT_MAX_DEVICES = 16


@dataclass(frozen=True)
class RoundDecision:
    """One round's decision and its objective.

    - ``scheduled (K,)`` bool a_k; ``bandwidth (K,)`` Hz (0 if not scheduled);
    - ``energy (K,)`` J and ``latency (K,)`` s of each device (0 if not scheduled);
    - ``objective`` = ``penalty_term`` + ``queue_term``: V·w·Ψ(N) and Σ Q_k a_k E_k;
    - ``psi`` = Ψ(N), ``count`` = N, ``price`` = the bandwidth price λ of the split
      (J per Hz, weighted by the queues);
    - ``method``: "exact" (enumeration), "efficient", or the policy that made it.
    """

    scheduled: np.ndarray
    bandwidth: np.ndarray
    energy: np.ndarray
    latency: np.ndarray
    objective: float
    penalty_term: float
    queue_term: float
    psi: float
    count: int
    price: float
    method: str


# ------------------------------------------------------------------- kernels
@kernel
def _prepare(q, a, s, p, bmin, cap, logc, ub, ulo, uhi, mlo, mhi, uw):
    for k in range(q.size):
        ub[k] = max(cap, bmin[k])
    response_setup(q, a, s, p, bmin, ub, logc, ulo, uhi, mlo, mhi, uw)


@kernel
def _phi_at(ell, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, out_b, out_phi):
    """Price response at λ = e^ell: b_k(λ) and φ_k(λ) = Q_k E_k(b_k) + λ b_k."""
    lam = math.exp(ell)
    for k in range(q.size):
        if q[k] <= 0.0:
            out_b[k] = bmin[k]
            out_phi[k] = lam * bmin[k]
            continue
        if mhi[k] <= ell:
            b = bmin[k]
        elif mlo[k] >= ell:
            b = ub[k]
        else:
            u, _ = _solve_u(logc[k], ell, ulo[k], uhi[k], uw[k])
            uw[k] = u
            b = a[k] * math.exp(-u)
        out_b[k] = b
        r = b * math.log2(1.0 + a[k] / b)
        out_phi[k] = q[k] * (e[k] + p[k] * s[k] / r) + lam * b


@kernel
def _best_prefix(phi, b, vwpsi, mask):
    """Best set for fixed prices: the N smallest φ with N minimising V w Ψ(N) + Σ φ.
    Writes ``mask`` and returns the set's bandwidth demand Σ b."""
    order = np.argsort(phi)
    best = vwpsi[0]
    best_n = 0
    acc = 0.0
    for n in range(1, phi.size + 1):
        acc += phi[order[n - 1]]
        val = vwpsi[n] + acc
        if val < best:
            best = val
            best_n = n
    demand = 0.0
    mask[:] = False
    for i in range(best_n):
        mask[order[i]] = True
        demand += b[order[i]]
    return demand


@kernel
def _dual_scan(q, a, s, p, e, bmin, total, vwpsi, mask_lo, mask_hi, phi):
    """Bisection on log λ for the crossing of the bandwidth demand of the prefix-optimal
    set; fills the sets just below (demand > B) and above (demand ≤ B) the crossing
    and the prices φ at the upper end. Returns log λ of the upper end."""
    n = q.size
    logc, ub, ulo, uhi, mlo, mhi, uw = response_scratch(n)
    _prepare(q, a, s, p, bmin, total, logc, ub, ulo, uhi, mlo, mhi, uw)
    b = np.zeros(n)
    lo = np.inf
    hi = -np.inf
    bmin_min = np.inf
    for k in range(n):
        bmin_min = min(bmin_min, bmin[k])
        if q[k] > 0.0:
            lo = min(lo, mlo[k])
            hi = max(hi, mhi[k])
    gain = vwpsi[0] - vwpsi[n]
    if gain > 0.0:
        hi = max(hi, math.log(gain / bmin_min))
    if not math.isfinite(hi):
        hi = 0.0
    if not math.isfinite(lo):
        lo = hi - 60.0
    lo -= 1.0
    hi += 1.0
    _phi_at(lo, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    if _best_prefix(phi, b, vwpsi, mask_lo) <= total:
        mask_hi[:] = mask_lo
        return lo
    _phi_at(hi, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    _best_prefix(phi, b, vwpsi, mask_hi)
    mask = np.zeros(n, dtype=np.bool_)
    for _ in range(80):
        if hi - lo <= 1e-12 * (1.0 + abs(hi)):
            break
        mid = 0.5 * (lo + hi)
        _phi_at(mid, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
        if _best_prefix(phi, b, vwpsi, mask) > total:
            lo = mid
            mask_lo[:] = mask
        else:
            hi = mid
            mask_hi[:] = mask
    _phi_at(hi, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, b, phi)
    return hi


@kernel
def _set_cost(mask, q, a, s, p, e, bmin, total, vwpsi, out_b):
    """Exact cost of the set ``mask``: V w Ψ(N) + min split Σ Q E; inf if Σ b_min > B.
    Writes the split to ``out_b`` (0 outside the set); returns (cost, price)."""
    idx = np.nonzero(mask)[0]
    m = idx.size
    out_b[:] = 0.0
    if m == 0:
        return vwpsi[0], 0.0
    smin = 0.0
    for i in range(m):
        smin += bmin[idx[i]]
    if smin > total * (1.0 + 1e-12):
        return np.inf, 0.0
    qq = q[idx]
    aa = a[idx]
    ss = s[idx]
    pp = p[idx]
    bb = np.empty(m)
    price = split_kernel(qq, aa, ss, pp, bmin[idx], total, bb)
    en = energy_kernel(aa, ss, pp, e[idx], bb)
    cost = vwpsi[m]
    for i in range(m):
        cost += qq[i] * en[i]
        out_b[idx[i]] = bb[i]
    return cost, price


@kernel
def _enumerate(q, a, s, p, e, bmin, total, vwpsi, best_mask):
    """Every subset of the n devices (all deadline-feasible); returns the least cost."""
    n = q.size
    best = np.inf
    mask = np.zeros(n, dtype=np.bool_)
    b = np.zeros(n)
    for code in range(1 << n):
        for k in range(n):
            mask[k] = ((code >> k) & 1) == 1
        cost, _ = _set_cost(mask, q, a, s, p, e, bmin, total, vwpsi, b)
        if cost < best:
            best = cost
            best_mask[:] = mask
    return best


# ------------------------------------------------------------------ solvers
@kernel
def _efficient_kernel(q, a, s, p, e, bmin, total, vwpsi, width, max_iter, out_mask, out_b):
    """Lagrangian scan, then local search with exact re-solves (see the module doc).
    Writes the set and split; returns (cost, price)."""
    n = q.size
    mask_lo = np.zeros(n, dtype=np.bool_)
    mask_hi = np.zeros(n, dtype=np.bool_)
    phi = np.empty(n)
    _dual_scan(q, a, s, p, e, bmin, total, vwpsi, mask_lo, mask_hi, phi)
    order = np.argsort(phi)
    n_hi = 0
    for k in range(n):
        if mask_hi[k]:
            n_hi += 1
    best_mask = np.zeros(n, dtype=np.bool_)
    best_b = np.zeros(n)
    best = vwpsi[0]
    price = 0.0
    trial = np.zeros(n, dtype=np.bool_)
    tb = np.zeros(n)
    for cand in range(5):
        if cand == 0:
            trial[:] = mask_lo
        elif cand == 1:
            trial[:] = mask_hi
        else:
            size = n_hi + cand - 3  # n_hi - 1, n_hi + 1, n_hi + 2
            if size < 0 or size > n or size == n_hi:
                continue
            trial[:] = False
            for i in range(size):
                trial[order[i]] = True
        val, pr = _set_cost(trial, q, a, s, p, e, bmin, total, vwpsi, tb)
        if val < best:
            best = val
            price = pr
            best_mask[:] = trial
            best_b[:] = tb
    # local search: additions, removals and swaps ranked at the current exact price
    logc, ub, ulo, uhi, mlo, mhi, uw = response_scratch(n)
    _prepare(q, a, s, p, bmin, total, logc, ub, ulo, uhi, mlo, mhi, uw)
    bresp = np.empty(n)
    key = np.empty(n)
    mv_b = np.zeros(n)
    for _ in range(max_iter):
        ell = math.log(price) if price > 0.0 else -700.0
        _phi_at(ell, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, bresp, phi)
        for k in range(n):
            if best_mask[k]:
                bk = best_b[k]
                en = e[k] + p[k] * s[k] / (bk * math.log2(1.0 + a[k] / bk))
                key[k] = -(q[k] * en + price * bk)  # drop the costliest first
            else:
                key[k] = phi[k]  # add the cheapest first
        srt = np.argsort(key)
        adds = np.full(width, -1)
        drops = np.full(width, -1)
        na = 0
        nd = 0
        for i in range(n):
            k = srt[i]
            if best_mask[k]:
                if nd < width:
                    drops[nd] = k
                    nd += 1
            elif na < width:
                adds[na] = k
                na += 1
        move_val = best * (1.0 - 1e-12)
        move_j = -2
        move_k = -2
        move_price = price
        for j_i in range(-1, nd):
            for k_i in range(-1, na):
                if j_i < 0 and k_i < 0:
                    continue
                trial[:] = best_mask
                if j_i >= 0:
                    trial[drops[j_i]] = False
                if k_i >= 0:
                    trial[adds[k_i]] = True
                val, pr = _set_cost(trial, q, a, s, p, e, bmin, total, vwpsi, tb)
                if val < move_val:
                    move_val = val
                    move_price = pr
                    move_j = j_i
                    move_k = k_i
                    mv_b[:] = tb
        if move_j == -2:
            break
        if move_j >= 0:
            best_mask[drops[move_j]] = False
        if move_k >= 0:
            best_mask[adds[move_k]] = True
        best = move_val
        price = move_price
        best_b[:] = mv_b
    out_mask[:] = best_mask
    out_b[:] = best_b
    return best, price


#: Candidates of each kind (additions, removals) tried per local-search step.
SEARCH_WIDTH = 3


def solve_round(problem: OnlineProblem, gains: np.ndarray, queues: np.ndarray, V: float,
                weight: float = 1.0, exact: bool = False) -> RoundDecision:
    """Solve one round's drift-plus-penalty problem.

    ``gains (K,)`` linear channel gains of the round, ``queues (K,)`` virtual energy
    queues Q_k (J), ``V`` ≥ 0 the penalty weight (J² per loss unit), ``weight`` w_t ≥ 0
    the round's weight in the bound. ``exact=True`` enumerates every set of
    deadline-feasible devices (K ≤ 16). The bandwidth split is exact in both cases.
    """
    model = problem.round_model(gains)
    return solve_round_model(problem, model, queues, V, weight, exact=exact)


def solve_round_model(problem: OnlineProblem, model: RoundModel, queues: np.ndarray,
                      V: float, weight: float = 1.0, exact: bool = False) -> RoundDecision:
    """:func:`solve_round` for a precomputed :class:`RoundModel`."""
    K = problem.K
    q_all = v.float_array("queues", queues, shape=(K,), nonnegative=True)
    V = v.scalar("V", V, nonnegative=True)
    weight = v.scalar("weight", weight, nonnegative=True)
    if not isinstance(exact, bool):
        raise ValidationError("exact", "True or False", exact)
    if exact and K > EXACT_MAX_DEVICES:
        raise ValidationError("exact", f"K <= {EXACT_MAX_DEVICES} devices for enumeration",
                              f"K={K}")
    vwpsi_all = V * weight * problem.psi_table
    feas = np.flatnonzero(model.feasible)
    n = feas.size
    vwpsi = np.ascontiguousarray(vwpsi_all[: n + 1])
    args = (np.ascontiguousarray(q_all[feas]), np.ascontiguousarray(model.snr_bw[feas]),
            np.ascontiguousarray(model.bits[feas]), np.ascontiguousarray(model.power[feas]),
            np.ascontiguousarray(model.compute_energy[feas]),
            np.ascontiguousarray(model.b_min[feas]), float(problem.bandwidth), vwpsi)
    if n == 0:
        mask, price, bw = np.zeros(0, dtype=bool), 0.0, np.zeros(0)
    elif exact:
        mask = np.zeros(n, dtype=bool)
        _enumerate(*args, mask)
        bw = np.empty(n)
        _, price = _set_cost(mask, *args, bw)
    else:
        mask = np.zeros(n, dtype=bool)
        bw = np.zeros(n)
        _, price = _efficient_kernel(*args, SEARCH_WIDTH, 10 * n + 10, mask, bw)
    scheduled = np.zeros(K, dtype=bool)
    scheduled[feas[mask]] = True
    bandwidth = np.zeros(K)
    bandwidth[feas] = bw
    return make_decision(problem, model, scheduled, bandwidth, q_all, V, weight,
                         price=float(price), method="exact" if exact else "efficient")


def make_decision(problem: OnlineProblem, model: RoundModel, scheduled: np.ndarray,
                  bandwidth: np.ndarray, queues: np.ndarray, V: float, weight: float,
                  price: float = float("nan"), method: str = "") -> RoundDecision:
    """Evaluate a decision (energy, latency, objective and its parts)."""
    sched = np.asarray(scheduled, dtype=bool)
    bw = np.where(sched, np.asarray(bandwidth, dtype=float), 0.0)
    energy = np.zeros(problem.K)
    latency = np.zeros(problem.K)
    if sched.any():
        energy[sched] = model.energy(bw)[sched]
        latency[sched] = model.latency(bw)[sched]
    count = int(sched.sum())
    psi = float(problem.psi_table[count])
    pen = V * weight * psi
    qterm = float(np.sum(queues * energy))
    for arr in (sched, bw, energy, latency):
        arr.setflags(write=False)
    return RoundDecision(scheduled=sched, bandwidth=bw, energy=energy, latency=latency,
                         objective=pen + qterm, penalty_term=pen, queue_term=qterm, psi=psi,
                         count=count, price=price, method=method)
