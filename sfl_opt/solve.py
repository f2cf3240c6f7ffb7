"""``solve``: the public entry point. It validates its arguments against the chosen
method's declaration (:class:`~sfl_opt.methods.MethodSpec`), runs the method on the
prepared problem and alone assembles the :class:`~sfl_opt.SolveResult`."""

from __future__ import annotations

import importlib
import logging
import threading
import time
import warnings
from typing import Any

from . import _validation as v
from .engine.bounds import lower_bound_details
from .engine.prepared import PreparedProblem, prepare
from .engine.result import SolveResult
from .errors import NumericalRangeError, SflOptError, ValidationError, require
from .methods import METHODS, MethodSpec, Options, Outcome, auto_kicks, get_method
from .methods.budget import apply_budget
from .methods.exact import native_lower_bound
from .methods.per_client_bound import per_client_lower_bound
from .methods.registry import COMMON_OPTIONS, DEFAULTS
from .model.client_splits import check_split_mode
from .model.delay import check_magnitudes, evaluate, pair_table
from .model.energy import has_budget
from .model.problem import Problem
from .power import PowerBackend, get_backend
from .status import GAP_TOL, Limit, Status, Termination, certifies  # noqa: F401 (GAP_TOL: re-export)

#: every mode of the registered methods (the CLI's choices)
MODES = ("nested", "bcd")
#: the method and the power backend of ``solve`` when none is named
DEFAULT_METHOD = "sflllm"
DEFAULT_POWER = "native"
#: ``assign``: "exact" is the deprecated alias of ``method="milp"``
ASSIGN = ("heuristic", "exact")
#: ``bound``: the native Lagrangian bound (default, ``True``) or the cvxpy time-sharing
#: relaxation
BOUNDS = ("native", "relaxation")
#: with a time limit and the native bound, the method gets this share of the limit and
#: the bound on its result the rest (the bound is anytime: every pair it has no time for
#: keeps its closed-form bound); a method that proves its own bound (``exact``,
#: ``milp``) gets ``BOUND_SHARE_EXACT`` less
BOUND_SHARE = 0.1
BOUND_SHARE_EXACT = 0.03
#: with a time limit, the method stops this many times the call's own preparation time
#: (validation, preparation, rate bounds) before the limit, when that is more than the
#: share above: the work a method cannot interrupt after its last look at the clock
#: (a greedy, a search over every pair, the exact power of its point) and the result's
#: assembly scale with the same O(K M) arrays as the preparation, and on a loaded
#: machine with the same slowdown, which the preparation has just measured (about 0.3 x
#: preparation at K = 1000, M = 4096; docs/backends.md §6)
RESERVE_RATIO = 0.5

_WARM = {"done": False}
#: the package's logger (the compile announcement; Python prints WARNING records on
#: stderr even when logging is not configured)
LOG = logging.getLogger("sfl_opt")
#: a warm-up slower than this (s) is compiling, not loading the cache: say so
ANNOUNCE_AFTER = 1.0
#: what the announcement says
COMPILE_MESSAGE = ("sfl-opt: compiling the Numba kernels (first use after installing or "
                   "upgrading: about 1 min of CPU, 15-120 s depending on the machine; later "
                   "runs load them from Numba's disk cache in about a second)")


def _compile_kernels() -> None:
    """Solve a tiny instance with the nested and bcd modes and per-client cuts (compiles
    every kernel a default solve uses, or loads it from the disk cache)."""
    tiny = Problem.default(0, clients=2, subchannels=3, profile=None)
    for mode in MODES:
        solve(tiny, mode=mode)
    solve(tiny, split_mode="per_client")


def warmup() -> float:
    """Compile (or load from Numba's disk cache) the kernels by solving a tiny instance
    with the nested and bcd modes and per-client cuts; returns the seconds it took.
    ``solve`` calls it once per process before its clock starts, so compile time never
    enters ``timings``. When it takes longer than :data:`ANNOUNCE_AFTER` (a compilation,
    not a cache load), a WARNING on the ``sfl_opt`` logger says so once, with the
    expected time."""
    if _WARM["done"]:
        return 0.0
    _WARM["done"] = True
    t0 = time.perf_counter()
    timer = threading.Timer(ANNOUNCE_AFTER, LOG.warning, args=(COMPILE_MESSAGE,))
    timer.daemon = True
    timer.start()
    try:
        _compile_kernels()
    finally:
        timer.cancel()
    return time.perf_counter() - t0


#: a required package -> the module a method imports from it when it runs
_IMPORT_AHEAD = {"pyomo": "pyomo.environ"}


#: the registered methods whose own kernels were compiled (or loaded) in this process
_WARM_METHODS: set[str] = set()


def _import_requirements(method: Any, time_limit: Any = None) -> None:
    """Import the optional modules a registered method needs (e.g. Pyomo for ``milp``,
    ~1-2 s the first time in a process) before the clock starts: like compilation, a
    one-time cost of the process, not of the solve. With a ``time_limit``, a built-in
    method other than the default one also solves a tiny instance once per process (its
    own kernels, e.g. ``exact``'s branch and bound, compile on first use: seconds that
    would otherwise fall inside the limit; a disk-cache load takes milliseconds)."""
    spec = METHODS.get(method) if isinstance(method, str) else None
    if spec is None or not spec.available:
        return  # unknown or not installed: the validation says so, on the clock
    for mod in spec.requires:
        importlib.import_module(_IMPORT_AHEAD.get(mod, mod))
    if time_limit is not None and spec.name not in _WARM_METHODS \
            and spec.fn.__module__.startswith(__package__ + "."):
        _WARM_METHODS.add(spec.name)
        if spec.name != DEFAULT_METHOD:
            solve(Problem.default(0, clients=3, subchannels=6, profile=None), spec.name)


def _check_types(seed: Any, refine: Any, bound: Any, prune: Any, max_iter: Any,
                 max_moves: Any, time_limit: Any, kicks: Any, power: Any) -> None:
    """Type and range of every argument that is given (None: the method's default)."""
    if seed is not None:
        v.seed("seed", seed)
    for name, val in (("refine", refine), ("prune", prune)):
        if val is not None and not isinstance(val, bool):
            raise ValidationError(name, "True or False (or None: the method's default)", val)
    if not isinstance(bound, bool) and bound not in BOUNDS:
        raise ValidationError("bound", f"True, False or one of {BOUNDS}", bound)
    if max_iter is not None:
        v.positive_int("max_iter", max_iter)
    if max_moves is not None:
        v.positive_int("max_moves", max_moves)
    if time_limit is not None:
        v.scalar("time_limit", time_limit, positive=True)
    if kicks is not None and (isinstance(kicks, bool) or not isinstance(kicks, int) or kicks < 0):
        raise ValidationError("kicks", "None or an integer >= 0", kicks)
    if power is not None and not isinstance(power, (str, PowerBackend)):
        raise ValidationError("power", "a backend name or a PowerBackend", power)


def _resolve_method(method: Any, assign: Any) -> MethodSpec:
    """The spec to run: ``method``, or ``"milp"`` for the deprecated ``assign="exact"``."""
    spec = get_method(method)
    if assign is None:
        return spec
    v.choice("assign", assign, ASSIGN)
    if assign == "heuristic":
        return spec
    if spec.name != "sflllm":
        raise ValidationError("assign", f"'heuristic' for method {spec.name!r} (the certified "
                              "MILP is method 'milp')", assign)
    warnings.warn("solve(assign='exact') is deprecated: use solve(problem, 'milp')",
                  DeprecationWarning, stacklevel=3)
    return METHODS["milp"]


def _check_honoured(spec: MethodSpec, mode: Any, given: dict[str, Any], power: Any,
                    power_options: Any, options: dict[str, Any]) -> str:
    """Reject every argument ``spec`` would ignore; return the effective mode."""
    if mode is not None:
        if not spec.modes:
            raise ValidationError("mode", f"None (method {spec.name!r} has no modes)", mode)
        v.choice("mode", mode, spec.modes)
    eff_mode = mode if mode is not None else (spec.modes[0] if spec.modes else "")
    for arg, val in given.items():
        if val is not None and not spec.accepts(arg, eff_mode):
            where = f" in mode {eff_mode!r}" if spec.accepts(arg, spec.mode_only.get(arg)) \
                else ""
            raise ValidationError(arg, f"None (method {spec.name!r} ignores it{where})", val)
    if spec.power != "any":
        name = power.name if isinstance(power, PowerBackend) else power
        if power is not None and (name != spec.power or isinstance(power, PowerBackend)):
            raise ValidationError("power", f"None or {spec.power!r} (method {spec.name!r} sets "
                                  "the power itself)", name)
        if power_options:
            raise ValidationError("power_options", f"None (method {spec.name!r} runs no power "
                                  "backend)", power_options)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        raise ValidationError("options", f"options of method {spec.name!r}: "
                              f"{', '.join(spec.options) or 'none'}", unknown)
    return eff_mode


def _check_split_mode(spec: MethodSpec, split_mode: Any, power: Any, bound: Any,
                      options: dict[str, Any]) -> str:
    """``split_mode`` validated against the method's capability flag, and the arguments
    a per-client solve cannot honour rejected, each naming itself."""
    mode = check_split_mode(split_mode)
    if mode not in spec.split_modes:
        raise ValidationError("split_mode", f"one of {list(spec.split_modes)} (method "
                              f"{spec.name!r} searches one common cut; 'per_client' is "
                              "honoured by method 'sflllm')", split_mode)
    if mode == "per_client":
        name = power.name if isinstance(power, PowerBackend) else power
        if power is not None and name != "native":
            raise ValidationError("power", "None or 'native' with split_mode='per_client' "
                                  "(the per-client search runs the exact native power)", name)
        if bound == "relaxation":
            raise ValidationError("bound", "True, False or 'native' with "
                                  "split_mode='per_client' (the time-sharing relaxation "
                                  "bounds the common-split optimum only)", bound)
        if options.get("fading") is not None:
            raise ValidationError("fading", "None with split_mode='per_client'",
                                  options["fading"])
    return mode


def solve(
    problem: Problem,
    method: str = DEFAULT_METHOD,
    *,
    power: str | PowerBackend | None = None,
    seed: int | None = None,
    mode: str | None = None,
    refine: bool | None = None,
    bound: bool | str = True,
    assign: str | None = None,
    max_iter: int | None = None,
    max_moves: int | None = None,
    prune: bool | None = None,
    kicks: int | None = None,
    time_limit: float | None = None,
    split_mode: str = "common",
    **options: Any,
) -> SolveResult:
    """Minimise the total training delay T_total (s) of ``problem``.

    Every argument left at ``None`` takes the method's default; an argument the method
    would ignore (see ``sfl_opt.methods.METHODS[method]``, e.g. ``mode`` for a baseline
    without modes, ``time_limit`` for a one-shot method) raises a ``ValidationError``
    naming it.

    Parameters
    ----------
    method:
        ``"sflllm"`` (default), ``"exact"`` (certified optimum by a native
        branch-and-bound), ``"milp"`` (certified optimum, small instances, needs
        pyomo + highspy) or a registered baseline (``sfl_opt.methods.METHODS``).
    power:
        power-control backend: ``"native"`` (exact, Numba; the default), ``"cvxpy"``,
        ``"pyomo"`` (see ``sfl_opt.power.available_backends()``), or a backend instance.
        Only for methods that run a backend (``MethodSpec.power == "any"``).
    seed:
        seed of the random choices (random methods, kicks): same seed, same answer.
    mode:
        ``"nested"`` (default) re-optimises allocation and power for every (split,
        rank); ``"bcd"`` is the paper's alternation (allocation held during the search).
    refine:
        local-search refinement of the subchannel assignment (default True).
    bound:
        the certificate on the result: ``True`` (default) or ``"native"`` fills
        ``lower_bound`` and ``gap`` with the native Lagrangian bound on the problem's
        optimum (:func:`sfl_opt.methods.exact.native_lower_bound`, every link, every
        memory-feasible pair); ``"relaxation"`` with the cvxpy time-sharing relaxation
        (:mod:`sfl_opt.engine.bounds`, needs cvxpy, slower); ``False``: no bound
        (``lower_bound`` None, except a certified bound a method proves itself, e.g.
        ``milp``/``exact``). A method's own tighter bound is kept. Its time is in
        ``timings["bound"]`` and ``timings["total"]``. A result whose certified gap is
        <= 1e-6 is reported ``status="optimal"``, whatever method found it.
    assign:
        deprecated: ``assign="exact"`` is ``method="milp"`` (only with ``method="sflllm"``).
    max_iter, max_moves:
        outer iterations (bcd; default 20) and local-search moves per link (10 000).
    prune:
        skip (split, rank) pairs whose lower bound exceeds the best delay found (nested;
        default True).
    kicks:
        iterated-local-search restarts per link and pair (default: automatic, many on
        small links and none on large ones; 0 disables). Their random numbers derive
        from ``seed`` (0 when None), so the answer is deterministic.
    time_limit:
        seconds of wall-clock time from entering ``solve`` to its return (validation,
        preparation, the method, the budget repair and the native bound on its result;
        ``timings["prepare"]`` is the part before the method). Excluded: building the
        ``Problem``, the one-time compilation of the kernels and import of an optional
        solver (Pyomo), both before the clock starts. Every method honours it: the best
        point so far is returned, with its certified bound, and
        ``termination.limit="time"`` when the method had to stop early. The call
        returns within ``time_limit + max(5 %, 0.2 s)`` (``bound="relaxation"`` runs
        after the limit). A problem so large that its first feasible point takes longer
        returns that point as soon as it exists (docs/backends.md §6).
    split_mode:
        ``"common"`` (default): one cut for every client (SPEC §1); ``"per_client"``
        (``"per-client"`` also accepted): each client its own cut within its own
        ``client_memory`` (:mod:`sfl_opt.model.client_splits`); ``SolveResult.split`` is then
        an array (K,). Honoured by ``sflllm`` (the best common split, then an alternation
        of the exact split vector for the allocation held and the allocation for the
        split vector held, :mod:`sfl_opt.methods.per_client`: never worse than the
        common split found); the other methods (``MethodSpec.split_modes``) reject it.
        Power by the native kernels only; the bound is the per-client relaxation
        (:mod:`sfl_opt.methods.per_client_bound`; ``bound="relaxation"`` is rejected).
    **options:
        the method's own options (e.g. ``rank`` for ``fixed_rank``; for ``sflllm``
        ``fading="saa"`` with ``samples=`` and ``large_scale=``: the (split, rank) by
        sample-average approximation over block fading, see
        :mod:`sfl_opt.methods.saa`) and backend options (``power_options={...}``).

    Energy budgets: with a finite ``problem.client_energy`` every method's point is made
    to honour it (:mod:`sfl_opt.methods.budget`: kept when it meets the budget, else
    its allocation kept and the power re-solved under the budget, exact for a given
    split of each client's budget between the links); the native bound of the
    unbudgeted problem stays a valid bound. An infeasible budget raises
    :class:`~sfl_opt.errors.InfeasibleProblemError` naming the client.

    Local iterations as a decision: when ``problem.local_iters`` is a candidate set,
    every candidate I is solved as its own fixed-I problem
    (``problem.at_local_iters(I)``, rounds from ``problem.convergence``) with the same
    arguments, in increasing I; once a point is known, a candidate whose native lower
    bound already reaches its delay is pruned unsolved (``bound=False`` disables it).
    The best delay over the candidates is returned with ``local_iters`` set to its I;
    ``lower_bound`` is the least of the candidates' bounds (solved or pruned), so the
    result is ``optimal`` exactly when every candidate is certified or pruned.
    ``info["local_iters"]`` has each candidate's delay, bound and status;
    ``time_limit`` applies to each candidate.

    Returns
    -------
    SolveResult
        ``delay`` equals ``evaluate(problem, **result.evaluate_kwargs())`` of the
        returned point (with an allocated downlink, ``assign_d``/``psd_d`` included;
        ``local_iters`` always).
    """
    if not isinstance(problem, Problem):
        raise ValidationError("problem", "a sfl_opt.Problem", type(problem).__name__)
    if problem.chooses_local_iters:
        return _solve_over_local_iters(problem, method, dict(
            power=power, seed=seed, mode=mode, refine=refine, bound=bound, assign=assign,
            max_iter=max_iter, max_moves=max_moves, prune=prune, kicks=kicks,
            time_limit=time_limit, split_mode=split_mode, **options))
    warmup()
    _import_requirements(method, time_limit)
    t_start = time.perf_counter()
    _check_types(seed, refine, bound, prune, max_iter, max_moves, time_limit, kicks, power)
    spec = _resolve_method(method, assign)
    power_options = options.pop("power_options", None)
    if power_options is not None and not isinstance(power_options, dict):
        raise ValidationError("power_options", "a dict of backend options", power_options)
    given = {"seed": seed, "refine": refine, "max_iter": max_iter, "max_moves": max_moves,
             "prune": prune, "kicks": kicks, "time_limit": time_limit}
    eff_mode = _check_honoured(spec, mode, given, power, power_options, options)
    split_mode = _check_split_mode(spec, split_mode, power, bound, options)
    if split_mode == "per_client" and has_budget(problem):
        raise ValidationError("client_energy", "inf for every client with split_mode="
                              "'per_client' (energy budgets are honoured with one common "
                              "cut)", problem.client_energy.tolist())
    backend = (get_backend(power if power is not None else DEFAULT_POWER, **(power_options or {}))
               if spec.power == "any" else None)
    if bound == "relaxation":
        require("cvxpy", "the relaxation bound (bound='relaxation', --bound relaxation)",
                "cvxpy")
    table = pair_table(problem)  # the one pair table of this solve
    check_magnitudes(problem, table)
    if kicks is None and "kicks" in spec.honours:
        kicks = auto_kicks(problem.K, max(problem.M, problem.N))
    opts = Options(power=backend, mode=eff_mode,
                   refine=DEFAULTS["refine"] if refine is None else refine,
                   max_iter=DEFAULTS["max_iter"] if max_iter is None else max_iter,
                   max_moves=DEFAULTS["max_moves"] if max_moves is None else max_moves,
                   prune=DEFAULTS["prune"] if prune is None else prune, kicks=kicks or 0,
                   time_limit=time_limit, seed=seed, extra=options, split_mode=split_mode)
    prep = prepare(problem, table)
    prep.started = t_start  # the time limit covers validation and preparation too
    if time_limit is not None and bound in (True, "native"):
        # the rate bounds the native bound (and the nested search's pruning) start
        # from, computed now so that the method's share of the limit is what is left
        for name in prep.links:
            _ = prep.link(name).rate_bounds
    t_prepared = time.perf_counter() - t_start
    deadline = None if time_limit is None else t_start + float(time_limit)
    if time_limit is not None:
        opts.time_limit = method_limit(float(time_limit), t_prepared, spec.bound, bound)
    try:
        out = spec.fn(prep, opts)
        out.timings = {"prepare": t_prepared, **out.timings}
        opts.time_limit = time_limit  # the user's limit (the method had its share)
        if has_budget(problem):
            t0 = time.perf_counter()
            out = apply_budget(prep, spec, out, _energy_function(prep))
            out.timings = {**out.timings, "budget": time.perf_counter() - t0}
        return _assemble(prep, spec, opts, out, bound, t_start, deadline)
    except (ZeroDivisionError, OverflowError, FloatingPointError) as exc:
        # a magnitude check_magnitudes does not foresee: an honest error, not a crash
        raise NumericalRangeError(
            "problem", "magnitudes the solver computes in float64 (see "
            "sfl_opt.model.delay.check_magnitudes; rescale gains, powers, bandwidths, compute or "
            f"workload towards realistic SI values): {type(exc).__name__}: {exc}") from exc


def method_limit(time_limit: float, prepared: float, own_bound: bool,
                 bound: bool | str) -> float:
    """The method's share of ``time_limit`` (s, counted like it from entering
    ``solve``): the limit less a reserve for the work after the method's last look at
    the clock, the larger of the bound's share (:data:`BOUND_SHARE`,
    :data:`BOUND_SHARE_EXACT` for a method that proves its own bound; none without a
    bound) and :data:`RESERVE_RATIO` times ``prepared``, the seconds this call took to
    get there (a loaded machine prepares slower and its method stops earlier)."""
    share = 0.0 if bound is False else BOUND_SHARE_EXACT if own_bound else BOUND_SHARE
    return time_limit - max(share * time_limit, RESERVE_RATIO * prepared)


def _energy_function(prep: PreparedProblem) -> Any:
    """``energy_of(pair, points) -> (K,)`` J per training run of a point, by
    :func:`evaluate` on the problem without its budget."""
    free = prep.problem.replace(client_energy=None)

    def energy_of(p: int, points: Any) -> Any:
        split, rank = prep.pair(p)
        d = points.get("d")
        dn = {} if d is None else {"assign_d": d.assign, "psd_d": d.psd}
        bd = evaluate(free, split, rank, points["s"].assign, points["s"].psd,
                      points["f"].assign, points["f"].psd, **dn, table=prep.full_tab)
        return bd.energy.per_client

    return energy_of


def _solve_over_local_iters(problem: Problem, method: str, kwargs: dict[str, Any]
                            ) -> SolveResult:
    """``solve`` over the candidate local iterations of ``problem`` (see :func:`solve`)."""
    import dataclasses

    t_start = time.perf_counter()
    best: SolveResult | None = None
    per: dict[str, dict[str, Any]] = {}
    bounds: list[float | None] = []
    all_certified = True
    timings: dict[str, float] = {}
    terminations = []
    for i in problem.local_iters_candidates:
        sub = problem.at_local_iters(i)
        if best is not None and kwargs.get("bound") is not False \
                and kwargs.get("split_mode", "common") == "common":
            t0 = time.perf_counter()
            lb = float(native_lower_bound(prepare(sub), upper=best.delay))
            timings["candidate_bounds"] = timings.get("candidate_bounds", 0.0) + \
                time.perf_counter() - t0
            if lb >= best.delay * (1 - GAP_TOL):
                per[str(i)] = {"pruned": True, "lower_bound": lb}
                bounds.append(lb)
                continue
        res = solve(sub, method, **kwargs)
        for k, t in res.timings.items():
            if k != "total":
                timings[k] = timings.get(k, 0.0) + t
        terminations.append(res.termination)
        per[str(i)] = {"delay": res.delay, "lower_bound": res.lower_bound,
                       "status": str(res.status), "split": res.split, "rank": res.rank,
                       "rounds": float(res.breakdown.rounds)}
        bounds.append(res.lower_bound)
        all_certified = all_certified and res.status == Status.OPTIMAL
        if best is None or res.delay < best.delay:
            best = res
    assert best is not None
    lower = None if any(b is None for b in bounds) else min(float(b) for b in bounds)
    status = Status(best.status)
    if lower is not None:
        lower = min(lower, best.delay)
    proven = lower is not None and best.delay - lower <= GAP_TOL * best.delay
    if status in (Status.OPTIMAL, Status.FEASIBLE):
        # every solved candidate certified, every pruned one bounded above the best
        status = Status.OPTIMAL if proven or all_certified else Status.FEASIBLE
    term = next((t for t in terminations if t.limit == Limit.TIME), best.termination)
    timings["total"] = time.perf_counter() - t_start
    info = dict(best.info)
    info["local_iters"] = per
    return dataclasses.replace(best, status=status, lower_bound=lower, timings=timings,
                               termination=Termination(term), info=info,
                               rounds_source=problem.rounds_source)


def options_ran(spec: MethodSpec, opts: Options, bound: bool | str) -> dict[str, Any]:
    """What ran, as recorded in ``SolveResult.options``: the mode and power backend (for
    methods that have them), every option the method read with its effective value
    (defaults filled in, ``kicks`` after the automatic choice) and the bound."""
    ran: dict[str, Any] = {}
    if spec.modes:
        ran["mode"] = opts.mode
    if spec.power == "any":
        ran["power"] = opts.power_name
    for name, opt in spec.option_table(opts.mode or None).items():
        ran[name] = getattr(opts, name) if name in COMMON_OPTIONS \
            else opts.extra.get(name, opt.default)
    ran["bound"] = "native" if bound is True else bound
    return ran


def _assemble(prep: PreparedProblem, spec: MethodSpec, opts: Options, out: Outcome,
              bound: bool | str, t_start: float, deadline: float | None = None) -> SolveResult:
    """The one place a :class:`SolveResult` is built: the point evaluated exactly
    (SPEC §2), the method's labels, the bound (``solve``'s ``bound``; the native one
    stops improving at ``deadline``, a ``time.perf_counter()`` value) and the total
    time; ``optimal`` when the bound proves a gap <= ``GAP_TOL``."""
    pr = prep.problem
    split, rank = prep.pair(out.pair)
    if out.split is not None:  # split_mode="per_client": the pair gives the rank
        split = out.split
    s, f = out.points["s"], out.points["f"]
    d = out.points.get("d")
    if (d is None) != (pr.gain_d is None):
        raise SflOptError(f"method {spec.name!r} returned "
                          f"{'no' if d is None else 'a'} downlink point for a problem with "
                          f"{pr.downlink} downlink")
    dn = {} if d is None else {"assign_d": d.assign, "psd_d": d.psd}
    bd = evaluate(pr, split, rank, s.assign, s.psd, f.assign, f.psd, **dn, table=prep.full_tab)
    status = Status(out.status)
    timings = dict(out.timings)
    lower = out.lower_bound
    if bound is not False:
        t0 = time.perf_counter()
        if bound == "relaxation":
            lb = float(lower_bound_details(pr, prep)["bound"])
        elif opts.split_mode == "per_client":  # the per-client relaxation
            lb = float(per_client_lower_bound(prep, upper=bd.total, deadline=deadline))
        elif out.pair_bounds is not None and lower is not None and certifies(bd.total, lower):
            lb = float(lower)  # the method's own pair bounds certify the point already
        else:  # the native bound, from the method's pair bounds when it has some; the
            # point's delay lets pairs that cannot matter stop
            lb = float(native_lower_bound(prep, upper=bd.total, deadline=deadline,
                                          known=out.pair_bounds))
        timings["bound"] = time.perf_counter() - t0
        if lower is not None:  # keep a tighter certified bound of the method
            lb = max(lb, float(lower))
        lower = lb
    proven = False
    if lower is not None:
        # a valid bound never exceeds the optimum, hence the delay (rounding aside)
        lower = min(float(lower), bd.total)
        proven = certifies(bd.total, lower)
        if status == Status.FEASIBLE and proven:
            status = Status.OPTIMAL  # certified by the bound
    if status == Status.OPTIMAL and not proven and (lower is not None or not spec.exact):
        # "optimal" only with a gap <= GAP_TOL on the evaluated delay (one tolerance for
        # every method), or from an exact method that reports no bound
        status = Status.FEASIBLE
    timings["total"] = time.perf_counter() - t_start
    grid = None if out.grid is None else prep.full_grid(out.grid)
    return SolveResult(
        delay=bd.total, split=split, rank=rank, assign_s=s.assign, assign_f=f.assign,
        psd_s=s.psd, psd_f=f.psd, status=status, method=spec.name,
        iterations=int(out.iterations), history=[float(h) for h in out.history],
        timings=timings, breakdown=bd, lower_bound=lower,
        termination=Termination(out.termination),
        power=out.power or (opts.power_name if spec.power == "any" else spec.power),
        mode=opts.mode, grid=grid, rounds_source=pr.rounds_source, info=dict(out.info),
        local_iters=int(pr.local_iters), split_mode=opts.split_mode,
        options=options_ran(spec, opts, bound), **dn,
    )
