"""Virtual-time replay of a plan: ``replay(problem, result, perturbations, seeds)``.

A plan (a :class:`~sfl_opt.SolveResult`: split, rank, allocation, power) is played
round by round in virtual time under seeded perturbations, and the realised training
time and energy are compared with the plan's prediction.

Perturbations (:class:`Perturbations`; all off by default), drawn per seed from
independent streams so that the same seed gives the same channel, speed and
availability sequence whatever else changes (common random numbers across strengths,
policies and plans):

- ``rho``: block fading of every allocated link, the Gauss-Markov model of
  :class:`sfl_opt.model.fading.GaussMarkovFading` (round 0 is the problem's own gains;
  ``rho = 0`` i.i.d. per round, ``None`` no fading);
- ``jitter``: compute-speed jitter, client k's compute time in round t multiplied by a
  lognormal ``exp(jitter · z)``, ``z ~ N(0, 1)`` per client and round (median 1);
- ``straggler_prob``, ``straggler_slowdown``: with that probability per client and round
  its compute time is further multiplied by ``straggler_slowdown``;
- ``dropout``: each client is unavailable for a round with this probability (Bernoulli
  per client and round), or ``trace``: an availability trace
  (:func:`load_trace`: per-client on-intervals in virtual seconds).

Policies: ``policy="static"`` keeps the plan's allocation and power (its rates follow
the channel; a dropped client's subchannels stay idle); ``"adaptive"`` re-optimises the
allocation and exact power of the plan's (split, rank) every round for the round's
channels, speeds and participants (greedy + local search from the better of the greedy
and the held allocation; a round with every client taking part is re-optimised by
:class:`sfl_opt.experiments.dynamic.RoundReoptimiser`, the same points faster).
``dropouts="drop"`` (drop-and-continue) runs the round with
the available clients; ``"wait"`` (wait-for-all) idles until every client is available
(a Bernoulli draw is retried every ``retry`` s, default the plan's round time; a trace
is followed to the first instant all clients are on).

Each round is :func:`sfl_opt.evaluate` of the round's point on a problem restricted to
the round's participants (and, static, to their subchannels), with the round's gains
and compute speeds and ``rounds = 1``, so the round time ``T_round`` and the round's
energy (:mod:`sfl_opt.model.energy`) are the model's own. Energy of compute is charged per
FLOP (a slower round costs time, not joules); a dropped or waiting client spends 0 J;
the base station keeps each participant's downlink share ``bs_power / K`` (so its
broadcast in a thinned round is charged at ``K'/K`` of ``bs_power``, a small
under-count: the broadcast is < 0.01 % of the energy in the default scenario).

How rounds are charged (the stated assumption). The plan needs ``rounds(r)`` rounds
(:func:`planned_rounds`, from the problem's convergence data). A round with K' of the
K clients advances training by K'/K of a round (FedAvg progress proportional to the
participating data; with equal data per client), so drop-and-continue plays rounds
until the progress reaches ``rounds(r)``; the last round is charged the fraction of its
time and energy that completes the progress (the convergence model's fractional
rounds). With no perturbation the replay therefore reproduces the plan's delay:
``ceil(rounds)`` rounds of ``T_round``, the last one fractional, sum ``rounds · T_round``
(:func:`replay` with ``perturbations=None``; tested).

Seeds run through :func:`sfl_opt.experiments.executor.run_tasks` (serial, a process pool or a Dask
executor) with a progress bar. Units: s, J.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _validation as v
from ..engine.prepared import LinkPoint, prepare
from ..engine.result import SolveResult
from ..errors import ValidationError
from ..model.delay import evaluate
from ..model.fading import GAIN_FIELDS, GaussMarkovFading, faded_links
from ..model.perturbations import (
    Perturbations,
    available,
    draw_multipliers,
    load_trace,
    next_all_on,
    save_trace,
    validate_trace,
)
from ..model.problem import Problem
from .dynamic import RoundReoptimiser
from .executor import run_tasks

#: allocation policies and dropout policies
POLICIES = ("static", "adaptive")
DROPOUTS = ("drop", "wait")
#: a replay stops after this many times ceil(rounds(r)) rounds (heavy dropout)
MAX_ROUND_FACTOR = 1000


def planned_rounds(problem: Problem, rank: int) -> float:
    """Rounds to the target quality of ``rank`` for ``problem``, from the problem's
    convergence data (``Problem.rounds`` aligned with ``ranks``). The one place the
    replay reads rounds."""
    hit = np.flatnonzero(problem.ranks == rank)
    if hit.size == 0:
        raise ValidationError("rank", f"one of the problem's ranks {problem.ranks.tolist()}",
                              rank)
    return float(problem.rounds[int(hit[0])])


@dataclass
class SeedRun:
    """One seed's replay: per-round ``round_time`` (s, charged, incl. waiting),
    ``round_energy`` (J, all clients + server + base station, charged), ``progress``
    (rounds of training each round added), ``participants`` (rounds, K) bool, and the
    totals."""

    seed: int
    round_time: np.ndarray
    round_energy: np.ndarray
    client_energy: np.ndarray   # (K,) J over the run
    progress: np.ndarray
    participants: np.ndarray
    wait_time: float

    @property
    def total(self) -> float:
        return float(self.round_time.sum())

    @property
    def energy(self) -> float:
        return float(self.round_energy.sum())

    def to_dict(self) -> dict[str, Any]:
        return {"seed": self.seed, "total": self.total, "energy": self.energy,
                "wait_time": self.wait_time, "round_time": self.round_time.tolist(),
                "round_energy": self.round_energy.tolist(),
                "client_energy": self.client_energy.tolist(),
                "progress": self.progress.tolist(),
                "participants": self.participants.astype(int).tolist()}


@dataclass
class ReplayResult:
    """Replays of one plan over seeds (module docstring). ``planned_total`` s and
    ``planned_energy`` J (the plan's own ``delay`` and ``energy.total``);
    ``realised_total`` (n,) s and ``realised_energy`` (n,) J per seed; ``runs`` the
    per-seed :class:`SeedRun` with the per-round records."""

    planned_total: float
    planned_energy: float
    planned_rounds: float
    realised_total: np.ndarray
    realised_energy: np.ndarray
    runs: list[SeedRun]
    settings: dict[str, Any] = field(default_factory=dict)

    def percentiles(self, q: Sequence[float] = (5, 50, 95)) -> dict[str, dict[float, float]]:
        """Percentiles over seeds of the realised time (s), energy (J) and their ratio to
        the plan."""
        return {"time": dict(zip(q, np.percentile(self.realised_total, q).tolist(),
                                 strict=True)),
                "energy": dict(zip(q, np.percentile(self.realised_energy, q).tolist(),
                                   strict=True)),
                "time_ratio": dict(zip(q, np.percentile(
                    self.realised_total / self.planned_total, q).tolist(), strict=True))}

    def to_dict(self) -> dict[str, Any]:
        pc = self.percentiles()
        return {"planned_total": self.planned_total, "planned_energy": self.planned_energy,
                "planned_rounds": self.planned_rounds,
                "realised_total": self.realised_total.tolist(),
                "realised_energy": self.realised_energy.tolist(),
                "percentiles": {k: {str(a): b for a, b in d.items()} for k, d in pc.items()},
                "settings": self.settings, "runs": [r.to_dict() for r in self.runs]}


def _round_problem(pr: Problem, who: np.ndarray, gains: Mapping[str, np.ndarray],
                   mult: np.ndarray, split: int, rank: int,
                   cols: Mapping[str, np.ndarray] | None) -> Problem:
    """The problem of one round: participants ``who``, the round's gains (columns
    ``cols`` per link when given), compute times multiplied by ``mult`` (energy per FLOP
    kept), the plan's pair only and ``rounds = 1``."""
    ch: dict[str, Any] = {}
    for name in faded_links(pr):
        g = np.asarray(gains[name], float)[who]
        if cols is not None:
            g = g[:, cols[name]]
        ch[GAIN_FIELDS[name]] = g
    if cols is not None:
        ch["bw_s"] = pr.bw_s[cols["s"]]
        ch["bw_f"] = pr.bw_f[cols["f"]]
        if pr.gain_d is not None:
            ch["bw_d"] = pr.bw_d[cols["d"]]  # type: ignore[index]
    m = mult[who]
    band = pr.band
    if cols is not None and band == "shared" and not np.array_equal(cols["s"], cols["f"]):
        band = "separate"
    # the fixed-rate downlink keeps each participant's share bs_power / K (its rate
    # rate_down was computed with that share): the base station radiates K'/K of its power
    bs = float(pr.bs_power) * who.size / pr.K  # type: ignore[arg-type]
    return pr.replace(**ch, p_max=pr.p_max[who], client_flops=pr.client_flops[who] / m,
                      rate_down=pr.rate_down[who], client_memory=pr.client_memory[who],
                      compute_power=pr.compute_power[who] / m, client_energy=None,
                      bs_power=bs, splits=[split], ranks=[rank], rounds=[1.0], band=band)


def _plan_points(res: SolveResult) -> dict[str, LinkPoint]:
    pts = {"s": LinkPoint(res.assign_s, res.psd_s, math.nan),
           "f": LinkPoint(res.assign_f, res.psd_f, math.nan)}
    if res.assign_d is not None:
        pts["d"] = LinkPoint(res.assign_d, res.psd_d, math.nan)  # type: ignore[arg-type]
    return pts


def _remap(assign: np.ndarray, who: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Columns of the participants' subchannels and the assignment re-indexed to them."""
    idx = np.full(K, -1)
    idx[who] = np.arange(who.size)
    cols = np.flatnonzero(idx[assign] >= 0)
    return cols, idx[assign[cols]]


def play_seed(problem: Problem, res: SolveResult, pert: Perturbations, seed: int,
              policy: str = "static", dropouts: str = "drop", retry: float | None = None,
              max_moves: int = 10_000) -> SeedRun:
    """One seed's replay (module docstring); see :func:`replay` for the arguments."""
    pr, K = problem, problem.K
    split, rank = res.split, res.rank
    need = planned_rounds(pr, rank)
    plan = _plan_points(res)
    t_plan_round = res.breakdown.t_round
    retry = t_plan_round if retry is None else retry
    streams = np.random.default_rng([seed, 21]).spawn(4)
    fading = (None if pert.rho is None else
              GaussMarkovFading(pr, pert.rho, streams[0], large=pert.large_scale))
    nominal = {n: np.asarray(getattr(pr, GAIN_FIELDS[n]), float) for n in faded_links(pr)}
    times, energies, progress, parts = [], [], [], []
    client_e = np.zeros(K)
    done, clock, wait_total = 0.0, 0.0, 0.0
    max_rounds = MAX_ROUND_FACTOR * max(1, math.ceil(need))
    reopt: RoundReoptimiser | None = None  # adaptive: the per-round fast path
    while done < need * (1 - 1e-15) and len(times) < max_rounds:
        # availability at the round's start (virtual time ``clock``)
        if pert.trace is not None:
            who_mask = np.array([available(pert.trace, k, clock) for k in range(K)])
            if dropouts == "wait" and not who_mask.all():
                t_on = next_all_on(pert.trace, K, clock)
                if not math.isfinite(t_on):
                    break
                wait_total += t_on - clock
                clock = t_on
                who_mask = np.ones(K, dtype=bool)
            elif not who_mask.any():
                nxt = min((a for ivs in pert.trace.values() for a, _ in ivs if a > clock),
                          default=math.inf)
                if not math.isfinite(nxt):
                    break
                wait_total += nxt - clock
                clock = nxt
                continue
        elif pert.dropout > 0:
            who_mask = streams[2].random(K) >= pert.dropout
            while (dropouts == "wait" and not who_mask.all()) or not who_mask.any():
                wait_total += retry
                clock += retry
                if dropouts == "wait":
                    who_mask = who_mask | (streams[2].random(K) >= pert.dropout)
                else:
                    who_mask = streams[2].random(K) >= pert.dropout
        else:
            who_mask = np.ones(K, dtype=bool)
        gains = nominal if fading is None else fading.next()
        mult = draw_multipliers(pert, streams[1], streams[3], K)
        who = np.flatnonzero(who_mask)
        if policy == "static":
            cols, kw = {}, {}
            for n, pt in plan.items():
                c, a = _remap(pt.assign, who, K)
                cols[n] = c
                kw[f"assign_{n}"], kw[f"psd_{n}"] = a, pt.psd[c]
            rp = _round_problem(pr, who, gains, mult, split, rank,
                                None if who.size == K else cols)
            if who.size == K:
                kw = {f"{x}_{n}": getattr(pt, x) for n, pt in plan.items()
                      for x in ("assign", "psd")}
        else:
            rp = _round_problem(pr, who, gains, mult, split, rank, None)
            kw = {}
            if who.size == K:
                # every client takes part: the fast path (RoundReoptimiser, built on the
                # first such round's links; only gains and compute speeds change)
                if reopt is None:
                    reopt = RoundReoptimiser(prepare(rp), 0, plan, max_moves)
                pts = reopt({n: getattr(rp, GAIN_FIELDS[n]) for n in plan},
                            client_flops=rp.client_flops)
            else:  # a thinned round: its own links, the greedy start (no held point)
                pts = {n: ln.greedy(0 if ln.per_pair else None, True, max_moves)
                       for n, ln in prepare(rp).links.items()}
            for n, pt in pts.items():
                kw[f"assign_{n}"], kw[f"psd_{n}"] = pt.assign, pt.psd
        bd = evaluate(rp, split, rank, **kw)
        step = who.size / K
        frac = min(1.0, (need - done) / step)
        t_round, e = bd.t_round, bd.energy
        assert e is not None
        if frac < 1.0:
            t_round, step = frac * t_round, need - done
        times.append(t_round)
        energies.append(frac * e.total)
        client_e[who] += frac * e.per_client
        progress.append(step)
        parts.append(who_mask)
        done += step
        clock += t_round
    wait = np.zeros(len(times))
    total_time = np.asarray(times)
    if wait_total > 0 and total_time.size:
        total_time = total_time.copy()
        total_time[-1] += wait_total  # waiting charged to the run (not to a round)
    return SeedRun(int(seed), total_time, np.asarray(energies), client_e,
                   np.asarray(progress), np.asarray(parts, dtype=bool).reshape(-1, K),
                   float(wait_total) + float(wait.sum()))


def _task(args: tuple[Any, ...]) -> SeedRun:
    return play_seed(*args)


def replay(problem: Problem, result: SolveResult, perturbations: Perturbations | None = None,
           seeds: Iterable[int] = range(10), *, policy: str = "static",
           dropouts: str = "drop", retry: float | None = None,
           executor: Executor | str | None = "serial", workers: int = 2,
           progress: bool = False) -> ReplayResult:
    """Play ``result``'s plan on ``problem`` round by round for each seed (module
    docstring).

    ``perturbations`` (:class:`Perturbations`, None: none), ``seeds`` (integers >= 0),
    ``policy`` ``"static"``/``"adaptive"``, ``dropouts`` ``"drop"``/``"wait"``, ``retry``
    s between availability draws under wait-for-all (default: the plan's round time);
    ``executor`` ``"serial"``, None (a process pool of ``workers``) or an ``Executor``
    (e.g. Dask's); ``progress`` a bar over seeds. Returns a :class:`ReplayResult`;
    with no perturbation every seed's ``realised_total`` equals ``result.delay``.
    """
    if not isinstance(problem, Problem):
        raise ValidationError("problem", "a sfl_opt.Problem", type(problem).__name__)
    if not isinstance(result, SolveResult) or not result.success:
        raise ValidationError("result", "a successful SolveResult of the problem", result)
    pert = Perturbations() if perturbations is None else perturbations
    if not isinstance(pert, Perturbations):
        raise ValidationError("perturbations", "None or a sfl_opt.replay.Perturbations",
                              type(pert).__name__)
    v.choice("policy", policy, POLICIES)
    v.choice("dropouts", dropouts, DROPOUTS)
    if retry is not None:
        v.scalar("retry", retry, positive=True)
    seeds = [v.seed("seeds", s) for s in seeds]
    if not seeds:
        raise ValidationError("seeds", "at least one seed", seeds)
    if len(getattr(problem, "local_iters_candidates", (0,))) > 1:
        # a problem with candidate I: the plan's I (the convergence model's rounds at it)
        problem = problem.at_local_iters(result.local_iters)  # type: ignore[attr-defined]
    evaluate(problem, **result.evaluate_kwargs())  # the plan is a point of the problem
    tasks = [(problem, result, pert, s, policy, dropouts, retry) for s in seeds]
    runs = run_tasks(_task, tasks, executor=executor, workers=workers, progress=progress,
                     desc="replay")
    return ReplayResult(
        planned_total=float(result.delay), planned_energy=float(result.energy.total),
        planned_rounds=planned_rounds(problem, result.rank),
        realised_total=np.array([r.total for r in runs]),
        realised_energy=np.array([r.energy for r in runs]), runs=runs,
        settings={"perturbations": pert.to_dict(), "policy": policy, "dropouts": dropouts,
                  "retry": retry, "seeds": seeds, "split": result.split,
                  "rank": result.rank,
                  "rounds_charging": "a round with K' of K clients adds K'/K of a round; "
                                     "the last round is charged its completing fraction"})


__all__ = ["DROPOUTS", "POLICIES", "Perturbations", "ReplayResult", "SeedRun", "load_trace",
           "planned_rounds", "play_seed", "replay", "save_trace", "validate_trace"]
