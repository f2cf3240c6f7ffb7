"""sfl-opt: resource allocation for split federated fine-tuning of LLMs over wireless networks.

    from sfl_opt import Problem, solve, evaluate
    res = solve(Problem.default(seed=0))
"""

from .delay import Breakdown, evaluate
from .errors import BackendError, InfeasiblePointError, SflOptError, ValidationError
from .problem import Problem
from .workload import Workload

__all__ = [
    "BackendError", "Breakdown", "InfeasiblePointError", "Problem", "SflOptError",
    "ValidationError", "Workload", "evaluate",
]
__version__ = "0.1.0"
