"""A problem prepared once for a solve, and its links: the extension API of the methods.

    from sfl_opt.engine.prepared import prepare
    prep = prepare(problem)
    s = prep.link("s")                       # the s-link (uplink of the activations)
    pt = s.greedy(p=0, refine=True)          # allocation + exact power of pair 0
    prep.total(0, pt.t, prep.link("f").greedy(None).t)   # T_total of that point, s

:class:`PreparedProblem` holds everything that does not depend on the allocation: the
per-pair workload terms (:class:`~sfl_opt.model.delay.PairTable`), the allocation-independent
parts of an iteration and a round, and one :class:`Link` per allocated radio link.

A :class:`Link` holds one link's arrays (normalised gains ``la``/``inva``, bandwidths,
caps, the gain order of each client's subchannels) and its demand definition, and offers
the operations every method composes: the demand ``(c, S)`` of a pair, exact power of an
assignment, the power subproblem for a backend, straggler-first greedy allocation,
move/swap local search (with kicks), cheap stage lower bounds, the (split, rank) search
of a fixed assignment. A link's *stage* is ``max_k (c_k + S / R_k)``:

- ``"s"`` (per pair): ``c_k = TcF_k`` (s), ``S = S_up`` bits: the s-link stage, s;
- ``"f"`` (per bit, the same for every pair): ``c = 0``, ``S = 1``: ``max_k 1/Rf_k``,
  s/bit; the round's adapter traffic multiplies it by ``S_ad``.

A further link of the same form is a :class:`Link` with its own arrays and demand (the
``work`` FLOP per pair turned into ``c_k = work / client_flops``, the ``bits`` per pair;
both ``None`` for a per-bit link) added to ``PreparedProblem.links``; e.g. an allocated
downlink ``"d"`` has ``work = w_client_bwd``, ``bits = s_dn``, the base station's total
power as ``p_total`` and no per-client cap (``p_max = p_total`` per client: the kernels
take finite caps); it is listed in ``stage_links`` (its stage adds to the s-link's in
``total``) and its fixed downlink term leaves ``fixed_iter``. The methods loop over
``stage_links`` (see ``tests/base/test_contract.py::test_methods_handle_a_third_link``); the
result assembly (``solve``) and ``evaluate`` are the places that name the links.

Spectral-efficiency cap (``Problem.max_se``, ``se_attenuation`` α): a subchannel's rate is
``bw min(α log2(1 + SNR), max_se) = α bw min(log2(1 + SNR), lcap)`` with ``lcap = max_se /
α``. Every kernel takes ``lcap`` (box-constrained water-filling); α is folded into the
demand: a link's ``S`` is ``bits / α`` in units of the unattenuated rate, so that
``c_k + S / R_k`` is the stage with the attenuated rate ``α R_k``.
Units: s, bits, W, W/Hz, Hz, FLOP, FLOP/s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from .. import kernels as kn
from .._records import ArrayRecord, read_only
from ..errors import SflOptError, ValidationError
from ..model.delay import PairTable, pair_table, stage_for_total, total_delay
from ..model.problem import Problem
from ..power.base import PowerBackend, PowerSolution, PowerSubproblem
from ..power.scaling import Scaling

#: how often a link computed its closed-form pair bounds (:meth:`Link.cheap_bounds`: once
#: per link of a prepared problem, whoever asks: methods, the certificate)
BOUND_BUILDS = {"closed_form": 0}

#: relative tolerance of the native bisection (exact power)
RTOL = 1e-12
#: a local-search move must lower the tightest cap ratio by this much to be applied
MOVE_TOL = 1e-9
#: adaptive kicks: at most this many times ``kicks`` restarts while they keep improving
KICK_GROWTH = 10
#: with a deadline, a link with more client-subchannel entries (K * M) than this runs its
#: local search in timed chunks of moves (a smaller one finishes in milliseconds)
TIMED_LINK = 4000
#: moves of the first timed chunk
FIRST_CHUNK = 8
#: links with more entries than this sort their gain order with NumPy (vectorised
#: introsort) instead of the kernel (``kernels.gain_order``, 1.6x slower at K = 1000,
#: M = 4096); both are orders by decreasing gain
NUMPY_ORDER = 100_000


@dataclass
class LinkPoint:
    """An allocation of one link: client per subchannel ``assign (M,)``, ``psd (M,)`` W/Hz,
    and its stage ``t`` (s for a per-pair link, s/bit for a per-bit link); ``moves``
    applied by the local search."""

    assign: np.ndarray
    psd: np.ndarray
    t: float
    moves: int = 0


def kick_numbers(seed: int | None, key: int, p: int | None, kicks: int,
                 size: int = 3) -> np.ndarray:
    """Uniform numbers (kicks, 2 * size) for the kicks of one link (``key``) and pair,
    derived from ``seed`` (0 when None) so that the same seed gives the same answer."""
    k = [0 if seed is None else int(seed), int(key), -1 if p is None else int(p)]
    return np.random.default_rng([x + 1 for x in k]).random((kicks, 2 * size))


@dataclass(frozen=True, eq=False)
class Link:
    """One allocated radio link of a prepared problem (module docstring).

    ``gain (K, M)`` linear, ``bw (M,)`` Hz, ``p_max (K,)`` W (inf: no per-client cap),
    ``p_total`` W (inf allowed), ``noise_psd`` W/Hz; ``la``/``inva`` the kernels'
    normalised gains, ``order (K, M)`` each client's subchannels by decreasing gain;
    ``work (P,)`` FLOP per client before/after the transmission and ``bits (P,)`` per
    client per pair, or both None for a per-bit link; ``key`` numbers the link in the
    random streams of the kicks; ``lcap`` the cap on log2(1 + SNR) per subchannel (inf:
    none) and ``alpha`` the attenuation α (module doc).
    """

    name: str
    key: int
    gain: np.ndarray
    bw: np.ndarray
    p_max: np.ndarray
    p_total: float
    noise_psd: float
    la: np.ndarray
    inva: np.ndarray
    order: np.ndarray
    client_flops: np.ndarray
    work: np.ndarray | None = None
    bits: np.ndarray | None = None
    lcap: float = math.inf
    alpha: float = 1.0

    @classmethod
    def build(cls, name: str, key: int, gain: np.ndarray, bw: np.ndarray, p_max: np.ndarray,
              p_total: float, noise_psd: float, client_flops: np.ndarray,
              work: np.ndarray | None = None, bits: np.ndarray | None = None,
              lcap: float = math.inf, alpha: float = 1.0) -> Link:
        """A link from its data (normalised gains and gain order computed here)."""
        if (work is None) != (bits is None):
            raise ValidationError("work", "work and bits both given or both None", work)
        la, inva = kn.normalise(gain, noise_psd)
        order = (np.argsort(-la, axis=1) if la.size > NUMPY_ORDER
                 else kn.gain_order(la))
        return cls(name, key, gain, np.asarray(bw, float), np.asarray(p_max, float),
                   float(p_total), float(noise_psd), la, inva, order,
                   np.asarray(client_flops, float), work, bits, float(lcap), float(alpha))

    # -- shape and demand ------------------------------------------------------------
    @property
    def K(self) -> int:
        return int(self.gain.shape[0])

    @property
    def M(self) -> int:
        return int(self.gain.shape[1])

    @property
    def per_pair(self) -> bool:
        """True when the link's demand depends on the (split, rank) pair."""
        return self.bits is not None

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
        """``(la, inva, bw, p_max, p_total)``: the arrays the kernels take."""
        return self.la, self.inva, self.bw, self.p_max, self.p_total

    def demand(self, p: int | None) -> tuple[np.ndarray, float]:
        """``(c (K,) s, S)`` of pair ``p``: S = bits / alpha (module doc); a per-bit link
        has ``(0, 1 / alpha)`` (``p`` ignored)."""
        if self.bits is None:
            return np.zeros(self.K), 1.0 / self.alpha
        if p is None:
            raise ValidationError("p", f"a pair index for the {self.name}-link", p)
        return self.work[p] / self.client_flops, float(self.bits[p]) / self.alpha

    def scaling(self, r_unit: float = 1.0) -> Scaling:
        """The scaled units of this link's convex formulation (rate unit ``r_unit``, bit/s)."""
        return Scaling.of(self.gain, self.bw, self.noise_psd, self.p_max, self.p_total, r_unit,
                          self.lcap)

    # -- power -----------------------------------------------------------------------
    def exact_power(self, assign: np.ndarray, p: int | None) -> LinkPoint:
        """Exact (native kernel) power control of a fixed assignment."""
        c, S = self.demand(p)
        return self._power(assign, c, S)

    def _power(self, assign: np.ndarray, c: np.ndarray, S: float) -> LinkPoint:
        """Exact power of ``assign`` for the demand ``(c, S)``."""
        a = np.ascontiguousarray(assign, np.int64)
        t, psd, status, _ = kn.power_control(self.la, self.inva, self.bw, a, c, S, self.p_max,
                                             self.p_total, RTOL, self.lcap)
        if status != 0:
            raise SflOptError(f"assign_{self.name}: a client has no subchannel")
        return LinkPoint(a, psd, float(t))

    def power_subproblem(self, assign: np.ndarray, p: int | None) -> PowerSubproblem:
        """The power-control problem of a fixed assignment, for a backend."""
        c, S = self.demand(p)
        return PowerSubproblem(gain=self.gain, bw=self.bw, assign=np.asarray(assign, np.int64),
                               c=c, S=S, p_max=self.p_max, p_total=self.p_total,
                               noise_psd=self.noise_psd, lcap=self.lcap)

    def backend_power(self, assign: np.ndarray, p: int | None,
                      backend: PowerBackend) -> tuple[LinkPoint, PowerSolution]:
        """Power control of a fixed assignment by a backend: the point and the solution."""
        sol = backend.solve(self.power_subproblem(assign, p))
        return LinkPoint(np.asarray(assign, np.int64), np.asarray(sol.psd, float), sol.t), sol

    # -- allocation ------------------------------------------------------------------
    def greedy(self, p: int | None, refine: bool = False, max_moves: int = 10_000,
               kicks: int = 0, seed: int | None = None,
               deadline: float | None = None) -> LinkPoint:
        """Straggler-first greedy allocation, optionally refined by local search (with
        ``kicks`` iterated-local-search restarts; ``deadline`` see :meth:`refine`),
        exact power."""
        c, S = self.demand(p)
        assign = kn.greedy_assign(self.la, self.inva, self.bw, c, S, self.p_max, self.p_total,
                                  self.order, self.lcap)
        if not refine:
            return self.exact_power(assign, p)
        return self.refine(assign, p, max_moves, kicks, seed, deadline)

    def refine(self, assign: np.ndarray, p: int | None, max_moves: int = 10_000,
               kicks: int = 0, seed: int | None = None,
               deadline: float | None = None,
               demand: tuple[np.ndarray, float] | None = None) -> LinkPoint:
        """Move/swap local search from ``assign`` (plus ``kicks`` perturbation restarts,
        their random numbers from ``seed``), re-scored with exact power. ``deadline``
        (``time.perf_counter()`` value): on a large link (K M > ``TIMED_LINK``) the
        search runs in chunks of moves sized to the time left and stops there with the
        best assignment so far (none once the deadline has passed). ``demand``: a
        ``(c (K,) s, S)`` of its own instead of pair ``p``'s (``p`` then only keys the
        kicks' random numbers)."""
        c, S = self.demand(p) if demand is None else demand
        a0 = np.ascontiguousarray(assign, np.int64)
        if deadline is not None and self.K * self.M > TIMED_LINK:
            return self._timed_refine(a0, p, c, S, max_moves, kicks, seed, deadline)
        if kicks > 0 and self.K > 1:
            # adaptive: ``kicks`` in a row without improvement end it, at most KICK_GROWTH x
            rand = kick_numbers(seed, self.key, p, kicks * KICK_GROWTH)
            a, t, psd, moves = kn.perturb_search(self.la, self.inva, self.bw, a0, c, S,
                                                 self.p_max, self.p_total, RTOL, max_moves,
                                                 MOVE_TOL, rand, kicks, self.lcap)
        else:
            a, t, psd, moves = kn.refine_assign(self.la, self.inva, self.bw, a0, c, S,
                                                self.p_max, self.p_total, RTOL, max_moves,
                                                MOVE_TOL, self.lcap)
        return LinkPoint(a, psd, float(t), int(moves))

    def _timed_refine(self, a: np.ndarray, p: int | None, c: np.ndarray, S: float,
                      max_moves: int, kicks: int, seed: int | None,
                      deadline: float) -> LinkPoint:
        """:meth:`refine` in chunks: each chunk of moves (or of ``kicks`` kicks) is
        sized so that, at the speed of the previous one, it ends well before
        ``deadline``."""
        done, chunk = 0, FIRST_CHUNK
        if time.perf_counter() >= deadline:
            return self._power(a, c, S)
        while True:
            t0 = time.perf_counter()
            n = min(chunk, max_moves - done)
            a, t, psd, moves = kn.refine_assign(self.la, self.inva, self.bw, a, c, S,
                                                self.p_max, self.p_total, RTOL, n, MOVE_TOL,
                                                self.lcap)
            now = time.perf_counter()
            done += int(moves)
            if moves < n or done >= max_moves:
                break  # a local optimum (or the move budget)
            left = deadline - now
            # the next chunk's time, at the speed of this one, within a quarter of the time
            # left (a move costs more near a local optimum, where swaps are scanned)
            chunk = int(min(2 * chunk, chunk * 0.25 * left / max(now - t0, 1e-9)))
            if chunk < 1:
                break
        if kicks > 0 and self.K > 1 and done < max_moves:
            rand = kick_numbers(seed, self.key, p, kicks * KICK_GROWTH)
            last = 0.0  # seconds of the previous chunk of kicks
            for q in range(0, rand.shape[0], kicks):
                t0 = time.perf_counter()
                if t0 + last > deadline:
                    break
                b, tb, pb, mv = kn.perturb_search(self.la, self.inva, self.bw, a, c, S,
                                                  self.p_max, self.p_total, RTOL,
                                                  max_moves - done, MOVE_TOL,
                                                  rand[q:q + kicks], kicks, self.lcap)
                last = time.perf_counter() - t0
                done += int(mv)
                if not tb < t:
                    break  # ``kicks`` kicks in a row without improvement
                a, t, psd = b, tb, pb
        return LinkPoint(a, psd, float(t), done)

    # -- bounds ----------------------------------------------------------------------
    @cached_property
    def rate_bounds(self) -> tuple[np.ndarray, float]:
        """``(Rall (K,), Rsum)`` bit/s: each client alone with every subchannel, and the
        link's largest sum rate (``kernels.link_rate_bounds_sorted``, on the gain
        order)."""
        rall, rsum = kn.link_rate_bounds_sorted(self.la, self.inva, self.bw, self.p_max,
                                                self.p_total, self.order, self.lcap)
        return rall, float(rsum)

    def cheap_bound(self, p: int | None) -> float:
        """A lower bound on the stage of pair ``p`` under any assignment and power
        (``kernels.bounds``); on a per-bit link the closed form
        ``max(max_k 1/Rall_k, K/Rsum)`` (s/bit)."""
        rall, rsum = self.rate_bounds
        if not self.per_pair:
            return float(max(np.max(1.0 / rall), self.K / rsum)) / self.alpha
        c, S = self.demand(p)
        return float(kn.stage_lower_bound(c, S, rall, rsum, 1e-12))

    @cached_property
    def _cheap_bounds(self) -> np.ndarray:
        assert self.bits is not None
        BOUND_BUILDS["closed_form"] += 1
        out = np.array([self.cheap_bound(p) for p in range(self.bits.size)])
        read_only(out)
        return out

    def cheap_bounds(self) -> np.ndarray:
        """(P,) :meth:`cheap_bound` of every pair of a per-pair link (s), computed once
        per link and shared (read-only)."""
        return self._cheap_bounds


@dataclass(frozen=True)
class PairBounds(ArrayRecord):
    """Certified lower bounds a method proved, handed to ``solve``'s certificate so that
    it does not compute them again: ``tf`` the round link's ``max_k 1/R_k`` (s/bit;
    NaN: none) and ``stage (P,)`` the summed stage of the stage links per pair (s; NaN
    where the method has none). Each must be valid for every assignment and power (a
    dual bound, a finished search's bound, a closed form)."""

    tf: float
    stage: np.ndarray

    def __post_init__(self) -> None:
        object.__setattr__(self, "stage", np.array(self.stage, dtype=float))  # its own copy
        object.__setattr__(self, "tf", float(self.tf))
        super().__post_init__()


@dataclass(eq=False)
class PreparedProblem:
    """A problem prepared once for a solve (module docstring).

    ``tab``: the per-pair workload terms of the candidate pairs that fit the clients'
    memory, sorted by split then rank whatever the problem's candidate order (pair ``p``
    is ``pair(p)``); ``links``: name -> :class:`Link`;
    ``stage_links``: the per-pair links whose stages add up to the optimised part of an
    iteration (``("s", "d")`` with an allocated downlink); ``round_link``: the per-bit
    link of the adapter upload; ``fixed_iter (P,)``: the rest of an iteration, ``Ts +
    max_k (S_dn/rate_down_k + TcB_k)`` (s) with the fixed downlink, ``Ts`` with the
    allocated one; ``started``:
    ``time.perf_counter()`` at preparation (time limits count from it); ``full_tab``: the
    table of every candidate pair (``pair_table(problem)``, before the memory filter),
    which ``evaluate`` takes.
    """

    problem: Problem
    tab: PairTable
    links: dict[str, Link]
    fixed_iter: np.ndarray
    stage_links: tuple[str, ...] = ("s",)
    round_link: str = "f"
    started: float = field(default_factory=time.perf_counter)
    full_tab: PairTable | None = None

    def full_table(self) -> PairTable:
        """The table of every candidate pair (``full_tab``; built here if the preparation
        did not keep one)."""
        return self.full_tab if self.full_tab is not None else pair_table(self.problem)

    @property
    def P(self) -> int:
        """Number of (split, rank) pairs."""
        return len(self.tab)

    @property
    def K(self) -> int:
        return self.problem.K

    def link(self, name: str) -> Link:
        """The link called ``name`` (``"s"``, ``"f"``, and ``"d"`` for an allocated
        downlink)."""
        try:
            return self.links[name]
        except KeyError:
            raise ValidationError("link", f"one of {sorted(self.links)}", name) from None

    def pair_index(self, split: int, rank: int) -> int:
        """Index of pair (split, rank); IndexError when it is not a candidate (or does
        not fit the clients' memory)."""
        hit = np.flatnonzero((self.tab.split == split) & (self.tab.rank == rank))
        return int(hit[0])

    @property
    def splits(self) -> np.ndarray:
        """The candidate splits with at least one pair in the table (ascending)."""
        return np.unique(self.tab.split)

    @property
    def ranks(self) -> np.ndarray:
        """The candidate ranks with at least one pair in the table (ascending)."""
        return np.unique(self.tab.rank)

    def ranks_at(self, split: int) -> np.ndarray:
        """The candidate ranks paired with ``split`` in the table (ascending)."""
        return np.unique(self.tab.rank[self.tab.split == split])

    def full_grid(self, values: np.ndarray) -> np.ndarray:
        """``values (P,)`` per pair of the table as a ``(len(splits), len(ranks))`` grid of
        the problem's candidates, ``inf`` where a pair is not in the table."""
        pr = self.problem
        grid = np.full((pr.splits.size, pr.ranks.size), np.inf)
        si = np.searchsorted(pr.splits, self.tab.split, sorter=np.argsort(pr.splits))
        ri = np.searchsorted(pr.ranks, self.tab.rank, sorter=np.argsort(pr.ranks))
        grid[np.argsort(pr.splits)[si], np.argsort(pr.ranks)[ri]] = values
        return grid

    def pair(self, p: int) -> tuple[int, int]:
        """``(split, rank)`` of pair index ``p``."""
        return int(self.tab.split[p]), int(self.tab.rank[p])

    def fixed_round(self, tf_unit: float) -> np.ndarray:
        """(P,) per-round terms ``S_ad (tf_unit + 1/rate_bcast)`` (s) for a round link at
        ``tf_unit`` = ``max_k 1/Rf_k`` (s/bit)."""
        return self.tab.s_ad * (tf_unit + 1.0 / self.problem.rate_bcast)

    def total(self, p: int | np.ndarray, t_stage: float | np.ndarray, tf_unit: float) -> Any:
        """T_total (s) of pair(s) ``p`` with stage ``t_stage`` (s; the sum over
        ``stage_links``) and round link at ``tf_unit`` (s/bit)."""
        return total_delay(self.tab.rounds[p], self.problem.local_iters, t_stage,
                           self.fixed_iter[p], self.fixed_round(tf_unit)[p])

    def stage_for_total(self, p: int, total: float, tf_unit: float) -> float:
        """The inverse of :meth:`total`: the stage (s) at which pair ``p`` reaches
        ``total`` (s) with the round link at ``tf_unit``."""
        return float(stage_for_total(total, self.tab.rounds[p], self.problem.local_iters,
                                     self.fixed_iter[p], self.fixed_round(tf_unit)[p]))

    def search_link(self, link: str, assign: np.ndarray,
                    tf_unit: float) -> tuple[np.ndarray, np.ndarray]:
        """Totals (P,) and stages (P,) of every pair for a fixed assignment of the
        per-pair ``link`` (the only stage link in the totals), its power re-optimised
        exactly per pair (kernel ``search_pairs``)."""
        ln = self.link(link)
        assert ln.work is not None and ln.bits is not None
        return kn.search_pairs(ln.la, ln.inva, ln.bw, np.ascontiguousarray(assign, np.int64),
                               ln.p_max, ln.p_total, ln.client_flops, ln.work, ln.bits,
                               self.tab.rounds, self.fixed_iter, self.fixed_round(tf_unit),
                               float(self.problem.local_iters), RTOL, ln.lcap)

    def search(self, assigns: Mapping[str, np.ndarray], tf_unit: float) -> np.ndarray:
        """Totals (P,) (s) of every pair for fixed assignments of the stage links
        (``name -> assign``), each link's power re-optimised exactly per pair."""
        if set(assigns) != set(self.stage_links):
            raise ValidationError("assigns", f"one assignment per stage link "
                                  f"{list(self.stage_links)}", sorted(assigns))
        if len(self.stage_links) == 1:
            name = self.stage_links[0]
            return self.search_link(name, assigns[name], tf_unit)[0]
        stages = sum(self.search_link(n, assigns[n], tf_unit)[1] for n in self.stage_links)
        return self.total(np.arange(self.P), stages, tf_unit)

    def stage_bounds(self) -> np.ndarray:
        """(P,) cheap lower bounds (s) on the summed stage of ``stage_links``."""
        return sum(self.link(n).cheap_bounds() for n in self.stage_links)

    def with_gains(self, gains: Mapping[str, np.ndarray]) -> PreparedProblem:
        """The same prepared problem with the gains (link -> (K, n), linear) of some links
        replaced, e.g. one round of block fading (:mod:`sfl_opt.model.fading`); the workload
        terms are shared, the clock restarts."""
        links = dict(self.links)
        for name, g in gains.items():
            ln = self.link(name)
            g = np.asarray(g, float)
            if g.shape != ln.gain.shape:
                raise ValidationError(f"gains[{name}]", f"shape {ln.gain.shape}",
                                      f"shape {g.shape}")
            links[name] = Link.build(name, ln.key, g, ln.bw, ln.p_max, ln.p_total,
                                     ln.noise_psd, ln.client_flops, ln.work, ln.bits,
                                     ln.lcap, ln.alpha)
        return PreparedProblem(self.problem, self.tab, links, self.fixed_iter,
                               self.stage_links, self.round_link, full_tab=self.full_tab)

    def elapsed(self) -> float:
        """Seconds since preparation."""
        return time.perf_counter() - self.started


def prepare(problem: Problem, table: PairTable | None = None) -> PreparedProblem:
    """Pre-compute everything that does not depend on the allocation.

    The pair table holds only the (split, rank) candidates whose memory need fits every
    client's ``client_memory`` (all of them when the caps are ``inf``), so every method,
    looping over ``range(P)``, searches feasible pairs only. ``table``:
    ``pair_table(problem)`` if the caller has built it (else built here)."""
    pr = problem
    if pr.chooses_local_iters:
        raise ValidationError("local_iters", "one I here (solve chooses among candidates; "
                              "problem.at_local_iters(I) is the problem at one of them)",
                              list(pr.local_iters))
    full = pair_table(pr) if table is None else table
    tab = full
    radio = {"lcap": pr.se_cap, "alpha": pr.se_attenuation}
    fits = pr.memory_feasible().ravel()
    # the pairs in canonical order (split, then rank, ascending) whatever the order of the
    # problem's candidates: ties, search order and the kicks' random numbers (per pair
    # index) are then the same, so the answer does not depend on that order
    keep = np.flatnonzero(fits)
    tab = tab.take(keep[np.lexsort((tab.rank[keep], tab.split[keep]))])
    links = {
        "s": Link.build("s", 0, pr.gain_s, pr.bw_s, pr.p_max, pr.p_total_s, pr.noise_psd,
                        pr.client_flops, work=tab.w_client_fwd, bits=tab.s_up, **radio),
        "f": Link.build("f", 1, pr.gain_f, pr.bw_f, pr.p_max, pr.p_total_f, pr.noise_psd,
                        pr.client_flops, **radio),
    }
    fixed_iter = tab.w_server / pr.server_flops
    if pr.gain_d is None:  # the fixed-rate downlink (SPEC §2): part of the fixed terms
        tcb = tab.w_client_bwd[:, None] / pr.client_flops[None, :]
        dn = tab.s_dn[:, None] / pr.rate_down[None, :]
        return PreparedProblem(pr, tab, links, fixed_iter + np.max(dn + tcb, axis=1),
                               full_tab=full)
    # the allocated downlink (SPEC §8.4): the base station's budget, no per-client cap
    assert pr.bw_d is not None and pr.p_total_d is not None
    links["d"] = Link.build("d", 2, pr.gain_d, pr.bw_d, np.full(pr.K, pr.p_total_d),
                            pr.p_total_d, pr.noise_psd, pr.client_flops,
                            work=tab.w_client_bwd, bits=tab.s_dn, **radio)
    return PreparedProblem(pr, tab, links, fixed_iter, stage_links=("s", "d"), full_tab=full)


__all__ = ["BOUND_BUILDS", "MOVE_TOL", "RTOL", "Link", "LinkPoint", "PairBounds", "PreparedProblem",
           "kick_numbers",
           "prepare"]
