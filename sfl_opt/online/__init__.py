"""Online split federated LoRA (arXiv 2407.02924; SPEC §4): Lyapunov device scheduling
and exact bandwidth allocation. The long-term energy budget is our reading of the paper
(its abstract does not state the long-term constraint).

    from sfl_opt.online import OnlineProblem, solve_round, simulate
    p = OnlineProblem.default(seed=0, devices=20)
    trace = simulate(p, "lyapunov", V=1e4, rounds=2000, seed=0)
"""

from .bandwidth import Split, min_bandwidth, split_bandwidth
from .bound import BoundFit, fit_bound
from .problem import SERVER_MODES, OnlineProblem, RoundModel
from .schedule import RoundDecision, solve_round, solve_round_model
from .simulate import (
    POLICIES,
    POLICY_REGISTRY,
    PolicyContext,
    SweepPoint,
    Trace,
    energy_floor,
    register_policy,
    simulate,
    summarize,
    sweep_v,
)

__all__ = [
    "POLICIES", "POLICY_REGISTRY", "SERVER_MODES", "BoundFit", "OnlineProblem",
    "PolicyContext", "RoundDecision", "RoundModel", "Split", "SweepPoint", "Trace",
    "energy_floor", "fit_bound", "min_bandwidth", "register_policy", "simulate", "solve_round",
    "solve_round_model", "split_bandwidth", "summarize", "sweep_v",
]
