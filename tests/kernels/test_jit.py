"""The kernels' disk cache is invalidated when any kernel file changes (kernels/_jit.py).

Numba checks only the cached function's own source file; a kernel that calls a helper in
another file would otherwise be loaded, stale, after that helper changed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from types import SimpleNamespace

import pytest

from sfl_opt.kernels import _jit

GREEDY = Path(_jit.__file__).with_name("greedy.py")


def _fake(path: Path, source: Path = GREEDY) -> SimpleNamespace:
    """What ``invalidate_if_stale`` reads of a Numba dispatcher: its cache directory and
    the file its Python function comes from."""
    py_func = SimpleNamespace(__code__=SimpleNamespace(co_filename=str(source)))
    return SimpleNamespace(_cache=SimpleNamespace(_cache_path=str(path)), py_func=py_func)


def _marker(path: Path, module: str = "greedy") -> Path:
    return path / (module + _jit.FINGERPRINT_SUFFIX)


@pytest.fixture
def fresh_process(monkeypatch):
    """Forget which directories this process has checked (as a new process would)."""
    monkeypatch.setattr(_jit, "_checked", set())


def test_stale_fingerprint_deletes_that_modules_cached_code_only(tmp_path, fresh_process):
    names = ["greedy.f-10.py311.nbi", "greedy.f-10.py311.1.nbc", "greedy.cpython-311.pyc",
             "bnb.g-5.py311.nbi", "greedy_extra.h-1.py311.nbi"]
    for name in names:
        (tmp_path / name).write_text("x")
    _marker(tmp_path).write_text("0" * 64 + "\n")
    assert _jit.invalidate_if_stale(_fake(tmp_path)) is True
    left = sorted(p.name for p in tmp_path.iterdir())
    assert left == sorted(["greedy.cpython-311.pyc", "bnb.g-5.py311.nbi",
                           "greedy_extra.h-1.py311.nbi", _marker(tmp_path).name])
    assert _marker(tmp_path).read_text().strip() == _jit.fingerprint("greedy")


def test_current_fingerprint_keeps_cached_code(tmp_path, fresh_process):
    _marker(tmp_path).write_text(_jit.fingerprint("greedy") + "\n")
    (tmp_path / "greedy.f-10.py311.nbi").write_text("x")
    assert _jit.invalidate_if_stale(_fake(tmp_path)) is False
    assert (tmp_path / "greedy.f-10.py311.nbi").exists()


def test_cache_without_fingerprint_is_not_trusted(tmp_path, fresh_process):
    (tmp_path / "greedy.f-10.py311.nbi").write_text("x")
    assert _jit.invalidate_if_stale(_fake(tmp_path)) is True
    assert not (tmp_path / "greedy.f-10.py311.nbi").exists()


def test_each_module_checked_once_per_process(tmp_path, fresh_process):
    (tmp_path / "greedy.a.nbi").write_text("x")
    assert _jit.invalidate_if_stale(_fake(tmp_path)) is True
    (tmp_path / "greedy.b.nbi").write_text("compiled by this process")
    assert _jit.invalidate_if_stale(_fake(tmp_path)) is False
    assert (tmp_path / "greedy.b.nbi").exists()


def test_plain_python_function_and_missing_directory(tmp_path, fresh_process):
    assert _jit.invalidate_if_stale(lambda x: x) is False
    missing = tmp_path / "not" / "yet"
    assert _jit.invalidate_if_stale(_fake(missing)) is False
    assert _marker(missing).read_text().strip() == _jit.fingerprint("greedy")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0,
                    reason="needs a directory this user cannot write")
def test_read_only_directory_is_left_alone(tmp_path, fresh_process):
    (tmp_path / "greedy.a.nbi").write_text("x")
    tmp_path.chmod(0o500)
    try:
        assert _jit.invalidate_if_stale(_fake(tmp_path)) is False
        assert (tmp_path / "greedy.a.nbi").exists()
    finally:
        tmp_path.chmod(0o700)


def test_fingerprint_follows_imports_and_numba(tmp_path, monkeypatch):
    """A module's fingerprint changes with the files it imports (directly or not) and
    with Numba, not with an unrelated file of the package."""
    for name, body in {"a": "from .b import f\n", "b": "from . import c, _jit\n",
                       "c": "X = 1\n", "_jit": "", "d": "Y = 1\n"}.items():
        (tmp_path / f"{name}.py").write_text(body)

    def fp(module: str) -> str:
        _jit.fingerprint.cache_clear()
        return _jit.fingerprint(module, str(tmp_path))

    before = {m: fp(m) for m in "abcd"}
    (tmp_path / "c.py").write_text("X = 2\n")
    after = {m: fp(m) for m in "abcd"}
    assert [before[m] != after[m] for m in "abcd"] == [True, True, True, False]
    monkeypatch.setattr(_jit.numba, "__version__", "0.0.0")
    assert fp("d") != after["d"]
    monkeypatch.undo()
    _jit.fingerprint.cache_clear()
    assert {"_jit", "waterfill", "lagrange"} <= _jit._sibling_imports(
        Path(_jit.__file__).with_name("bnb.py"))


_HELPER = "from ._jit import kernel\n\n\n@kernel\ndef helper(x):\n    return x + {}\n"
_CALLER = textwrap.dedent("""\
    from ._jit import kernel
    from .helper import helper


    @kernel
    def caller(x):
        return 2 * helper(x)
    """)


@pytest.mark.skipif(os.environ.get("NUMBA_DISABLE_JIT", "0") not in ("", "0"),
                    reason="the disk cache exists only when compiling")
def test_changed_helper_in_another_file_is_recompiled(tmp_path):
    """End to end: a package of two kernel files using this ``_jit``; the caller's file is
    untouched while its helper changes. Numba alone would load the caller's cached
    machine code (which contains the old helper) and return 2; the fingerprint makes it
    recompile and return 20."""
    pkg = tmp_path / "toypkg"
    pkg.mkdir()
    shutil.copy(Path(_jit.__file__), pkg / "_jit.py")
    (pkg / "__init__.py").write_text("")
    (pkg / "caller.py").write_text(_CALLER)
    env = {**os.environ, "PYTHONPATH": str(tmp_path), "NUMBA_DISABLE_JIT": "0"}
    env.pop("NUMBA_CACHE_DIR", None)
    script = ("from toypkg.caller import caller; "
              "print(caller(0), caller.stats.cache_hits.get(caller.signatures[0], 0))")

    def run() -> list[str]:
        out = subprocess.run([sys.executable, "-c", script], env=env, cwd=tmp_path,
                             capture_output=True, text=True, timeout=300, check=True)
        return out.stdout.split()

    (pkg / "helper.py").write_text(_HELPER.format(1))
    assert run() == ["2", "0"]             # compiled and cached
    assert run() == ["2", "1"]             # loaded from the cache: the cache works
    (pkg / "helper.py").write_text(_HELPER.format(10))
    assert run() == ["20", "0"]            # recompiled: not the stale 2
