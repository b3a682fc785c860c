"""No import cycle inside `evalaction/`: the package builds in floors, each importing only the floors below.

The graph is read with `ast`, not by importing, so the test sees every module (also the ones that need an
optional dependency) and cannot be fooled by import order. An edge is a module-level import: a statement in
the module's body, including under `if`/`try` at the top level and under `if TYPE_CHECKING:` (a cycle
there still ties the two modules' types together). An import inside a function or method is lazy: it runs
when the function is called, after both modules have loaded, so it cannot fail at import time and is how
the house style keeps heavy dependencies off `evalaction --help`. Those are allowed, and not edges here.
`import evalaction.a.b` and `from evalaction.a import b` count as an edge to the module `evalaction.a.b`
(and, as Python runs it first, to the package `evalaction.a`).

How the four cycles issue #15 found were broken (a factory or a shared type moves a floor up or down):
  config <-> detection/spec            the checks that read the whole plan moved to detection/plan_checks.py,
                                       which the plan validator imports lazily
  datasets/base <-> its readers        the factory moved to datasets/load.py; readers import only base
  runners/base <-> its runners         open_runner moved to runners/factory.py; runners import only base
  pipeline <-> detection/stages        PipelineHooks moved to hooks.py, below both
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "evalaction"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _top_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module loads: the body, and blocks of if/try/with at top level."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        elif isinstance(node, ast.If):
            found += _top_level_imports(node.body) + _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                found += _top_level_imports(block)
        elif isinstance(node, ast.With):
            found += _top_level_imports(node.body)
    return found


@functools.cache
def _parsed(path: Path) -> ast.Module:
    """Each module is parsed once per session: three tests walk the same trees."""
    return ast.parse(path.read_text(encoding="utf-8"))


def import_graph() -> dict[str, set[str]]:
    """module -> the evalaction modules it imports at load time."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        is_package = path.name == "__init__.py"
        edges: set[str] = set()
        for node in _top_level_imports(_parsed(path).body):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                if node.level:
                    anchor = name.split(".")
                    anchor = anchor if is_package else anchor[:-1]
                    anchor = anchor[: len(anchor) - (node.level - 1)]
                    base = ".".join([*anchor, node.module] if node.module else anchor)
                else:
                    base = node.module or ""
                targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
            for target in targets:
                # every package on the way is run first; the target itself if it is a module
                parts = target.split(".")
                for i in range(1, len(parts) + 1):
                    candidate = ".".join(parts[:i])
                    if candidate in modules and candidate != name and not name.startswith(candidate + "."):
                        edges.add(candidate)
        graph[name] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each as one cycle through them."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_one_cycle(graph, set(c)) for c in components]


def _one_cycle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module, for a readable message."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return [*paths[v], start]
                if w not in paths:
                    paths[w] = [*paths[v], w]
                    nxt.append(w)
        frontier = nxt
    return sorted(component)


def test_no_module_level_import_cycle_inside_evalaction() -> None:
    cycles = find_cycles(import_graph())
    assert not cycles, "import cycles (make one import lazy or move the shared part down a floor):\n" + "\n".join(
        " -> ".join(c) for c in cycles
    )


def test_the_checker_finds_a_cycle_and_ignores_lazy_imports(tmp_path: Path) -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
    source = "import os\nfrom x import y\nif True:\n    import z\ndef f():\n    import lazy\n"
    names = [
        n.names[0].name if isinstance(n, ast.Import) else n.module
        for n in _top_level_imports(ast.parse(source).body)
    ]
    assert names == ["os", "x", "z"]


def test_the_graph_sees_relative_and_absolute_imports() -> None:
    graph = import_graph()
    assert "evalaction.exceptions" in graph["evalaction.plan.load"]
    assert len(graph) > 50


def _all_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    return [n for node in body for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]


def test_readers_and_runners_never_import_their_factory_back(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lazily either: a factory sits a floor above the parts it picks from (docs/architecture.md, Floors).

    `runners/modal.py` is the one exception: the function Modal runs in its container (`run_shard`) opens the
    runner there, so it is a client of the factory, not a runner the factory picks.
    """
    monkeypatch.setattr(sys.modules[__name__], "_top_level_imports", _all_imports)
    graph = import_graph()
    factories = {
        "evalaction.datasets.load": "evalaction.datasets.",
        "evalaction.runners.factory": "evalaction.runners.",
    }
    allowed = {"evalaction.datasets", "evalaction.runners", "evalaction.runners.modal"}
    for factory, package in factories.items():
        back = sorted(
            m for m, deps in graph.items() if factory in deps and m.startswith(package) and m not in allowed
        )
        assert back == [], f"{back} import {factory}, the factory that picks them"
