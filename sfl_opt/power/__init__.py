"""Registry of power-control backends (``solve(problem, power=NAME)``).

Each backend is a :class:`~.base.PowerBackend` subclass registered by name with the
module that defines it, so optional dependencies are imported only when that backend is
used. ``available_backends()`` lists the installed ones; ``get_backend(name)`` raises
:class:`~sfl_opt.errors.BackendError` listing them when ``name`` is unknown or missing.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Any

from ..errors import BackendError, ValidationError
from .base import PowerBackend, PowerSolution, PowerSubproblem

#: name -> "module:Class" (module relative to this package)
_REGISTRY: dict[str, str] = {
    "native": ".native:NativeBackend",
    "cvxpy": ".cvxpy_backend:CvxpyBackend",
    "pyomo": ".pyomo_backend:PyomoBackend",
}


def register_backend(name: str, target: str) -> None:
    """Register a backend class given as ``"package.module:Class"``
    (or relative to this package, ``".mod:Class"``)."""
    _REGISTRY[name] = target


def _load(name: str) -> type[PowerBackend]:
    target = _REGISTRY[name]
    mod_name, cls_name = target.split(":")
    module = importlib.import_module(mod_name, package=__name__)
    return getattr(module, cls_name)


def backend_class(name: str) -> type[PowerBackend]:
    """The class registered as ``name`` (raises BackendError listing the installed ones)."""
    if name not in _REGISTRY:
        raise BackendError(f"power: unknown backend {name!r}; installed: "
                           f"{', '.join(available_backends()) or 'none'}")
    try:
        cls = _load(name)
    except ImportError as exc:
        raise BackendError(f"power: backend {name!r} is not installed ({exc}): pip install "
                           f"'sfl-opt[{name}]'; installed: {', '.join(available_backends())}"
                           ) from None
    if not cls.available():
        raise BackendError(f"power: backend {name!r} needs {', '.join(cls.requires)}, which "
                           f"is not installed: pip install 'sfl-opt[{name}]'; installed: "
                           f"{', '.join(available_backends())}")
    return cls


def get_backend(name: str | PowerBackend = "native", **options: Any) -> PowerBackend:
    """An instance of backend ``name`` (an instance passes through unchanged)."""
    if isinstance(name, PowerBackend):
        return name
    if not isinstance(name, str):
        raise BackendError(f"power: expected a backend name, got {name!r}; installed: "
                           f"{', '.join(available_backends())}")
    cls = backend_class(name)
    known, free = backend_options(cls)
    unknown = sorted(set(options) - set(known))
    if unknown and not free:
        raise ValidationError("power_options", f"options of backend {name!r}: "
                              f"{', '.join(known) or 'none'}", unknown)
    return cls(**options)


def backend_options(cls: type[PowerBackend]) -> tuple[list[str], bool]:
    """The keyword options of a backend's constructor, and whether it passes further
    keywords on (e.g. cvxpy's solver options)."""
    params = list(inspect.signature(cls.__init__).parameters.values())[1:]
    known = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    return known, any(p.kind == p.VAR_KEYWORD for p in params)


def registered_backends() -> list[str]:
    """Every registered backend name, installed or not."""
    return sorted(_REGISTRY)


def available_backends() -> list[str]:
    """Names of the registered backends whose dependencies are installed."""
    out = []
    for name in sorted(_REGISTRY):
        try:
            if _load(name).available():
                out.append(name)
        except ImportError:
            continue
    return out


__all__ = ["PowerBackend", "PowerSolution", "PowerSubproblem", "available_backends",
           "backend_class", "get_backend", "register_backend", "registered_backends"]
