"""The import structure: dependencies point one way and no two modules import each other.

Imports are read from the source (module level and inside functions alike): ``experiments`` ->
``numerics`` -> ``theory.generated``; ``theory`` never imports ``experiments`` or ``numerics``
(except the parallelogram sets of ``numerics/representation.py``, which ``theory/effective.py``
checks); ``numerics`` never imports ``experiments``; no cycle among the package's modules.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "grokking_workbench"
THEORY_MAY_IMPORT = {f"{PACKAGE}.numerics.representation"}


def _module(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([PACKAGE, *parts])


def import_graph() -> dict[str, set[str]]:
    """module -> the package modules it imports (``from a import b`` counts a.b when b is a module)."""
    files = [p for top in ("theory", "numerics", "experiments") for p in (ROOT / top).rglob("*.py")]
    modules = {_module(p) for p in files}
    graph = {}
    for path in files:
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            for name in names:
                # the deepest package module named by the import
                while name and name not in modules:
                    name = name.rpartition(".")[0]
                if name and name != PACKAGE:
                    deps.add(name)
        me = _module(path)
        graph[me] = {d for d in deps if d != me and not me.startswith(d + ".")}
    return graph


def _layer(module: str) -> str:
    return module.split(".")[1]


def test_dependencies_point_one_way():
    bad = []
    for module, deps in import_graph().items():
        for dep in deps:
            if _layer(module) == "theory" and _layer(dep) == "experiments":
                bad.append((module, dep))
            if _layer(module) == "theory" and _layer(dep) == "numerics" and dep not in THEORY_MAY_IMPORT:
                bad.append((module, dep))
            if _layer(module) == "numerics" and _layer(dep) == "experiments":
                bad.append((module, dep))
    assert not bad, bad


def test_no_import_cycles():
    graph = import_graph()
    state, stack, cycles = {}, [], []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for dep in sorted(graph.get(node, ())):
            if state.get(dep) == "open":
                cycles.append(stack[stack.index(dep):] + [dep])
            elif dep not in state:
                visit(dep)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, cycles


def test_the_graph_sees_function_level_imports():
    graph = import_graph()
    assert f"{PACKAGE}.numerics.kernels" in graph[f"{PACKAGE}.numerics.lazy"]
    assert f"{PACKAGE}.theory.generated.committee" in graph[f"{PACKAGE}.numerics.ode"]
