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
from .bandwidth import _log_marginal, _solve_u, energy_kernel, split_kernel
from .problem import OnlineProblem, RoundModel

_LN2 = math.log(2.0)
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
        if q[k] <= 0.0:
            continue
        logc[k] = math.log(q[k] * p[k] * s[k] * _LN2) - 2.0 * math.log(a[k])
        ulo[k] = math.log(a[k] / ub[k])
        uhi[k] = math.log(a[k] / bmin[k])
        mlo[k] = _log_marginal(ulo[k], logc[k])[0]
        mhi[k] = _log_marginal(uhi[k], logc[k])[0]
        uw[k] = 0.5 * (ulo[k] + uhi[k])


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
    logc = np.zeros(n)
    ub = np.zeros(n)
    ulo = np.zeros(n)
    uhi = np.zeros(n)
    mlo = np.zeros(n)
    mhi = np.zeros(n)
    uw = np.zeros(n)
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
def _local_search(mask: np.ndarray, cost: float, price: float, bw: np.ndarray,
                  args: tuple, width: int = 3, max_iter: int = 1000
                  ) -> tuple[np.ndarray, float, float, np.ndarray]:
    q, a, s, p, e, bmin, total, vwpsi = args
    n = q.size
    phi = np.empty(n)
    bresp = np.empty(n)
    trial_b = np.empty(n)
    logc, ub, ulo, uhi, mlo, mhi, uw = (np.zeros(n) for _ in range(7))
    _prepare(q, a, s, p, bmin, total, logc, ub, ulo, uhi, mlo, mhi, uw)
    for _ in range(max_iter):
        # first-order costs at the current exact price λ
        ell = math.log(price) if price > 0 else -700.0
        _phi_at(ell, q, a, s, p, e, bmin, ub, logc, ulo, uhi, mlo, mhi, uw, bresp, phi)
        members = np.flatnonzero(mask)
        others = np.flatnonzero(~mask)
        en_in = energy_kernel(a[members], s[members], p[members], e[members], bw[members])
        phi_in = q[members] * en_in + price * bw[members]
        moves: list[tuple[int, int]] = []
        if others.size:
            add = others[np.argsort(phi[others])[:width]]
            moves += [(-1, int(k)) for k in add]
        if members.size:
            drop = members[np.argsort(-phi_in)[:width]]
            moves += [(int(j), -1) for j in drop]
            if others.size:
                moves += [(int(j), int(k)) for j in drop for k in add]
        best_move = None
        best_val = cost * (1.0 - 1e-12) - 1e-300
        best_price = price
        best_b = None
        for j, k in moves:
            trial = mask.copy()
            if j >= 0:
                trial[j] = False
            if k >= 0:
                trial[k] = True
            val, pr = _set_cost(trial, q, a, s, p, e, bmin, total, vwpsi, trial_b)
            if val < best_val:
                best_val, best_move, best_price, best_b = val, trial, pr, trial_b.copy()
        if best_move is None:
            break
        mask, cost, price, bw = best_move, best_val, best_price, best_b
    return mask, cost, price, bw


def _efficient(args: tuple) -> tuple[np.ndarray, float, float, np.ndarray]:
    q, a, s, p, e, bmin, total, vwpsi = args
    n = q.size
    mask_lo = np.zeros(n, dtype=bool)
    mask_hi = np.zeros(n, dtype=bool)
    phi = np.empty(n)
    _dual_scan(q, a, s, p, e, bmin, total, vwpsi, mask_lo, mask_hi, phi)
    order = np.argsort(phi)
    cands = [mask_lo, mask_hi]
    n_hi = int(mask_hi.sum())
    for size in (n_hi - 1, n_hi + 1, n_hi + 2):
        if 0 <= size <= n:
            c = np.zeros(n, dtype=bool)
            c[order[:size]] = True
            cands.append(c)
    best = (np.zeros(n, dtype=bool), math.inf, 0.0, np.zeros(n))
    b = np.empty(n)
    for c in cands:
        val, pr = _set_cost(c, q, a, s, p, e, bmin, total, vwpsi, b)
        if val < best[1]:
            best = (c.copy(), val, pr, b.copy())
    return _local_search(*best, args)


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
        mask, _, price, bw = _efficient(args)
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
