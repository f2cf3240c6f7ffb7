"""Frozen records of arrays: the one way a result that holds numpy arrays is made
immutable.

A record is a ``@dataclass(frozen=True)`` that also derives from :class:`ArrayRecord`:
the dataclass freezes its attributes, ``ArrayRecord.__post_init__`` makes every numpy
array it holds read-only (``arr.flags.writeable`` is False), so neither a field nor the
numbers in it can change after construction. The record takes ownership of the arrays it
is given (they are not copied): pass arrays the caller will not write to again.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

import numpy as np


def read_only(*arrays: Any) -> None:
    """Make every numpy array among ``arrays`` read-only, in place (others are ignored)."""
    for arr in arrays:
        if isinstance(arr, np.ndarray):
            arr.setflags(write=False)


class ArrayRecord:
    """Mixin of a frozen dataclass whose array fields become read-only at construction
    (module docstring)."""

    def __post_init__(self) -> None:
        read_only(*(getattr(self, f.name) for f in fields(self)))  # type: ignore[arg-type]


__all__ = ["ArrayRecord", "read_only"]
