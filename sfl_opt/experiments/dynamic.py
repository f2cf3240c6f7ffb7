"""Training runs under block fading (SPEC §8.4): ``simulate_training``.

A run fixes (split, rank) — by default the nominal optimum ``solve(problem)``, or the
sample-average choice ``solve(problem, fading="saa")`` with ``pair="saa"`` — and plays
its rounds, the small-scale fading of every allocated link redrawn per round by
:class:`sfl_opt.model.fading.GaussMarkovFading` (correlation ``rho`` between consecutive
rounds; optional mobility). Policies:

- ``"adaptive"``: allocation and power re-optimised every round: the better of the
  straggler-first greedy allocation and the static allocation (exact power), then local
  search (refine) — so each round's stages are never above the static policy's;
- ``"static"``: the allocation of round 0 (the nominal solution) kept for the run;
  ``static_power="fixed"`` (default) also keeps its power spectral densities (nothing is
  re-solved, the rates follow the channel), ``"resolved"`` re-solves the exact power of
  the fixed allocation every round.

Each round's delay is ``evaluate`` of the round's point on the round's channel
(``T_round = I T_iter + t_fed + t_bcast``). The run's delay is ``rounds(r)`` times the
mean round delay over the ``ceil(rounds(r))`` simulated rounds (the sum of the rounds'
delays when rounds(r) is an integer; ``rounds=`` simulates another number of rounds and
scales the same way). ``bounds`` are certified per-round lower bounds of the pair (the
kernels' cheap stage bounds on the round's channel, or with ``bound="relaxation"`` also
the time-sharing relaxation of each link: no allocation and power beat them),
and ``reopt_time`` the seconds of each round's update: the re-optimisation on the round's
gains (adaptive, by :class:`RoundReoptimiser`: the new gains normalised and ordered, the
kernels run, what does not change with the channel computed once) or the links rebuilt
and the power re-solved (static, resolved).
Units: s.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validation as v
from .. import kernels as kn
from ..engine.bounds import TimeSharingRelaxation  # cvxpy, only for this bound
from ..engine.prepared import (
    KICK_GROWTH,
    MOVE_TOL,
    NUMPY_ORDER,
    RTOL,
    LinkPoint,
    PreparedProblem,
    kick_numbers,
    prepare,
)
from ..errors import SflOptError, ValidationError
from ..model.delay import evaluate
from ..model.fading import GaussMarkovFading, with_gains
from ..model.problem import Problem
from ..solve import solve

#: policies of :func:`simulate_training`
POLICIES = ("adaptive", "static")
#: power of the static policy
STATIC_POWER = ("fixed", "resolved")
#: per-round bounds
BOUNDS = ("cheap", "relaxation")
#: starts of :class:`RoundReoptimiser`'s local searches
REOPT_STARTS = ("fresh", "warm")
#: ``start="warm"``: a client's greedy power budget is at least this fraction of p_max
WARM_FLOOR = 1e-3


@dataclass
class TrainingRun:
    """One simulated training run (module docstring). Times in s."""

    policy: str
    split: int
    rank: int
    rounds_r: float                 # rounds(r) of the pair
    round_delays: np.ndarray        # (n,) T_round of each simulated round
    bounds: np.ndarray              # (n,) certified lower bound on each T_round
    reopt_time: np.ndarray          # (n,) re-optimisation time of each round
    settings: dict[str, Any] = field(default_factory=dict)

    @property
    def total(self) -> float:
        """The run's delay: rounds(r) x the mean round delay, s."""
        return float(self.rounds_r * self.round_delays.mean())

    @property
    def bound(self) -> float:
        """Lower bound on the run's delay with this pair under any per-round allocation."""
        return float(self.rounds_r * self.bounds.mean())

    def to_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "split": self.split, "rank": self.rank,
                "rounds_r": self.rounds_r, "total": self.total, "bound": self.bound,
                "round_delays": self.round_delays.tolist(), "bounds": self.bounds.tolist(),
                "reopt_time": self.reopt_time.tolist(), "settings": self.settings}


def _link_bound(rp: PreparedProblem, name: str, p: int, kind: str) -> float:
    """Lower bound on one link's stage of pair ``p`` (per-bit link: ``p`` ignored)."""
    ln = rp.link(name)
    q = p if ln.per_pair else None
    cheap = ln.cheap_bound(q)
    if kind == "cheap":
        return cheap
    relaxed = TimeSharingRelaxation(rp, name).stage(q, cheap)
    return max(cheap, relaxed or 0.0)


def round_bound(rp: PreparedProblem, p: int, kind: str = "cheap") -> float:
    """Certified lower bound (s) on T_round of pair ``p`` on a round's links ``rp``:
    every link's stage bounded by the kernels' cheap bounds (``kind="cheap"``) or also
    by the time-sharing relaxation (``"relaxation"``, needs cvxpy; ~50 ms per link)."""
    stage = sum(_link_bound(rp, n, p, kind) for n in rp.stage_links)
    tf = _link_bound(rp, rp.round_link, p, kind)
    return float(rp.total(p, stage, tf) / rp.tab.rounds[p])


def adaptive_point(rp: PreparedProblem, p: int, held: Mapping[str, LinkPoint],
                   max_moves: int = 10_000, kicks: int = 0,
                   seed: int | None = None) -> dict[str, LinkPoint]:
    """One round's re-optimisation of pair ``p`` on the round's links ``rp``
    (:meth:`~sfl_opt.engine.prepared.PreparedProblem.with_gains`): each link's local search from
    the better of the greedy allocation and the held one ``held[link]`` (exact power).
    :class:`RoundReoptimiser` computes the same points faster."""
    out = {}
    for name, ln in rp.links.items():
        q = p if ln.per_pair else None
        g = ln.greedy(q)
        h = ln.exact_power(held[name].assign, q)
        start = g if g.t <= h.t else h
        out[name] = ln.refine(start.assign, q, max_moves, kicks, seed)
    return out


class RoundReoptimiser:
    """The fast path of :func:`adaptive_point`: one (split, rank) pair re-optimised round
    after round as the gains change, with the same answer (bit for bit) as
    ``adaptive_point(prep.with_gains(gains), p, held, ...)``.

    What does not change with the channel is computed once: each link's demand
    ``(c, S)`` of the pair, bandwidths and caps, the held assignments and the kicks'
    random numbers; a round only
    normalises the new gains, orders each client's subchannels and runs the kernels
    (greedy, exact power of the greedy and the held assignment, local search), without
    building a :class:`~sfl_opt.engine.prepared.PreparedProblem`.

        reopt = RoundReoptimiser(prepare(problem), p, held)
        points = reopt(gains)          # link -> LinkPoint, as adaptive_point

    ``gains``: link -> (K, n) linear gains of the round (every link of the problem, as
    :meth:`sfl_opt.model.fading.GaussMarkovFading.next` returns them; a link left out
    keeps the prepared gains). ``client_flops`` (K,) FLOP/s: the round's compute speeds
    when they change too (the virtual-time replay's jitter and stragglers), the same
    points as a fresh ``adaptive_point`` on a problem with those speeds.

    ``start="warm"`` (opt-in; not bit-equal): each link's local search starts from the
    better (exact power) of the previous call's allocation (the held one at first:
    fading is correlated round to round) and the straggler-first greedy run at the held
    point's per-client powers (instead of the equal split ``p_total / K``: the optimum
    spreads power unevenly, so this greedy starts nearer a local optimum). Fewer
    local-search moves per round; the local optimum reached differs in some rounds,
    better or worse (``benchmarks/bench_dynamic.py`` measures both modes and the
    delays; docs/model.md). The answer then depends on the calls before it
    (deterministic for the same sequence of rounds); :meth:`reset` forgets them.
    """

    def __init__(self, prep: PreparedProblem, p: int, held: Mapping[str, LinkPoint],
                 max_moves: int = 10_000, kicks: int = 0, seed: int | None = None,
                 start: str = "fresh") -> None:
        if not 0 <= int(p) < prep.P:
            raise ValidationError("p", f"a pair index in [0, {prep.P})", p)
        missing = sorted(set(prep.links) - set(held))
        if missing:
            raise ValidationError("held", f"a point for every link {sorted(prep.links)}",
                                  sorted(held))
        self.prep, self.p = prep, int(p)
        self.max_moves = v.positive_int("max_moves", max_moves)
        self.kicks = int(kicks)
        self.start = v.choice("start", start, REOPT_STARTS)
        self._links = []
        self._budget: dict[str, np.ndarray] = {}
        for name, ln in prep.links.items():
            q = self.p if ln.per_pair else None
            c, S = ln.demand(q)
            rand = (kick_numbers(seed, ln.key, q, self.kicks * KICK_GROWTH)
                    if self.kicks > 0 and ln.K > 1 else None)
            a_h = np.ascontiguousarray(held[name].assign, np.int64)
            self._links.append((name, ln, np.ascontiguousarray(c, float), float(S), a_h,
                                rand))
            if self.start == "warm":
                # the held point's power per client (W), floored so that a client the
                # held point left silent still takes part in the greedy
                psd = np.nan_to_num(np.asarray(held[name].psd, float), nan=0.0)
                power = np.bincount(a_h, weights=np.maximum(psd, 0.0) * ln.bw,
                                    minlength=ln.K)
                self._budget[name] = np.ascontiguousarray(
                    np.clip(power, WARM_FLOOR * ln.p_max, ln.p_max))
        self.reset()

    def reset(self) -> None:
        """Forget the previous calls (``start="warm"``: start again from the held
        allocations)."""
        self._prev = {name: a_h for name, _, _, _, a_h, _ in self._links}

    def __call__(self, gains: Mapping[str, np.ndarray],
                 client_flops: np.ndarray | None = None) -> dict[str, LinkPoint]:
        """The round's point of every link (link -> :class:`LinkPoint`)."""
        if client_flops is not None:
            client_flops = v.float_array("client_flops", client_flops, shape=(self.prep.K,),
                                         positive=True)
        out = {}
        for name, ln, c, S, held, rand in self._links:
            if client_flops is not None and ln.per_pair:
                # the demand of the round's speeds, as Link.demand computes it
                c = np.ascontiguousarray(ln.work[self.p] / client_flops, float)
            g = gains.get(name)
            if g is None:
                g, la, inva, order = ln.gain, ln.la, ln.inva, ln.order
            else:
                g = np.asarray(g, float)
                if g.shape != ln.gain.shape:
                    raise ValidationError(f"gains[{name}]", f"shape {ln.gain.shape}",
                                          f"shape {g.shape}")
                la, inva = kn.normalise(g, ln.noise_psd)
                order = np.argsort(-la, axis=1) if la.size > NUMPY_ORDER else kn.gain_order(la)
            if self.start == "warm":  # greedy at the held powers vs the previous round
                held = self._prev[name]
                a_g = kn.greedy_assign(la, inva, ln.bw, c, S, self._budget[name], math.inf,
                                       order, ln.lcap)
            else:
                a_g = kn.greedy_assign(la, inva, ln.bw, c, S, ln.p_max, ln.p_total, order,
                                       ln.lcap)
            t_g, psd_g, st_g, _ = kn.power_control(la, inva, ln.bw, a_g, c, S, ln.p_max,
                                                   ln.p_total, RTOL, ln.lcap)
            t_h, psd_h, st_h, _ = kn.power_control(la, inva, ln.bw, held, c, S, ln.p_max,
                                                   ln.p_total, RTOL, ln.lcap)
            if st_g != 0 or st_h != 0:
                raise SflOptError(f"assign_{name}: a client has no subchannel")
            a0 = a_g if t_g <= t_h else held
            if rand is not None:
                a, t, psd, moves = kn.perturb_search(la, inva, ln.bw, a0, c, S, ln.p_max,
                                                     ln.p_total, RTOL, self.max_moves,
                                                     MOVE_TOL, rand, self.kicks, ln.lcap)
            else:
                a, t, psd, moves = kn.refine_assign(la, inva, ln.bw, a0, c, S, ln.p_max,
                                                    ln.p_total, RTOL, self.max_moves,
                                                    MOVE_TOL, ln.lcap)
            out[name] = LinkPoint(a, psd, float(t), int(moves))
        if self.start == "warm":
            for name, pt in out.items():  # (a copy: the caller may change its points)
                self._prev[name] = pt.assign.copy()
        return out


def simulate_training(problem: Problem, seed: int = 0, policy: str = "adaptive",
                      rounds: int | None = None, *, rho: float = 0.0,
                      pair: str | tuple[int, int] = "nominal",
                      large_scale: Mapping[str, np.ndarray] | None = None,
                      distance: np.ndarray | None = None, mobility_step: float = 0.0,
                      static_power: str = "fixed", samples: int = 32, max_moves: int = 10_000,
                      kicks: int = 0, bound: str = "cheap", start: str = "fresh") -> TrainingRun:
    """Simulate one training run of ``problem`` under block fading (module docstring).

    ``seed`` draws the fading (the same seed gives the same channel sequence for every
    policy and pair); ``pair``: ``"nominal"`` (``solve(problem)``), ``"saa"``
    (``solve(problem, fading="saa", samples=samples, seed=seed)``) or a ``(split,
    rank)``; ``rho`` the round-to-round fading correlation in [0, 1]; ``large_scale``
    (link -> (K,)) the large-scale gains (default: estimated from the problem),
    ``distance`` (K,) m and ``mobility_step`` m per round for mobility; ``kicks`` the
    iterated-local-search restarts of each adaptive re-optimisation; ``bound`` the
    per-round bound (:func:`round_bound`: ``"cheap"`` or ``"relaxation"``); ``start`` the
    adaptive re-optimisation's start (:class:`RoundReoptimiser`: ``"fresh"``, the
    default, or the opt-in ``"warm"``).
    """
    if not isinstance(problem, Problem):
        raise ValidationError("problem", "a sfl_opt.Problem", type(problem).__name__)
    seed = v.seed("seed", seed)
    v.choice("policy", policy, POLICIES)
    v.choice("static_power", static_power, STATIC_POWER)
    v.choice("bound", bound, BOUNDS)
    v.choice("start", start, REOPT_STARTS)
    if rounds is not None:
        rounds = v.positive_int("rounds", rounds)
    prep = prepare(problem)
    nominal = None
    if isinstance(pair, str):
        v.choice("pair", pair, ("nominal", "saa"))
        kw: dict[str, Any] = ({"fading": "saa", "samples": samples, "seed": seed,
                               "large_scale": large_scale} if pair == "saa" else {})
        nominal = solve(problem, **kw)
        split, rank = nominal.split, nominal.rank
    else:
        try:
            split, rank = (int(x) for x in pair)
            prep.pair_index(split, rank)
        except (TypeError, ValueError, IndexError):
            raise ValidationError("pair", "'nominal', 'saa' or a (split, rank) of the "
                                  "problem's candidates", pair) from None
    p = prep.pair_index(split, rank)
    # round 0's point of the pair on the nominal channel: the static allocation
    if nominal is not None:
        held = {"s": LinkPoint(nominal.assign_s, nominal.psd_s, np.nan),
                "f": LinkPoint(nominal.assign_f, nominal.psd_f, np.nan)}
        if nominal.assign_d is not None:
            held["d"] = LinkPoint(nominal.assign_d, nominal.psd_d, np.nan)
    else:
        held = {name: ln.greedy(p if ln.per_pair else None, True, max_moves)
                for name, ln in prep.links.items()}
    rounds_r = float(prep.tab.rounds[p])
    n = rounds if rounds is not None else int(math.ceil(rounds_r))
    fading = GaussMarkovFading(problem, rho, np.random.default_rng([seed, 140]),
                               large=large_scale, distance=distance, step=mobility_step)
    delays, bounds, times = np.empty(n), np.empty(n), np.zeros(n)
    table = prep.full_table()
    reopt = (RoundReoptimiser(prep, p, held, max_moves, kicks, seed, start)
             if policy == "adaptive" else None)
    for t in range(n):
        gains = fading.next()
        t0 = time.perf_counter()
        if reopt is not None:  # = adaptive_point(prep.with_gains(gains), p, held, ...)
            pts = reopt(gains)
            times[t] = time.perf_counter() - t0
            rp = prep.with_gains(gains)  # for the round's bound
        else:
            rp = prep.with_gains(gains)
            if static_power == "resolved":
                pts = {name: rp.link(name).exact_power(pt.assign, p if rp.link(name).per_pair
                                                       else None)
                       for name, pt in held.items()}
            else:
                pts = dict(held)
            times[t] = time.perf_counter() - t0
        dn = {} if "d" not in pts else {"assign_d": pts["d"].assign, "psd_d": pts["d"].psd}
        # the round's problem shares the validated fields and the pair table (the
        # workload terms do not depend on the channel): only the gains are new
        bd = evaluate(with_gains(problem, gains), split, rank, pts["s"].assign, pts["s"].psd,
                      pts["f"].assign, pts["f"].psd, **dn, table=table)
        delays[t] = bd.t_round
        bounds[t] = round_bound(rp, p, bound)
    settings = {"seed": seed, "rho": rho, "rounds_simulated": n, "pair": pair if isinstance(
        pair, str) else list(pair), "static_power": static_power if policy == "static" else None,
        "mobility_step": mobility_step, "large_scale": "given" if large_scale is not None
        else "estimated", "downlink": problem.downlink, "band": problem.band,
        "kicks": kicks, "bound": bound, "start": start}
    return TrainingRun(policy, split, rank, rounds_r, delays, bounds, times, settings)


__all__ = ["BOUNDS", "POLICIES", "REOPT_STARTS", "STATIC_POWER", "RoundReoptimiser",
           "TrainingRun", "adaptive_point", "round_bound", "simulate_training"]
