"""Registry of solution methods (``solve(problem, method=NAME)``).

A method is a function ``(prep: PreparedProblem, opts: Options) -> Outcome`` registered
by :func:`register_method` with a :class:`MethodSpec` declaring what it honours (modes,
power backends, arguments, exactness, bound, randomness, its own options); see
:mod:`.registry`. ``METHODS`` maps names to specs.

Registered here: ``sflllm`` (:mod:`.sflllm`; with ``fading="saa"`` the pair by
sample-average approximation over block fading, :mod:`.saa`), the baselines
(:mod:`.baselines`), ``milp`` (:mod:`.milp`, certified optimum of small instances; needs
pyomo + highspy, imported only when it runs) and ``exact`` (:mod:`.exact`, certified
optimum by a native branch-and-bound, no solver).
"""

from __future__ import annotations

from ..engine.prepared import PreparedProblem
from ..errors import require
from .baselines import BASELINES
from .exact import solve_exact_bnb
from .milp import RTOL as MILP_RTOL
from .milp import solve_milp
from .per_client import solve_per_client
from .registry import (
    ARGUMENTS,
    METHODS,
    MethodSpec,
    Option,
    Options,
    Outcome,
    auto_kicks,
    available_methods,
    get_method,
    register_method,
    show_options,
)
from .saa import SAMPLES, solve_sflllm_fading


def _solve_sflllm(prep: PreparedProblem, opts: Options) -> Outcome:
    """SflLLM; with ``split_mode="per_client"`` its common optimum then the per-client
    search (:mod:`.per_client`)."""
    if opts.split_mode == "per_client":
        return solve_per_client(prep, opts, solve_sflllm_fading)
    return solve_sflllm_fading(prep, opts)


# fading="saa" (with samples=, large_scale=): the pair by sample-average approximation
# over block fading (.saa); without it the plain SflLLM search (.sflllm)
register_method("sflllm", _solve_sflllm,
                "SflLLM: greedy allocation + exact power + (split, rank) search",
                modes=("nested", "bcd"),
                honours=("seed", "refine", "max_iter", "max_moves", "prune", "kicks",
                         "time_limit"),
                mode_only={"max_iter": "bcd", "prune": "nested"},
                options=(
                    Option("start", None, "", "(split, rank) the bcd loop starts from "
                           "(mode bcd); None: the pair of least lower bound"),
                    Option("fading", None, "", "'saa': choose (split, rank) by sample-average "
                           "approximation over block fading; None: the given gains"),
                    Option("samples", SAMPLES, "", "fading samples of fading='saa'"),
                    Option("large_scale", None, "", "large-scale gains of fading='saa' "
                           "(link -> (K, n)); None: the problem's gains"),
                    Option("perturbations", None, "", "a sfl_opt.replay.Perturbations that "
                           "fading='saa' plans against (robust planning); None: fading only"),
                ),
                split_modes=("common", "per_client"))

# baselines (SPEC §3): ablations of SflLLM, see .baselines
for _name, _kw in BASELINES.items():
    register_method(_name, **_kw)


def _solve_milp(prep: PreparedProblem, opts: Options) -> Outcome:
    require("pyomo.environ", "method 'milp'", "pyomo")  # imported only when it runs
    require("highspy", "method 'milp'", "pyomo")
    return solve_milp(prep, opts)


register_method("milp", _solve_milp,
                "certified optimum by outer-approximation MILPs (Pyomo + HiGHS) inside a "
                "bisection on the deadline; exact power; small instances",
                power="native", honours=("max_moves", "time_limit"), exact=True, bound=True,
                options=(Option("rtol", MILP_RTOL, "", "relative tolerance of the bisection "
                                "on the deadline"),
                         Option("probe", "top", "", "where a deadline probe is placed: 'top' "
                                "(just below the incumbent) or 'mid' (bisection)")),
                requires=("pyomo", "highspy"))


def _solve_exact(prep: PreparedProblem, opts: Options) -> Outcome:
    return solve_exact_bnb(prep, opts)


register_method("exact", _solve_exact,
                "certified optimum by branch-and-bound over the subchannel assignments of "
                "every link and all (split, rank) pairs, native Lagrangian bound at each "
                "node, exact power at the leaves; the heuristic as incumbent",
                power="native", honours=("seed", "max_moves", "kicks", "time_limit"),
                exact=True, bound=True,
                options=(Option("progress", None, "", "a callable receiving a dict (elapsed s, "
                                "delay s, lower s, gap, nodes) about once a second"),))

__all__ = ["ARGUMENTS", "METHODS", "MethodSpec", "Option", "Options", "Outcome",
           "PreparedProblem", "auto_kicks", "available_methods", "get_method",
           "register_method", "show_options"]
