"""Parameter sweeps: one scenario parameter over a grid x methods x seeds.

    from sfl_opt.experiments.sweep import sweep
    table = sweep("clients", [2, 4, 8], ["sflllm", "fully_random"], seeds=range(5))
    table.to_csv("clients.csv")

Every run is an independent task (:func:`run_task`, picklable) sent to a
``concurrent.futures.Executor``: a process pool on one machine by default,
``executor="serial"`` to run in this process, or any executor the caller passes — e.g.
a Dask cluster's ``distributed.Client(...).get_executor()`` when one machine is not
enough. Run ``i`` of a sweep uses the scenario ``Problem.default(seed, **base,
param=value)`` and ``solve(..., seed=seed)``, so the table does not depend on where or
in which order the runs execute; rows are sorted by (grid value, method, seed).
"""

from __future__ import annotations

import csv
import math
import time
from collections.abc import Iterable, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any

from .._io import atomic_write
from ..errors import ValidationError
from ..methods import METHODS
from ..model.problem import Problem
from ..model.scenario import DEFAULTS as SCENARIO_DEFAULTS
from ..model.scenario import GPT2_DIMS, model_dims
from ..solve import solve
from .executor import executor_scope

#: the default scenario's client compute range, FLOP/s, and its midpoint (the swept
#: "mean client compute")
_CLIENT_FLOPS_RANGE: tuple[float, float] = tuple(SCENARIO_DEFAULTS["client_flops"])
CLIENT_FLOPS_MEAN = 0.5 * (_CLIENT_FLOPS_RANGE[0] + _CLIENT_FLOPS_RANGE[1])

#: sweepable parameters: name -> (axis label with unit, scale to the axis unit, int?)
PARAMS: dict[str, tuple[str, float, bool]] = {
    "clients": ("number of clients K", 1.0, True),
    "subchannel_bw": ("subchannel bandwidth (MHz)", 1e-6, False),
    "p_max": ("client power cap p_max (W)", 1.0, False),
    "client_flops": ("mean client compute (TFLOP/s)", 1e-12, False),
    "server_flops": ("server compute (TFLOP/s)", 1e-12, False),
    "local_iters": ("local iterations per round I", 1.0, True),
    "seq": ("sequence length (tokens)", 1.0, True),
}


#: plausible range (SI units) of each swept parameter; a value outside draws a warning
#: from :func:`implausible` (the values are SI: a "0.5" bandwidth is 0.5 Hz, not MHz)
PLAUSIBLE: dict[str, tuple[float, float, str]] = {
    "clients": (1, 1e4, ""),
    "subchannel_bw": (1e3, 1e9, "Hz"),
    "p_max": (1e-6, 1e3, "W"),
    "client_flops": (1e6, 1e18, "FLOP/s"),
    "server_flops": (1e9, 1e19, "FLOP/s"),
    "local_iters": (1, 1e5, ""),
    "seq": (1, 1e6, ""),
}


def implausible(param: str, value: float) -> str | None:
    """A warning text when ``value`` of ``param`` (SI units) lies outside
    :data:`PLAUSIBLE`, else None."""
    lo, hi, unit = PLAUSIBLE[param]
    if lo <= value <= hi:
        return None
    return (f"{param}={value:g} {unit} is outside the plausible range {lo:g}..{hi:g} "
            f"{unit}; values are in SI units".replace("  ", " "))


def default_value(param: str) -> float:
    """Value (SI units) of swept parameter ``param`` in the default scenario, from
    :data:`sfl_opt.model.scenario.DEFAULTS` (``client_flops``: the midpoint of its range;
    ``seq``: GPT-2 small's when the scenario leaves it to the profile)."""
    if param not in PARAMS:
        raise ValidationError("param", f"one of {sorted(PARAMS)}", param)
    if param == "client_flops":
        return CLIENT_FLOPS_MEAN
    value = SCENARIO_DEFAULTS[param]
    return GPT2_DIMS[param] if value is None else value


def scenario_kwargs(param: str, value: float) -> dict[str, Any]:
    """``Problem.default`` keywords for one swept value.

    ``client_flops`` is the *mean* client compute (FLOP/s): the default range
    0.2..1.0 TFLOP/s is scaled so that its midpoint is ``value``. The others map
    directly (``clients``, ``local_iters`` and ``seq`` must be integers).
    """
    if param not in PARAMS:
        raise ValidationError("param", f"one of {sorted(PARAMS)}", param)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise ValidationError("values", f"positive finite numbers for {param!r}", value)
    if PARAMS[param][2]:
        if int(value) != value:
            raise ValidationError("values", f"integers for {param!r}", value)
        return {param: int(value)}
    if param == "client_flops":
        k = float(value) / CLIENT_FLOPS_MEAN
        return {"client_flops": (_CLIENT_FLOPS_RANGE[0] * k, _CLIENT_FLOPS_RANGE[1] * k)}
    return {param: float(value)}


@dataclass(frozen=True)
class SweepRow:
    """One run: the swept ``param`` = ``value`` (SI units), ``method``, ``seed`` (scenario
    and method), the resulting ``delay`` (T_total, s), ``split``, ``rank``, ``status`` and
    the solve ``time`` (wall clock, s; the only column that is not reproducible).

    A run that raised has ``status="error"``, ``delay`` NaN, ``split = rank = 0`` and the
    exception as ``error`` (``"ValidationError: batch: expected ..."``); the other runs of
    the sweep are kept. :meth:`SweepTable.select` leaves such rows out unless asked."""

    param: str
    value: float
    method: str
    seed: int
    delay: float
    split: int
    rank: int
    status: str
    time: float
    error: str = ""

    def key(self) -> tuple[float, str, int]:
        return (self.value, self.method, self.seed)


#: columns compared by ``SweepTable.__eq__`` (all but the wall-clock time)
DETERMINISTIC = tuple(f.name for f in fields(SweepRow) if f.name != "time")


class SweepTable:
    """A tidy table of sweep runs, one :class:`SweepRow` per run, sorted by
    (value, method, seed). Two tables are equal when every column except ``time``
    is (floats compared exactly)."""

    columns: tuple[str, ...] = tuple(f.name for f in fields(SweepRow))

    def __init__(self, rows: Iterable[SweepRow]) -> None:
        self.rows: list[SweepRow] = sorted(rows, key=SweepRow.key)

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self):
        return iter(self.rows)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SweepTable):
            return NotImplemented
        def strip(t: SweepTable) -> list[tuple[Any, ...]]:  # NaN (failed runs) equals NaN
            return [tuple(repr(x) if isinstance(x, float) else x
                          for x in (getattr(r, c) for c in DETERMINISTIC)) for r in t.rows]

        return strip(self) == strip(other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SweepTable({len(self.rows)} rows, methods={self.methods()})"

    def methods(self) -> list[str]:
        """Methods in the table, in first-appearance order of the sorted rows."""
        return list(dict.fromkeys(r.method for r in self.rows))

    def values(self) -> list[float]:
        return sorted({r.value for r in self.rows})

    def select(self, include_failed: bool = False, **match: Any) -> list[SweepRow]:
        """Rows whose columns equal the given values (failed runs only with
        ``include_failed=True``)."""
        return [r for r in self.rows if (include_failed or r.status != "error")
                and all(getattr(r, k) == v for k, v in match.items())]

    def failed(self) -> list[SweepRow]:
        """The runs that raised (``status="error"``, message in ``error``)."""
        return [r for r in self.rows if r.status == "error"]

    def to_csv(self, path: str | Path) -> Path:
        """Write the table (header + one line per row; floats in full precision)."""
        path = Path(path)
        with atomic_write(path, "w", newline="") as fh:  # readers never see half a file
            w = csv.writer(fh)
            w.writerow(self.columns)
            for r in self.rows:
                w.writerow([repr(x) if isinstance(x, float) else x for x in asdict(r).values()])
        return path

    @classmethod
    def from_csv(cls, path: str | Path) -> SweepTable:
        """Read a table written by :meth:`to_csv` (exactly the same values)."""
        with Path(path).open(newline="") as fh:
            reader = csv.DictReader(fh)
            names = tuple(reader.fieldnames or ())
            if names not in (cls.columns, cls.columns[:-1]):  # older files: no error column
                raise ValidationError("path", f"a sweep CSV with columns {cls.columns}",
                                      reader.fieldnames)
            rows = [SweepRow(param=d["param"], value=float(d["value"]), method=d["method"],
                             seed=int(d["seed"]), delay=float(d["delay"]), split=int(d["split"]),
                             rank=int(d["rank"]), status=d["status"], time=float(d["time"]),
                             error=d.get("error") or "")
                    for d in reader]
        return cls(rows)


@dataclass(frozen=True)
class SweepTask:
    """One run, picklable: ``Problem.default(seed, **base, **scenario_kwargs(param,
    value))`` solved by ``method`` with ``solve(..., seed=seed, **solve_options)`` (the
    seed only for a method that honours one)."""

    param: str
    value: float
    method: str
    seed: int
    base: tuple[tuple[str, Any], ...] = ()
    solve_options: tuple[tuple[str, Any], ...] = ()


def run_task(task: SweepTask) -> SweepRow:
    """Run one sweep task (module level, so process pools and Dask can ship it).

    An exception of the run (bad value, numerical range, missing dependency) becomes a
    row with ``status="error"`` and the message, so one bad value loses no other run."""
    t0 = time.perf_counter()
    try:
        kwargs = dict(task.base)
        kwargs.update(scenario_kwargs(task.param, task.value))
        problem = Problem.default(task.seed, **kwargs)
        t0 = time.perf_counter()
        seed = {"seed": task.seed} if METHODS[task.method].accepts("seed") else {}
        res = solve(problem, task.method, **seed, **dict(task.solve_options))
    except Exception as exc:  # noqa: BLE001 - reported in the row, not lost
        return SweepRow(param=task.param, value=float(task.value), method=task.method,
                        seed=int(task.seed), delay=math.nan, split=0, rank=0, status="error",
                        time=time.perf_counter() - t0, error=f"{type(exc).__name__}: {exc}")
    return SweepRow(param=task.param, value=float(task.value), method=task.method,
                    seed=int(task.seed), delay=float(res.delay), split=int(res.split),
                    rank=int(res.rank), status=str(res.status), time=time.perf_counter() - t0)


#: a memo of runs shared by sweeps (``sweep(..., memo=...)``): :func:`run_key` -> row
RunMemo = dict[tuple[Any, ...], SweepRow]


def _same_as_default(name: str, value: Any, scenario: dict[str, Any]) -> bool:
    """Whether ``Problem.default`` keyword ``name=value`` is what the default scenario
    takes anyway (with the other keywords ``scenario``): its :data:`DEFAULTS` entry, or
    for ``layers``/``hidden``/``seq`` the dimension of the profile in use."""
    if name not in SCENARIO_DEFAULTS:
        return False
    default = SCENARIO_DEFAULTS[name]
    if default is None and name in GPT2_DIMS:
        default = model_dims(scenario.get("profile", SCENARIO_DEFAULTS["profile"]))[name]
    if isinstance(default, (tuple, list)) or isinstance(value, (tuple, list)):
        return isinstance(value, (tuple, list)) and isinstance(default, (tuple, list)) \
            and tuple(value) == tuple(default)
    return value is not None and type(value) is not bool and value == default


def run_key(task: SweepTask) -> tuple[Any, ...]:
    """What decides a task's row: the ``Problem.default`` keywords that differ from the
    default scenario's, the method, the seed and the solve options. Two tasks with equal
    keys are the same run (e.g. ``compare``'s default point and a sweep's default value),
    which a shared memo (:func:`sweep`'s ``memo``) runs once."""
    kw = dict(task.base)
    kw.update(scenario_kwargs(task.param, task.value))
    scenario = tuple(sorted((k, tuple(v) if isinstance(v, list) else v)
                            for k, v in kw.items() if not _same_as_default(k, v, kw)))
    return (scenario, task.method, task.seed, task.solve_options)


def make_tasks(param: str, values: Sequence[float], methods: Sequence[str],
               seeds: Iterable[int], base: dict[str, Any] | None = None,
               solve_options: dict[str, Any] | None = None) -> list[SweepTask]:
    """Validate the sweep's arguments and list its runs (grid x methods x seeds)."""
    if param not in PARAMS:
        raise ValidationError("param", f"one of {sorted(PARAMS)}", param)
    values = list(values)
    if not values:
        raise ValidationError("values", "at least one value", values)
    for x in values:
        scenario_kwargs(param, x)
    methods = list(methods)
    if not methods:
        raise ValidationError("methods", "at least one method", methods)
    for m in methods:
        if m not in METHODS:
            raise ValidationError("methods", f"registered methods {sorted(METHODS)}", m)
    seeds = list(seeds)
    if not seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in seeds):
        raise ValidationError("seeds", "one or more integers >= 0", seeds)
    base = dict(base or {})
    if param in base or (param == "client_flops" and "client_flops" in base):
        raise ValidationError("base", f"no entry for the swept parameter {param!r}", base)
    b = tuple(sorted(base.items()))
    o = tuple(sorted(dict(solve_options or {}).items()))
    return [SweepTask(param, float(x), m, int(s), b, o)
            for x in sorted(set(values)) for m in methods for s in sorted(set(seeds))]


def sweep(param: str, values: Sequence[float], methods: Sequence[str] = ("sflllm",),
          seeds: Iterable[int] = range(3), executor: Executor | str | None = None,
          progress: bool = True, base: dict[str, Any] | None = None,
          solve_options: dict[str, Any] | None = None, workers: int = 2,
          desc: str | None = None, memo: RunMemo | None = None) -> SweepTable:
    """Solve ``Problem.default(seed, **base, param=value)`` for every value, method and seed.

    Parameters
    ----------
    param:
        one of :data:`PARAMS` (SI units: ``subchannel_bw`` Hz, ``p_max`` W,
        ``client_flops`` mean FLOP/s, ``server_flops`` FLOP/s; counts otherwise).
    values, methods, seeds:
        the grid; each seed is the scenario seed and the method's seed.
    executor:
        ``None`` — a ``ProcessPoolExecutor(workers)`` made and shut down here;
        ``"serial"`` — run in this process; or any ``concurrent.futures.Executor``
        (e.g. ``distributed.Client(...).get_executor()``), left running.
    progress:
        show a tqdm progress bar over completed runs (labelled ``desc``, default
        ``"sweep PARAM"``).
    base:
        further ``Problem.default`` keywords held fixed.
    solve_options:
        keywords for :func:`sfl_opt.solve` (e.g. ``mode="bcd"``).
    memo:
        runs done before (:func:`run_key` -> row), shared by several sweeps: a task whose
        run is in it is not run again (its row is copied with this sweep's ``param`` and
        ``value``; ``time`` is the first run's), and the new runs are added to it.

    Returns
    -------
    SweepTable
        one row per run, sorted by (value, method, seed): identical for the same
        arguments whatever the executor (except the ``time`` column).
    """
    tasks = make_tasks(param, values, methods, seeds, base, solve_options)
    memo = {} if memo is None else memo
    keys = [run_key(t) for t in tasks]
    todo = {k: t for k, t in zip(keys, tasks, strict=True) if k not in memo}
    from tqdm.auto import tqdm

    bar = tqdm(total=len(todo), desc=desc or f"sweep {param}", unit="run",
               disable=not progress)
    try:
        with executor_scope(executor, workers=workers) as ex:
            if isinstance(ex, str):
                for k, t in todo.items():
                    memo[k] = run_task(t)
                    bar.update()
            elif todo:
                futures = {ex.submit(run_task, t): k for k, t in todo.items()}
                for fut in as_completed(futures):
                    memo[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    return SweepTable(replace(memo[k], param=t.param, value=float(t.value))
                      for k, t in zip(keys, tasks, strict=True))
