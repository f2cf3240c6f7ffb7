"""The method contract: what a method declares, what it receives, what it returns.

A method is a function ``fn(prep: PreparedProblem, opts: Options) -> Outcome``
registered with :func:`register_method` under a name and a :class:`MethodSpec` that
declares what it honours. :func:`sfl_opt.solve` validates its arguments against the
spec (an argument a method would ignore is rejected with a ``ValidationError`` naming
it), fills :class:`Options` with the method's defaults, calls ``fn`` and alone assembles
the :class:`~sfl_opt.SolveResult` from the returned :class:`Outcome`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..engine.prepared import LinkPoint, PreparedProblem
from ..errors import BackendError
from ..power.base import PowerBackend
from ..status import Status, Termination

#: arguments of ``solve`` that a method may honour (besides ``mode`` and ``power``)
ARGUMENTS = ("seed", "refine", "max_iter", "max_moves", "prune", "kicks", "time_limit")
#: defaults of those arguments when the method honours them (``kicks``: automatic)
DEFAULTS: dict[str, Any] = {"seed": None, "refine": True, "max_iter": 20, "max_moves": 10_000,
                            "prune": True, "kicks": None, "time_limit": None}


@dataclass
class Options:
    """Options a method receives, validated and defaulted by :func:`sfl_opt.solve`.

    ``power`` is the backend instance when the method honours backends (``None``
    otherwise); ``mode`` is ``""`` for a method without modes; ``extra`` holds the
    method's own options (``MethodSpec.options``).
    """

    power: PowerBackend | None = None
    mode: str = ""
    refine: bool = True
    max_iter: int = 20
    max_moves: int = 10_000
    prune: bool = True
    kicks: int = 0
    time_limit: float | None = None
    seed: int | None = None
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
    then gives the rank only), None for the pair's common split."""

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
    - ``options``: names of its own keyword options (read from ``Options.extra``);
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
                    options: tuple[str, ...] = (),
                    split_modes: tuple[str, ...] = ("common",)) -> MethodSpec:
    """Make ``fn`` available as ``solve(problem, method=name)`` (see :class:`MethodSpec`
    for the declarations). Returns the spec."""
    unknown = set(honours) - set(ARGUMENTS)
    if unknown:
        raise ValueError(f"honours: expected names among {ARGUMENTS}, got {sorted(unknown)}")
    for arg, mode in (mode_only or {}).items():
        if arg not in honours or mode not in modes:
            raise ValueError(f"mode_only: {arg!r} must be honoured and {mode!r} a mode")
    spec = MethodSpec(name, fn, description, tuple(modes), power, frozenset(honours),
                      dict(mode_only or {}), exact, bound, random, tuple(options),
                      tuple(split_modes))
    METHODS[name] = spec
    return spec


def get_method(name: str) -> MethodSpec:
    """The spec registered as ``name`` (BackendError listing the registered ones)."""
    if not isinstance(name, str) or name not in METHODS:
        raise BackendError(f"method: unknown method {name!r}; available: "
                           f"{', '.join(sorted(METHODS))}")
    return METHODS[name]


def auto_kicks(K: int, M: int) -> int:
    """Default number of iterated-local-search kicks: many on small links, none on large."""
    return int(min(30, 1000 // (K * M)))


__all__ = ["ARGUMENTS", "DEFAULTS", "METHODS", "MethodSpec", "Options", "Outcome",
           "auto_kicks", "get_method", "register_method"]
