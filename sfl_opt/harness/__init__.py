"""PyTorch harness: split LoRA training of a GPT-2-architecture model, profiler, rounds, accuracy.

Needs the ``[harness]`` extra (``pip install sfl-opt[harness]``: torch, transformers,
peft). Importing this package does not import torch; the submodules ``model``,
``data``, ``train``, ``profiler``, ``rounds``, ``accuracy`` do (``data`` needs numpy only), and
:func:`require_torch` raises a clear ``ImportError`` when the extra is missing.
``cli.register`` adds the ``profile``, ``measure-rounds`` and ``measure-accuracy``
subcommands.
"""

from __future__ import annotations

import importlib

from ..errors import MissingDependencyError

_NEEDED = ("torch", "transformers", "peft")


def require_torch() -> None:
    """Raise ``ImportError`` naming the missing packages unless the [harness] extra is there."""
    missing = []
    for name in _NEEDED:
        try:
            importlib.import_module(name)
        except ImportError:
            missing.append(name)
            if name == "torch":  # transformers and peft would only print warnings about it
                break
    if missing:
        raise MissingDependencyError("the PyTorch harness (sfl_opt.harness)",
                                     ", ".join(missing), "harness")


def __getattr__(name: str):  # lazy submodules: sfl_opt.harness.model etc.
    if name in ("model", "train", "profiler", "rounds", "accuracy"):
        require_torch()
        return importlib.import_module(f"{__name__}.{name}")
    if name in ("data", "cli"):
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
