"""sfl-opt: resource allocation for split federated fine-tuning of LLMs over wireless networks.

    from sfl_opt import Problem, solve, evaluate
    res = solve(Problem.default(seed=0))

Submodules a user reaches for: ``sfl_opt.models`` (LLM architecture catalogue,
:mod:`sfl_opt.model.architectures`), ``sfl_opt.hardware`` (device/server catalogue),
``sfl_opt.memory`` (client memory need), ``sfl_opt.profiles`` (measured profiles): the
modules of :mod:`sfl_opt.model` of the same names, also importable under these short
paths (``from sfl_opt.hardware import DEVICES``); ``sfl_opt.replay`` (virtual-time replay of
a plan under perturbations) is :mod:`sfl_opt.experiments.replay`.

The folders are the layers, each importing only from the ones before it: ``model/``
(problem, scenario, workload, catalogues, radio, delay) → ``kernels/`` (Numba) →
``power/`` (power backends) → ``engine/`` (prepared problem, result, relaxation bound) →
``methods/`` (registry, sflllm, baselines, exact, milp, saa) → ``solve`` → ``harness/``
(measurement, optional torch) → ``experiments/`` (sweeps, analysis, figures) →
``online/`` (the online scheduler) → ``cli/`` (the ``sfl-opt`` command line).
"""

import sys as _sys

from .engine.result import SolveResult
from .errors import BackendError, InfeasiblePointError, SflOptError, ValidationError
from .experiments import replay
from .methods import available_methods, show_options
from .model import architectures as models
from .model import convergence, hardware, memory, profiles
from .model.delay import Breakdown, evaluate
from .model.problem import Problem
from .model.workload import Workload
from .power import available_backends
from .solve import solve
from .status import Limit, Status, Termination, TerminationReason

# the documented short paths sfl_opt.convergence / .hardware / .memory / .profiles /
# .replay (as os.path)
for _mod in (convergence, hardware, memory, profiles, replay):
    _sys.modules[f"{__name__}.{_mod.__name__.rsplit('.', 1)[1]}"] = _mod
del _mod
_sys.modules[f"{__name__}.models"] = models  # the LLM catalogue, sfl_opt.model.architectures

__all__ = [
    "BackendError", "Breakdown", "InfeasiblePointError", "Limit", "Problem", "SflOptError",
    "SolveResult", "Status", "Termination", "TerminationReason", "ValidationError",
    "Workload", "available_backends", "available_methods", "convergence", "evaluate",
    "hardware", "memory", "models", "profiles", "show_options", "solve",
]

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("sfl-opt")
except PackageNotFoundError:  # not installed (a source tree on sys.path)
    __version__ = "0.0.0+unknown"
