"""The one place that decides how kernels are compiled.

Every kernel is ``numba.njit(cache=True)``. With ``NUMBA_DISABLE_JIT=1`` in the
environment Numba hands back the plain Python function, which the tests also run.
"""

from __future__ import annotations

from numba import njit


def kernel(fn):
    """Compile ``fn`` with Numba in nopython mode, caching the machine code on disk."""
    return njit(cache=True, nogil=True)(fn)


def inline_kernel(fn):
    """Like :func:`kernel`, but inlined into its (compiled) callers at the Numba IR level:
    for small helpers called in inner loops with many array arguments, where the call
    itself (argument structs, reference counts) costs more than the work."""
    return njit(cache=True, nogil=True, inline="always")(fn)
