"""Per-client energy budgets (``Problem.client_energy``, J per training run): how every
method of :func:`sfl_opt.solve` honours them.

Structure. Client k's energy per training run at pair p is (:mod:`sfl_opt.model.energy`)

    E_k = E_comp,k(p) + rounds · I · S_up · ε_s,k + rounds · S_ad · ε_f,k,

with ``ε = P / R(P)`` the transmit energy per bit on a link. For one client on its own
subchannels the least power for a rate R is water-filling, ``P(R)`` convex with
``P(0) = 0``, so ``ε = P(R)/R`` *grows* with the rate (and with the power): the energy
per bit falls from its value at the power cap to the infimum ``ln 2 · N0 / g_best``
(vanishing power on the client's best subchannel, infinite airtime). Hence:

1. for a fixed allocation and a fixed energy ``e`` for one link, "energy <= e" is
   exactly "power <= P_E", with ``P_E`` the largest power whose ``P/R(P)`` is at most
   ``e / bits`` (:func:`power_cap_for_energy`, a certified bisection on the power: the
   returned cap is always on the feasible side). The exact power control (bisection on
   the deadline with water-filling, ``kernels.power_control``) gives every client the
   least power for its rate, so running it with ``p_max`` replaced by ``min(p_max, P_E)``
   is exactly the link's optimum under that energy (to the kernels' ``RTOL``);
2. the two links share a client's budget. For an f-link deadline ``τ`` (s/bit) each
   client's least f-link energy is its water-filling at rate ``1/τ``; the rest of its
   budget caps its s-link power as in 1, giving the s-link stage ``t_s(τ)``. The total
   ``rounds (I t_s(τ) + S_ad τ) + const`` is minimised over ``τ`` by a log grid
   (:data:`TAU_GRID` points over :data:`TAU_SPAN` decades from the unbudgeted optimum
   ``τ_min``) refined by golden section. **Exact for a given τ; the 1-D search over τ
   is not certified** (the objective need not be unimodal when water-filling changes
   its active set);
3. the allocation and the pair: a method's point that meets the budget is kept as it
   is (it is then also optimal for the budgeted problem if it was for the unbudgeted
   one). Otherwise the method's allocation is kept and its power re-solved as in 2, at
   the method's pair and, for an optimising method, at every other candidate pair (the
   cheapest kept); a baseline whose split or rank is its definition (:data:`KEEP`)
   keeps it and tries the other pairs only when its own cannot meet the budget
   (``info["budget"]["pair_changed"]``). The assignment search
   itself does not see the budget (**not exact** when the budget binds). For the
   ``equal`` power rule (``equal_power``, ``fully_random``) the rule is kept: each
   client's equal psd is scaled down by the largest factor in (0, 1] that meets its
   budget (transmit energy per bit grows with a uniform scaling too);
4. bounds: a budget only removes points, so every lower bound of the unbudgeted
   problem (the native bound on every result) stays valid; ``status="optimal"`` needs
   that bound to prove the gap (it rarely does when the budget binds);
5. infeasible budgets: :class:`~sfl_opt.errors.InfeasibleProblemError` names the client
   and its least energy at any pair — the compute energy plus every bit at the
   infimum ``ln 2 · N0 / g_best`` (an unattainable floor) — or, when the floor is below
   the budget but no point was found, the best energy reached.

Units: J, W, W/Hz, s, bits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import kernels as kn
from ..engine.prepared import Link, LinkPoint, PreparedProblem
from ..errors import InfeasibleProblemError
from ..model.energy import ENERGY_RTOL, has_budget
from ..status import Status
from .registry import MethodSpec, Outcome

#: baselines whose (split, rank) decision is part of their definition: under a budget
#: they keep it (``"split"``/``"rank"``) and change the other only if their own pair
#: cannot meet the budget
KEEP: dict[str, tuple[str, ...]] = {"random_split": ("split",), "fixed_rank": ("rank",),
                                    "random_rank": ("rank",),
                                    "fully_random": ("split", "rank")}
#: points of the log grid over the f-link deadline τ, and its span in decades
TAU_GRID, TAU_SPAN = 40, 8.0
#: golden-section steps after the grid
GOLDEN_STEPS = 40
#: bisection steps of :func:`power_cap_for_energy` and of the equal-power scaling
BISECT = 200
LN2 = math.log(2.0)


def fixed_energy(prep: PreparedProblem, p: int) -> np.ndarray:
    """(K,) J per training run each client spends computing at pair ``p``."""
    pr, tab = prep.problem, prep.tab
    t = (tab.w_client_fwd[p] + tab.w_client_bwd[p]) / pr.client_flops
    return tab.rounds[p] * pr.local_iters * pr.compute_power * t


def _client_arrays(ln: Link, assign: np.ndarray, k: int) -> tuple[np.ndarray, ...]:
    m = np.flatnonzero(assign == k)
    return (np.ascontiguousarray(ln.la[k, m]), np.ascontiguousarray(ln.inva[k, m]),
            np.ascontiguousarray(ln.bw[m]), m)


def power_cap_for_energy(la: np.ndarray, inva: np.ndarray, bw: np.ndarray, epb: float,
                         p_max: float, lcap: float = math.inf) -> float:
    """The largest power P <= ``p_max`` (W) whose water-filling energy per bit
    ``P / R(P)`` is at most ``epb`` J/bit on one client's subchannels (normalised gains
    ``la``, ``inva``; ``bw`` Hz); 0 when ``epb`` is at or below the infimum
    ``ln 2 · min(inva)``. The ratio grows with P (module docstring), so bisection is
    exact (with the spectral-efficiency cap ``lcap`` the rate stops growing at saturation
    and the ratio keeps growing); the returned power always meets ``epb``."""
    n = la.shape[0]
    act = np.empty(n, dtype=np.bool_)

    def ratio(q: float) -> float:
        r, _ = kn.max_rate_for_power(la, inva, bw, n, q, act, lcap)
        return q / r if r > 0 else math.inf

    if not epb > LN2 * float(np.min(inva)):
        return 0.0
    if ratio(p_max) <= epb:
        return float(p_max)
    lo, hi = 0.0, float(p_max)
    for _ in range(BISECT):
        mid = 0.5 * (lo + hi)
        if mid <= lo or mid >= hi:
            break
        if ratio(mid) <= epb:
            lo = mid
        else:
            hi = mid
    return lo


def _f_point(ln: Link, assign: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray] | None:
    """psd (N,) and per-client power (K,) of the f-link at deadline ``tau`` (s/bit): each
    client at rate 1/tau with the least power; None if a cap is broken. (The kernels'
    rates are unattenuated: the rate 1/tau needs 1/(alpha tau) of them, prepared.py.)"""
    psd = np.zeros(assign.size)
    power = np.zeros(ln.K)
    for k in range(ln.K):
        la, inva, bw, m = _client_arrays(ln, assign, k)
        act = np.empty(m.size, dtype=np.bool_)
        q, w = kn.min_power_for_rate(la, inva, bw, m.size, 1.0 / (ln.alpha * tau), act,
                                     ln.lcap)
        if not q <= ln.p_max[k] * (1 + 1e-12):
            return None
        out = np.empty(m.size)
        kn.psd_at_level(inva, w, out, ln.lcap)
        psd[m] = out
        power[k] = float(np.sum(out * bw))
    if power.sum() > ln.p_total * (1 + 1e-12):
        return None
    return psd, power


@dataclass
class BudgetPoint:
    """Points of the links meeting the budget at one pair: ``points`` (link ->
    :class:`~sfl_opt.engine.prepared.LinkPoint`), the pair's ``total`` (s)."""

    points: dict[str, LinkPoint]
    total: float


def budget_power(prep: PreparedProblem, p: int, assigns: dict[str, np.ndarray],
                 budget: np.ndarray) -> BudgetPoint | None:
    """The power of fixed assignments ``assigns`` (link -> assignment) at pair ``p``
    that minimises T_total under each client's energy ``budget`` (K,) J (module
    docstring, 2); None when no power meets it."""
    pr, tab = prep.problem, prep.tab
    rounds, it = float(tab.rounds[p]), float(pr.local_iters)
    spare = budget - fixed_energy(prep, p)
    if not (spare > 0).all():
        return None
    s, f = prep.link("s"), prep.link(prep.round_link)
    ad_bits = float(tab.s_ad[p])
    others = {n: prep.link(n).exact_power(assigns[n], p) for n in prep.stage_links if n != "s"}
    t_other = sum(pt.t for pt in others.values())
    c, S = s.demand(p)
    a_s = np.ascontiguousarray(assigns["s"], np.int64)
    a_f = np.ascontiguousarray(assigns[prep.round_link], np.int64)
    f0 = f.exact_power(a_f, None)
    tau_min = f0.t

    def s_at(tau: float) -> tuple[float, LinkPoint | None, np.ndarray | None]:
        fp = _f_point(f, a_f, tau)
        if fp is None:
            return math.inf, None, None
        e_f = rounds * ad_bits * fp[1] * tau if ad_bits > 0 else np.zeros(pr.K)
        left = spare - e_f
        if not (left > 0).all():
            return math.inf, None, None
        caps = np.empty(pr.K)
        for k in range(pr.K):
            la, inva, bw, _ = _client_arrays(s, a_s, k)
            caps[k] = power_cap_for_energy(la, inva, bw, left[k] / (rounds * it * S),
                                           float(s.p_max[k]), s.lcap)
        if not (caps > 0).all():
            return math.inf, None, None
        t, psd, status, _ = kn.power_control(s.la, s.inva, s.bw, a_s, c, S, caps,
                                             s.p_total, 1e-12, s.lcap)
        if status != 0 or not math.isfinite(t):
            return math.inf, None, None
        total = float(prep.total(p, t + t_other, tau))
        return total, LinkPoint(a_s, psd, float(t)), fp[0]

    taus = tau_min * np.logspace(0.0, TAU_SPAN, TAU_GRID)
    vals = [s_at(float(x))[0] for x in taus]
    i = int(np.argmin(vals))
    if not math.isfinite(vals[i]):
        return None
    lo = float(taus[max(i - 1, 0)])
    hi = float(taus[min(i + 1, len(taus) - 1)])
    best_tau, best = float(taus[i]), vals[i]
    g = (math.sqrt(5.0) - 1.0) / 2.0
    a, b = math.log(lo), math.log(hi)
    x1, x2 = b - g * (b - a), a + g * (b - a)
    v1, v2 = s_at(math.exp(x1))[0], s_at(math.exp(x2))[0]
    for _ in range(GOLDEN_STEPS):
        if v1 <= v2:
            b, x2, v2 = x2, x1, v1
            x1 = b - g * (b - a)
            v1 = s_at(math.exp(x1))[0]
        else:
            a, x1, v1 = x1, x2, v2
            x2 = a + g * (b - a)
            v2 = s_at(math.exp(x2))[0]
    for x, val in ((x1, v1), (x2, v2)):
        if val < best:
            best, best_tau = val, math.exp(x)
    total, sp, fpsd = s_at(best_tau)
    assert sp is not None and fpsd is not None
    pts = {"s": sp, prep.round_link: LinkPoint(a_f, fpsd, best_tau), **others}
    return BudgetPoint(pts, total)


def scale_equal(prep: PreparedProblem, p: int, points: dict[str, LinkPoint],
                budget: np.ndarray, energy_of: Any) -> dict[str, LinkPoint] | None:
    """The ``equal`` power rule under the budget: each client's psd on the s- and
    f-link scaled by the largest factor in (0, 1] meeting its budget (bisection on the
    exact energy ``energy_of(points) -> (K,)``); None if a client's compute alone
    exceeds its budget or the floor is not met."""
    spare = budget - fixed_energy(prep, p)
    if not (spare > 0).all():
        return None
    names = ("s", prep.round_link)
    base = {n: points[n] for n in names}
    out = dict(points)
    for k in range(prep.K):
        def scaled(alpha: float, k: int = k, cur: dict = out) -> dict[str, LinkPoint]:
            pts = dict(cur)
            for n in names:
                psd = pts[n].psd.copy()
                mine = base[n].assign == k
                psd[mine] = base[n].psd[mine] * alpha
                pts[n] = LinkPoint(base[n].assign, psd, math.nan)
            return pts

        if energy_of(out)[k] <= budget[k]:
            continue
        lo, hi = 0.0, 1.0
        for _ in range(60):
            mid = 0.5 * (lo + hi)
            if mid <= lo or mid >= hi:
                break
            e = energy_of(scaled(mid))[k]
            if e <= budget[k]:
                lo = mid
            else:
                hi = mid
        if lo <= 0.0:
            return None
        out = scaled(lo)
    for n in names:  # a vanishing scale can underflow a rate: no point then
        if not (_rates(prep.link(n), out[n]) > 0).all():
            return None
    return out


def least_energy(prep: PreparedProblem) -> np.ndarray:
    """(P, K) a floor on each client's energy per training run at each pair, J: its
    compute energy plus every bit at ``ln 2 · N0 / g_best`` over the whole band
    (unattainable: it needs infinite airtime)."""
    pr, tab = prep.problem, prep.tab
    s, f = prep.link("s"), prep.link(prep.round_link)
    eps_s = LN2 * s.inva.min(axis=1)
    eps_f = LN2 * f.inva.min(axis=1)
    out = np.empty((prep.P, pr.K))
    for p in range(prep.P):
        out[p] = fixed_energy(prep, p) + tab.rounds[p] * (
            pr.local_iters * tab.s_up[p] * eps_s + tab.s_ad[p] * eps_f)
    return out


def apply_budget(prep: PreparedProblem, spec: MethodSpec, out: Outcome,
                 energy_of: Any) -> Outcome:
    """The method's outcome made to honour ``client_energy`` (module docstring, 3).

    ``energy_of(pair, points) -> (K,)`` J per training run of a point (the energy model
    of :func:`sfl_opt.evaluate`). Returns ``out`` itself when it meets the budget;
    raises :class:`~sfl_opt.errors.InfeasibleProblemError` when no point is found."""
    pr = prep.problem
    if not has_budget(pr):
        return out
    budget = np.asarray(pr.client_energy, float) * (1 - 1e-9)  # keep clear of the edge
    e0 = energy_of(out.pair, out.points)
    if (e0 <= pr.client_energy * (1 + ENERGY_RTOL)).all():
        out.info = {**out.info, "budget": {"binding": False}}
        return out
    assigns = {n: pt.assign for n, pt in out.points.items()}
    found: tuple[float, int, dict[str, LinkPoint]] | None = None
    keep = KEEP.get(spec.name, ())
    own = prep.pair(out.pair)
    pairs = [q for q in range(prep.P) if q != out.pair and all(
        prep.pair(q)[i] == own[i] for i, what in enumerate(("split", "rank")) if what in keep)]
    search = spec.name not in KEEP  # an optimising method: every pair competes
    for q in [out.pair, *pairs]:
        if found is not None and not search:
            break
        if spec.power == "equal":
            pts = scale_equal(prep, q, dict(out.points), budget,
                              lambda pts, q=q: energy_of(q, pts))
            cand = None if pts is None else (_total(prep, q, pts), q, pts)
        else:
            bp = budget_power(prep, q, assigns, budget)
            cand = None if bp is None else (bp.total, q, bp.points)
        if cand is not None and (found is None or cand[0] < found[0]):
            found = cand
    if found is None:
        floor = least_energy(prep)
        best = floor.min(axis=0)
        below = np.flatnonzero(pr.client_energy < best)
        if below.size:
            k = int(below[0])
            raise InfeasibleProblemError(
                f"client_energy: client {k}'s budget of {pr.client_energy[k]:.6g} J per "
                f"training run is below the least energy it needs at any (split, rank): "
                f"{best[k]:.6g} J (its compute plus every bit at vanishing power on its "
                "best subchannel)")
        raise InfeasibleProblemError(
            "client_energy: no allocation and power meeting every client's budget was "
            f"found (budgets {np.asarray(pr.client_energy).tolist()} J; floors "
            f"{best.tolist()} J, reached only with vanishing power)")
    tot, q, pts = found
    pair0 = out.pair
    out.pair, out.points, out.status = q, pts, Status.FEASIBLE
    out.history = [*out.history, tot]
    out.info = {**out.info, "budget": {
        "binding": True, "pair_changed": q != pair0,
        "rule": "scaled equal psd" if spec.power == "equal"
        else "budgeted exact power (grid + golden section over the f-link deadline)"}}
    return out


def _total(prep: PreparedProblem, p: int, pts: dict[str, LinkPoint]) -> float:
    """T_total (s) of points with arbitrary psd (rates from the psd)."""
    stage = 0.0
    for n in prep.stage_links:
        ln = prep.link(n)
        c, S = ln.demand(p)
        r = _rates(ln, pts[n])
        stage += float(np.max(c + S / r))
    rf = _rates(prep.link(prep.round_link), pts[prep.round_link])
    return float(prep.total(p, stage, float(np.max(1.0 / rf))))


def _rates(ln: Link, pt: LinkPoint) -> np.ndarray:
    m = np.arange(pt.assign.size)
    per = ln.bw * np.log2(1.0 + pt.psd * ln.gain[pt.assign, m] / ln.noise_psd)
    return np.bincount(pt.assign, weights=per, minlength=ln.K)


__all__ = ["BudgetPoint", "apply_budget", "budget_power", "fixed_energy", "least_energy",
           "power_cap_for_energy", "scale_equal"]
