"""Analysis of experiment runs: the comparison of SflLLM with the baselines, summaries
over seeds and the per-seed reductions (numbers only; :mod:`sfl_opt.experiments.report` formats
them, :mod:`sfl_opt.experiments.plots` draws them).

    from sfl_opt.experiments.analysis import compare, compare_rows
    rows = compare_rows(compare(seeds=3))
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import ValidationError
from ..methods.baselines import BASELINES as BASELINE_METHODS
from .sweep import RunMemo, SweepTable, default_value, sweep

#: the default method and the baselines (defined once, by their registration in
#: ``sfl_opt.methods.baselines``), in the order of the tables and figures
REFERENCE = "sflllm"
BASELINES: tuple[str, ...] = tuple(BASELINE_METHODS)
#: display name of each method
METHOD_LABELS: dict[str, str] = {
    "sflllm": "SflLLM (proposed)",
    "random_subchannels": "Random subchannels",
    "equal_power": "Equal power",
    "random_split": "Random split",
    "fixed_rank": "Fixed rank",
    "random_rank": "Random rank",
    "fully_random": "Fully random",
}


def method_label(method: str) -> str:
    """Display name of a method (its name when it has none)."""
    return METHOD_LABELS.get(method, method)


def ordered(methods: Iterable[str]) -> list[str]:
    """Methods in the tables' and figures' order: SflLLM, then the baselines, then any
    other method alphabetically."""
    known = [REFERENCE, *BASELINES]
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))




@dataclass(frozen=True)
class Summary:
    """Mean, population standard deviation (ddof=0), quartiles and median (linear
    interpolation) and count of a set of numbers."""

    mean: float
    std: float
    n: int
    q25: float = float("nan")
    q75: float = float("nan")
    median: float = float("nan")

    @classmethod
    def of(cls, xs: Iterable[float]) -> Summary:
        a = np.asarray(list(xs), dtype=float)
        q25, q50, q75 = np.percentile(a, [25.0, 50.0, 75.0])
        return cls(float(a.mean()), float(a.std()), int(a.size), float(q25), float(q75),
                   float(q50))


def summarise_sweep(table: SweepTable) -> list[tuple[str, float, str, Summary]]:
    """(param, value, method, delay summary over seeds) per grid point and method."""
    out = []
    for value in table.values():
        for method in table.methods():
            rows = table.select(value=value, method=method)
            if rows:
                out.append((rows[0].param, value, method, Summary.of(r.delay for r in rows)))
    return out


def reductions(table: SweepTable, reference: str = "sflllm") -> dict[str, np.ndarray]:
    """Per-seed relative reduction ``1 - delay(reference) / delay(baseline)`` of the
    reference method against every other method of ``table`` (rows matched by value
    and seed)."""
    ref = {(r.value, r.seed): r.delay for r in table.select(method=reference)}
    out: dict[str, np.ndarray] = {}
    for m in table.methods():
        if m == reference:
            continue
        rows = [r for r in table.select(method=m) if (r.value, r.seed) in ref]
        out[m] = np.array([1.0 - ref[(r.value, r.seed)] / r.delay for r in rows])
    return out


# --------------------------------------------------------------------- comparison


def compare(seeds: int | Iterable[int] = 10, methods: Sequence[str] | None = None,
            executor: Executor | str | None = None, progress: bool = True,
            base: dict[str, Any] | None = None, memo: RunMemo | None = None) -> SweepTable:
    """Run SflLLM and every baseline on seeds ``0..seeds-1`` (or the given seeds) of the
    default scenario (with the ``Problem.default`` keywords ``base``, e.g. the radio
    options ``{"downlink": "allocated", "band": "shared"}`` or ``{"profile": path}``);
    each seed is the scenario's and the method's. ``memo``: runs shared with other sweeps
    (see :func:`~sfl_opt.experiments.sweep.sweep`)."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        if seeds < 1:
            raise ValidationError("seeds", "a number of seeds >= 1", seeds)
        seeds = range(seeds)
    methods = list(methods) if methods is not None else [REFERENCE, *BASELINES]
    return sweep("clients", [default_value("clients")], methods, seeds, executor=executor,
                 progress=progress, base=base, desc="compare", memo=memo)


def compare_rows(table: SweepTable, reference: str = REFERENCE) -> list[dict[str, Any]]:
    """Per method: mean and std (ddof=0) of the delay (s) and of the reference's relative
    reduction against it (``1 - d_ref / d``, matched by seed), the reference first."""
    red = reductions(table, reference)
    methods = ordered(table.methods())
    if reference in methods:
        methods = [reference] + [m for m in methods if m != reference]
    out = []
    for m in methods:
        s = Summary.of(r.delay for r in table.select(method=m))
        row = {"method": m, "mean": s.mean, "std": s.std, "n": s.n,
               "red_mean": None, "red_std": None, "worse": None}
        if m in red:
            row.update(red_mean=float(red[m].mean()), red_std=float(red[m].std()),
                       worse=int(np.sum(red[m] < 0)))
        out.append(row)
    return out


__all__ = ["BASELINES", "METHOD_LABELS", "REFERENCE", "Summary", "compare", "compare_rows",
           "method_label", "ordered", "reductions", "summarise_sweep"]
