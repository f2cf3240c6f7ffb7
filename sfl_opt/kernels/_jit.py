"""The one place that decides how kernels are compiled.

Every kernel is ``numba.njit(cache=True)``. With ``NUMBA_DISABLE_JIT=1`` in the
environment Numba hands back the plain Python function, which the tests also run.

Numba's disk cache checks only the source file of the function it caches (its time
stamp and size): a kernel compiled against an older version of a helper in another file
(``waterfill.py``, ``lagrange.py``, ...) would be loaded again after an upgrade in place
or an edit of that helper. So each kernel module's cached machine code carries a
fingerprint of the code it was compiled from: the module's file and every kernel file it
imports, directly or not (``from .x import ...``), and the Numba version. When the
fingerprint differs from the installed code, the module's cached machine code (its
``*.nbi``, ``*.nbc`` files) is deleted before any of its kernels loads, once per process,
and they compile afresh; modules whose code did not change keep their cache.
"""

from __future__ import annotations

import hashlib
import os
import re
from functools import cache
from pathlib import Path

import numba
from numba import njit

#: Suffix of the file, in each cache directory, holding the fingerprint of the code a
#: module's cached kernels were compiled from (``<module>`` + suffix).
FINGERPRINT_SUFFIX = ".sfl_opt_fingerprint"
_IMPORT = re.compile(r"^from \.(\w+) import|^from \. import ([\w, ]+)", re.MULTILINE)
_checked: set[tuple[str, str]] = set()


def _sibling_imports(path: Path) -> set[str]:
    """The modules of ``path``'s package that ``path`` imports (relative imports)."""
    found: set[str] = set()
    for direct, listed in _IMPORT.findall(path.read_text(encoding="utf-8")):
        found.update([direct] if direct else (n.strip() for n in listed.split(",")))
    return {name for name in found if (path.parent / f"{name}.py").is_file()}


@cache
def fingerprint(module: str, package: str | None = None) -> str:
    """SHA-256 (hex) of the Numba version and the contents of ``module``'s file and of
    every module of its package it imports, directly or not, in name order.

    ``package``: the package folder (default: the one holding this file).
    """
    folder = Path(package) if package is not None else Path(__file__).parent
    closure, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = folder / f"{name}.py"
        if name in closure or not path.is_file():
            continue
        closure.add(name)
        todo.extend(_sibling_imports(path))
    h = hashlib.sha256(f"numba {numba.__version__}\n".encode())
    for name in sorted(closure):
        h.update(name.encode() + b"\0" + (folder / f"{name}.py").read_bytes() + b"\0")
    return h.hexdigest()


def invalidate_if_stale(dispatcher) -> bool:
    """Delete the cached machine code of ``dispatcher``'s module in its cache directory
    if it was compiled from other code than the installed one (see the module docstring).

    Checks each (directory, module) once per process; does nothing for a plain Python
    function (``NUMBA_DISABLE_JIT=1``) or a directory that cannot be read or written
    (Numba then chooses another one itself). Returns whether files were deleted.
    """
    path = getattr(getattr(dispatcher, "_cache", None), "_cache_path", None)
    py_func = getattr(dispatcher, "py_func", None)
    source = getattr(getattr(py_func, "__code__", None), "co_filename", None)
    if not isinstance(path, str) or not isinstance(source, str):
        return False
    module = Path(source).stem
    if (path, module) in _checked:
        return False
    _checked.add((path, module))
    marker = os.path.join(path, module + FINGERPRINT_SUFFIX)
    try:
        current = fingerprint(module, str(Path(source).parent))
    except OSError:
        return False
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
        if name.startswith(module + ".") and name.endswith((".nbi", ".nbc")):
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
