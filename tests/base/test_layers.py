"""The folders are the layers: the import graph of ``sfl_opt`` (read with ``ast``, every
``import`` statement, inside functions too) has no cycle, no edge running back up the
layer order below, no import of a module that does not exist, and imports inside
functions only of modules that pull in an optional or heavy dependency (torch, cvxpy,
pyomo, matplotlib, ...)."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[2] / "sfl_opt"

#: the layers, lowest first: a module may import from its own layer and the ones before
#: it. A module belongs to the layer of the longest prefix listed (``sfl_opt`` alone is
#: the package's ``__init__``, the public API on top of everything).
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("base", ("sfl_opt.errors", "sfl_opt.status", "sfl_opt._validation", "sfl_opt._io",
              "sfl_opt._records")),
    ("model", ("sfl_opt.model",)),
    ("kernels", ("sfl_opt.kernels",)),
    ("power", ("sfl_opt.power",)),
    ("engine", ("sfl_opt.engine",)),
    ("methods", ("sfl_opt.methods",)),
    ("solve", ("sfl_opt.solve", "sfl_opt.testing")),
    ("harness", ("sfl_opt.harness",)),
    ("experiments", ("sfl_opt.experiments",)),
    ("online", ("sfl_opt.online",)),
    ("cli", ("sfl_opt.cli",)),
    ("api", ("sfl_opt",)),
)

#: third-party modules whose import is optional (an extra) or heavy: a module that imports
#: one at module level may be imported lazily, inside the function that needs it
LAZY_OK = {"torch", "transformers", "peft", "cvxpy", "clarabel", "pyomo", "highspy",
           "distributed", "dask", "pyscipopt", "matplotlib"}


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    line: int
    top: bool  # at module level (else inside a function or class body)


def _modules() -> dict[str, tuple[Path, bool]]:
    out = {}
    for path in PKG.rglob("*.py"):
        parts = list(path.relative_to(PKG.parent).with_suffix("").parts)
        is_pkg = parts[-1] == "__init__"
        if is_pkg:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_pkg)
    return out


MODULES = _modules()


def _absolute(module: str | None, level: int, current: str, is_pkg: bool) -> str:
    if not level:
        return module or ""
    base = current.split(".")
    if not is_pkg:
        base = base[:-1]
    base = base[:len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _top_level_nodes(tree: ast.Module) -> set[int]:
    """ids of the import nodes that run when the module is imported (module body, also
    inside ``if``/``try`` blocks at module level)."""
    out: set[int] = set()
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            out.add(id(node))
        elif isinstance(node, (ast.If, ast.Try, ast.With)):
            for name in ("body", "orelse", "finalbody"):
                stack.extend(getattr(node, name, []))
            for handler in getattr(node, "handlers", []):
                stack.extend(handler.body)
    return out


def _scan() -> tuple[list[Edge], dict[str, set[str]], list[str]]:
    """(in-package edges, third-party top-level imports per module, unknown targets)."""
    edges: list[Edge] = []
    external: dict[str, set[str]] = {m: set() for m in MODULES}
    unknown: list[str] = []
    for mod, (path, is_pkg) in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        top = _top_level_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = _absolute(node.module, node.level, mod, is_pkg)
                if not base.startswith("sfl_opt"):
                    targets = [base]
                else:  # ``from pkg import name``: the submodule if ``name`` is one
                    targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                               for a in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] != "sfl_opt":
                    if id(node) in top:
                        external[mod].add(target.split(".")[0])
                elif target not in MODULES:
                    unknown.append(f"{path.relative_to(PKG.parent)}:{node.lineno} imports "
                                   f"{target}, which does not exist (see README's layout)")
                elif target != mod:
                    edges.append(Edge(mod, target, node.lineno, id(node) in top))
    return edges, external, unknown


EDGES, EXTERNAL, UNKNOWN = _scan()


def layer_of(module: str) -> int:
    best, best_len = -1, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    return best


def _where(edge: Edge) -> str:
    path = MODULES[edge.source][0].relative_to(PKG.parent)
    return f"{path}:{edge.line}"


def test_every_module_has_a_layer() -> None:
    assert len(MODULES) > 50  # the scan found the package
    orphans = [m for m in MODULES if layer_of(m) < 0]
    assert not orphans, f"modules outside every layer of LAYERS: {orphans}"


def test_imports_name_existing_modules() -> None:
    assert not UNKNOWN, "\n".join(UNKNOWN)


def test_no_import_runs_back_up_a_layer() -> None:
    bad = []
    for e in EDGES:
        src, dst = layer_of(e.source), layer_of(e.target)
        if dst > src:
            bad.append(f"{_where(e)}: {e.source} (layer {LAYERS[src][0]!r}) imports "
                       f"{e.target} (layer {LAYERS[dst][0]!r}, above it): the edge breaks "
                       f"the order {' < '.join(n for n, _ in LAYERS)}")
    assert not bad, "\n".join(bad)


def test_import_graph_has_no_cycle() -> None:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for e in EDGES:
        graph[e.source].add(e.target)
    # Tarjan's strongly connected components (iterative)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = []
                    while True:
                        m = stack.pop()
                        on_stack.discard(m)
                        comp.append(m)
                        if m == node:
                            break
                    if len(comp) > 1:
                        cycles.append(sorted(comp))
    detail = []
    for comp in cycles:
        inside = [f"  {_where(e)}: {e.source} -> {e.target}" for e in EDGES
                  if e.source in comp and e.target in comp]
        detail.append(f"import cycle among {comp}:\n" + "\n".join(inside))
    assert not cycles, "\n".join(detail)


def _heavy_modules() -> set[str]:
    """Modules whose import (at module level, transitively) pulls in a LAZY_OK package."""
    heavy = {m for m, ext in EXTERNAL.items() if ext & LAZY_OK}
    changed = True
    while changed:
        changed = False
        for e in EDGES:
            if e.top and e.target in heavy and e.source not in heavy:
                heavy.add(e.source)
                changed = True
    return heavy


def test_in_package_imports_sit_at_module_level() -> None:
    heavy = _heavy_modules()
    assert "sfl_opt.harness.model" in heavy  # torch, at module level
    bad = [f"{_where(e)}: {e.source} imports {e.target} inside a function; move it to the "
           "top of the module (only a module that pulls in an optional or heavy dependency "
           f"{sorted(LAZY_OK)} may be imported lazily)"
           for e in EDGES if not e.top and e.target not in heavy]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("name", ["errors", "model", "engine", "methods", "experiments",
                                  "cli"])
def test_layer_order_is_the_documented_one(name: str) -> None:
    # the README's layout table lists the layer folders in this order
    readme = (PKG.parent / "README.md").read_text()
    order = [n for n, _ in LAYERS]
    folder = {"errors": "`errors.py`", "model": "`model/`", "engine": "`engine/`",
              "methods": "`methods/`", "experiments": "`experiments/`", "cli": "`cli/`"}
    positions = {k: readme.index(v) for k, v in folder.items()}
    layer = {"errors": "base", "model": "model", "engine": "engine", "methods": "methods",
             "experiments": "experiments", "cli": "cli"}
    earlier = [k for k in folder if order.index(layer[k]) < order.index(layer[name])]
    assert all(positions[k] < positions[name] for k in earlier)


def test_top_level_holds_few_modules() -> None:
    top = sorted(p.name for p in PKG.glob("*.py"))
    assert len(top) <= 12, f"sfl_opt/ holds {len(top)} modules besides the layer folders: {top}"


def test_public_names_and_documented_submodules_import() -> None:
    import importlib

    import sfl_opt

    for name in sfl_opt.__all__:
        assert getattr(sfl_opt, name) is not None
    for short in ("hardware", "memory", "profiles"):
        mod = importlib.import_module(f"sfl_opt.{short}")
        assert mod is getattr(sfl_opt, short)
        assert mod is importlib.import_module(f"sfl_opt.model.{short}")


def test_tests_mirror_the_package() -> None:
    """tests/<folder>/ exists for every layer folder of sfl_opt/ and for nothing else
    (tests/base holds the top-level modules and the cross-cutting contracts), and no test
    module is left at the top of tests/."""
    tests = PKG.parent / "tests"
    package = {p.name for p in PKG.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    mirrored = {p.name for p in tests.iterdir() if p.is_dir() and not p.name.startswith((".", "_"))}
    assert mirrored == package | {"base"}, sorted(mirrored ^ (package | {"base"}))
    assert not list(tests.glob("test_*.py")), "test modules belong in the folder they test"
    for folder in mirrored:
        assert list((tests / folder).glob("test_*.py")), f"tests/{folder} holds no tests"
