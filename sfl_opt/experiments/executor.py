"""One executor lifecycle for runs of independent tasks (sweeps).

``executor`` is ``"serial"`` (run in this process), ``None`` (a
``ProcessPoolExecutor(workers)`` made and shut down here) or any
``concurrent.futures.Executor`` (e.g. ``distributed.Client(...).get_executor()``), left
running — the convention of :func:`sfl_opt.experiments.sweep.sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

from ..errors import ValidationError

__all__ = ["Executor", "executor_scope", "run_tasks"]

T = TypeVar("T")


@contextmanager
def executor_scope(executor: Executor | str | None = None, *, workers: int = 2,
                   dask: str | None = None) -> Iterator[Executor | str]:
    """The one lifecycle of the executors that run a batch of tasks.

    Yields ``"serial"`` (run in this process) for ``executor="serial"``, the given
    ``Executor`` unchanged (the caller owns it), or — for ``None`` — a
    ``ProcessPoolExecutor(workers)`` or, with ``dask`` (a scheduler address), a Dask
    cluster's executor; the ones made here are shut down on exit.
    """
    if dask is not None:
        from distributed import Client

        client = Client(dask)
        try:
            yield client.get_executor()
        finally:
            client.close()
    elif isinstance(executor, str):
        if executor != "serial":
            raise ValidationError("executor", "an Executor, None or 'serial'", executor)
        yield "serial"
    elif executor is None:
        pool = ProcessPoolExecutor(max_workers=workers)
        try:
            yield pool
        finally:
            pool.shutdown()
    else:
        yield executor


def run_tasks(fn: Callable[[Any], T], tasks: Sequence[Any], *,
              executor: Executor | str | None = "serial", workers: int = 2,
              progress: bool = False, desc: str = "runs") -> list[T]:
    """``[fn(t) for t in tasks]`` through ``executor`` (``fn`` must be picklable for a
    process pool), in the order of ``tasks``, with a tqdm bar over completed tasks."""
    from tqdm.auto import tqdm

    out: list[Any] = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress)
    try:
        with executor_scope(executor, workers=workers) as ex:
            if ex == "serial":
                for i, t in enumerate(tasks):
                    out[i] = fn(t)
                    bar.update()
            else:
                futures = {ex.submit(fn, t): i for i, t in enumerate(tasks)}
                for fut in as_completed(futures):
                    out[futures[fut]] = fut.result()
                    bar.update()
    finally:
        bar.close()
    return out
