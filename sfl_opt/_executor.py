"""One executor lifecycle for runs of independent tasks (sweeps).

``executor`` is ``"serial"`` (run in this process), ``None`` (a
``ProcessPoolExecutor(workers)`` made and shut down here) or any
``concurrent.futures.Executor`` (e.g. ``distributed.Client(...).get_executor()``), left
running — the convention of :func:`sfl_opt.sweep.sweep`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from typing import Any, TypeVar

from .errors import ValidationError

__all__ = ["Executor", "executor_scope", "run_tasks"]

T = TypeVar("T")


@contextmanager
def executor_scope(executor: Executor | str | None, workers: int = 2
                   ) -> Iterator[Executor | None]:
    """Yield the executor to submit to (``None`` for ``"serial"``); a pool made here is
    shut down on exit."""
    if isinstance(executor, str):
        if executor != "serial":
            raise ValidationError("executor", "an Executor, None or 'serial'", executor)
        yield None
        return
    own = executor is None
    ex = ProcessPoolExecutor(max_workers=workers) if own else executor
    try:
        yield ex
    finally:
        if own:
            ex.shutdown()


def run_tasks(fn: Callable[[Any], T], tasks: Sequence[Any], *,
              executor: Executor | str | None = "serial", workers: int = 2,
              progress: bool = False, desc: str = "runs") -> list[T]:
    """``[fn(t) for t in tasks]`` through ``executor`` (``fn`` must be picklable for a
    process pool), in the order of ``tasks``, with a tqdm bar over completed tasks."""
    from tqdm.auto import tqdm

    out: list[Any] = [None] * len(tasks)
    bar = tqdm(total=len(tasks), desc=desc, unit="run", disable=not progress)
    try:
        with executor_scope(executor, workers) as ex:
            if ex is None:
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
