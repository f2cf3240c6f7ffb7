"""``solve``: the public entry point; validates its arguments and dispatches to a method."""

from __future__ import annotations

import importlib
import time
from typing import Any

from . import _validation as v
from .errors import BackendError, ValidationError
from .methods import METHODS, Options
from .methods.common import auto_kicks, prepare
from .power import PowerBackend, get_backend
from .problem import Problem
from .result import SolveResult

MODES = ("nested", "bcd")
ASSIGN = ("heuristic", "exact")


def _check_solve_args(problem: Any, method: Any, power: Any, seed: Any, mode: Any, refine: Any,
                      bound: Any, assign: Any, max_iter: Any, time_limit: Any,
                      max_moves: Any, prune: Any, kicks: Any) -> None:
    """Validate every argument of :func:`solve`; errors name the argument."""
    if not isinstance(problem, Problem):
        raise ValidationError("problem", "a sfl_opt.Problem", type(problem).__name__)
    if method not in METHODS:
        raise BackendError(f"method: unknown method {method!r}; available: "
                           f"{', '.join(sorted(METHODS))}")
    if not isinstance(power, (str, PowerBackend)):
        raise ValidationError("power", "a backend name or a PowerBackend", power)
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValidationError("seed", "None or an integer >= 0", seed)
    v.choice("mode", mode, MODES)
    v.choice("assign", assign, ASSIGN)
    for name, val in (("refine", refine), ("bound", bound), ("prune", prune)):
        if not isinstance(val, bool):
            raise ValidationError(name, "True or False", val)
    v.positive_int("max_iter", max_iter)
    v.positive_int("max_moves", max_moves)
    if time_limit is not None:
        v.scalar("time_limit", time_limit, positive=True)
    if kicks is not None and (isinstance(kicks, bool) or not isinstance(kicks, int) or kicks < 0):
        raise ValidationError("kicks", "None or an integer >= 0", kicks)


def solve(
    problem: Problem,
    method: str = "sflllm",
    *,
    power: str | PowerBackend = "native",
    seed: int | None = None,
    mode: str = "nested",
    refine: bool = True,
    bound: bool = False,
    assign: str = "heuristic",
    max_iter: int = 20,
    max_moves: int = 10_000,
    prune: bool = True,
    kicks: int | None = None,
    time_limit: float | None = None,
    **options: Any,
) -> SolveResult:
    """Minimise the total training delay T_total (s) of ``problem``.

    Parameters
    ----------
    method:
        ``"sflllm"`` (default) or a registered baseline (``sfl_opt.methods.METHODS``).
    power:
        power-control backend: ``"native"`` (exact, Numba), ``"cvxpy"``, ``"pyomo"``
        (see ``sfl_opt.power.available_backends()``), or a backend instance.
    seed:
        seed of the random choices of random methods (same seed, same answer).
    mode:
        ``"nested"`` re-optimises allocation and power for every (split, rank);
        ``"bcd"`` is the paper's alternation (allocation held during the search).
    refine:
        local-search refinement of the subchannel assignment (move/swap, exact power).
    bound:
        also compute a lower bound on the optimum (fills ``lower_bound`` and ``gap``).
    assign:
        ``"heuristic"`` or ``"exact"`` (MILP with certified optimum, small instances).
    max_iter, max_moves:
        outer iterations (bcd) and local-search moves per link.
    prune:
        skip (split, rank) pairs whose lower bound exceeds the best delay found.
    kicks:
        iterated-local-search restarts per link and pair (``None``: automatic, many on
        small links and none on large ones; 0 disables). Their random numbers derive
        from ``seed`` (0 when None), so the answer is deterministic.
    time_limit:
        seconds; on expiry the best point so far is returned with
        ``termination="time_limit"``.
    **options:
        method-specific options (e.g. ``rank`` for ``fixed_rank``) and backend options
        (``power_options={...}``).

    Returns
    -------
    SolveResult
        ``delay`` equals ``evaluate(problem, ...)`` of the returned point.
    """
    _check_solve_args(problem, method, power, seed, mode, refine, bound, assign, max_iter,
                      time_limit, max_moves, prune, kicks)
    power_options = options.pop("power_options", {}) or {}
    if not isinstance(power_options, dict):
        raise ValidationError("power_options", "a dict of backend options", power_options)
    allowed = METHODS[method].options
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ValidationError("options", f"options of method {method!r}: "
                              f"{', '.join(allowed) or 'none'}", unknown)
    backend = get_backend(power, **power_options)
    if kicks is None:
        kicks = auto_kicks(problem.K, max(problem.M, problem.N))
    opts = Options(power=backend, power_name=backend.name, mode=mode, refine=refine,
                   max_iter=max_iter, max_moves=max_moves, prune=prune, kicks=kicks,
                   time_limit=time_limit, seed=seed, extra=options)
    ctx = prepare(problem)
    if assign == "exact":
        exact = importlib.import_module(".assign.exact", __package__)
        result = exact.solve_exact(ctx, opts, method)
    else:
        result = METHODS[method].fn(ctx, opts, method)
    if bound:
        bound_mod = importlib.import_module(".assign.bound", __package__)
        t0 = time.perf_counter()
        lb = float(bound_mod.lower_bound(problem))
        result.timings["bound"] = time.perf_counter() - t0
        if result.lower_bound is not None:  # keep a tighter certified bound (assign="exact")
            lb = max(lb, float(result.lower_bound))
        result.lower_bound = min(lb, result.delay) if result.status == "optimal" else lb
    return result
