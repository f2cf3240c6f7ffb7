"""Every ```python block of README.md and docs/*.md runs as written (issue 20): each block
on its own, in a fresh namespace, as a reader would paste it. Blocks that need an extra
skip without it; blocks that take more than a few seconds are marked slow."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
FENCE = re.compile(r"^```python\n(.*?)^```", re.S | re.M)

#: (file, block number from 1) -> why it is slow (run in CI, not in quick runs)
SLOW = {
    ("README.md", 1): "cvxpy power, the relaxation bound, exact and milp",
    ("README.md", 3): "a sweep over 3 values x 2 methods x 5 seeds",
    ("backends.md", 1): "cvxpy power, the relaxation bound, exact and milp",
    ("model.md", 1): "SAA and a simulated training run",
    ("online.md", 1): "a 5000-round simulation",
}
#: modules a block needs beyond the core (skip when missing)
EXTRAS = ("cvxpy", "pyomo", "highspy", "torch")


def _blocks() -> list:
    out = []
    for path in DOCS:
        for i, m in enumerate(FENCE.finditer(path.read_text()), start=1):
            key = (path.name, i)
            marks = [pytest.mark.slow] if key in SLOW else []
            out.append(pytest.param(path, i, m.group(1), marks=marks, id=f"{path.name}-{i}"))
    return out


BLOCKS = _blocks()


def test_the_docs_have_python_blocks():
    names = {p.values[0].name for p in BLOCKS}
    assert {"README.md", "backends.md", "model.md", "online.md"} <= names
    assert set(SLOW) <= {(p.values[0].name, p.values[1]) for p in BLOCKS}


@pytest.mark.parametrize("path,index,code", BLOCKS)
def test_snippet_runs_as_written(path, index, code, tmp_path, monkeypatch):
    for mod in EXTRAS:
        if re.search(rf"\b{mod}\b|\"{mod}\"|'{mod}'", code) and \
                importlib.util.find_spec(mod) is None:
            pytest.skip(f"needs {mod}")
    from sfl_opt.methods import registry

    methods = dict(registry.METHODS)
    monkeypatch.chdir(tmp_path)  # snippets that write files write them here
    try:
        exec(compile(code, f"{path.name}:block{index}", "exec"), {"__name__": "__snippet__"})
    finally:  # a snippet that registers a method leaves the registry as it was
        registry.METHODS.clear()
        registry.METHODS.update(methods)
