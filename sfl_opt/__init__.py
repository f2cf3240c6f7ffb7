"""sfl-opt: resource allocation for split federated fine-tuning of LLMs over wireless networks.

    from sfl_opt import Problem, solve, evaluate
    res = solve(Problem.default(seed=0))

Submodules a user reaches for: ``sfl_opt.hardware`` (device/server catalogue),
``sfl_opt.memory`` (client memory need), ``sfl_opt.profiles`` (measured profiles).
"""

from . import hardware, memory, profiles
from .delay import Breakdown, evaluate
from .errors import BackendError, InfeasiblePointError, SflOptError, ValidationError
from .power import available_backends
from .problem import Problem
from .result import SolveResult
from .solve import solve
from .status import Status, Termination
from .workload import Workload

__all__ = [
    "BackendError", "Breakdown", "InfeasiblePointError", "Problem", "SflOptError",
    "SolveResult", "Status", "Termination", "ValidationError", "Workload", "available_backends",
    "evaluate", "hardware", "memory", "profiles", "solve",
]

try:
    from importlib.metadata import PackageNotFoundError, version

    __version__ = version("sfl-opt")
except PackageNotFoundError:  # not installed (a source tree on sys.path)
    __version__ = "0.0.0+unknown"
