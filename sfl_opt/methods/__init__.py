"""Registry of solution methods (``solve(problem, method=NAME)``).

A method is a function ``(ctx: Context, opts: Options, method: str) -> SolveResult``.
``register_method`` adds one; ``METHODS`` maps names to :class:`MethodSpec`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from .common import Context, Options
from .sflllm import solve_sflllm


@dataclass(frozen=True)
class MethodSpec:
    """A method: its function, a one-line description, whether it draws random numbers,
    and the names of its own keyword options."""

    name: str
    fn: Callable
    description: str
    random: bool = False
    options: tuple[str, ...] = ()


METHODS: dict[str, MethodSpec] = {}


def register_method(name: str, fn: Callable, description: str, random: bool = False,
                    options: tuple[str, ...] = ()) -> None:
    """Make ``fn`` available as ``solve(problem, method=name)``; ``options`` names the
    method-specific keyword options it reads from ``Options.extra``."""
    METHODS[name] = MethodSpec(name, fn, description, random, tuple(options))


register_method("sflllm", solve_sflllm,
                "SflLLM: greedy allocation + exact power + (split, rank) search",
                options=("start",))

__all__ = ["METHODS", "Context", "MethodSpec", "Options", "register_method"]

# baselines (SPEC §3): ablations of SflLLM, see .baselines
from .baselines import BASELINES  # noqa: E402

for _name, (_fn, _desc, _random, _options) in BASELINES.items():
    register_method(_name, _fn, _desc, random=_random, options=_options)
