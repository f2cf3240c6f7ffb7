"""HiGHS through Pyomo's persistent appsi interface, and the tangent cuts of the outer
approximations that run on it (the ``pyomo`` backend and the MILP of
:mod:`sfl_opt.methods.milp`). Pyomo is imported only when a solver is built."""

from __future__ import annotations

import math
from typing import Any

#: initial tangent points of the log cuts, as fractions of the subchannel's power cap
INITIAL_X = (0.0, 1e-3, 1e-2, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0)


def log_cut(x0: float, inva: float) -> tuple[float, float]:
    """Tangent of ``log(x + inva)`` at ``x0``: ``(const, slope)`` with
    ``log(x + inva) <= const + slope * x`` for every x > -inva."""
    slope = 1.0 / (x0 + inva)
    return math.log(x0 + inva) - slope * x0, slope


def inv_cut(r0: float) -> tuple[float, float]:
    """Tangent of ``1/r`` at ``r0 > 0``: ``(const, slope)`` with ``1/r >= const + slope r``."""
    return 2.0 / r0, -1.0 / (r0 * r0)


def highs_solver(time_limit: float | None = None, options: dict[str, Any] | None = None):
    """A persistent appsi HiGHS solver that is told about model changes explicitly."""
    from pyomo.contrib.appsi.solvers.highs import Highs

    opt = Highs()
    opt.config.load_solution = False
    opt.config.stream_solver = False
    if time_limit is not None:
        opt.config.time_limit = float(time_limit)
    uc = opt.update_config
    uc.check_for_new_or_removed_constraints = False
    uc.check_for_new_or_removed_vars = False
    uc.check_for_new_or_removed_params = False
    uc.check_for_new_objective = False
    uc.update_constraints = False
    uc.update_vars = False
    uc.update_named_expressions = False
    uc.update_objective = False
    uc.update_params = True
    opts = {"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9}
    opts.update(options or {})
    opt.highs_options = opts
    return opt


__all__ = ["INITIAL_X", "highs_solver", "inv_cut", "log_cut"]
