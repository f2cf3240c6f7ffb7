"""Certified optimum by branch-and-bound over subchannel assignments (``method="exact"``).

The algorithm (:func:`bnb_link`) works on one link's plain arrays: normalised gains
``la``/``inva`` (K, M), bandwidths ``bw`` (M,) Hz, caps ``p_max`` (K,) W and ``p_total``
W, demand ``c`` (K,) s and ``S`` bits (the f-link is c = 0, S = 1). It is a depth-first
search that fixes one subchannel per node (by default the one of largest *regret* at the
node's multipliers, the dual value lost when it goes to any but its favourite client,
then strongest first once no subchannel has a regret; or strongest first throughout, or
the one the relaxation contests most: ``BRANCHING``,
:func:`~sfl_opt.kernels.bnb.branch_choice`), tries the relaxation's favourite owner
first, breaks symmetry between identical subchannels and clients, and prunes a node when
the native Lagrangian bound of its partial assignment (:mod:`sfl_opt.kernels.lagrange`,
warm-started from the parent's multipliers) reaches the prune threshold, or the
per-client subchannel-set bound (:mod:`sfl_opt.kernels.columns`, ``SET_BOUND``) proves
the threshold unreachable. Leaves are
scored by the exact water-filling power control (``kernels.power_control``): the
decisions use exact arithmetic (plus safe rounding in the bound), never a solver
tolerance.

:func:`solve_problem_bnb` runs it on a :class:`~sfl_opt.engine.prepared.PreparedProblem`:
once for the round link (``"f"``) and, for every (split, rank) pair of the
(memory-filtered) pair table, for each of ``prep.stage_links`` (``"s"``, and ``"d"``
with an allocated downlink: for a fixed pair the stage links are independent and their
stages add in ``prep.total``). Pairs are visited in order of their root bounds (the
bound on the pair's whole T_total, summed over its stage links), with the heuristic
(greedy + local search + kicks) as incumbent; a pair whose bound cannot beat the best
total delay by more than ``rtol`` is dropped, and a node of one stage link is pruned
as soon as its bound plus the proven bounds of the pair's other stage links shows the
pair could not win. The lower bound is the least total delay over the pairs of the
bounds proved for them. Status ``optimal`` only when the relative gap is <= ``GAP_TOL``
(1e-6). :func:`solve_exact_bnb` is the registered ``method="exact"``.
:func:`native_lower_bound` is the bound ``solve`` puts on every result. Units: s, bits,
W, W/Hz, Hz.
"""

from __future__ import annotations

import heapq
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import kernels as kn
from ..engine.prepared import LinkPoint, PairBounds, PreparedProblem
from ..kernels.bnb import (
    branch_choice,
    branch_order,
    child_allowed,
    count_infeasible,
    node_bound,
    power_count_infeasible,
    symmetry_classes,
)
from ..kernels.columns import set_bisect, set_infeasible
from ..kernels.lagrange import initial_multipliers, link_dual_bound
from ..kernels.matching import square_link_bound
from ..status import GAP_TOL, Limit, Status, Termination, TerminationReason
from .registry import Options, Outcome
from .sflllm import solve_sflllm

#: relative prune tolerance (each link); the certified gap is at most about twice this
PRUNE_RTOL = 1e-7
#: BFGS iterations of the bound at the root of a link / at a node
ROOT_ITER = 1000
#: :func:`native_lower_bound` stops improving once the bound is within this (relative)
#: of ``upper``: such a bound already certifies a gap far below ``GAP_TOL``
RESULT_RTOL = 1e-9
#: BFGS iterations per link of :func:`native_lower_bound` (the bound on a result) on
#: links with K * M <= ``BOUND_LARGE``; larger links get ``BOUND_ITER_LARGE`` (there the
#: multiplier snapping and dense BFGS updates dominate: K = 200, M = 1024 took 6.1 s at
#: 300 iterations and 0.39 s at 20, for the same gap)
BOUND_ITER = 300
BOUND_ITER_CAPPED = 1000
BOUND_LARGE = 2000
BOUND_ITER_LARGE = 20
NODE_ITER = 8
#: best-first link searches plunge (dive to a leaf with the favourite children, for
#: incumbents) from every this many-th node taken from the heap
PLUNGE_EVERY = 4
#: links with K = M up to this size get the exact square-link bound
#: (:mod:`sfl_opt.kernels.matching`: bisection with an assignment problem, O(K^3) a step)
SQUARE_MAX = 120
#: relative bisection tolerance of the square-link bound
SQUARE_RTOL = 1e-10
#: the counting tests of a node (``count_infeasible``, ``power_count_infeasible``) cost up
#: to O(K M^2); on links with K M^2 above this they are skipped (they only prune)
COUNT_MAX = 4_000_000
#: branching rule of :func:`bnb_link` and the searches of :func:`solve_problem_bnb`:
#: ``"regret"`` (largest regret first, then static), ``"static"`` (strongest subchannel
#: first) or ``"contested"`` (the most shared). With best-first search only the favourite
#: child of a regret branch keeps its parent's bound, so the least open bound rises;
#: static branching left plateaus of equal bounds (children given to clients the bound
#: ignores): at K = 10, M = 40 (default seed 0) static proved a gap of 0.108 % in 60 s,
#: regret certified the optimum in 18.6 s; at K = 20, M = 64 0.104 % -> 0.080 %
BRANCHING = "regret"
#: relative tolerance of the exact power control at the leaves
PC_RTOL = 1e-13
#: the per-client subchannel-set bound (:mod:`sfl_opt.kernels.columns`, a Dantzig-Wolfe
#: bound that keeps each client's set of subchannels integral) at the root of every link
#: searched and as a prune test at the nodes. Default scenario, K = 10, M = 40, seed 2,
#: best pair: the time-sharing root bound is 4.3 % below the best assignment, this one
#: 0.3 % (issue 20). False: the search without it (the benchmark's "before" side)
SET_BOUND = True
#: subgradient steps of the set bound's prices at a link's root (per probe deadline)
SET_ROOT_ITER = 100
#: ... and per node test (warm-started from the previous node's prices)
SET_NODE_ITER = 3
#: relative bisection tolerance of the set bound
SET_RTOL = 1e-10
#: after this many node tests of the set bound on a link, the test is dropped there if
#: it pruned fewer than ``SET_MIN_RATE`` of the nodes it was tried on (each test costs
#: about 20 node bounds of the time-sharing dual)
SET_TRIAL = 200
SET_MIN_RATE = 0.05
#: links with more client-subchannel entries (K M) than this skip the set bound (one
#: evaluation of its dual costs about 160 K M water-level terms)
SET_MAX = 5000
#: a search recomputes its root's set bound when its incumbent improved by this much
SET_REFRESH = 2e-3
#: the set bound's subgradient steps run in chunks of this many between deadline checks
SET_CHUNK = 10


@dataclass
class LinkArrays:
    """One link's data for a fixed demand (see module doc)."""

    la: np.ndarray
    inva: np.ndarray
    bw: np.ndarray
    pmax: np.ndarray
    ptot: float
    c: np.ndarray
    S: float
    lcap: float = math.inf  # the spectral-efficiency cap, log2(1 + SNR) per subchannel

    @property
    def K(self) -> int:
        return int(self.la.shape[0])

    @property
    def M(self) -> int:
        return int(self.la.shape[1])

    def exact(self, assign: np.ndarray) -> tuple[float, np.ndarray]:
        """Exact optimal deadline (s) and psd of an assignment (inf if a client has none)."""
        t, psd, status, _ = kn.power_control(self.la, self.inva, self.bw,
                                             np.ascontiguousarray(assign, np.int64), self.c,
                                             self.S, self.pmax, self.ptot, PC_RTOL, self.lcap)
        return (float(t) if status == 0 else math.inf), psd

    def root_bound(self, max_iter: int = ROOT_ITER) -> tuple[float, np.ndarray]:
        """Native bound (s) of the whole link and its multipliers."""
        fixed = -np.ones(self.M, np.int64)
        z = initial_multipliers(self.la, self.inva, self.bw, fixed, self.pmax, self.ptot,
                                self.lcap)
        b, _ = link_dual_bound(self.la, self.inva, self.bw, fixed, self.c, self.S, self.pmax,
                               self.ptot, z, max_iter, math.inf, self.lcap)
        cheap = self.cheap_bound()
        return max(float(b), cheap), z

    def cheap_bound(self) -> float:
        """Closed-form bound (``kernels.bounds``)."""
        rall, rsum = kn.link_rate_bounds(self.la, self.inva, self.bw, self.pmax, self.ptot,
                                         self.lcap)
        return float(kn.stage_lower_bound(self.c, self.S, rall, rsum, 1e-12)) * (1 - 1e-12)


def square_bound(arr: LinkArrays, lo: float, hi: float) -> float:
    """``lo`` raised to the square-link bound when the link has K = M (at most
    ``SQUARE_MAX``): every assignment is a perfect matching and the bound is the
    optimum to ``SQUARE_RTOL`` (:mod:`sfl_opt.kernels.matching`). ``lo``: a valid
    lower bound (s); ``hi``: a feasible deadline (s), e.g. an assignment's."""
    if arr.K != arr.M or arr.K > SQUARE_MAX or not (math.isfinite(hi) and hi > lo):
        return lo
    return max(lo, float(square_link_bound(arr.la, arr.inva, arr.bw, arr.c, arr.S, arr.pmax,
                                           arr.ptot, lo, hi, SQUARE_RTOL, arr.lcap)))


def is_square(arr: LinkArrays) -> bool:
    """Whether :func:`square_bound` applies to the link."""
    return arr.K == arr.M and arr.K <= SQUARE_MAX


def set_bound(arr: LinkArrays, lo: float, hi: float, pi: np.ndarray | None = None,
              iters: int = SET_ROOT_ITER, deadline: float | None = None) -> float:
    """``lo`` raised to the per-client subchannel-set bound of the whole link
    (:mod:`sfl_opt.kernels.columns`): the multipliers ``pi`` (M + K,; zeros if None,
    updated in place) are optimised at a probe deadline just below ``hi`` (a feasible deadline, s)
    for up to ``iters`` subgradient steps, then the largest deadline they prove
    infeasible is found by bisection; a second round probes half-way. ``lo``: a valid
    lower bound (s).
    Nothing is started after ``deadline`` (``time.perf_counter()`` value); stopping
    early only loosens the bound."""
    if not (SET_BOUND and math.isfinite(hi) and hi > lo and math.isfinite(lo)):
        return lo
    if is_square(arr):
        return lo  # the square-link bound is the optimum there
    if arr.K * arr.M > SET_MAX:
        return lo
    pi = np.zeros(arr.M + arr.K) if pi is None else pi
    fixed = -np.ones(arr.M, np.int64)
    go = kn.gain_order(arr.la)
    eq = bool(np.all(arr.bw == arr.bw[0]))
    args = (arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot)

    def fits(evals: int) -> bool:
        return deadline is None or (time.perf_counter()
                                    + evals * _SET_COST["eval"] * arr.K * arr.M <= deadline)

    for rnd in range(2):
        if not hi - lo > SET_RTOL * hi:
            break
        probe = hi - (hi - lo) * (0.02 if rnd == 0 else 0.5)
        done, inf = 0, False
        while done < iters and not inf:
            n = min(SET_CHUNK, iters - done)
            if not fits(n + 1):
                return lo
            t0 = time.perf_counter()
            inf, _ = set_infeasible(*args, probe, pi, n, go, eq, arr.lcap)
            _SET_COST["eval"] = max(0.5 * _SET_COST["eval"],
                                    (time.perf_counter() - t0) / ((n + 1) * arr.K * arr.M))
            done += n
        if inf:
            lo = probe
        b = hi if inf else probe
        if not fits(SET_BISECT_EVALS):
            return lo
        lo = max(lo, float(set_bisect(*args, lo, b, pi, SET_RTOL, go, eq, arr.lcap)))
    return lo


#: seconds per client-subchannel entry of one evaluation of the set bound's dual (the
#: largest seen in this process, starting from a guess)
_SET_COST = {"eval": 2e-6}
#: evaluations of a bisection of :func:`set_bound` (for its time estimate)
SET_BISECT_EVALS = 40


@dataclass
class LinkOutcome:
    """Result of :func:`bnb_link`: best assignment and deadline, the bound proved (s),
    whether the search finished, and counters."""

    assign: np.ndarray
    t: float
    psd: np.ndarray
    lower: float
    finished: bool
    nodes: int = 0
    leaves: int = 0
    bound_evals: int = 0
    improved: int = 0
    counted: int = 0
    info: dict[str, Any] = field(default_factory=dict)


class LinkSearch:
    """The branch-and-bound of one link, resumable: :meth:`run` works until the tree is
    exhausted or a deadline, and can be called again (the problem-level search
    interleaves the links and pairs, best bound first). Depth-first by default; with
    ``best_first`` the open node of least bound is expanded next (each open node keeps
    its own partial assignment), so that :attr:`lower`, the bound proved so far (s),
    rises steadily. See :func:`bnb_link` for the other arguments."""

    def __init__(self, arr: LinkArrays, incumbent: np.ndarray,
                 threshold: Callable[[float], float], *, z0: np.ndarray | None = None,
                 node_iter: int = NODE_ITER, on_improve: Callable[[float], None] | None = None,
                 branching: str | None = None, root: float = -math.inf,
                 best_first: bool = False) -> None:
        self.best_first = best_first
        self.heap: list[tuple[float, int, int, int, int, int, np.ndarray | None,
                              np.ndarray | None]] = []
        self.seq = 0
        self.pops = 0
        self.slowest = 0.0  # seconds of the slowest node bound so far
        self.arr, self.threshold, self.node_iter = arr, threshold, node_iter
        self.on_improve, self.branching = on_improve, branching
        best_a = np.ascontiguousarray(incumbent, np.int64).copy()
        best_t, best_psd = arr.exact(best_a)
        self.out = LinkOutcome(best_a, best_t, best_psd, math.inf, False)
        self.pruned_lower = math.inf  # least bound over the dropped nodes
        # explicit DFS stack: (depth, subchannel, owner, parent's z, parent's bound); the
        # root's z is set up by the first :meth:`run`
        self.z0 = z0
        self.stack: list[tuple[int, int, int, np.ndarray | None, float]] = [
            (0, -1, -1, None, root)]
        self.ready = False
        #: prices of the set bound (:mod:`sfl_opt.kernels.columns`), shared by the nodes
        self.pi: np.ndarray | None = None
        self.set_pruned = 0
        self.set_tests = 0
        #: a bound (s) on every completion of the root (the set bound), and the incumbent
        #: deadline it was computed against
        self.floor = root
        self.floor_hi = math.inf

    def _setup(self) -> None:
        """Symmetry classes, branching order, root multipliers (first :meth:`run`)."""
        arr = self.arr
        K, M = arr.K, arr.M
        self.sub_prev, self.cli_prev = symmetry_classes(arr.la, arr.bw, arr.c, arr.pmax)
        self.order = branch_order(arr.la, arr.bw)
        self.equal_bw = bool(np.all(arr.bw == arr.bw[0]))
        self.cap_binds = self.equal_bw and arr.ptot < float(np.sum(arr.pmax))
        self.counting = K * M * M <= COUNT_MAX
        self.gorder = kn.gain_order(arr.la)
        self.pi = np.zeros(M + K) if self.pi is None else self.pi
        self.set_nodes = SET_BOUND and not is_square(arr) and K * M <= SET_MAX
        self.branching = BRANCHING if self.branching is None else self.branching
        self.fixed = -np.ones(M, np.int64)
        z0 = self.z0
        if z0 is None:
            z0 = initial_multipliers(arr.la, arr.inva, arr.bw, self.fixed, arr.pmax, arr.ptot,
                                     arr.lcap)
        depth, m, owner, _, root = self.stack[0]
        self.stack[0] = (depth, m, owner, z0.copy(), root)
        if self.best_first:  # (bound, -depth, seq, depth, m, owner, parent fixed, z)
            self.stack = []
            self.heap = [(root, 0, 0, 0, -1, -1, self.fixed.copy(), z0.copy())]
        self.count = np.zeros(K, np.int64)
        self.path: list[int] = []  # subchannels fixed along the current path, by depth
        self.ready = True

    @property
    def finished(self) -> bool:
        return self.ready and not self.stack and not self.heap or (
            not self.ready and not self.stack)

    @property
    def lower(self) -> float:
        """No assignment of the link has a deadline below this (s)."""
        open_lower = min((item[4] for item in self.stack), default=math.inf)
        if self.heap:
            open_lower = min(open_lower, self.heap[0][0])
        return min(max(self.floor, min(self.pruned_lower, open_lower)), self.out.t)

    def refresh_floor(self, deadline: float | None = None) -> None:
        """Recompute the root's set bound (:func:`set_bound`) against the incumbent once
        it has improved by more than ``SET_REFRESH`` since the last computation (the
        prices are optimised near the incumbent's deadline)."""
        t = self.out.t
        if not (SET_BOUND and math.isfinite(t) and t < self.floor_hi * (1 - SET_REFRESH)):
            return
        self.floor_hi = t
        if self.pi is None:
            self.pi = np.zeros(self.arr.M + self.arr.K)
        self.floor = max(self.floor, set_bound(self.arr, min(self.lower, t), t, self.pi,
                                               deadline=deadline))

    def run(self, deadline: float | None = None, hard: float | None = None) -> bool:
        """Search until the tree is exhausted (True) or ``deadline`` (False); a node (or
        the set-up) expected to end after ``hard`` (default ``deadline``; e.g. the time
        limit when ``deadline`` ends a slice) is not started."""
        arr = self.arr
        hard = deadline if hard is None else hard
        if not self.ready:
            if hard is not None and (time.perf_counter()
                                     + dual_time_estimate(arr.K, arr.M, 6) > hard):
                return False
            self._setup()
        if self.best_first:
            return self._run_best_first(deadline, hard)
        out, fixed, count, path = self.out, self.fixed, self.count, self.path
        M = arr.M
        stack = self.stack
        # a node's bound costs about 3 evaluations of the dual per BFGS iteration
        node_time = dual_time_estimate(arr.K, M, 3 * self.node_iter + 2)
        first = True
        while stack:
            now = time.perf_counter()
            if hard is not None and now + node_time > hard or (
                    not first and deadline is not None and now > deadline):
                return False
            first = False
            depth, m, owner, z, pbound = stack.pop()
            # rewind the path to the parent and apply this node's decision
            while len(path) > max(depth - 1, 0):
                m_old = path.pop()
                count[fixed[m_old]] -= 1
                fixed[m_old] = -1
            if depth > 0:
                fixed[m] = owner
                count[owner] += 1
                path.append(m)
            out.nodes += 1
            thr = self.threshold(out.t)
            if depth == M:
                out.leaves += 1
                t, psd = arr.exact(fixed)
                if t < out.t:
                    out.t, out.assign, out.psd = t, fixed.copy(), psd
                    out.improved += 1
                    if self.on_improve is not None:
                        self.on_improve(t)
                continue
            if self.counting and count_infeasible(
                    arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, thr,
                    self.gorder, self.equal_bw, arr.lcap) or self.counting and (
                    self.cap_binds and power_count_infeasible(
                        arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot, thr,
                        self.gorder, arr.lcap)):
                out.counted += 1
                self.pruned_lower = min(self.pruned_lower, max(thr, pbound))
                continue
            z = z.copy()
            t0 = time.perf_counter()
            b, ev = node_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax,
                               arr.ptot, z, self.node_iter, thr, arr.lcap)
            _record_cost(time.perf_counter() - t0, int(ev), arr.K, M)
            out.bound_evals += int(ev)
            b = max(float(b), pbound)
            if b >= thr:
                self.pruned_lower = min(self.pruned_lower, b)
                continue
            # children: the most contested subchannel to each client; the relaxation's
            # favourite is popped first
            mb, cands = self._choose(fixed, z, depth)
            for k in cands[::-1]:
                k = int(k)
                if child_allowed(fixed, count, mb, k, self.sub_prev, self.cli_prev):
                    stack.append((depth + 1, int(mb), k, z, b))
        return True

    def _choose(self, fixed: np.ndarray, z: np.ndarray, depth: int) -> tuple[int, np.ndarray]:
        """The subchannel to branch on at a node and its clients in the order to try
        (``kernels.bnb.branch_choice``, by :attr:`branching`): ``"static"`` the fixed
        order (strongest first), ``"contested"`` the most shared, ``"regret"`` the one of
        largest regret, then (no regret left) the first free one in the static order."""
        arr = self.arr
        if self.branching == "static":
            forced = int(self.order[depth])
        elif self.branching == "regret":
            mb, cands = branch_choice(arr.inva, arr.bw, fixed, z, arr.pmax, arr.ptot, -1,
                                      arr.lcap, True)
            if mb >= 0:
                return int(mb), cands
            forced = next(int(m) for m in self.order if fixed[m] < 0)
        else:
            forced = -1
        mb, cands = branch_choice(arr.inva, arr.bw, fixed, z, arr.pmax, arr.ptot, forced,
                                  arr.lcap)
        return int(mb), cands

    def _run_best_first(self, deadline: float | None, hard: float | None) -> bool:
        """:meth:`run` with the open node of least bound first."""
        arr, out, heap = self.arr, self.out, self.heap
        K, M = arr.K, arr.M
        # a node: about 3 evaluations per BFGS iteration, or the slowest node seen
        node_time = max(dual_time_estimate(K, M, 3 * self.node_iter + 2), self.slowest)
        first = True
        nxt = None  # the next node of a plunge
        while heap or nxt is not None:
            now = time.perf_counter()
            if hard is not None and now + node_time > hard or (
                    not first and deadline is not None and now > deadline):
                if nxt is not None:
                    heapq.heappush(heap, nxt)
                return False
            first = False
            if nxt is None:
                self.pops += 1
                item = heapq.heappop(heap)
                plunging = self.pops % PLUNGE_EVERY == 0
            else:
                item, nxt = nxt, None
            pbound, _, _, depth, m, owner, pfixed, z = item
            fixed = pfixed.copy()
            if depth > 0:
                fixed[m] = owner
            out.nodes += 1
            thr = self.threshold(out.t)
            if pbound >= thr:  # the incumbent improved since the node was queued
                self.pruned_lower = min(self.pruned_lower, pbound)
                continue
            if depth == M:
                out.leaves += 1
                t, psd = arr.exact(fixed)
                if t < out.t:
                    out.t, out.assign, out.psd = t, fixed.copy(), psd
                    out.improved += 1
                    if self.on_improve is not None:
                        self.on_improve(t)
                continue
            if self.counting and count_infeasible(
                    arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, thr,
                    self.gorder, self.equal_bw, arr.lcap) or self.counting and (
                    self.cap_binds and power_count_infeasible(
                        arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot, thr,
                        self.gorder, arr.lcap)):
                out.counted += 1
                self.pruned_lower = min(self.pruned_lower, max(thr, pbound))
                continue
            z = z.copy()
            t0 = time.perf_counter()
            b, ev = node_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax,
                               arr.ptot, z, self.node_iter, thr, arr.lcap)
            _record_cost(time.perf_counter() - t0, int(ev), K, M)
            out.bound_evals += int(ev)
            b = max(float(b), pbound, self.floor)
            if b >= thr:
                self.pruned_lower = min(self.pruned_lower, b)
                continue
            if self.set_nodes and self.set_tests >= SET_TRIAL and (
                    self.set_pruned < SET_MIN_RATE * self.set_tests):
                self.set_nodes = False  # the test rarely prunes on this link: stop it
            if self.set_nodes and math.isfinite(thr):
                self.set_tests += 1
            if self.set_nodes and math.isfinite(thr) and set_infeasible(
                    arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax, arr.ptot, thr,
                    self.pi, SET_NODE_ITER, self.gorder, self.equal_bw, arr.lcap)[0]:
                # no completion meets thr (the set bound): the node's bound is thr
                self.set_pruned += 1
                self.pruned_lower = min(self.pruned_lower, max(thr, b))
                continue
            dt = time.perf_counter() - t0
            if dt > self.slowest:
                self.slowest = dt
                node_time = max(node_time, dt)
            mb, cands = self._choose(fixed, z, depth)
            count = np.bincount(fixed[fixed >= 0], minlength=K).astype(np.int64)
            for k in cands:
                k = int(k)
                if child_allowed(fixed, count, mb, k, self.sub_prev, self.cli_prev):
                    # deeper first among equal bounds, then the relaxation's favourite
                    self.seq += 1
                    child = (b, -(depth + 1), self.seq, depth + 1, int(mb), k, fixed, z)
                    if plunging and nxt is None:
                        nxt = child  # a plunge goes on with the favourite child
                    else:
                        heapq.heappush(heap, child)
        return True

    def outcome(self) -> LinkOutcome:
        """The best assignment so far, the bound proved and the counters."""
        self.out.lower = self.lower
        self.out.finished = self.finished
        self.out.info["set_tests"] = self.set_tests
        self.out.info["set_pruned"] = self.set_pruned
        return self.out


def bnb_link(arr: LinkArrays, incumbent: np.ndarray, threshold: Callable[[float], float],
             *, z0: np.ndarray | None = None, deadline: float | None = None,
             node_iter: int = NODE_ITER, on_improve: Callable[[float], None] | None = None,
             branching: str | None = None) -> LinkOutcome:
    """Depth-first branch-and-bound over the assignments of one link.

    ``incumbent``: a feasible assignment (every client has a subchannel).
    ``threshold(t_best)``: the prune level (s) given the best deadline so far: a node
    whose bound reaches it is dropped (e.g. ``t_best (1 - rtol)``, or lower when the
    pair cannot win). ``branching``: ``"static"`` (strongest subchannel first) or
    ``"contested"`` (the subchannel the relaxation shares most). ``deadline``:
    ``time.perf_counter()`` value at which to stop.
    ``on_improve(t)`` is called when a better assignment is found. ``lower`` is the
    least bound over every dropped or unexplored node (capped at the best deadline):
    no assignment has a deadline below it.
    """
    search = LinkSearch(arr, incumbent, threshold, z0=z0, node_iter=node_iter,
                        on_improve=on_improve, branching=branching)
    search.run(deadline)
    return search.outcome()


# ---------------------------------------------------------------------------- problem level
def link_of(prep: PreparedProblem, link: str, p: int | None) -> LinkArrays:
    """:class:`LinkArrays` of ``link`` of a prepared problem (pair ``p`` for a per-pair
    link, None for the per-bit round link)."""
    ln = prep.link(link)
    la, inva, bw, pmax, ptot = ln.arrays()
    c, S = ln.demand(p)
    return LinkArrays(la, inva, np.asarray(bw, float), np.asarray(pmax, float), float(ptot),
                      np.asarray(c, float), float(S), ln.lcap)


def native_link_bounds(prep: PreparedProblem, max_iter: int = ROOT_ITER,
                       pairs: np.ndarray | None = None) -> tuple[float, np.ndarray]:
    """``(tf, ts)``: native bounds on the round link's ``max_k 1/R_k`` (s/bit) and on the
    summed stage of ``prep.stage_links`` (s) of every pair (NaN for pairs not in
    ``pairs``)."""
    tf, _ = link_of(prep, prep.round_link, None).root_bound(max_iter)
    ts = np.full(prep.P, np.nan)
    for p in (range(prep.P) if pairs is None else pairs):
        ts[int(p)] = sum(link_of(prep, n, int(p)).root_bound(max_iter)[0]
                         for n in prep.stage_links)
    return tf, ts


def bound_iterations(prep: PreparedProblem) -> int:
    """BFGS iterations per link of the bound on a result: ``BOUND_ITER`` unless a link
    has more than ``BOUND_LARGE`` client-subchannel entries (then ``BOUND_ITER_LARGE``);
    ``BOUND_ITER_CAPPED`` on small links with a spectral-efficiency cap (where the dual
    is piecewise linear in the multipliers of saturated subchannels and BFGS needs more
    steps: 1.4e-4 short of the relaxation's optimum at 300 on tests' small problems)."""
    size = max(ln.K * ln.M for ln in prep.links.values())
    if size > BOUND_LARGE:
        return BOUND_ITER_LARGE
    capped = any(math.isfinite(ln.lcap) for ln in prep.links.values())
    return BOUND_ITER_CAPPED if capped else BOUND_ITER


#: BFGS iterations of the first (timing) call of :func:`timed_dual_bound`
PROBE_ITER = 2
#: evaluations of the dual (each O(K M)) that a probe call costs, about
PROBE_EVALS = 8
#: seconds per client-subchannel entry and evaluation of the dual: the largest seen
#: in this process (starts at a guess; machines and load differ)
_COST = {"entry": 1e-7}


def _entries(K: int, M: int) -> int:
    """Work of one evaluation of the dual and BFGS step: K M terms, (2K+1)^2 updates."""
    return K * M + (2 * K + 1) ** 2


def _record_cost(seconds: float, evals: int, K: int, M: int) -> None:
    if evals > 0:
        _COST["entry"] = max(0.5 * _COST["entry"], seconds / (evals * _entries(K, M)))


def dual_time_estimate(K: int, M: int, evals: int = PROBE_EVALS) -> float:
    """Estimated seconds of ``evals`` evaluations of a link's dual (K x M)."""
    return _COST["entry"] * _entries(K, M) * evals


#: how many dual bounds of a link (for one pair, or the round link) were computed by
#: :func:`timed_dual_bound` (the root bounds of ``exact`` and the certificate's)
DUAL_SOLVES = {"link": 0}


def timed_dual_bound(arr: LinkArrays, fixed: np.ndarray, z: np.ndarray | None,
                     max_iter: int, target: float,
                     deadline: float | None) -> tuple[float, np.ndarray | None]:
    """``link_dual_bound`` of ``arr`` from multipliers ``z`` (None: the initial ones;
    updated in place) that stops improving at ``deadline`` (``time.perf_counter()``
    value; None: no limit): a short first call times an iteration, the second gets
    the iterations that fit half the time left; nothing is started that is expected to
    end after the deadline (then ``-inf``). Any multipliers certify a valid bound, so
    stopping early only loosens it. Returns ``(bound, z)``."""
    DUAL_SOLVES["link"] += 1
    K, M = arr.K, arr.M
    if deadline is not None and time.perf_counter() + dual_time_estimate(K, M) > deadline:
        return -math.inf, z
    t0 = time.perf_counter()
    if z is None:
        z = initial_multipliers(arr.la, arr.inva, arr.bw, fixed, arr.pmax, arr.ptot, arr.lcap)
    first = max_iter if deadline is None else min(max_iter, PROBE_ITER)
    b, ev = link_dual_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax,
                            arr.ptot, z, first, target, arr.lcap)
    b = float(b)
    now = time.perf_counter()
    _record_cost(now - t0, int(ev) + 2, K, M)
    if deadline is None or first >= max_iter or b >= target:
        return b, z
    per_iter = (now - t0) / first
    n = min(max_iter - first, int(0.5 * (deadline - now) / max(per_iter, 1e-9)))
    if n < 1:
        return b, z
    b2, ev = link_dual_bound(arr.la, arr.inva, arr.bw, fixed, arr.c, arr.S, arr.pmax,
                             arr.ptot, z, n, target, arr.lcap)
    _record_cost(time.perf_counter() - now, int(ev), K, M)
    return max(b, float(b2)), z


def native_lower_bound_details(prep: PreparedProblem, upper: float = math.inf,
                               max_iter: int | None = None,
                               deadline: float | None = None,
                               known: PairBounds | None = None) -> dict[str, Any]:
    """The native bound on T_total with its parts: ``bound`` (s), ``tf`` (s/bit), ``ts``
    (P,) certified bounds on the summed stage of the stage links (s; NaN where skipped),
    ``cheap`` (P,) closed-form summed stage bounds, ``pair`` (the minimising pair) and
    ``solved`` (pairs bounded natively).

    The bound is ``min_p total(p, ts_p, tf)`` over the pairs of the (memory-filtered)
    pair table; every link (each stage link, the round link) is bounded on its own
    arrays (with a shared band, each link's own pool). Pairs are visited in order of
    their closed-form bound, each link warm-started from the previous pair's
    multipliers, and a link's optimisation stops as soon as it certifies a stage at
    which the pair's total (with the other stage links at their bounds) reaches the
    least total so far (or ``upper`` (1 - ``RESULT_RTOL``), ``upper`` e.g. a known
    solution's delay): the pair cannot
    lower the minimum, and its certified value is still valid. Once the closed-form bound
    reaches the minimum, the remaining pairs are skipped (and when the closed forms
    alone reach ``upper``, no dual is solved at all). Valid for every instance
    (module :mod:`..kernels.lagrange`). ``max_iter``: BFGS iterations per link (None:
    :func:`bound_iterations`); fewer iterations give a looser but still valid bound.
    ``deadline`` (``time.perf_counter()`` value): the bound is *anytime*: the dual
    solves stop improving there and the pairs not reached keep their closed-form
    bounds (``timed_out`` says whether that happened).

    ``known``: bounds a method already proved (:class:`PairBounds`, e.g. ``exact``'s
    root and search bounds): they are not computed again. Its round-link bound replaces
    the round link's dual, its pair bounds start each pair (a pair they already lift to
    the least total so far is skipped) and stay in ``ts``; the bound is then at least
    the one they give."""
    if max_iter is None:
        max_iter = bound_iterations(prep)
    names = prep.stage_links
    P = prep.P
    cheap_l = {n: prep.link(n).cheap_bounds() * (1 - 1e-12) for n in names}
    cheap = sum(cheap_l.values())
    f_arr = link_of(prep, prep.round_link, None)
    tf = prep.link(prep.round_link).cheap_bound(None) * (1 - 1e-12)
    known_tf = math.nan if known is None else known.tf
    if math.isfinite(known_tf):
        tf = max(tf, known_tf)
    base = cheap if known is None else np.fmax(cheap, known.stage)  # NaN: the closed form
    # ``upper`` less a hair: a bound within RESULT_RTOL of it certifies enough
    upper = upper * (1 - RESULT_RTOL)
    timed_out = False
    if math.isfinite(known_tf):
        pass  # the method's round-link bound (its dual, at least as many iterations)
    elif float(np.min(prep.total(np.arange(P), base, tf))) < upper:
        # the closed forms alone do not reach ``upper``: the round link's dual bound
        if deadline is not None and time.perf_counter() >= deadline:
            timed_out = True
        else:
            t_dual, _ = timed_dual_bound(f_arr, -np.ones(f_arr.M, np.int64), None, max_iter,
                                         math.inf, deadline)
            tf = max(tf, t_dual)
            if is_square(f_arr):
                tf = square_bound(f_arr, tf, prep.link(prep.round_link).greedy(None).t)
    cheap_tot = prep.total(np.arange(P), base, tf)
    ts = np.full(P, np.nan) if known is None else np.array(known.stage, dtype=float)
    best, best_p, solved = math.inf, -1, 0
    zs: dict[str, np.ndarray | None] = {}
    for p in np.argsort(cheap_tot, kind="stable"):
        p = int(p)
        ref = min(best, upper)
        if cheap_tot[p] >= ref or (deadline is not None and time.perf_counter() >= deadline):
            # the remaining pairs' closed forms are at least this one's
            timed_out = timed_out or cheap_tot[p] < ref
            if cheap_tot[p] < best:
                best, best_p = float(cheap_tot[p]), p
            break
        stage_ref = prep.stage_for_total(p, ref, tf) if ref < math.inf else math.inf
        lo = {n: float(cheap_l[n][p]) for n in names}
        for n in names:
            arr = link_of(prep, n, p)
            others = sum(lo[m] for m in names if m != n)
            t, zs[n] = timed_dual_bound(arr, -np.ones(arr.M, np.int64), zs.get(n), max_iter,
                                        stage_ref - others, deadline)
            lo[n] = max(t, lo[n])
            if is_square(arr) and lo[n] < stage_ref - others:
                lo[n] = square_bound(arr, lo[n], prep.link(n).greedy(p).t)
        ts[p] = max(sum(lo.values()), float(base[p]))
        solved += 1
        tot = float(prep.total(p, ts[p], tf))
        if tot < best:
            best, best_p = tot, p
    return {"bound": best, "tf": tf, "ts": ts, "cheap": cheap, "pair": best_p,
            "solved": solved, "timed_out": timed_out}


def native_lower_bound(prep: PreparedProblem, upper: float = math.inf,
                       deadline: float | None = None,
                       known: PairBounds | None = None) -> float:
    """A lower bound (s) on the optimal T_total over all pairs (native, no solver).
    ``upper``: a known achievable total delay (s) lets pairs that cannot matter be
    skipped; the result is then ``min(bound, upper)``-safe: it never exceeds the true
    optimum. ``deadline``, ``known``: see :func:`native_lower_bound_details`."""
    return float(native_lower_bound_details(prep, upper, deadline=deadline,
                                            known=known)["bound"])


@dataclass
class ProblemOutcome:
    """Result of :func:`solve_problem_bnb`: the pair index, the round link's outcome
    ``f``, one outcome per stage link ``stages`` (name -> :class:`LinkOutcome`), the
    delay and its bound (s), the gap, and counters."""

    p: int
    stages: dict[str, LinkOutcome]
    f: LinkOutcome
    delay: float
    lower: float
    gap: float
    finished: bool
    heuristic_delay: float
    pairs_searched: int
    pair_lower: np.ndarray
    grid: np.ndarray
    timings: dict[str, float]
    nodes: int
    #: the certified bounds behind ``pair_lower``: the round link's (s/bit) and the
    #: summed stage of every pair (s), as :class:`PairBounds` for the certificate
    bounds: PairBounds | None = None

    @property
    def s(self) -> LinkOutcome:
        """The s-link's outcome."""
        return self.stages["s"]


#: least number of kicks of the local searches that give :func:`solve_problem_bnb` its
#: incumbents (the round link's, each activated pair's stage links')
INCUMBENT_KICKS = 30
#: ... on links with at most this many client-subchannel entries (K M; larger links keep
#: ``kicks``: their greedy and local search alone take a large share of a short limit)
INCUMBENT_KICKS_MAX = 4000
#: ... and while at least this many seconds of the time limit are left (the local search
#: of a link this small is not split into timed chunks)
INCUMBENT_KICKS_LEFT = 5.0
#: with a time limit, the incumbent (plain ``solve``) gets at most this share of it
HEURISTIC_SHARE = 0.5
#: seconds a selected link search runs before the best-bound choice is made again
SLICE = 0.05
#: seconds between two progress reports
PROGRESS_EVERY = 1.0


def solve_problem_bnb(prep: PreparedProblem, *, time_limit: float | None = None,
                      prune_rtol: float = PRUNE_RTOL, seed: int | None = 0,
                      kicks: int = 30, max_moves: int = 10_000, start: Outcome | None = None,
                      progress: Callable[[dict[str, float]], None] | None = None
                      ) -> ProblemOutcome:
    """Certified optimum of the whole problem (module doc). ``time_limit`` s from now.

    The incumbent is ``start`` (an :class:`Outcome` of a method, e.g. SflLLM's), by
    default plain SflLLM (``solve``'s point; with a time limit it gets
    ``HEURISTIC_SHARE`` of it): the result is never worse. Then, best bound first: the
    pair with the least lower bound is taken; the first time, its stage links get their
    root bounds and incumbents (the better of the greedy + local search and the
    incumbent's assignment re-powered for the pair); afterwards the one of its links
    (the round link, shared by all pairs, or one of its stage links) whose gap
    contributes most to the pair's gap is searched for ``SLICE`` s, and the choice is
    made again. It stops when no pair's bound is below the best total by more than
    ``prune_rtol``, or at the time limit. ``progress(d)`` is called every
    ``PROGRESS_EVERY`` s with ``elapsed``, ``delay``, ``lower``, ``gap``, ``nodes``."""
    t_start = time.perf_counter()
    deadline = None if time_limit is None else t_start + time_limit
    timings: dict[str, float] = {}
    P = prep.P
    names = prep.stage_links
    keep = 1 - prune_rtol
    pall = np.arange(P)
    # incumbent: the heuristic (plain solve)
    if start is None:
        limit = None if time_limit is None else prep.elapsed() + HEURISTIC_SHARE * time_limit
        start = solve_sflllm(prep, Options(seed=seed, kicks=kicks, max_moves=max_moves,
                                           time_limit=limit))
    timings["heuristic"] = time.perf_counter() - t_start
    p0 = int(start.pair)
    f0 = start.points[prep.round_link]
    # the incumbents' local search gets at least INCUMBENT_KICKS kicks (solve's automatic
    # count falls to 2 at K = 10, M = 40, where its point was 18 % above the optimum);
    # the better point is kept, so the result is never worse than ``start``
    def inc_kicks(n: str) -> int:
        ln = prep.link(n)
        roomy = deadline is None or deadline - time.perf_counter() >= INCUMBENT_KICKS_LEFT
        return (max(kicks, INCUMBENT_KICKS) if ln.K * ln.M <= INCUMBENT_KICKS_MAX and roomy
                else kicks)

    if inc_kicks(prep.round_link) > kicks and (deadline is None
                                               or time.perf_counter() < deadline):
        f_alt = prep.link(prep.round_link).greedy(None, True, max_moves,
                                                  inc_kicks(prep.round_link), seed, deadline)
        if f_alt.t < f0.t:
            f0 = f_alt
    cur: dict[int, dict[str, LinkPoint]] = {p0: {n: start.points[n] for n in names}}
    s0 = sum(cur[p0][n].t for n in names)
    heuristic_delay = float(prep.total(p0, s0, start.points[prep.round_link].t))
    best: dict[str, Any] = {"total": min(heuristic_delay, float(prep.total(p0, s0, f0.t))),
                            "p": p0}
    grid = np.full(P, np.inf) if start.grid is None else np.asarray(start.grid, float).copy()
    grid[p0] = min(grid[p0], best["total"])
    # closed-form bounds of every stage link and pair, the round link's root bound
    t0 = time.perf_counter()
    stage_lo = {n: prep.link(n).cheap_bounds() * (1 - 1e-12) for n in names}
    f_arr = link_of(prep, prep.round_link, None)
    f_root, zf = timed_dual_bound(f_arr, -np.ones(f_arr.M, np.int64), None, ROOT_ITER,
                                  math.inf, deadline)
    f_cheap = prep.link(prep.round_link).cheap_bound(None) * (1 - 1e-12)
    f_lo = square_bound(f_arr, max(f_root, f_cheap), f0.t)
    f_pi = np.zeros(f_arr.M + f_arr.K)
    f_lo = set_bound(f_arr, f_lo, f0.t, f_pi, deadline=deadline)
    state = {"tf": f0.t, "tf_lo": min(f_lo, f0.t)}
    timings["pair_bounds"] = time.perf_counter() - t0

    def stage_cur(p: int) -> float:
        return float(sum(cur[p][n].t for n in names))

    def lower_all() -> np.ndarray:
        return np.asarray(prep.total(pall, sum(stage_lo[n] for n in names), state["tf_lo"]),
                          float)

    def update_best(p: int) -> None:
        tot = float(prep.total(p, stage_cur(p), state["tf"]))
        grid[p] = min(grid[p], tot)
        if tot < best["total"]:
            best["total"], best["p"] = tot, p

    # the round link's search: prune a node when no pair could beat the best with it
    def f_threshold(t_best: float) -> float:
        lo = sum(stage_lo[n] for n in names)
        a = np.asarray(prep.total(pall, lo, 0.0), float)
        slope = np.asarray(prep.total(pall, lo, 1.0), float) - a
        need = float(np.max((best["total"] * keep - a) / slope))
        return min(t_best * keep, need)

    def f_improved(t: float) -> None:
        state["tf"] = t
        for q in cur:
            update_best(q)

    f_search: LinkSearch | None = None
    searches: dict[tuple[str, int], LinkSearch] = {}
    closed: set[int] = set()  # pairs with nothing left to search

    def activate(p: int) -> None:
        """Root bounds, incumbents and searches of pair p's stage links."""
        pts = cur.get(p, {})
        for n in names:
            arr = link_of(prep, n, p)
            others = sum(float(stage_lo[m][p]) for m in names if m != n)
            target = prep.stage_for_total(p, best["total"] * keep, state["tf_lo"]) - others
            root, z = timed_dual_bound(arr, -np.ones(arr.M, np.int64), None, ROOT_ITER,
                                       target, deadline)
            stage_lo[n][p] = max(float(stage_lo[n][p]), root)
            ln = prep.link(n)
            cands = [] if n not in pts else [pts[n]]
            cands.append(ln.exact_power(cur[best["p"]][n].assign, p))
            if deadline is None or time.perf_counter() < deadline:
                cands.append(ln.greedy(p, True, max_moves, inc_kicks(n), seed, deadline))
            pts[n] = min(cands, key=lambda pt: pt.t)
            root = square_bound(arr, max(root, float(stage_lo[n][p])), pts[n].t)
            pi = np.zeros(arr.M + arr.K)
            root = set_bound(arr, root, pts[n].t, pi, deadline=deadline)
            stage_lo[n][p] = max(float(stage_lo[n][p]), root)

            def threshold(t_best: float, p: int = p, n: str = n) -> float:
                others = sum(float(stage_lo[m][p]) for m in names if m != n)
                return min(t_best * keep, prep.stage_for_total(
                    p, best["total"] * keep, state["tf_lo"]) - others)

            def improved(t: float, p: int = p, n: str = n) -> None:
                out = searches[(n, p)].out
                cur[p][n] = LinkPoint(out.assign, out.psd, out.t)
                update_best(p)

            searches[(n, p)] = LinkSearch(arr, pts[n].assign, threshold, z0=z,
                                          on_improve=improved, root=root, best_first=True)
            searches[(n, p)].pi = pi
            searches[(n, p)].floor_hi = pts[n].t
        cur[p] = pts
        update_best(p)

    t0 = time.perf_counter()
    finished = False
    last_report = t0
    while True:
        lows = lower_all()
        if progress is not None and time.perf_counter() - last_report >= PROGRESS_EVERY:
            last_report = time.perf_counter()
            lo = min(float(lows.min()), best["total"])
            progress({"elapsed": prep.elapsed(), "delay": best["total"], "lower": lo,
                      "gap": (best["total"] - lo) / best["total"],
                      "nodes": sum(s.out.nodes for s in searches.values())
                      + (0 if f_search is None else f_search.out.nodes)})
        lows[list(closed)] = math.inf
        p = int(np.argmin(lows))
        if not lows[p] < best["total"] * keep:
            finished = True  # every pair searched out or unable to win
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        if (names[0], p) not in searches:
            activate(p)
            continue
        # the link whose gap weighs most in pair p's gap
        slo = sum(float(stage_lo[n][p]) for n in names)
        base = float(prep.total(p, slo, state["tf_lo"]))
        task, weight = None, 0.0
        if f_search is None or not f_search.finished:
            weight = float(prep.total(p, slo, state["tf"])) - base
            task = "f"
        for n in names:
            sr = searches[(n, p)]
            if sr.finished:
                continue
            w = float(prep.total(p, slo + cur[p][n].t - float(stage_lo[n][p]),
                                 state["tf_lo"])) - base
            if task is None or w > weight:
                task, weight = n, w
        if task is None:
            closed.add(p)
            continue
        until = time.perf_counter() + SLICE
        if task == "f":
            if f_search is None:
                f_search = LinkSearch(f_arr, f0.assign, f_threshold, z0=zf,
                                      on_improve=f_improved, root=state["tf_lo"],
                                      best_first=True)
                f_search.pi = f_pi
                f_search.floor_hi = f0.t
            sr = f_search
        else:
            sr = searches[(task, p)]
        sr.refresh_floor(deadline)
        if not sr.run(until, math.inf if deadline is None else deadline) and (
                time.perf_counter() < until):
            # the next node would end after the time limit: nothing more fits
            break
        if task == "f":
            state["tf_lo"] = max(state["tf_lo"], min(f_search.lower, state["tf"]))
        else:
            stage_lo[task][p] = max(float(stage_lo[task][p]), sr.lower)
    timings["search"] = time.perf_counter() - t0
    pb = int(best["p"])
    stages: dict[str, LinkOutcome] = {}
    for n in names:
        pt = cur[pb][n]
        sr = searches.get((n, pb))
        if sr is not None:
            out = sr.outcome()
            out.assign, out.psd, out.t = pt.assign, pt.psd, pt.t
        else:
            out = LinkOutcome(pt.assign, pt.t, pt.psd, float(stage_lo[n][pb]), False)
        stages[n] = out
    if f_search is not None:
        f_out = f_search.outcome()
    else:
        f_out = LinkOutcome(f0.assign, f0.t, f0.psd, state["tf_lo"], False)
    f_out.t = state["tf"]
    delay = float(best["total"])
    pair_lower = lower_all()
    lower = float(min(np.min(pair_lower), delay))
    gap = (delay - lower) / delay
    nodes = sum(s.out.nodes for s in searches.values()) + f_out.nodes
    timings["total"] = time.perf_counter() - t_start
    # the round link's bound replaces the certificate's dual only when the root dual ran
    bounds = PairBounds(state["tf_lo"] if f_root > -math.inf else math.nan,
                        sum(stage_lo[n] for n in names))
    return ProblemOutcome(pb, stages, f_out, delay, lower, gap, finished, heuristic_delay,
                          len({p for _, p in searches}), pair_lower, grid, timings, nodes,
                          bounds)


def solve_exact_bnb(prep: PreparedProblem, opts: Options) -> Outcome:
    """``method="exact"``: the certified optimum by :func:`solve_problem_bnb`, from
    SflLLM's point (plain ``solve``). ``status="optimal"`` only when the relative gap is
    <= ``GAP_TOL``; on a time limit the best point with its proven ``lower_bound`` and
    ``termination.limit="time"``. Option ``progress``: a callable receiving the
    progress reports (see :func:`solve_problem_bnb`)."""
    remaining = None if opts.time_limit is None else max(0.0, opts.time_limit - prep.elapsed())
    out = solve_problem_bnb(prep, time_limit=remaining, seed=opts.seed, kicks=opts.kicks,
                            max_moves=opts.max_moves, progress=opts.extra.get("progress"))
    points = {n: LinkPoint(o.assign, o.psd, o.t) for n, o in out.stages.items()}
    points[prep.round_link] = LinkPoint(out.f.assign, out.f.psd, out.f.t)
    status = Status.OPTIMAL if out.gap <= GAP_TOL else Status.FEASIBLE
    termination = (Termination.at_limit(Limit.TIME) if not out.finished
                   else Termination(TerminationReason.OPTIMAL if status == Status.OPTIMAL
                                    else TerminationReason.CONVERGED))
    info = {"assign": "exact-bnb", "heuristic_delay": out.heuristic_delay,
            "certified_gap": out.gap, "nodes": out.nodes, "pairs_searched": out.pairs_searched}
    return Outcome(out.p, points, status, termination, iterations=out.nodes,
                   history=[out.heuristic_delay, out.delay], timings=out.timings,
                   grid=out.grid, lower_bound=out.lower, info=info, power="native",
                   pair_bounds=out.bounds)


__all__ = ["DUAL_SOLVES", "GAP_TOL", "LinkArrays", "LinkOutcome", "LinkSearch", "ProblemOutcome",
           "bnb_link", "bound_iterations", "link_of",
           "native_link_bounds", "native_lower_bound", "native_lower_bound_details",
           "solve_exact_bnb", "solve_problem_bnb"]
