"""The one place that decides how kernels are compiled.

Every kernel is ``numba.njit(cache=True)``. With ``NUMBA_DISABLE_JIT=1`` in the
environment Numba hands back the plain Python function, which the tests also run.
"""

from __future__ import annotations

from numba import njit


def kernel(fn):
    """Compile ``fn`` with Numba in nopython mode, caching the machine code on disk."""
    return njit(cache=True, nogil=True)(fn)
