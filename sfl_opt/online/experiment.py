"""The learning experiment of the online scheduler (issue 19): a fixed-N calibration sweep
and a multi-seed policy comparison, each run stored as one JSON file so that an
interrupted experiment resumes where it stopped.

- :func:`fixed_n_run`: train the proxy with N devices drawn uniformly at random every
  round (no scheduler): the participation effect the bound Ψ models;
- :func:`policy_run`: train the proxy under a policy's schedule (:func:`~.simulate.simulate`)
  and record its energy per device.

Every run records the validation loss every ``eval_every`` rounds (and round 0), the
participants per round and the data share they hold. torch is imported only when a run
trains (extra ``[harness]``).
"""

from __future__ import annotations

import functools
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from .. import _validation as v
from .._io import write_text
from ..errors import ValidationError
from ..harness import require_torch
from .problem import OnlineProblem
from .simulate import fmt_v, simulate
from .stats import run_label, t_ci


def _trainer(cfg: Any):
    require_torch()
    from ..harness.ushape import ScheduledTrainer

    return ScheduledTrainer(cfg)


def _train(cfg: Any, schedule: np.ndarray, eval_every: int,
           inclusion: np.ndarray | None = None) -> dict[str, Any]:
    """Train under ``schedule (T, K)``; the loss/accuracy at rounds 0, e, 2e, ..., T."""
    tr = _trainer(cfg)
    T = schedule.shape[0]
    at = sorted(set(range(0, T + 1, eval_every)) | {T})
    loss, acc = [], []
    t0 = time.process_time()
    if 0 in at:
        lo, ac = tr.evaluate()
        loss.append(lo)
        acc.append(ac)
    for t in range(T):
        tr.round(schedule[t], inclusion)
        if t + 1 in at:
            lo, ac = tr.evaluate()
            loss.append(lo)
            acc.append(ac)
    share = tr.sizes / tr.sizes.sum()
    return {"eval_rounds": at, "val_loss": loss, "accuracy": acc,
            "counts": schedule.sum(axis=1).astype(int).tolist(),
            "coverage": (schedule * share).sum(axis=1).tolist(),
            "data_sizes": tr.sizes.tolist(), "kind": tr.kind.tolist(),
            "cpu_s": time.process_time() - t0}


def fixed_n_schedule(K: int, N: int, rounds: int, seed: int) -> np.ndarray:
    """(rounds, K) bool: N of the K devices uniformly at random every round (seeded)."""
    rng = np.random.default_rng([int(seed), 19, int(N)])
    out = np.zeros((rounds, K), dtype=bool)
    for t in range(rounds):
        out[t, rng.choice(K, size=N, replace=False)] = True
    return out


def fixed_n_run(cfg: Any, N: int, rounds: int, seed: int, eval_every: int = 5
                ) -> dict[str, Any]:
    """One calibration run: the proxy ``cfg`` trained with N uniformly random devices a
    round for ``rounds`` rounds (schedule seed ``seed``)."""
    K = cfg.devices
    N = v.positive_int("N", N)
    if N > K:
        raise ValidationError("N", f"at most K = {K} devices", N)
    sched = fixed_n_schedule(K, N, rounds, seed)
    out = _train(cfg, sched, eval_every, np.full(K, N / K))
    out.update(kind_of_run="fixed_n", N=N, seed=int(seed), rounds=rounds)
    return out


def policy_run(problem: OnlineProblem, cfg: Any, policy: str, V: float, rounds: int,
               seed: int, eval_every: int = 5, **options: Any) -> dict[str, Any]:
    """One comparison run: ``simulate(problem, policy, V, rounds, seed, **options)`` then
    the proxy trained under its schedule. Records the energy of every device per round
    (J), its budget and whether the energy guard was on."""
    trace = simulate(problem, policy, V, rounds, seed, progress=False, **options)
    pi = np.clip(trace.scheduled.mean(axis=0), 1.0 / rounds, 1.0)
    out = _train(cfg, np.asarray(trace.scheduled), eval_every, pi)
    out.update(kind_of_run="policy", policy=policy, V=float(V), seed=int(seed),
               rounds=rounds, energy=np.asarray(trace.energy).tolist(),
               budget=np.asarray(trace.budget).tolist(),
               penalty=np.asarray(trace.penalty).tolist(),
               energy_guard=bool(trace.energy_guard),
               late=trace.deadline_violations)
    return out


def run_all(tasks: Sequence[tuple[str, Callable[[], dict[str, Any]]]], outdir: str | Path,
            progress: bool = True) -> list[dict[str, Any]]:
    """Run each ``(name, thunk)`` unless ``outdir/name.json`` exists (resume), store its
    result there, and return every result in order. A tqdm bar counts the runs."""
    from tqdm.auto import tqdm

    out = Path(outdir)
    out.mkdir(parents=True, exist_ok=True)
    results = []
    for name, thunk in tqdm(tasks, desc="online experiment", unit="run", disable=not progress):
        path = out / f"{name}.json"
        if path.exists():
            results.append(json.loads(path.read_text()))
            continue
        res = thunk()
        write_text(path, json.dumps(res))
        results.append(res)
    return results


def write_settings_problem(cfg: Any) -> dict[str, Any]:
    """The proxy's settings as a plain dict (for the settings JSON)."""
    return asdict(cfg)


def calibrated_problem(problem: OnlineProblem, alpha: float, beta: float = 0.0,
                       data_sizes: np.ndarray | None = None, idle: float = 2.0
                       ) -> OnlineProblem:
    """``problem`` with Ψ's constants set to a fitted participation term (loss units)::

        Ψ(S) = α/|S| + β·(1 − Σ_{k∈S} n_k/n)   (|S| ≥ 1),   Ψ(∅) = idle·α + β

    (σ² = 2αb/(Lη²), δ² = 0: the part of the 1/N term a loss curve identifies; β the
    data-share term, ``coverage_weight``, with the devices' ``data_sizes`` n_k).
    α and β are clipped at 0 (a fitted value below 0 is no reason to prefer fewer
    participants). Flat round weights (μ = 1e-9, ρ = 1 − 1e-10: the fitted
    contraction's horizon of a few rounds would zero V·w_t for all but the last
    rounds, so V acts as a constant weight)."""
    alpha = max(v.scalar("alpha", alpha), 0.0)
    beta = max(v.scalar("beta", beta), 0.0)
    idle = v.scalar("idle", idle, positive=True)
    if idle < 1:
        raise ValidationError("idle", "Ψ(0)/Ψ(1) >= 1", idle)
    if alpha == 0 and beta == 0:
        raise ValidationError("alpha", "a participation term α > 0 or β > 0", alpha)
    L, eta, mu = problem.smoothness, problem.learning_rate, 1e-9
    sizes = problem.data_sizes if data_sizes is None else data_sizes
    return problem.replace(grad_variance=2 * alpha * problem.batch / (L * eta**2),
                           dissimilarity=0.0, pl_constant=mu,
                           initial_gap=max(idle * alpha, 1e-300) / (mu * eta),
                           coverage_weight=beta, data_sizes=sizes)


def warm_queues(problem: OnlineProblem, V: float, seed: int, rounds: int = 400,
                energy_guard: bool = False) -> np.ndarray:
    """(K,) virtual queues (J) at the end of a ``rounds``-round ``lyapunov`` run on
    channels of another seed (10⁶ + ``seed``): the steady state a short run starts from
    (``simulate(..., initial_queues=...)``)."""
    tr = simulate(problem, "lyapunov", V, rounds, 10**6 + int(seed), progress=False,
                  energy_guard=energy_guard)
    return np.array(tr.queues[-1])


# ------------------------------------------------------------------- statistics
def _fit_rows(runs: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Regressors [loss_t, 1, mean 1/N, mean (1 − coverage)] over each evaluation
    interval and the loss at its end."""
    X, y = [], []
    for r in runs:
        loss = np.asarray(r["val_loss"])
        at = np.asarray(r["eval_rounds"])
        counts = np.asarray(r["counts"])
        cover = np.asarray(r.get("coverage", np.asarray(counts) * np.nan), dtype=float)
        for i in range(len(at) - 1):
            n = counts[at[i]:at[i + 1]]
            c = cover[at[i]:at[i + 1]]
            X.append([loss[i], 1.0, float(np.mean(1.0 / np.maximum(n, 1))),
                      float(np.mean(1.0 - c))])
            y.append(loss[i + 1])
    return np.array(X), np.array(y)


#: The regressors of :func:`fit_participation` by model name.
FIT_MODELS = {"coverage": (0, 1, 3), "count": (0, 1, 2), "both": (0, 1, 2, 3)}


def fit_participation(runs: Sequence[dict[str, Any]], boot: int = 2000, seed: int = 0,
                      model: str = "coverage") -> dict[str, Any]:
    """Fit Ψ's participation term on fixed-N runs, with 95 % CIs.

    The evaluations are ``e`` rounds apart, so the fitted recursion is the e-round one,

        loss_{t+e} = ρ_e·loss_t + γ_e + α_e·mean(1/N) + β_e·mean(1 − c)

    (c = Σ_{k∈S} n_k/n the data share of a round's participants, means over the
    interval's rounds), by least squares over every interval of every run; per round
    ρ = ρ_e^(1/e), α = α_e·(1 − ρ)/(1 − ρ_e), β likewise (the e-round sum of the
    per-round recursion). ``model`` picks the terms: ``"coverage"`` (β only, the
    default: the data-share term of Ψ), ``"count"`` (α only) or ``"both"``; the
    coefficients of the terms left out are 0. CIs: percentile bootstrap over the
    seeds (every run of a resampled seed, ``boot`` resamples). Also the final loss
    (mean of the last 3 evaluations) against N: ``final_c + final_a/N``, and per N
    the paired (same seed) difference to the largest N, with t-intervals.
    """
    runs = list(runs)
    if model not in FIT_MODELS:
        raise ValidationError("model", f"one of {tuple(FIT_MODELS)}", model)
    cols = list(FIT_MODELS[model])
    seeds = sorted({r["seed"] for r in runs})
    e = int(np.diff(runs[0]["eval_rounds"])[0])

    def est(sel: Sequence[dict[str, Any]]) -> np.ndarray:
        X, y = _fit_rows(sel)
        coef = np.zeros(4)
        coef[cols], *_ = np.linalg.lstsq(X[:, cols], y, rcond=None)
        rho_e = min(max(coef[0], 1e-9), 1 - 1e-9)
        rho = rho_e ** (1.0 / e)
        conv = (1 - rho) / (1 - rho_e)
        fin = np.array([np.mean(r["val_loss"][-3:]) for r in sel])
        inv = np.array([1.0 / r["N"] for r in sel])
        (a, c), *_ = np.linalg.lstsq(np.column_stack([inv, np.ones_like(inv)]), fin,
                                     rcond=None)
        return np.array([rho, coef[2] * conv, coef[3] * conv, coef[2], coef[3], rho_e,
                         a, c])

    point = est(runs)
    rng = np.random.default_rng(seed)
    by_seed = {s: [r for r in runs if r["seed"] == s] for s in seeds}
    reps = np.array([est([r for s in rng.choice(seeds, len(seeds)) for r in by_seed[s]])
                     for _ in range(boot)])
    lo, hi = np.percentile(reps, [2.5, 97.5], axis=0)
    names = ["rho", "alpha", "beta", "alpha_interval", "beta_interval", "rho_interval",
             "final_a", "final_c"]
    out: dict[str, Any] = {n: float(x) for n, x in zip(names, point, strict=True)}
    out.update({f"{n}_ci95": [float(a), float(b)] for n, a, b in zip(names, lo, hi,
                                                                      strict=True)})
    Ns = sorted({r["N"] for r in runs})
    fin = {(r["seed"], r["N"]): float(np.mean(r["val_loss"][-3:])) for r in runs}
    paired = {}
    for N in Ns:
        d = np.array([fin[(s, N)] - fin[(s, Ns[-1])] for s in seeds
                      if (s, N) in fin and (s, Ns[-1]) in fin])
        if d.size >= 2:
            m, h = t_ci(d)
            paired[str(N)] = [float(m), float(h)]
    out.update(eval_every=e, seeds=seeds, runs=len(runs), bootstrap=boot, terms=model,
               paired_vs_largest_N=paired,
               model="loss_{t+e} = rho_e*loss_t + gamma_e + alpha_e*mean(1/N) + "
                     "beta_e*mean(1 - c), c = data share of the round's participants "
                     f"(terms: {model}); per round rho = rho_e**(1/e), "
                     "alpha = alpha_e*(1-rho)/(1-rho_e), beta likewise; final loss "
                     "(mean of the last 3 evaluations) = final_c + final_a/N")
    return out


# ------------------------------------------------------------------- the experiment
#: Fixed-N calibration sizes and the comparison's baselines (issue 19).
CALIBRATION_N = (1, 2, 3, 5, 10)
BASELINES = ("all", "random", "best_channel", "myopic", "fair")


def proxy_config(seed: int, **overrides: Any) -> Any:
    """The experiment's proxy: K = 20 devices of 6 data kinds (:class:`ProxyConfig`
    ``split="kinds"``), data-share aggregation (``"share"``: a round moves the model
    by the data share it covers), 2 local SGD iterations of batch 2 at step 0.5, 96
    validation sentences; ``overrides`` change any field."""
    from ..harness.ushape import ProxyConfig

    kw = dict(devices=20, split="kinds", kinds=6, lr=0.5, local_iters=2, batch=2,
              n_val=96, aggregation="share", seed=int(seed))
    kw.update(overrides)
    return ProxyConfig(**kw)


def proxy_data_sizes(cfg: Any) -> np.ndarray:
    """(K,) samples of each device of proxy ``cfg`` (no model is built for
    ``split="kinds"``)."""
    require_torch()
    from ..harness.ushape import ScheduledTrainer, kinds_sizes

    if cfg.split == "kinds":
        return np.asarray(kinds_sizes(cfg), dtype=float)
    return np.asarray(ScheduledTrainer(cfg).sizes, dtype=float)


def scheduling_problem(seed: int, cfg: Any, budget_per_iter: float = 0.0075,
                       alpha: float | None = None, beta: float = 0.0) -> OnlineProblem:
    """The experiment's scheduling scenario for proxy ``cfg``: the default scenario with
    ``cfg.devices`` devices holding the proxy's data sizes, the proxy's head (9
    classes), batch and iterations (the GPT-2-small payloads of that many samples), and
    a tight energy budget of ``budget_per_iter``·I J per round (1–5 devices a round);
    Ψ calibrated to ``alpha`` and ``beta`` (:func:`calibrated_problem`) when
    ``alpha`` is given."""
    from ..harness.ushape import TAGS

    p = OnlineProblem.default(seed=int(seed), devices=cfg.devices, classes=len(TAGS),
                              batch=cfg.batch, local_iters=cfg.local_iters,
                              energy_budget=budget_per_iter * cfg.local_iters,
                              data_sizes=proxy_data_sizes(cfg))
    return p if alpha is None else calibrated_problem(p, alpha, beta)


def settings_tag(*parts: Any) -> str:
    """8 hex digits identifying a run's settings (a run file is only resumed by a run
    with the same settings)."""
    text = json.dumps(parts, sort_keys=True, default=repr)
    return hashlib.sha1(text.encode()).hexdigest()[:8]


def _cfg_key(cfg: Any) -> dict[str, Any]:
    return {k: x for k, x in asdict(cfg).items() if k != "seed"}


def calibration_tasks(seeds: Sequence[int], rounds: int, eval_every: int,
                      **proxy: Any) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The fixed-N runs (every N of :data:`CALIBRATION_N`, every seed) as named thunks
    (names end in the :func:`settings_tag` of the proxy, rounds and interval)."""
    tag = settings_tag(_cfg_key(proxy_config(0, **proxy)), rounds, eval_every)
    return [(f"fixedN_N{N}_seed{s}_{tag}",
             functools.partial(fixed_n_run, proxy_config(s, **proxy), N, rounds, s,
                               eval_every))
            for s in seeds for N in CALIBRATION_N]


#: Baselines also run with the energy guard (``simulate(..., energy_guard=True)``).
GUARDED_BASELINES = ("all", "random", "best_channel", "fair")


def comparison_tasks(seeds: Sequence[int], rounds: int, eval_every: int, alpha: float,
                     Vs: Sequence[float], count: int, budget_per_iter: float = 0.0075,
                     beta: float = 0.0, guard: bool = True,
                     **proxy: Any) -> list[tuple[str, Callable[[], dict[str, Any]]]]:
    """The comparison runs: ``lyapunov`` at each V (warm-started queues,
    :func:`warm_queues`; with the energy guard if ``guard``) and every baseline of
    :data:`BASELINES` without the guard, plus those of :data:`GUARDED_BASELINES` with
    it (if ``guard``), with ``count`` devices for ``best_channel`` and ``fair`` and a
    ``count/K`` fraction for ``random``, on each seed, all on the Ψ calibrated to
    ``alpha`` and ``beta`` with the seed's data sizes."""
    tasks = []
    tag = settings_tag(_cfg_key(proxy_config(0, **proxy)), rounds, eval_every, alpha, beta,
                       count, budget_per_iter)
    for s in seeds:
        cfg = proxy_config(s, **proxy)
        prob = scheduling_problem(s, cfg, budget_per_iter, alpha, beta)
        for V in Vs:
            def thunk(prob=prob, cfg=cfg, V=V, s=s):
                q0 = warm_queues(prob, V, s, energy_guard=guard)
                out = policy_run(prob, cfg, "lyapunov", V, rounds, s, eval_every,
                                 initial_queues=q0, energy_guard=guard)
                out["initial_queues"] = q0.tolist()
                return out
            tasks.append((f"policy_lyapunov_V{fmt_v(V)}{'_guard' if guard else ''}"
                          f"_seed{s}_{tag}", thunk))
        variants = [(name, False) for name in BASELINES]
        if guard:
            variants += [(name, True) for name in GUARDED_BASELINES]
        for name, g in variants:
            opts = {"random": {"random_fraction": count / cfg.devices},
                    "best_channel": {"count": count}, "fair": {"count": count}}.get(name, {})
            tasks.append((f"policy_{name}{'_guard' if g else ''}_seed{s}_{tag}",
                          functools.partial(policy_run, prob, cfg, name, 0.0, rounds, s,
                                            eval_every, energy_guard=g, **opts)))
    return tasks


def _loss_at_energy(r: dict[str, Any], level: float) -> float:
    """Validation loss of run ``r`` when its devices' cumulative energy reaches
    ``level`` J (linear interpolation between evaluations; NaN if never reached)."""
    at = r["eval_rounds"]
    cum = np.concatenate([[0.0], np.cumsum(np.sum(r["energy"], axis=1))])[at]
    if level > cum[-1] * (1 + 1e-12):
        return float("nan")
    return float(np.interp(level, cum, r["val_loss"]))


LEARNING_COLUMNS = ("policy", "V", "energy_guard", "seed", "round", "val_loss",
                    "accuracy", "energy", "budget_ratio")


def _worst_running_ratio(r: dict[str, Any]) -> float:
    """The largest running-average energy over budget of any device after any round of
    run ``r`` (1 means the budget held over every horizon)."""
    E = np.asarray(r["energy"])
    run_avg = np.cumsum(E, axis=0) / np.arange(1, E.shape[0] + 1)[:, None]
    return float(np.max(run_avg / np.asarray(r["budget"])))


def learning_rows(runs: Sequence[dict[str, Any]]) -> list[list[object]]:
    """Rows of ``online_learning.csv`` (:data:`LEARNING_COLUMNS`): per run and evaluated
    round the loss, token accuracy, cumulative energy of all devices (J) and the worst
    device's average energy per round so far over its budget."""
    rows: list[list[object]] = []
    for r in runs:
        E = np.asarray(r["energy"])
        run_avg = np.cumsum(E, axis=0) / np.arange(1, E.shape[0] + 1)[:, None]
        ratio = np.concatenate([[0.0], (run_avg / np.asarray(r["budget"])).max(axis=1)])
        cum = np.concatenate([[0.0], np.cumsum(E.sum(axis=1))])
        for i, t in enumerate(r["eval_rounds"]):
            rows.append([r["policy"], r["V"] if r["policy"] == "lyapunov" else "",
                         int(bool(r.get("energy_guard", False))), r["seed"], t,
                         f"{r['val_loss'][i]:.6g}", f"{r['accuracy'][i]:.6g}",
                         f"{cum[t]:.6g}", f"{ratio[t]:.6g}"])
    return rows


def compare(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Statistics of the comparison: per policy (label) the final loss, the loss at equal
    cumulative energy (the mean final energy of the middle lyapunov V, ``E_lyap``, and
    half of it, ``E_common``; a policy that never spends that much has none), the worst device's
    energy/budget, participants a round; mean ± 95 % CI over seeds, and every
    lyapunov V's paired (same seed) difference to every baseline with its CI."""
    labels = list(dict.fromkeys(run_label(r) for r in runs))
    by = {lab: sorted((r for r in runs if run_label(r) == lab),
                      key=lambda r: r["seed"]) for lab in labels}
    final_e = {lab: np.array([np.sum(r["energy"]) for r in rs]) for lab, rs in by.items()}
    lyap = [lab for lab in labels if lab.startswith("lyapunov")]
    e_lyap = float(final_e[lyap[len(lyap) // 2]].mean()) if lyap else float("nan")
    e_common = 0.5 * e_lyap
    stats: dict[str, Any] = {"E_common": e_common, "E_lyap": e_lyap, "policies": {}}
    vals: dict[str, dict[str, np.ndarray]] = {}
    for lab, rs in by.items():
        d = {"final": np.array([r["val_loss"][-1] for r in rs]),
             "at_E_common": np.array([_loss_at_energy(r, e_common) for r in rs]),
             "at_E_lyap": np.array([_loss_at_energy(r, e_lyap) for r in rs]),
             "energy": final_e[lab],
             "worst_ratio": np.array([np.max(np.mean(r["energy"], axis=0)
                                             / np.asarray(r["budget"])) for r in rs]),
             "worst_running_ratio": np.array([_worst_running_ratio(r) for r in rs]),
             "participants": np.array([np.mean(r["counts"]) for r in rs])}
        vals[lab] = d
        row = {}
        for k, x in d.items():
            if np.isfinite(x).all():
                m, h = t_ci(x)
                row[k] = [float(m), float(h)]
            else:
                row[k] = None
        row["seeds"] = [r["seed"] for r in rs]
        row["device_ratio"] = np.mean([np.mean(r["energy"], axis=0)
                                       / np.asarray(r["budget"]) for r in rs],
                                      axis=0).tolist()
        row["max_worst_ratio"] = float(d["worst_ratio"].max())
        row["max_worst_running_ratio"] = float(d["worst_running_ratio"].max())
        stats["policies"][lab] = row
    diffs = {}
    for ly in lyap:
        for lab in labels:
            if lab.startswith("lyapunov"):
                continue
            sa = stats["policies"][ly]["seeds"]
            sb = stats["policies"][lab]["seeds"]
            common = sorted(set(sa) & set(sb))   # paired: the seeds both ran
            ia = [sa.index(s) for s in common]
            ib = [sb.index(s) for s in common]
            for k in ("final", "at_E_common", "at_E_lyap"):
                x = vals[ly][k][ia] - vals[lab][k][ib]
                if x.size and np.isfinite(x).all():
                    m, h = t_ci(x)
                    diffs[f"{ly} - {lab} ({k})"] = [float(m), float(h)]
    stats["paired_differences"] = diffs
    return stats


def write_report(calib: Sequence[dict[str, Any]], comp: Sequence[dict[str, Any]],
                 fit: dict[str, Any], outdir: str | Path, command: str,
                 settings: dict[str, Any]) -> tuple[list[Path], dict[str, Any]]:
    """Write ``online_participation.{csv,png,pdf}``, ``online_learning.{csv,png,pdf}``
    (a row per run and evaluated round, with its ``seed``) and
    ``online_learning_settings.json`` (command, settings, the fit of Ψ with its CIs,
    the statistics of :func:`compare`, CPU time); returns the paths and the
    statistics."""
    from .plots import learning_bands_figure, participation_figure

    out = Path(outdir)
    paths = participation_figure(list(calib), fit, out)
    paths += learning_bands_figure(list(comp), out, learning_rows(comp),
                                   list(LEARNING_COLUMNS))
    stats = compare(comp)
    js = {"command": command, **settings, "participation_fit": fit, "statistics": stats,
          "cpu_s": {"calibration": float(sum(r["cpu_s"] for r in calib)),
                    "comparison": float(sum(r["cpu_s"] for r in comp))}}
    p = out / "online_learning_settings.json"
    write_text(p, json.dumps(js, indent=1))
    paths.append(p)
    return paths, stats


def markdown_table(stats: dict[str, Any]) -> str:
    """The statistics of :func:`compare` as a Markdown table (mean ± 95 % CI; the
    last column is the largest running-average energy/budget of any device after any
    round, over all seeds)."""
    def f(x: list[float] | None, d: int = 3) -> str:
        return "—" if x is None else f"{x[0]:.{d}f} ± {x[1]:.{d}f}"

    lines = ["| policy | participants/round | val loss, final round | val loss at "
             f"{stats['E_common']:.1f} J | val loss at {stats['E_lyap']:.1f} J | "
             "energy (J) | worst E/budget | max running E/budget |",
             "|---|---|---|---|---|---|---|---|"]
    for lab, row in stats["policies"].items():
        lines.append(f"| {lab} | {f(row['participants'], 2)} | {f(row['final'])} | "
                     f"{f(row['at_E_common'])} | {f(row['at_E_lyap'])} | "
                     f"{f(row['energy'], 1)} | {f(row['worst_ratio'])} | "
                     f"{row['max_worst_running_ratio']:.3f} |")
    return "\n".join(lines)


def differences_table(stats: dict[str, Any], key: str = "at_E_common") -> str:
    """Paired differences (lyapunov − baseline, mean ± 95 % CI over seeds) of the
    statistic ``key`` as a Markdown table: a row per baseline, a column per lyapunov
    label; "—" where a baseline has no value (it never spends that energy)."""
    diffs = stats["paired_differences"]
    labels = list(stats["policies"])
    lyap = [lab for lab in labels if lab.startswith("lyapunov")]
    base = [lab for lab in labels if not lab.startswith("lyapunov")]
    lines = ["| lyapunov − baseline | " + " | ".join(lyap) + " |",
             "|---|" + "---|" * len(lyap)]
    for b in base:
        cells = []
        for ly in lyap:
            d = diffs.get(f"{ly} - {b} ({key})")
            cells.append("—" if d is None else f"{d[0]:+.3f} ± {d[1]:.3f}")
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
