"""Learning results of the online policies: the schedules of :func:`~.simulate.simulate`
drive real split federated LoRA training (the PyTorch proxy of
:mod:`sfl_opt.harness.ushape`).

For each policy the channels, decisions, energies and virtual queues are exactly those
of ``simulate(problem, policy, V, rounds, seed)`` (the decisions do not depend on the
model, so the trace is computed first); round t of the training then runs the devices
``trace.scheduled[t]`` and aggregates them. Every policy starts from the same model,
data split and batch order.

The scheduling scenario is the :class:`~.problem.OnlineProblem` (GPT-2 small payloads
and FLOPs); the model that trains is a small proxy with the same split (device
embedding and head, server LoRA encoder), so it runs on a CPU in minutes.

torch is imported only when :func:`train_policies` runs (extra ``[harness]``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from .._io import write_text
from ..errors import ValidationError
from ..harness import require_torch
from .bound import BoundFit, fit_bound
from .problem import OnlineProblem
from .simulate import POLICY_REGISTRY, Trace, fmt_v, simulate


@dataclass(frozen=True)
class LearningRun:
    """One policy's training under its schedule; arrays of length T + 1 (index 0 is
    before the first round).

    ``val_loss`` validation cross-entropy (nats per labelled token), ``accuracy``
    token accuracy, ``energy`` cumulative energy of all devices (J),
    ``budget_ratio`` worst device's average energy per round so far over its budget
    (0 before the first round); ``trace`` is the schedule's :class:`~.simulate.Trace`.
    """

    policy: str
    val_loss: np.ndarray
    accuracy: np.ndarray
    energy: np.ndarray
    budget_ratio: np.ndarray
    trace: Trace

    @property
    def rounds(self) -> int:
        return int(self.val_loss.size - 1)


def budget_ratio_path(trace: Trace) -> np.ndarray:
    """(T,) worst device's running average energy over its budget after each round."""
    return (trace.running_energy / trace.budget).max(axis=1)


def train_policies(problem: OnlineProblem, policies: Sequence[str], V: float, rounds: int,
                   seed: int = 0, *, proxy: Any = None, progress: bool = True
                   ) -> dict[str, LearningRun]:
    """Simulate each policy for ``rounds`` rounds (penalty weight ``V`` for
    ``lyapunov``, channel ``seed``) and train the proxy under each schedule.

    ``proxy`` is a :class:`sfl_opt.harness.ushape.ProxyConfig` (default: its defaults
    with ``devices = problem.K`` and ``seed``). One tqdm bar counts the rounds of all
    policies.
    """
    from tqdm.auto import tqdm


    require_torch()
    from ..harness.ushape import ProxyConfig, ScheduledTrainer

    pols = list(policies)
    if not pols:
        raise ValidationError("policies", "at least one policy", pols)
    for name in pols:
        v.choice("policies", name, tuple(POLICY_REGISTRY))
    T = v.positive_int("rounds", rounds)
    cfg = proxy if proxy is not None else ProxyConfig(devices=problem.K, seed=int(seed))
    if cfg.devices != problem.K:
        raise ValidationError("proxy", f"devices = K = {problem.K}", cfg.devices)
    out: dict[str, LearningRun] = {}
    bar = tqdm(total=T * len(pols), desc="online training", unit="round", disable=not progress)
    try:
        for name in pols:
            trace = simulate(problem, name, V, T, seed, progress=False)
            trainer = ScheduledTrainer(cfg)
            loss = np.empty(T + 1)
            acc = np.empty(T + 1)
            loss[0], acc[0] = trainer.evaluate()
            bar.set_postfix(policy=name)
            for t in range(T):
                trainer.round(trace.scheduled[t])
                loss[t + 1], acc[t + 1] = trainer.evaluate()
                bar.update()
            energy = np.concatenate([[0.0], np.cumsum(trace.energy.sum(axis=1))])
            ratio = np.concatenate([[0.0], budget_ratio_path(trace)])
            out[name] = LearningRun(policy=name, val_loss=loss, accuracy=acc, energy=energy,
                                    budget_ratio=ratio, trace=trace)
    finally:
        bar.close()
    return out


LEARNING_HEADER = ("policy", "round", "val_loss", "accuracy", "energy", "budget_ratio")


def learning_rows(runs: dict[str, LearningRun]) -> list[list[object]]:
    """Rows of ``online_training.csv`` (:data:`LEARNING_HEADER`; ``energy`` cumulative J)."""
    return [[name, t, float(r.val_loss[t]), float(r.accuracy[t]), float(r.energy[t]),
             float(r.budget_ratio[t])]
            for name, r in runs.items() for t in range(r.rounds + 1)]


def learning_figure(runs: dict[str, LearningRun], outdir: str | Path,
                    stem: str = "online_training") -> list[Path]:
    """Validation loss against round and against cumulative energy (PNG, PDF and the
    CSV of :func:`learning_rows`), saved by :func:`sfl_opt.experiments.plots.save`."""
    import matplotlib.pyplot as plt

    from ..experiments.plots import save

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for i, (name, r) in enumerate(runs.items()):
        label = name + (f" (V = {fmt_v(r.trace.V)})" if name == "lyapunov" else "")
        t = np.arange(r.rounds + 1)
        axes[0].plot(t, r.val_loss, lw=1.2, color=f"C{i}", label=label)
        axes[1].plot(r.energy, r.val_loss, lw=1.2, color=f"C{i}", label=label)
    axes[0].set_xlabel("round t")
    axes[1].set_xlabel("cumulative energy of all devices (J)")
    for ax in axes:
        ax.set_ylabel("validation loss (nats/token)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Split federated LoRA trained under each online schedule")
    fig.tight_layout()
    return save(fig, Path(outdir) / stem, LEARNING_HEADER, learning_rows(runs))


def fit_runs(runs: dict[str, LearningRun], K: int) -> BoundFit:
    """:func:`~.bound.fit_bound` of Ψ's recursion to every run's validation loss curve
    (participants per round from its trace)."""
    return fit_bound([r.val_loss for r in runs.values()],
                     [r.trace.participation for r in runs.values()], K)


def default_alpha(problem: OnlineProblem) -> float:
    """α = Lη²/2·(σ²/b + δ²K/(K−1)) of the problem's own Ψ constants (loss units), the
    quantity :class:`~.bound.BoundFit` measures."""
    K = problem.K
    het = problem.dissimilarity * K / (K - 1) if K > 1 else 0.0
    return 0.5 * problem.smoothness * problem.learning_rate**2 * (
        problem.grad_variance / problem.batch + het)


def write_settings(path: str | Path, problem: OnlineProblem, runs: dict[str, LearningRun],
                   V: float, seed: int, command: str, proxy: Any = None) -> Path:
    """The protocol of a training run as JSON beside its CSV: the command, the
    scheduling scenario (``OnlineProblem.to_dict``), the proxy's settings, V, the seed,
    per-policy summaries and the fit of Ψ's constants."""
    import json
    from dataclasses import asdict

    from ..harness.ushape import ProxyConfig

    cfg = proxy if proxy is not None else ProxyConfig(devices=problem.K, seed=int(seed))
    fit = fit_runs(runs, problem.K)
    out = {
        "command": command,
        "V": V, "seed": seed, "rounds": next(iter(runs.values())).rounds,
        "proxy": asdict(cfg),
        "summary": {name: {"val_loss": float(r.val_loss[-1]),
                           "accuracy": float(r.accuracy[-1]),
                           "energy_J": float(r.energy[-1]),
                           "budget_ratio": float(r.budget_ratio[-1]),
                           "mean_participants": float(r.trace.participation.mean()),
                           "weighted_penalty": float(r.trace.weighted_penalty)}
                    for name, r in runs.items()},
        "bound_fit": {**asdict(fit), "floor": fit.floor, "horizon": fit.horizon,
                      "default_alpha": default_alpha(problem),
                      "default_rho": problem.contraction},
        "problem": problem.to_dict(),
    }
    return write_text(path, json.dumps(out, indent=1))
