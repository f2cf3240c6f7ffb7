"""Online split federated LoRA (arXiv:2407.02924, SPEC §4): Lyapunov device scheduling and
exact bandwidth allocation.

    from sfl_opt.online import OnlineProblem, solve_round, simulate
    p = OnlineProblem.default(seed=0, devices=20)
    trace = simulate(p, "lyapunov", V=1e4, rounds=2000, seed=0)
"""

from .bandwidth import Split, min_bandwidth, split_bandwidth
from .problem import OnlineProblem, RoundModel
from .schedule import RoundDecision, solve_round, solve_round_model
from .simulate import POLICIES, SweepPoint, Trace, simulate, summarize, sweep_v

__all__ = [
    "POLICIES", "OnlineProblem", "RoundDecision", "RoundModel", "Split", "SweepPoint", "Trace",
    "min_bandwidth", "simulate", "solve_round", "solve_round_model", "split_bandwidth",
    "summarize", "sweep_v",
]
