"""The method contract: what a method declares, what it receives, what it returns.

A method is a function ``fn(prep: PreparedProblem, opts: Options) -> Outcome``
registered with :func:`register_method` under a name and a :class:`MethodSpec` that
declares what it honours. :func:`sfl_opt.solve` validates its arguments against the
spec (an argument a method would ignore is rejected with a ``ValidationError`` naming
it), fills :class:`Options` with the method's defaults, calls ``fn`` and alone assembles
the :class:`~sfl_opt.SolveResult` from the returned :class:`Outcome`.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.prepared import LinkPoint, PairBounds, PreparedProblem
from ..errors import BackendError
from ..power.base import PowerBackend
from ..status import Status, Termination


@dataclass(frozen=True)
class Option:
    """One option a method reads: its ``name`` (a keyword of :func:`sfl_opt.solve`), its
    ``default`` (``None``: as ``doc`` says), ``unit`` (``""`` for flags, counts and
    names) and a one-line ``doc``."""

    name: str
    default: Any
    unit: str
    doc: str


#: the arguments of ``solve`` a method may honour (besides ``mode`` and ``power``), each
#: declared once: the one place of their defaults (``solve``, ``Options`` and the CLI
#: read them here)
COMMON_OPTIONS: dict[str, Option] = {o.name: o for o in (
    Option("seed", None, "", "seed of the random choices (random methods, kicks): same seed, "
           "same answer; None: kicks draw from seed 0"),
    Option("refine", True, "", "local-search refinement of the subchannel assignment"),
    Option("max_iter", 20, "", "outer iterations of mode bcd"),
    Option("max_moves", 10_000, "", "local-search moves per link"),
    Option("prune", True, "", "skip (split, rank) pairs whose lower bound exceeds the best "
           "delay found (mode nested)"),
    Option("kicks", None, "", "iterated-local-search restarts per link and pair; None: "
           "automatic (auto_kicks: many on small links, none on large), 0 disables"),
    Option("time_limit", None, "s", "wall-clock limit of the solve (validation, "
           "preparation, the method and its bound; not building the problem nor the "
           "one-time compilation); on expiry the best point so far (termination "
           "limit_reached, limit time); None: no limit"),
)}
#: arguments of ``solve`` that a method may honour (besides ``mode`` and ``power``)
ARGUMENTS = tuple(COMMON_OPTIONS)
#: defaults of those arguments when the method honours them (``kicks``: automatic)
DEFAULTS: dict[str, Any] = {name: o.default for name, o in COMMON_OPTIONS.items()}


@dataclass
class Options:
    """Options a method receives, validated and defaulted by :func:`sfl_opt.solve`.

    ``power`` is the backend instance when the method honours backends (``None``
    otherwise); ``mode`` is ``""`` for a method without modes; ``extra`` holds the
    method's own options (``MethodSpec.options``).
    """

    power: PowerBackend | None = None
    mode: str = ""
    refine: bool = DEFAULTS["refine"]
    max_iter: int = DEFAULTS["max_iter"]
    max_moves: int = DEFAULTS["max_moves"]
    prune: bool = DEFAULTS["prune"]
    kicks: int = 0
    time_limit: float | None = DEFAULTS["time_limit"]
    seed: int | None = DEFAULTS["seed"]
    extra: dict[str, Any] = field(default_factory=dict)
    split_mode: str = "common"

    @property
    def power_name(self) -> str:
        """Name of the backend (``""`` when the method takes none)."""
        return "" if self.power is None else self.power.name

    def rng(self) -> np.random.Generator:
        """The method's random generator (seeded from ``seed``)."""
        return np.random.default_rng(self.seed)


@dataclass
class Outcome:
    """What a method returns: the chosen pair ``pair`` (index into ``prep.tab``) and one
    :class:`~sfl_opt.engine.prepared.LinkPoint` per link in ``points`` (``"s"``, ``"f"``), how
    good it is (``status``) and why the method stopped (``termination``); ``history``
    (objective after each outer iteration, s), ``timings`` (s per stage), ``grid`` ((P,)
    best total per pair, s, or None), ``lower_bound`` (s, a certified bound the method
    proved, or None), ``info`` (details, messages), and ``power``: what computed the
    final power when it is not the requested backend (e.g. ``"native"``, ``"equal"``);
    ``split``: the cut of each client (K,) with ``split_mode="per_client"`` (the pair
    then gives the rank only), None for the pair's common split; ``pair_bounds``: the
    certified per-pair bounds the method proved (:class:`PairBounds`), which ``solve``'s
    certificate reuses instead of computing them again."""

    pair: int
    points: Mapping[str, LinkPoint]
    status: Status
    termination: Termination
    iterations: int = 1
    history: list[float] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    grid: np.ndarray | None = None
    lower_bound: float | None = None
    info: dict[str, Any] = field(default_factory=dict)
    power: str | None = None
    split: np.ndarray | None = None
    pair_bounds: PairBounds | None = None


@dataclass(frozen=True)
class MethodSpec:
    """A registered method and what it honours.

    - ``modes``: the values of ``solve(mode=)`` it honours, the first the default
      (``()``: no modes, ``mode`` is rejected);
    - ``power``: ``"any"`` when it runs the requested power backend (any registered
      one), otherwise the name of the fixed power rule it uses (``"native"``: the exact
      kernels; ``"equal"``: equal psd), and ``power=`` other than that name is rejected;
    - ``honours``: the arguments of :data:`ARGUMENTS` it reads (others are rejected);
      ``mode_only`` restricts some of them to one mode (e.g. ``max_iter`` to ``bcd``);
    - ``exact``: ``status="optimal"`` certifies the optimum (within its tolerance);
    - ``bound``: it returns a certified ``lower_bound`` of its own;
    - ``random``: its answer depends on ``seed`` by random draws;
    - ``options``: names of its own keyword options (read from ``Options.extra``), and
      ``own``: their declarations (:class:`Option`: default, unit, doc);
    - ``requires``: the modules it needs beyond the core (``available`` says whether they
      are installed).
    - ``split_modes``: the values of ``solve(split_mode=)`` it honours (``"common"``:
      one cut for all clients; ``"per_client"``: one cut per client, the ``Outcome``'s
      ``split``); others are rejected naming ``split_mode``.
    """

    name: str
    fn: Callable[[PreparedProblem, Options], Outcome]
    description: str
    modes: tuple[str, ...] = ()
    power: str = "any"
    honours: frozenset[str] = frozenset()
    mode_only: Mapping[str, str] = field(default_factory=dict)
    exact: bool = False
    bound: bool = False
    random: bool = False
    options: tuple[str, ...] = ()
    split_modes: tuple[str, ...] = ("common",)
    own: tuple[Option, ...] = ()
    requires: tuple[str, ...] = ()

    @property
    def available(self) -> bool:
        """True when the modules of ``requires`` are installed."""
        return all(importlib.util.find_spec(mod) is not None for mod in self.requires)

    def option_table(self, mode: str | None = None) -> dict[str, Option]:
        """The options this method reads (in ``mode``, default: its default mode): the
        common arguments it honours, then its own."""
        out = {n: o for n, o in COMMON_OPTIONS.items() if self.accepts(n, mode)}
        out.update({o.name: o for o in self.own})
        return out

    def accepts(self, argument: str, mode: str | None = None) -> bool:
        """True when the method honours ``argument`` (in ``mode``, default: its default
        mode)."""
        if argument == "mode":
            return bool(self.modes)
        if argument == "power":
            return self.power == "any"
        if argument not in self.honours:
            return False
        need = self.mode_only.get(argument)
        mode = mode if mode is not None else (self.modes[0] if self.modes else "")
        return need is None or need == mode


METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, fn: Callable[[PreparedProblem, Options], Outcome],
                    description: str, *, modes: tuple[str, ...] = (), power: str = "any",
                    honours: tuple[str, ...] | frozenset[str] = (),
                    mode_only: Mapping[str, str] | None = None, exact: bool = False,
                    bound: bool = False, random: bool = False,
                    options: Sequence[Option | str] = (),
                    split_modes: tuple[str, ...] = ("common",),
                    requires: tuple[str, ...] = ()) -> MethodSpec:
    """Make ``fn`` available as ``solve(problem, method=name)`` (see :class:`MethodSpec`
    for the declarations). ``options``: the method's own options, each an :class:`Option`
    (a bare name declares one without default or doc). Returns the spec."""
    unknown = set(honours) - set(ARGUMENTS)
    if unknown:
        raise ValueError(f"honours: expected names among {ARGUMENTS}, got {sorted(unknown)}")
    for arg, mode in (mode_only or {}).items():
        if arg not in honours or mode not in modes:
            raise ValueError(f"mode_only: {arg!r} must be honoured and {mode!r} a mode")
    own = tuple(o if isinstance(o, Option) else Option(str(o), None, "", "") for o in options)
    spec = MethodSpec(name, fn, description, tuple(modes), power, frozenset(honours),
                      dict(mode_only or {}), exact, bound, random,
                      tuple(o.name for o in own), tuple(split_modes), own, tuple(requires))
    METHODS[name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name`` (BackendError listing the registered ones)."""
    if not isinstance(name, str) or name not in METHODS:
        raise BackendError(f"method: unknown method {name!r}; available: "
                           f"{', '.join(sorted(METHODS))}")
    return METHODS[name]


def available_methods() -> list[str]:
    """Names of the registered methods whose dependencies are installed (registration
    order; ``METHODS`` has them all, ``show_options(name)`` what each reads)."""
    return [name for name, spec in METHODS.items() if spec.available]


def _fmt(value: Any) -> str:
    return "automatic" if value is None else (f"{value:_}" if isinstance(value, int)
                                               and not isinstance(value, bool) else str(value))


def show_options(method: str | None = None, disp: bool = True) -> str | None:
    """The options of ``method`` (every method when None): each with its default, unit
    and meaning, its modes, power rule and capabilities (as ``scipy.optimize.
    show_options``). Printed when ``disp``, else returned as text."""
    names = list(METHODS) if method is None else [get_method(method).name]
    blocks = []
    for name in names:
        spec = METHODS[name]
        lines = [f"{name}: {spec.description}"]
        caps = []
        if spec.modes:
            caps.append(f"modes {', '.join(spec.modes)} (default {spec.modes[0]})")
        caps.append("power: any backend (power=, default native)" if spec.power == "any"
                    else f"power: {spec.power}")
        caps += [flag for flag, on in (("exact", spec.exact), ("own bound", spec.bound),
                                       ("random", spec.random)) if on]
        if spec.requires:
            caps.append(f"needs {', '.join(spec.requires)}"
                        + ("" if spec.available else " (not installed)"))
        lines.append("  " + "; ".join(caps))
        rows = []
        for mode in (spec.modes or ("",)):
            for opt in spec.option_table(mode or None).values():
                only = spec.mode_only.get(opt.name)
                rows.append((opt, only))
        seen: set[str] = set()
        for opt, only in rows:
            if opt.name in seen:
                continue
            seen.add(opt.name)
            unit = f" [{opt.unit}]" if opt.unit else ""
            where = f" (mode {only})" if only else ""
            own = "" if opt.name in COMMON_OPTIONS else " (own option)"
            lines.append(f"  {opt.name:<12} default {_fmt(opt.default)}{unit}{where}{own}: "
                         f"{opt.doc}")
        if not rows:
            lines.append("  (no options)")
        blocks.append("\n".join(lines))
    text = "\n\n".join(blocks)
    if disp:
        print(text)
        return None
    return text


def auto_kicks(K: int, M: int) -> int:
    """Default number of iterated-local-search kicks: many on small links, none on large."""
    return int(min(30, 1000 // (K * M)))


__all__ = ["ARGUMENTS", "COMMON_OPTIONS", "DEFAULTS", "METHODS", "MethodSpec", "Option",
           "Options", "Outcome", "auto_kicks", "available_methods", "get_method",
           "register_method", "show_options"]
