"""Long-run simulation of the online system under a scheduling policy (SPEC §4).

Every round t: draw block-fading gains, let the policy choose the set and bandwidths,
charge each scheduled device its energy, update the virtual queues
Q_k(t+1) = max(Q_k(t) + a_k E_k − Ē_k, 0) (for every policy, so the traces compare).

Policies (all respect the deadline: a device is only scheduled with b_k ≥ b_k^min):

- ``lyapunov``: :func:`~.schedule.solve_round` on V·w_t·Ψ(N) + Σ Q_k a_k E_k;
- ``all``: every device that meets the deadline with an equal share of B (devices
  that cannot are dropped and the share recomputed), bandwidth B/N each;
- ``random``: each deadline-feasible device with probability ``random_fraction``,
  then dropped in random order until Σ b^min ≤ B;
- ``best_channel``: the ``count`` devices (default ⌈K/2⌉) of largest gain, while
  Σ b^min ≤ B;
- ``myopic``: the largest set whose per-round energy stays within each device's
  budget E_k ≤ Ē_k (and the deadline): devices by increasing bandwidth need;
- ``fair``: age-based round robin, the ``count`` devices scheduled least recently.

``random``, ``best_channel`` and ``myopic`` split the bandwidth exactly to minimise
the total energy Σ E_k of their set (unit weights). With a shared server
(``server_mode="shared"``) a baseline takes its minimum bandwidths for the largest set
it could pick and splits with those of the set it picked.

Policies live in :data:`POLICY_REGISTRY` (:func:`register_policy`): a policy maps a
:class:`PolicyContext` to a :class:`~.schedule.RoundDecision`.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from tqdm import tqdm

from .. import _validation as v
from .._records import ArrayRecord
from .._validation import seed as check_seed
from ..errors import NumericalRangeError, ValidationError
from ..experiments.executor import Executor, run_tasks
from .bandwidth import min_bandwidth, split_bandwidth
from .problem import OnlineProblem, RoundModel
from .schedule import RoundDecision, make_decision, solve_round_model


def fmt_v(V: float) -> str:
    """V in full for labels and commands (``250000``, ``1e+20``, ``0.125``): up to 15
    significant digits, never cut."""
    return f"{float(V):.15g}"


@dataclass(frozen=True)
class Trace(ArrayRecord):
    """Per-round traces of one simulation (T rounds, K devices).

    ``scheduled (T, K)`` bool; ``bandwidth (T, K)`` Hz; ``energy (T, K)`` J;
    ``latency (T, K)`` s (0 when not scheduled); ``penalty (T,)`` Ψ(N_t) (loss units);
    ``weights (T,)`` w_t; ``queues (T, K)`` Q_k(t+1) after round t's update (J);
    ``objective (T,)`` the round's drift-plus-penalty objective (J²);
    ``budget (K,)`` Ē_k J per round; and the run's ``policy``, ``V``, ``seed`` and
    ``energy_guard`` (whether the cumulative budget was enforced, :func:`simulate`).
    """

    policy: str
    V: float
    seed: int
    scheduled: np.ndarray
    bandwidth: np.ndarray
    energy: np.ndarray
    latency: np.ndarray
    penalty: np.ndarray
    weights: np.ndarray
    queues: np.ndarray
    objective: np.ndarray
    budget: np.ndarray
    deadline: float
    energy_guard: bool = False

    @property
    def rounds(self) -> int:
        return int(self.penalty.shape[0])

    @property
    def participation(self) -> np.ndarray:
        """(T,) number of scheduled devices N_t."""
        return self.scheduled.sum(axis=1)

    @property
    def average_energy(self) -> np.ndarray:
        """(K,) time-average energy per round, J."""
        return self.energy.mean(axis=0)

    @property
    def running_energy(self) -> np.ndarray:
        """(T, K) running time-average energy, J per round."""
        return np.cumsum(self.energy, axis=0) / np.arange(1, self.rounds + 1)[:, None]

    @property
    def mean_penalty(self) -> float:
        """Time-average Ψ(N_t)."""
        return float(self.penalty.mean())

    @property
    def weighted_penalty(self) -> float:
        """Σ_t w_t Ψ(N_t), the penalty part of the convergence bound."""
        return float(np.sum(self.weights * self.penalty))

    @property
    def mean_queue(self) -> float:
        """Time- and device-average virtual queue, J."""
        return float(self.queues.mean())

    @property
    def budget_ratio(self) -> np.ndarray:
        """(K,) time-average energy over budget."""
        return self.average_energy / self.budget

    @property
    def deadline_violations(self) -> int:
        """Scheduled device-rounds whose latency exceeds the deadline (should be 0)."""
        return int(np.sum(self.latency > self.deadline * (1 + 1e-9)))


# ------------------------------------------------------------------ policies
@dataclass(frozen=True)
class PolicyContext:
    """What a policy sees in one round: the problem, the round's :class:`RoundModel`
    (for K scheduled devices), the queues Q (J) before the round, V and the round
    weight w_t, the policy's random generator, the run's options
    (``random_fraction``, ``count``, ``exact``) and ``age (K,)``: rounds since each
    device was last scheduled (rounds so far + 1 if never)."""

    problem: OnlineProblem
    model: RoundModel
    queues: np.ndarray
    V: float
    weight: float
    rng: np.random.Generator
    random_fraction: float = 0.5
    count: int | None = None
    exact: bool = False
    age: np.ndarray | None = None

    def decide(self, scheduled: np.ndarray, bandwidth: np.ndarray, method: str
               ) -> RoundDecision:
        """The evaluated decision of a (set, bandwidth) choice."""
        return make_decision(self.problem, self.model, scheduled, bandwidth, self.queues,
                             self.V, self.weight, method=method)


#: A policy: one round's decision from its context.
Policy = Callable[[PolicyContext], RoundDecision]

#: Registered policies by name (:func:`register_policy`), in registration order.
POLICY_REGISTRY: dict[str, Policy] = {}


def register_policy(name: str) -> Callable[[Policy], Policy]:
    """Decorator registering a policy under ``name``."""
    def deco(fn: Policy) -> Policy:
        POLICY_REGISTRY[name] = fn
        return fn
    return deco


def _fill(order: np.ndarray, need: np.ndarray, total: float, limit: int) -> np.ndarray:
    """Take devices in ``order`` while their bandwidth needs fit in ``total``."""
    sched = np.zeros(need.size, dtype=bool)
    used = 0.0
    for k in order:
        if sched.sum() >= limit:
            break
        if np.isfinite(need[k]) and used + need[k] <= total * (1 + 1e-12):
            sched[k] = True
            used += need[k]
    return sched


def _min_energy_split(ctx: PolicyContext, sched: np.ndarray, extra_need: np.ndarray | None
                      = None) -> np.ndarray:
    """Exact min Σ E_k split of the set (minimum bandwidths of its own size, and at least
    ``extra_need``)."""
    problem = ctx.problem
    model = ctx.model.with_count(int(sched.sum()))
    need = model.b_min if extra_need is None else np.maximum(model.b_min, extra_need)
    bw = np.zeros(problem.K)
    if sched.any():
        idx = np.flatnonzero(sched)
        res = split_bandwidth(np.ones(idx.size), model.snr_bw[idx], model.bits[idx],
                              model.power[idx], need[idx], problem.bandwidth)
        bw[idx] = res.bandwidth
    return bw


@register_policy("lyapunov")
def _lyapunov(ctx: PolicyContext) -> RoundDecision:
    """Drift-plus-penalty: :func:`~.schedule.solve_round_model`."""
    return solve_round_model(ctx.problem, ctx.model, ctx.queues, ctx.V, ctx.weight,
                             exact=ctx.exact)


@register_policy("all")
def _all(ctx: PolicyContext) -> RoundDecision:
    """Every device meeting the deadline with an equal share B/N (drop and re-share until
    stable; with a shared server the deadline is re-checked for the new N)."""
    problem = ctx.problem
    sched = ctx.model.feasible.copy()
    while sched.any():
        model = ctx.model.with_count(int(sched.sum()))
        share = problem.bandwidth / sched.sum()
        keep = sched & (model.b_min <= share * (1 + 1e-12))
        if keep.sum() == sched.sum():
            break
        sched = keep
    bw = np.where(sched, problem.bandwidth / max(int(sched.sum()), 1), 0.0)
    return ctx.decide(sched, bw, "all")


@register_policy("random")
def _random(ctx: PolicyContext) -> RoundDecision:
    """Each feasible device with probability ``random_fraction``, dropped in random order
    until Σ b^min ≤ B; exact min-energy split."""
    K = ctx.problem.K
    pick = ctx.model.feasible & (ctx.rng.uniform(size=K) < ctx.random_fraction)
    need = ctx.model.with_count(int(pick.sum())).b_min
    sched = _fill(ctx.rng.permutation(np.flatnonzero(pick)), need, ctx.problem.bandwidth, K)
    return ctx.decide(sched, _min_energy_split(ctx, sched), "random")


@register_policy("best_channel")
def _best_channel(ctx: PolicyContext) -> RoundDecision:
    """The ``count`` (default ⌈K/2⌉) devices of largest gain that fit; exact min-energy
    split."""
    problem = ctx.problem
    K = problem.K
    limit = math.ceil(K / 2) if ctx.count is None else ctx.count
    need = ctx.model.with_count(min(limit, K)).b_min
    order = np.argsort(-ctx.model.snr_bw / problem.power)
    sched = _fill(order, need, problem.bandwidth, limit)
    return ctx.decide(sched, _min_energy_split(ctx, sched), "best_channel")


@register_policy("myopic")
def _myopic(ctx: PolicyContext) -> RoundDecision:
    """The largest set with E_k ≤ Ē_k this round (and the deadline): devices by
    increasing bandwidth need; exact min-energy split."""
    problem, model = ctx.problem, ctx.model
    spend = (problem.energy_budget - model.compute_energy) / model.power
    need_e = min_bandwidth(model.bits, spend, model.snr_bw)
    need = np.maximum(model.b_min, need_e)
    need = np.where(need <= problem.bandwidth, need, np.inf)
    sched = _fill(np.argsort(need, kind="stable"), need, problem.bandwidth, problem.K)
    return ctx.decide(sched, _min_energy_split(ctx, sched, need_e), "myopic")


@register_policy("fair")
def _fair(ctx: PolicyContext) -> RoundDecision:
    """Age-based round robin: the ``count`` (default ⌈K/2⌉) devices scheduled least
    recently (largest age; ties by index) that fit (Σ b^min ≤ B); exact min-energy
    split."""
    problem = ctx.problem
    K = problem.K
    limit = math.ceil(K / 2) if ctx.count is None else ctx.count
    need = ctx.model.with_count(min(limit, K)).b_min
    age = np.zeros(K) if ctx.age is None else ctx.age
    order = np.lexsort((np.arange(K), -age))
    sched = _fill(order, need, problem.bandwidth, limit)
    return ctx.decide(sched, _min_energy_split(ctx, sched), "fair")


POLICIES = tuple(POLICY_REGISTRY)


def baseline_round(problem: OnlineProblem, model: RoundModel, policy: str,
                   rng: np.random.Generator, *, random_fraction: float = 0.5,
                   count: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(scheduled, bandwidth) of a baseline ``policy`` for one round (zero queues)."""
    v.choice("policy", policy, [p for p in POLICY_REGISTRY if p != "lyapunov"])
    ctx = PolicyContext(problem, model, np.zeros(problem.K), 0.0, 1.0, rng,
                        random_fraction=random_fraction, count=count)
    dec = POLICY_REGISTRY[policy](ctx)
    return np.array(dec.scheduled), np.array(dec.bandwidth)


def simulate(problem: OnlineProblem, policy: str = "lyapunov", V: float = 1e4,
             rounds: int = 1000, seed: int = 0, *, progress: bool | None = None,
             exact: bool = False, random_fraction: float = 0.5,
             count: int | None = None, initial_queues: float | np.ndarray = 0.0,
             energy_guard: bool = False) -> Trace:
    """Run ``rounds`` rounds of ``policy`` (one of :data:`POLICIES`) with penalty weight
    ``V`` (J² per loss unit; used by ``lyapunov``) from all-zero queues.

    The channel draws depend only on ``seed`` (every policy sees the same channels);
    the same arguments give the same trace. ``progress`` shows a tqdm bar (default:
    when ``rounds >= 2000`` and stderr is a terminal). ``exact`` makes ``lyapunov``
    enumerate the sets (K ≤ 16). ``initial_queues`` Q(0) (J, scalar or (K,); default
    0): a warm start from a run's steady state avoids the first rounds' burst of
    zero-queue (free) energy, which dominates the budget of a short run; the overshoot
    of the time-average energy is then bounded by (Q_k(T) − Q_k(0))/T.

    ``energy_guard=True`` enforces the budget over every horizon (for any policy): in
    round t (0-based) device k may only be scheduled with an energy E_k within its
    unspent cumulative budget, E_k ≤ A_k(t) = (t + 1)·Ē_k − Σ_{τ<t} E_k(τ), i.e. with
    a bandwidth of at least the b at which E_k(b) = A_k(t) (:func:`energy_floor`); so
    after every round the running average energy of every device is at most its
    budget (a token bucket: unspent budget is saved for later rounds). The virtual
    queues still price energy; the guard only removes the actions that would overdraw.
    """
    v.choice("policy", policy, tuple(POLICY_REGISTRY))
    V = v.scalar("V", V, nonnegative=True)
    T = v.positive_int("rounds", rounds)
    seed = check_seed("seed", seed)
    random_fraction = v.scalar("random_fraction", random_fraction, positive=True)
    if random_fraction > 1:
        raise ValidationError("random_fraction", "a probability in (0, 1]", random_fraction)
    if count is not None:
        count = v.positive_int("count", count)
    if not isinstance(exact, bool):
        raise ValidationError("exact", "True or False", exact)
    if not isinstance(energy_guard, bool):
        raise ValidationError("energy_guard", "True or False", energy_guard)
    if progress is None:
        progress = T >= 2000 and sys.stderr.isatty()
    decide = POLICY_REGISTRY[policy]
    ch_seq, pol_seq = np.random.SeedSequence(int(seed)).spawn(2)
    ch_rng = np.random.default_rng(ch_seq)
    pol_rng = np.random.default_rng(pol_seq)
    K = problem.K
    weights = problem.weights(T)
    out = {name: np.zeros((T, K)) for name in ("bandwidth", "energy", "latency", "queues")}
    scheduled = np.zeros((T, K), dtype=bool)
    penalty = np.zeros(T)
    objective = np.zeros(T)
    q0 = initial_queues
    if np.ndim(q0) == 0 and not isinstance(q0, (str, bytes)):
        q0 = np.full(K, v.scalar("initial_queues", q0, nonnegative=True))
    q = np.array(v.float_array("initial_queues", q0, shape=(K,), nonnegative=True))
    last = np.full(K, -1)
    budget = problem.energy_budget
    spent = np.zeros(K)
    for t in tqdm(range(T), disable=not progress, desc=f"online {policy}", unit="round"):
        model = problem.round_model(problem.draw_gains(ch_rng))
        if energy_guard:
            model = model.with_floor(energy_floor(model, (t + 1) * budget - spent))
        ctx = PolicyContext(problem, model, q, V, float(weights[t]), pol_rng,
                            random_fraction=random_fraction, count=count, exact=exact,
                            age=(t - last).astype(float))
        dec = decide(ctx)
        scheduled[t] = dec.scheduled
        last[dec.scheduled] = t
        out["bandwidth"][t] = dec.bandwidth
        out["energy"][t] = dec.energy
        out["latency"][t] = dec.latency
        penalty[t] = dec.psi
        objective[t] = dec.objective
        spent = spent + dec.energy
        q = np.maximum(q + dec.energy - budget, 0.0)
        if not (np.isfinite(q).all() and np.isfinite(dec.objective)):
            _overflow(problem, dec, t)
        out["queues"][t] = q
    arrays = dict(out, scheduled=scheduled, penalty=penalty, weights=weights,
                  objective=objective)
    return Trace(policy=policy, V=V, seed=int(seed), budget=budget,
                 deadline=problem.deadline, energy_guard=energy_guard, **arrays)


def energy_floor(model: RoundModel, allowance: np.ndarray) -> np.ndarray:
    """(K,) the least bandwidth (Hz) at which each device's round energy
    E_k(b) = E^comp_k + p_k·S/r_k(b) stays within ``allowance`` J (``inf`` if even an
    unlimited band cannot: allowance ≤ E^comp_k, or below p_k·S·ln2/a_k). E_k is
    decreasing in b, so b ≥ this floor ⇔ E_k(b) ≤ allowance (up to rounding)."""
    allow = np.asarray(allowance, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        spend = (allow - model.compute_energy) / model.power   # transmit time, s
    spend = np.where(spend > 0, spend, 0.0)
    need = min_bandwidth(model.bits, spend, model.snr_bw)
    return np.where(spend > 0, need * (1 + 1e-12), np.inf)


def _overflow(problem: OnlineProblem, dec: RoundDecision, t: int) -> None:
    """Raise :class:`~sfl_opt.errors.NumericalRangeError` for a round whose energies,
    queues or queue-weighted objective left float64, naming the field to scale."""
    e_comp = problem.compute_energy
    k = int(np.argmax(np.where(dec.scheduled, dec.energy, 0.0)))
    field = "kappa" if e_comp[k] >= dec.energy[k] - e_comp[k] else "power"
    raise NumericalRangeError(
        field, "per-round energies E_k whose virtual queues Q_k and products Q_k·E_k stay "
        f"within float64 (< 1.8e308); round {t} gives device {k} E = {dec.energy[k]:.4g} J "
        f"(compute {e_comp[k]:.4g} J) and an objective of {dec.objective:.4g}",
        float(problem.kappa[k] if field == "kappa" else problem.power[k]))


@dataclass(frozen=True)
class SweepPoint:
    """Summary of one ``lyapunov`` run at penalty weight ``V``: time-average Ψ
    (``penalty``), weighted penalty Σ w_t Ψ, mean participants, mean queue (J), worst
    energy-to-budget ratio over devices."""

    V: float
    penalty: float
    weighted_penalty: float
    participation: float
    mean_queue: float
    max_budget_ratio: float


def summarize(trace: Trace) -> SweepPoint:
    """The :class:`SweepPoint` of a trace."""
    return SweepPoint(V=trace.V, penalty=trace.mean_penalty,
                      weighted_penalty=trace.weighted_penalty,
                      participation=float(trace.participation.mean()),
                      mean_queue=trace.mean_queue,
                      max_budget_ratio=float(trace.budget_ratio.max()))


def _sweep_task(args: tuple[OnlineProblem, float, int, int]) -> Trace:
    problem, V, rounds, seed = args
    return simulate(problem, "lyapunov", V, rounds, seed, progress=False)


def sweep_v(problem: OnlineProblem, Vs: list[float] | np.ndarray, rounds: int, seed: int = 0,
            *, progress: bool | None = None, executor: Executor | str | None = "serial",
            workers: int = 2) -> list[Trace]:
    """``lyapunov`` traces for each V in ``Vs`` (same channels for all), in the order of
    ``Vs``. ``executor`` as in :func:`sfl_opt.experiments.sweep.sweep`: ``"serial"`` (default) runs
    here, ``None`` a process pool of ``workers`` made and shut down here, or any
    ``concurrent.futures.Executor`` (left running). ``progress`` shows a tqdm bar over
    the V values (default: on a terminal)."""
    Vs = [v.scalar("Vs", x, nonnegative=True) for x in Vs]
    if not Vs:
        raise ValidationError("Vs", "at least one V", Vs)
    T = v.positive_int("rounds", rounds)
    seed = check_seed("seed", seed)
    if progress is None:
        progress = sys.stderr.isatty()
    tasks = [(problem, x, T, seed) for x in Vs]
    return run_tasks(_sweep_task, tasks, executor=executor, workers=workers,
                     progress=progress, desc="online V sweep")
