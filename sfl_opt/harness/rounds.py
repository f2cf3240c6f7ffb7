"""Rounds to a target validation loss versus LoRA rank and local iterations (SPEC §8.1).

The ``rounds`` table of a profile, ``rounds[r][I]``: the mean over seeds of the
*fractional* number of rounds split federated LoRA training
(:class:`~sfl_opt.harness.train.SplitFedTrainer`) needs, from a pre-trained base
(:func:`~sfl_opt.harness.train.pretrain_base`, one per seed), to bring the validation
loss to ``target_loss`` with I local iterations per round.

Protocol:

- LoRA scaling is stated: fixed alpha (update scaled by alpha/r, peft's default) or
  rsLoRA (alpha/sqrt r); never alpha = r with one shared learning rate.
- The learning rate is tuned per rank over a grid (:func:`tune_lr`): the best rate has
  the least mean rounds to target over the seeds; a run that misses the target within
  the run's round cap counts as worse than any that hits. A candidate is stopped as
  soon as it can no longer beat the best so far (its rounds so far already sum to at
  least the best's), which never drops the true best. Tuning happens at one I
  (``tune_local_iters``) and the best rate is reused at the other I, or at every I.
- The validation loss is measured after every round; the count is interpolated
  linearly in that curve at the target (:func:`fractional_rounds`), e.g. 1.37 rounds.

Every finished (or cut) run is passed to ``on_record`` with a key, so a caller can
store partial results and pass them back as ``records`` to resume.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import positive_int, scalar
from ..errors import ValidationError

SCALINGS = ("fixed-alpha", "rslora")


def fractional_rounds(curve: Sequence[float], target: float) -> float | None:
    """Rounds at which a validation curve first reaches ``target``, linear in between.

    ``curve[0]`` is the loss before training and ``curve[j]`` after round j. With j the
    first round where ``curve[j] <= target``, the result is
    ``j - 1 + (curve[j-1] - target) / (curve[j-1] - curve[j])`` (0.0 if already
    ``curve[0] <= target``); None if the curve never reaches the target.
    """
    c = [float(x) for x in curve]
    if not c:
        raise ValidationError("curve", "at least the loss before training", c)
    if not all(math.isfinite(x) for x in c):
        raise ValidationError("curve", "finite losses", c)
    if c[0] <= target:
        return 0.0
    for j in range(1, len(c)):
        if c[j] <= target:
            return j - 1 + (c[j - 1] - target) / (c[j - 1] - c[j])
    return None


def fractional_iterations(points: Sequence[tuple[float, float]], target: float
                          ) -> float | None:
    """Iterations at which a validation curve first reaches ``target``, linear in between.

    ``points`` are ``(iterations since the start of training, validation loss)`` in
    increasing order of iterations, the first usually ``(0, loss before training)``.
    With j the first point whose loss is ``<= target``, the result is
    ``n[j-1] + (n[j] - n[j-1]) * (loss[j-1] - target) / (loss[j-1] - loss[j])``
    (``n[0]`` if the first point is already at the target); None if no point reaches
    it. With points at 0, I, 2I, ... divided by I this is :func:`fractional_rounds`.
    """
    pts = [(float(n), float(x)) for n, x in points]
    if not pts:
        raise ValidationError("points", "at least one (iterations, loss) point", pts)
    if not all(math.isfinite(n) and math.isfinite(x) for n, x in pts):
        raise ValidationError("points", "finite iterations and losses", pts)
    if any(b[0] <= a[0] for a, b in zip(pts[:-1], pts[1:], strict=True)):
        raise ValidationError("points", "strictly increasing iteration counts",
                              [n for n, _ in pts])
    if pts[0][1] <= target:
        return pts[0][0]
    for (n0, x0), (n1, x1) in zip(pts[:-1], pts[1:], strict=True):
        if x1 <= target:
            return n0 + (n1 - n0) * (x0 - target) / (x0 - x1)
    return None


def default_eval_every(local_iters: int) -> int:
    """Within-round evaluation interval giving ~10 evaluation points per round (>= 1)."""
    return max(1, round(positive_int("local_iters", local_iters) / 10))


@dataclass(frozen=True)
class RunResult:
    """One run: ``rounds`` fractional rounds to target (None: not reached).

    ``status``: "hit" (reached), "miss" (the round cap ran out), "cut" (stopped early
    because it could no longer beat the best learning rate; it had not reached the
    target after ``bound`` rounds, so its count is > ``bound``).
    """

    status: str
    rounds: float | None
    bound: float
    curve: tuple[float, ...] = ()
    #: within-round evaluation: (iterations, validation loss of the virtual FedAvg)
    points: tuple[tuple[int, float], ...] = ()


#: ``run(lr, seed, budget)`` -> RunResult; stop (status "cut") once the run has not
#: reached the target after ``budget`` rounds (budget = inf: run to the round cap).
RunFn = Callable[[float, int, float], RunResult]


def _score(results: Sequence[RunResult]) -> tuple[int, float]:
    """(misses, sum of rounds of the hits): smaller is better, lexicographically."""
    misses = sum(r.status != "hit" for r in results)
    return misses, float(sum(r.rounds for r in results if r.status == "hit"))


def tune_lr(lrs: Sequence[float], seeds: Sequence[int], run: RunFn, *,
            start: float | None = None) -> tuple[float, dict[float, list[RunResult]]]:
    """The learning rate of ``lrs`` with the least mean rounds over ``seeds``.

    Candidates are tried nearest (in log) to ``start`` first (default: the grid's
    middle), so a good bound is found early. A run that misses the target is worse than
    any hit. Once some candidate hits on every seed (sum S), another candidate's run on
    a seed gets the budget ``S - (its rounds so far)``: past it the candidate cannot beat
    S (a run not at the target after b rounds needs more than b), so it is cut and its
    remaining seeds are skipped. Ties keep the candidate tried first. Returns the best
    rate and every candidate's results (possibly cut short).
    """
    grid = [scalar("lr_grid", x, positive=True) for x in lrs]
    if not grid or len(set(grid)) != len(grid):
        raise ValidationError("lr_grid", "distinct positive learning rates", list(lrs))
    centre = math.log(start) if start is not None else float(np.median(np.log(grid)))
    order = sorted(grid, key=lambda x: (abs(math.log(x) - centre), x))
    best_lr: float | None = None
    best: tuple[int, float] | None = None
    results: dict[float, list[RunResult]] = {}
    for lr in order:
        res: list[RunResult] = []
        done = 0.0
        for seed in seeds:
            budget = best[1] - done if best is not None and best[0] == 0 else math.inf
            r = run(lr, int(seed), budget)
            res.append(r)
            if r.status == "cut":
                break
            if r.status == "hit":
                done += float(r.rounds)  # type: ignore[arg-type]
            elif best is not None and best[0] == 0:
                break                     # a miss can never beat an all-hit candidate
        results[lr] = res
        if len(res) == len(seeds) and all(r.status != "cut" for r in res):
            score = _score(res)
            if best is None or score < best:
                best, best_lr = score, lr
    if best_lr is None:  # pragma: no cover - the first candidate always runs every seed
        raise RuntimeError("no learning rate finished")
    return best_lr, results


def _key(rank: int, iters: int, lr: float, seed: int, eval_every: int | None = None) -> str:
    key = f"r{rank}/I{iters}/lr{lr:.6g}/s{seed}"
    return key if eval_every is None else f"{key}/e{eval_every}"


def _encode(r: RunResult) -> dict[str, Any]:
    out = {"status": r.status, "rounds": r.rounds, "bound": r.bound,
           "curve": [round(x, 5) for x in r.curve]}
    if r.points:
        out["points"] = [[int(n), round(x, 5)] for n, x in r.points]
    return out


def _decode(d: Mapping[str, Any]) -> RunResult:
    return RunResult(str(d["status"]), None if d["rounds"] is None else float(d["rounds"]),
                     float(d["bound"]), tuple(float(x) for x in d.get("curve", ())),
                     tuple((int(n), float(x)) for n, x in d.get("points", ())))


def measure_rounds(cfg: Any, *, ranks: Sequence[int], seeds: Sequence[int],
                   target_loss: float, local_iters: Sequence[int] = (1, 5, 20, 50),
                   lr_grid: Sequence[float] = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1),
                   tune_local_iters: int | None = 5, scaling: str = "fixed-alpha",
                   alpha: float = 8.0, max_rounds: int = 100, max_iters: int | None = None,
                   clients: int = 3, split: int = 1, batch: int = 8, n_train: int = 1200,
                   n_val: int = 128, pretrain_steps: int = 300, progress: bool = True,
                   eval_every: int | Mapping[int, int] | str | None = None,
                   lr_per_rank: Mapping[int, float] | None = None,
                   records: Mapping[str, Mapping[str, Any]] | None = None,
                   on_record: Callable[[str, dict[str, Any]], None] | None = None
                   ) -> dict[str, Any]:
    """Measure the rounds table ``rounds[r][I]`` (see the module docstring).

    ``cfg`` a :class:`~sfl_opt.harness.model.ModelConfig`; ``lr_grid`` AdamW rates;
    ``tune_local_iters`` the I at which the rate is tuned per rank (None: at every I);
    ``scaling`` "fixed-alpha" (alpha/r) or "rslora" (alpha/sqrt r) with ``alpha``.
    A run stops at ``min(max_rounds, ceil(max_iters / I))`` rounds. ``records`` are
    earlier runs (from ``on_record``) to reuse. Raises ``RuntimeError`` if a run with
    the chosen rate misses the target (the table would need an invented number).
    ``eval_every``: within-round evaluation every N local iterations (one N for every
    I, a mapping I -> N, "auto" for :func:`default_eval_every` of each I, or None for
    round ends only); the count is then the iterations to target interpolated between
    evaluation points of the virtual FedAvg model (:func:`fractional_iterations`) / I,
    and a run stops at the first point at the target (one extra FedAvg there).
    ``lr_per_rank``: use these rates (rank -> rate) at every I instead of tuning
    (``lr_grid`` and ``tune_local_iters`` are then only recorded in the protocol).
    Returns the profile's ``rounds`` entry (schema 2) without ``command``.
    """
    from tqdm.auto import tqdm

    from .train import SplitFedTrainer, TrainConfig, pretrain_base

    ranks = [positive_int("ranks", r) for r in ranks]
    iters = [positive_int("local_iters", i) for i in local_iters]
    seeds = [int(s) for s in seeds]
    if not ranks or len(set(ranks)) != len(ranks):
        raise ValidationError("ranks", "distinct ranks", ranks)
    if not iters or len(set(iters)) != len(iters):
        raise ValidationError("local_iters", "distinct local-iteration counts", iters)
    if not seeds or len(set(seeds)) != len(seeds) or min(seeds) < 0:
        raise ValidationError("seeds", "distinct integers >= 0", seeds)
    if scaling not in SCALINGS:
        raise ValidationError("scaling", f"one of {SCALINGS}", scaling)
    if tune_local_iters is not None and tune_local_iters not in iters:
        raise ValidationError("tune_local_iters", f"one of local_iters {iters} or None",
                              tune_local_iters)
    alpha = scalar("alpha", alpha, positive=True)
    target = scalar("target_loss", target_loss, positive=True)
    max_rounds = positive_int("max_rounds", max_rounds)
    if max_iters is not None:
        max_iters = positive_int("max_iters", max_iters)
    grid = [scalar("lr_grid", x, positive=True) for x in lr_grid]
    if not grid or len(set(grid)) != len(grid):
        raise ValidationError("lr_grid", "distinct positive learning rates", list(lr_grid))
    evals: dict[int, int | None]
    if eval_every is None:
        evals = {i: None for i in iters}
    elif eval_every == "auto":
        evals = {i: default_eval_every(i) for i in iters}
    elif isinstance(eval_every, Mapping):
        evals = {i: positive_int("eval_every", eval_every[i]) if i in eval_every else
                 default_eval_every(i) for i in iters}
    else:
        evals = {i: positive_int("eval_every", eval_every) for i in iters}
    if lr_per_rank is not None:
        missing = [r for r in ranks if r not in lr_per_rank]
        if missing:
            raise ValidationError("lr_per_rank", f"a rate for every rank {ranks}", missing)
        fixed_lr = {r: scalar("lr_per_rank", lr_per_rank[r], positive=True) for r in ranks}
    cap = {i: min(max_rounds, math.ceil(max_iters / i)) if max_iters else max_rounds
           for i in iters}
    records = dict(records or {})
    bases: dict[int, Any] = {}
    t0 = time.perf_counter()
    n_runs = 0

    def base_for(seed: int) -> Any:
        if seed not in bases:
            bases[seed] = (pretrain_base(cfg, pretrain_steps, seed=seed, progress=progress)
                           if pretrain_steps > 0 else None)
        return bases[seed]

    bar = tqdm(desc="rounds(r, I) runs", unit="run", disable=not progress)

    def make_run(rank: int, i: int) -> RunFn:
        def run(lr: float, seed: int, budget: float) -> RunResult:
            nonlocal n_runs
            e = evals[i]
            key = _key(rank, i, lr, seed, e)
            old = records.get(key)
            if old is not None:
                res = _decode(old)
                if res.status != "cut" or res.bound >= budget:
                    return res if res.status != "cut" else RunResult(
                        "cut", None, res.bound, res.curve)
            tc = TrainConfig(clients=clients, split=split, rank=rank, local_iters=i,
                             batch=batch, lr=lr, n_train=n_train, n_val=n_val, seed=seed,
                             alpha=alpha, rslora=scaling == "rslora")
            trainer = SplitFedTrainer(cfg, tc, base_state=base_for(seed))
            curve = [trainer.validation_loss()]
            res = RunResult("hit", 0.0, 0.0, tuple(curve)) if curve[0] <= target else None
            if e is not None:
                trainer.log.eval_points.append((0, curve[0]))
            for j in range(1, cap[i] + 1 if res is None else 1):
                if e is not None:
                    trainer.train_round(eval_every=e, stop_at=target)
                    pts = tuple(trainer.log.eval_points)
                    last = pts[-1][1]
                    if not trainer.log.stopped_mid_round:
                        curve.append(last)
                    if not math.isfinite(last):
                        res = RunResult("miss", None, float(j), tuple(curve[:-1]), pts[:-1])
                        break
                    if last <= target:
                        its = fractional_iterations(pts, target)
                        res = RunResult("hit", float(its) / i, float(j),  # type: ignore[arg-type]
                                        tuple(curve), pts)
                        break
                    if j >= budget:
                        res = RunResult("cut", None, float(j), tuple(curve), pts)
                        break
                    continue
                trainer.train_round()
                curve.append(trainer.validation_loss())
                if not math.isfinite(curve[-1]):
                    res = RunResult("miss", None, float(j), tuple(curve[:-1]))
                    break
                if curve[-1] <= target:
                    res = RunResult("hit", fractional_rounds(curve, target), float(j),
                                    tuple(curve))
                    break
                if j >= budget:
                    res = RunResult("cut", None, float(j), tuple(curve))
                    break
            if res is None:
                res = RunResult("miss", None, float(cap[i]), tuple(curve),
                                tuple(trainer.log.eval_points))
            n_runs += 1
            bar.update(1)
            bar.set_postfix(rank=rank, I=i, lr=f"{lr:.3g}", seed=seed, status=res.status,
                            rounds="-" if res.rounds is None else f"{res.rounds:.2f}")
            records[key] = _encode(res)
            if on_record is not None:
                on_record(key, records[key])
            return res
        return run

    best_lr: dict[int, dict[int, float]] = {r: {} for r in ranks}
    runs: dict[int, dict[int, list[RunResult]]] = {r: {} for r in ranks}
    tune_at = [tune_local_iters] if tune_local_iters is not None else iters
    if lr_per_rank is not None:
        tune_at = []
    prev: float | None = None
    for r in ranks:
        if lr_per_rank is not None:
            for i in iters:
                best_lr[r][i] = fixed_lr[r]
                runs[r][i] = [make_run(r, i)(fixed_lr[r], s, math.inf) for s in seeds]
            continue
        for i in tune_at:
            lr, res = tune_lr(grid, seeds, make_run(r, i), start=prev)
            best_lr[r][i], runs[r][i] = lr, res[lr]
        prev = best_lr[r][tune_at[0]]
        for i in iters:
            if i in runs[r]:
                continue
            lr = best_lr[r][tune_local_iters]  # type: ignore[index]
            best_lr[r][i] = lr
            runs[r][i] = [make_run(r, i)(lr, s, math.inf) for s in seeds]
    bar.close()

    table: dict[str, dict[str, float]] = {}
    spread: dict[str, dict[str, float]] = {}
    per_seed: dict[str, dict[str, list[float]]] = {}
    curves: dict[str, list[float]] = {}
    points: dict[str, list[list[float]]] = {}
    for r in ranks:
        table[str(r)], spread[str(r)], per_seed[str(r)] = {}, {}, {}
        for i in iters:
            res = runs[r][i]
            bad = [s for s, x in zip(seeds, res, strict=True) if x.status != "hit"]
            if bad:
                raise RuntimeError(
                    f"rank {r}, local_iters {i}, lr {best_lr[r][i]:.3g}: seeds {bad} did not "
                    f"reach target_loss={target} within {cap[i]} rounds; raise the target, "
                    "max_rounds or max_iters")
            vals = [float(x.rounds) for x in res]  # type: ignore[arg-type]
            table[str(r)][str(i)] = float(np.mean(vals))
            spread[str(r)][str(i)] = float(np.std(vals, ddof=1)) if len(vals) > 1 else 0.0
            per_seed[str(r)][str(i)] = [round(v, 4) for v in vals]
            for s, x in zip(seeds, res, strict=True):
                curves[f"rank{r}_I{i}_seed{s}"] = [round(v, 4) for v in x.curve]
                if x.points:
                    points[f"rank{r}_I{i}_seed{s}"] = [[int(n), round(v, 4)]
                                                       for n, v in x.points]
    ref = max(iters)
    lr_out: dict[str, Any]
    if lr_per_rank is not None:
        lr_out = {str(r): fixed_lr[r] for r in ranks}
    elif tune_local_iters is not None:
        lr_out = {str(r): best_lr[r][tune_local_iters] for r in ranks}
    else:
        lr_out = {str(r): {str(i): best_lr[r][i] for i in iters} for r in ranks}
    tried = {str(r): {str(i): {f"{lr:.6g}": [_encode(x)["status"] if x.rounds is None
                                             else round(x.rounds, 4) for x in xs]
                               for lr, xs in sorted(_tried(records, r, i, seeds).items())}
                      for i in tune_at} for r in ranks}
    return {
        "schema": 2,
        "ranks": ranks,
        "local_iters": iters,
        "table": table,
        "spread": spread,
        "spread_kind": "sample std over seeds",
        "per_seed": per_seed,
        "reference_local_iters": ref,
        "rounds": [table[str(r)][str(ref)] for r in ranks],
        "target_loss": target,
        "seeds": seeds,
        "protocol": {
            "scaling": scaling, "alpha": alpha,
            "scaling_factor": "alpha/r (peft default, Hu et al.)" if scaling == "fixed-alpha"
            else "alpha/sqrt(r) (rsLoRA, peft use_rslora=True)",
            "lr_grid": grid, "lr": lr_out, "lr_tuned_at_local_iters": tune_local_iters
            if tune_local_iters is not None else "each",
            "lr_selection": "given per rank (lr_per_rank), not tuned in this run"
            if lr_per_rank is not None else
            "least mean fractional rounds to target over the seeds; a run that misses the "
            "target is worse than any that hits; candidates tried nearest (log) to the "
            "previous rank's best first and cut as soon as their rounds so far reach the "
            "best sum",
            "lr_candidates": tried,
            "seeds": seeds, "target_loss": target,
            "interpolation": _interpolation(evals),
            "eval_every": None if all(v is None for v in evals.values())
            else {str(i): evals[i] for i in iters},
            "optimizer": "AdamW (weight decay 0), same rate on client and server adapters",
            "count": "fractional rounds from the start of fine-tuning; validation loss after "
                     "every round with the FedAvg of the client adapters"
            if all(v is None for v in evals.values()) else
            "fractional rounds = iterations to target / I, from the start of fine-tuning; "
            "validation loss every eval_every[I] local iterations with the virtual FedAvg of "
            "the clients' current adapters (data-size weights; the training state is not "
            "changed) and after every round's FedAvg; a run stops at the first point at the "
            "target: stopping mid-round means one extra aggregation at that point",
        },
        "measured_on": {**cfg.to_dict(), "architecture": "gpt2 (random init + pre-training on "
                        "unpaired task text, LoRA on q_proj/v_proj)",
                        "pretrained": f"full-parameter AdamW pre-training, {pretrain_steps} "
                        "steps of 16 lines of unpaired MR/sentence text "
                        "(sfl_opt.harness.train.pretrain_base), one base per seed"},
        "task": "bundled E2E-style data-to-text (sfl_opt.harness.data), non-IID by venue type",
        "settings": {"clients": clients, "split": split, "batch": batch, "n_train": n_train,
                     "n_val": n_val, "pretrain_steps": pretrain_steps,
                     "max_rounds": {str(i): cap[i] for i in iters}, "max_iters": max_iters,
                     "concentration": 0.5},
        "val_loss_curves": curves,
        **({"val_loss_points": points} if points else {}),
        "wall_seconds": time.perf_counter() - t0,
        "runs_this_session": n_runs,
    }


def _interpolation(evals: Mapping[int, int | None]) -> str:
    """The protocol's ``interpolation`` text for the evaluation intervals per I."""
    if all(v is None for v in evals.values()):
        return "linear in the validation curve between round ends"
    ns = sorted({v for v in evals.values() if v is not None})
    every = (f"every {ns[0]} local iterations" if len(ns) == 1 else
             "every N local iterations (N per I in eval_every)")
    return (f"linear between evaluation points of the virtual FedAvg model, {every} "
            "and at every round end; fractional rounds = interpolated iterations to "
            "target / I")


def _tried(records: Mapping[str, Mapping[str, Any]], rank: int, iters: int,
           seeds: Sequence[int]) -> dict[float, list[RunResult]]:
    """The tuning runs of (rank, I) in ``records``, per learning rate, in seed order."""
    out: dict[float, list[RunResult]] = {}
    prefix = f"r{rank}/I{iters}/lr"
    for key, rec in records.items():
        if key.startswith(prefix):
            lr_text, seed_text = key[len(prefix):].split("/s")
            seed_text = seed_text.split("/e")[0]      # within-round evaluation suffix
            out.setdefault(float(lr_text), []).append((int(seed_text), _decode(rec)))  # type: ignore[arg-type]
    return {lr: [x for s, x in sorted(v) if s in seeds] for lr, v in out.items()}  # type: ignore[misc]
