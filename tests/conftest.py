"""Shared test configuration.

The tests mirror the package: ``tests/<layer>/test_*.py`` tests ``sfl_opt/<layer>/``
(``tests/base`` the top-level modules and cross-cutting contracts).  This file holds
what every layer shares:

* hypothesis profiles (``HYPOTHESIS_PROFILE=thorough`` for the long run);
* a session fixture that compiles the Numba kernels (or loads them from the disk cache)
  before the first test, so compilation never lands on whichever test happens to run
  first (and never inside a test that measures time);
* ``@pytest.mark.requires("cvxpy", ...)``: a test needing an optional extra is skipped,
  with the extra named, when it is not installed;
* small shared fixtures: ``repo_root``, ``tiny_problem``, ``default_problem``, ``cli``,
  ``rerun_without_jit`` (a test module's tests again as plain Python).

The oracle (enumeration of every assignment) is :mod:`sfl_opt.testing`.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("default", max_examples=40, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("thorough", max_examples=400, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

#: The repository's root (the folder holding setup.cfg, README.md, docs/, profiles/).
ROOT = Path(__file__).resolve().parent.parent

#: Optional module -> the extra of setup.cfg that installs it.
EXTRAS = {"cvxpy": "cvxpy", "clarabel": "cvxpy", "scs": "cvxpy", "pyomo": "pyomo",
          "highspy": "pyomo", "dask": "dask", "distributed": "dask", "pyscipopt": "peers",
          "torch": "harness", "transformers": "harness", "peft": "harness"}


def missing_modules(*modules: str) -> list[str]:
    """The modules among ``modules`` that cannot be imported here."""
    return [m for m in modules if importlib.util.find_spec(m) is None]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "requires(*modules): needs optional modules; skipped (naming the extra) "
        "when one is not installed")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    for mark in item.iter_markers(name="requires"):
        absent = missing_modules(*mark.args)
        if absent:
            extras = sorted({EXTRAS.get(m, m) for m in absent})
            pytest.skip(f"needs {', '.join(absent)} (pip install 'sfl-opt[{','.join(extras)}]')")


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels() -> float:
    """Compile every kernel a default solve uses once, before the first test (seconds taken;
    about 0 when Numba's disk cache is warm or ``NUMBA_DISABLE_JIT=1``)."""
    from sfl_opt.solve import warmup

    return warmup()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    """The repository's root folder."""
    return ROOT


@pytest.fixture()
def tiny_problem():
    """K = 3 clients, M = 4 subchannels, ranks (2, 8): every method and the oracle run it in
    milliseconds."""
    from sfl_opt import Problem

    return Problem.default(1, clients=3, subchannels=4, ranks=(2, 8))


@pytest.fixture(scope="session")
def default_problem():
    """The bundled default scenario (seed 0).  Problems are immutable, so one per session."""
    from sfl_opt import Problem

    return Problem.default(0)


@pytest.fixture()
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run ``sfl-opt`` in-process: ``code, out, err = cli("solve", "--seed", "3")``."""
    from sfl_opt.cli.main import main

    def run(*args: str) -> tuple[int, str, str]:
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's own errors
            code = exc.code if isinstance(exc.code, int) else 1
        cap = capsys.readouterr()
        return int(code or 0), cap.out, cap.err

    return run


@pytest.fixture()
def rerun_without_jit() -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a test module's tests again in a subprocess with ``NUMBA_DISABLE_JIT=1`` (the
    kernels as plain Python): ``rerun_without_jit(__file__, "-k", "kernel")`` asserts the
    run passed and returns it."""

    def run(path: str, *args: str, **env_extra: str) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, NUMBA_DISABLE_JIT="1", **env_extra)
        proc = subprocess.run(
            [sys.executable, "-m", "pytest", str(Path(path)), "-q", "-x",
             "-p", "no:cacheprovider", *args],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        assert " passed" in proc.stdout
        return proc

    return run
