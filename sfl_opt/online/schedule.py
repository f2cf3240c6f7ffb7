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

from dataclasses import dataclass

import numpy as np

from .. import _validation as v
from .._records import ArrayRecord
from ..errors import NumericalRangeError, ValidationError
from ..kernels.online import efficient_kernel, enumerate_sets, set_cost, split_kernel
from .problem import OnlineProblem, RoundModel

#: Enumeration limit of ``exact=True``.
EXACT_MAX_DEVICES = 16


@dataclass(frozen=True)
class RoundDecision(ArrayRecord):
    """One round's decision and its objective.

    - ``scheduled (K,)`` bool a_k; ``bandwidth (K,)`` Hz (0 if not scheduled);
    - ``energy (K,)`` J and ``latency (K,)`` s of each device (0 if not scheduled);
    - ``objective`` = ``penalty_term`` + ``queue_term``: V·w·Ψ(N) and Σ Q_k a_k E_k;
    - ``psi`` = Ψ(S) (:meth:`~.problem.OnlineProblem.psi_set`: Ψ(N) plus the data-share
      term), ``count`` = N, ``price`` = the bandwidth price λ of the split
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


# ------------------------------------------------------------------ solvers
#: Candidates of each kind (additions, removals) tried per local-search step.
SEARCH_WIDTH = 3

#: (scheduled (K,), bandwidth (K,) Hz, price, cost) of a capped solve
_Capped = tuple[np.ndarray, np.ndarray, float, float]


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
    """:func:`solve_round` for a precomputed :class:`RoundModel`.

    With ``server_mode="shared"`` the deadline depends on the number N of scheduled
    devices (every device waits N·W_srv/F_srv). The solver then takes, for each cap
    n = K, K−1, ..., the sets of at most n devices with the minimum bandwidths of n
    scheduled devices (feasible for any smaller set too), and keeps the best. With
    ``exact=True`` every cap is enumerated until V·w·Ψ(n) alone reaches the best cost
    found (a set of at most n devices costs at least that): the exact optimum. The
    efficient choice starts from the largest cap that fits and then tries the caps
    N, N ± 1, N + 2 around the best set's size N until none improves. A cap whose n
    cheapest minimum bandwidths exceed B is skipped (cap n − 1 dominates it). The
    chosen set is then re-split with the minimum bandwidths of its own size.
    """
    K = problem.K
    q_all = v.float_array("queues", queues, shape=(K,), nonnegative=True)
    V = v.scalar("V", V, nonnegative=True)
    weight = v.scalar("weight", weight, nonnegative=True)
    if not isinstance(exact, bool):
        raise ValidationError("exact", "True or False", exact)
    if exact and K > EXACT_MAX_DEVICES:
        raise ValidationError("exact", f"K <= {EXACT_MAX_DEVICES} devices for enumeration",
                              f"K={K}")
    vwpsi_all, offset = penalty_terms(problem, V, weight)
    method = "exact" if exact else "efficient"
    if model.server_step == 0.0:
        scheduled, bandwidth, price, _ = _solve_capped(problem, model, q_all, vwpsi_all,
                                                       offset, K, exact)
        return make_decision(problem, model, scheduled, bandwidth, q_all, V, weight,
                             price=price, method=method)
    scheduled, bandwidth, price, _ = _search_caps(problem, model, q_all, vwpsi_all, offset,
                                                  exact)
    count = int(scheduled.sum())
    own = model.with_count(count)
    if count:
        idx = np.flatnonzero(scheduled)
        bw = np.empty(idx.size)
        price = float(split_kernel(np.ascontiguousarray(q_all[idx]),
                                   np.ascontiguousarray(own.snr_bw[idx]),
                                   np.ascontiguousarray(own.bits[idx]),
                                   np.ascontiguousarray(own.power[idx]),
                                   np.ascontiguousarray(own.b_min[idx]),
                                   float(problem.bandwidth), bw))
        bandwidth = np.zeros(K)
        bandwidth[idx] = bw
    return make_decision(problem, own, scheduled, bandwidth, q_all, V, weight, price=price,
                         method=method)


def penalty_terms(problem: OnlineProblem, V: float, weight: float
                  ) -> tuple[np.ndarray, np.ndarray]:
    """The penalty V·w·Ψ(S) split for the set choice: ``(K+1,)`` V·w·(Ψ(N) + β) by set
    size N and ``(K,)`` per-device offsets −V·w·β·p_k (J²), so that
    V·w·Ψ(S) = table[|S|] + Σ_{k∈S} offset_k (:meth:`OnlineProblem.psi_set`)."""
    vw = V * weight
    beta = problem.coverage_weight
    with np.errstate(over="ignore", invalid="ignore"):
        table = vw * (problem.psi_table + beta) if beta else vw * problem.psi_table
        offset = -(vw * beta) * problem.data_share if beta else np.zeros(problem.K)
    if beta and not (np.isfinite(table).all() and np.isfinite(offset).all()):
        raise NumericalRangeError(
            "coverage_weight", "V·w·(Ψ(N) + β) within float64 range "
            f"(V = {V:.4g}, w = {weight:.4g})", beta)
    return table, offset


def _lower_bounds(problem: OnlineProblem, vwpsi_all: np.ndarray, offset: np.ndarray
                  ) -> np.ndarray:
    """(K+1,) a lower bound on the penalty of any set of at most n devices: the table
    at n plus the n most negative offsets (both only fall as n grows)."""
    best = np.concatenate([[0.0], np.cumsum(np.sort(offset))])
    return vwpsi_all + best


def _search_caps(problem: OnlineProblem, model: RoundModel, q_all: np.ndarray,
                 vwpsi_all: np.ndarray, offset: np.ndarray, exact: bool) -> _Capped:
    """The best capped solution over the caps (shared server; see
    :func:`solve_round_model`)."""
    K = problem.K
    done: dict[int, _Capped | None] = {}
    lower = _lower_bounds(problem, vwpsi_all, offset)

    def capped(cap: int) -> _Capped | None:
        if cap not in done:
            m = model.with_count(cap)
            need = np.sort(m.b_min)[:cap]
            if cap > 1 and not need.sum() <= problem.bandwidth * (1 + 1e-12):
                done[cap] = None  # no set of cap devices fits: cap − 1 is less restrictive
            else:
                done[cap] = _solve_capped(problem, m, q_all, vwpsi_all, offset, cap, exact)
        return done[cap]

    best: _Capped | None = None
    for cap in range(K, 0, -1):
        if best is not None and (lower[cap] >= best[3] or not exact):
            break
        cand = capped(cap)
        if cand is not None and (best is None or cand[3] < best[3]):
            best = cand
    if not exact:  # caps around the best set's size, until none improves
        assert best is not None
        tried: set[int] = set()
        while True:
            size = int(best[0].sum())
            todo = [c for c in (size, size + 1, size - 1, size + 2)
                    if 1 <= c <= K and c not in tried and lower[c] < best[3]]
            if not todo:
                break
            improved = False
            for c in todo:
                tried.add(c)
                cand = capped(c)
                if cand is not None and cand[3] < best[3] * (1 - 1e-12):
                    best, improved = cand, True
            if not improved:
                break
    assert best is not None
    return best


def _solve_capped(problem: OnlineProblem, model: RoundModel, q_all: np.ndarray,
                  vwpsi_all: np.ndarray, offset: np.ndarray, cap: int, exact: bool
                  ) -> _Capped:
    """Best set of at most ``cap`` devices for the model's minimum bandwidths:
    (scheduled (K,), bandwidth (K,) Hz, price, cost). Each device's fixed cost in the
    kernels is Q_k·E^comp_k + offset_k (:func:`penalty_terms`)."""
    K = problem.K
    feas = np.flatnonzero(model.feasible)
    n = feas.size
    vwpsi = np.array(vwpsi_all[: n + 1], dtype=float)
    vwpsi[cap + 1:] = np.inf
    args = (np.ascontiguousarray(q_all[feas]), np.ascontiguousarray(model.snr_bw[feas]),
            np.ascontiguousarray(model.bits[feas]), np.ascontiguousarray(model.power[feas]),
            np.ascontiguousarray(_fixed_cost(q_all[feas], model.compute_energy[feas])
                                 + offset[feas]),
            np.ascontiguousarray(model.b_min[feas]), float(problem.bandwidth), vwpsi)
    if n == 0:
        mask, price, bw, cost = np.zeros(0, dtype=bool), 0.0, np.zeros(0), float(vwpsi[0])
    elif exact:
        mask = np.zeros(n, dtype=bool)
        enumerate_sets(*args, mask)
        bw = np.empty(n)
        cost, price = set_cost(mask, *args, bw)
    else:
        mask = np.zeros(n, dtype=bool)
        bw = np.zeros(n)
        cost, price = efficient_kernel(*args, SEARCH_WIDTH, 10 * n + 10, mask, bw)
    scheduled = np.zeros(K, dtype=bool)
    scheduled[feas[mask]] = True
    bandwidth = np.zeros(K)
    bandwidth[feas] = bw
    return scheduled, bandwidth, float(price), float(cost)


def _fixed_cost(q: np.ndarray, e_comp: np.ndarray) -> np.ndarray:
    """Q_k·E^comp_k (J²), 0 where the queue is empty (whatever the energy)."""
    with np.errstate(over="ignore", invalid="ignore"):
        return np.where(q > 0, q * e_comp, 0.0)


def make_decision(problem: OnlineProblem, model: RoundModel, scheduled: np.ndarray,
                  bandwidth: np.ndarray, queues: np.ndarray, V: float, weight: float,
                  price: float = float("nan"), method: str = "") -> RoundDecision:
    """Evaluate a decision (energy, latency, objective and its parts); the latency
    counts the server time of ``scheduled.sum()`` devices (``server_mode="shared"``)."""
    sched = np.asarray(scheduled, dtype=bool)
    model = model.with_count(int(sched.sum()))
    bw = np.where(sched, np.asarray(bandwidth, dtype=float), 0.0)
    energy = np.zeros(problem.K)
    latency = np.zeros(problem.K)
    if sched.any():
        energy[sched] = model.energy(bw)[sched]
        latency[sched] = model.latency(bw)[sched]
    count = int(sched.sum())
    psi = float(problem.psi_set(sched))
    pen = V * weight * psi
    with np.errstate(over="ignore", invalid="ignore"):  # simulate reports an overflow
        qterm = float(np.sum(queues * energy))
    return RoundDecision(scheduled=sched, bandwidth=bw, energy=energy, latency=latency,
                         objective=pen + qterm, penalty_term=pen, queue_term=qterm, psi=psi,
                         count=count, price=price, method=method)
