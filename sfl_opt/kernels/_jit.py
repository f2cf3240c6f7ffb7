"""The one place that decides how kernels are compiled.

Every kernel is ``numba.njit(cache=True)``. With ``NUMBA_DISABLE_JIT=1`` in the
environment Numba hands back the plain Python function, which the tests also run.

Numba's disk cache checks only the source file of the function it caches (its time
stamp and size): a kernel compiled against an older version of a helper in another file
(``waterfill.py``, ``lagrange.py``, ...) would be loaded again after an upgrade in place
or an edit of that helper. So every cache directory of these kernels carries a
fingerprint of the whole ``kernels`` package (the contents of its ``.py`` files and the
Numba version); when it differs from the installed code, the directory's cached machine
code (``*.nbi``, ``*.nbc``) is deleted before any kernel loads from it, once per process,
and the kernels compile afresh.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numba
from numba import njit

#: Name of the file, in each cache directory, holding the fingerprint of the code its
#: cached kernels were compiled from.
FINGERPRINT_FILE = "sfl_opt_kernels.fingerprint"
_checked: set[str] = set()


@lru_cache(maxsize=1)
def fingerprint() -> str:
    """SHA-256 (hex) of the Numba version and the contents of every ``.py`` file of the
    ``kernels`` package, in name order."""
    h = hashlib.sha256(f"numba {numba.__version__}\n".encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def invalidate_if_stale(dispatcher) -> bool:
    """Delete the cached machine code in ``dispatcher``'s cache directory if it was
    compiled from other code than the installed one (see the module docstring).

    Checks each directory once per process; does nothing for a plain Python function
    (``NUMBA_DISABLE_JIT=1``) or a directory that cannot be read or written (Numba then
    chooses another one itself). Returns whether files were deleted.
    """
    path = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    if not isinstance(path, str) or path in _checked:
        return False
    _checked.add(path)
    marker = os.path.join(path, FINGERPRINT_FILE)
    current = fingerprint()
    try:
        with open(marker, encoding="ascii") as fh:
            if fh.read().strip() == current:
                return False
    except (OSError, UnicodeDecodeError):
        pass
    deleted = False
    try:
        names = os.listdir(path)
    except OSError:
        names = []
    for name in names:
        if name.endswith((".nbi", ".nbc")):
            try:
                os.remove(os.path.join(path, name))
                deleted = True
            except OSError:
                pass
    try:
        os.makedirs(path, exist_ok=True)
        tmp = f"{marker}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="ascii") as fh:
            fh.write(current + "\n")
        os.replace(tmp, marker)
    except OSError:
        pass
    return deleted


def kernel(fn):
    """Compile ``fn`` with Numba in nopython mode, caching the machine code on disk."""
    dispatcher = njit(cache=True, nogil=True)(fn)
    invalidate_if_stale(dispatcher)
    return dispatcher


def inline_kernel(fn):
    """Like :func:`kernel`, but inlined into its (compiled) callers at the Numba IR level:
    for small helpers called in inner loops with many array arguments, where the call
    itself (argument structs, reference counts) costs more than the work."""
    dispatcher = njit(cache=True, nogil=True, inline="always")(fn)
    invalidate_if_stale(dispatcher)
    return dispatcher
