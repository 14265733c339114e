"""The engine's shape: no import cycles among its modules, and none of them knows the reference stack."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "harness"


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """Module -> the harness modules it imports, at the top or inside functions alike."""
    graph: dict[str, set[str]] = {}
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    for path in SRC.rglob("*.py"):
        found: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found |= {n for n in names if n in modules}
        graph[module_name(path)] = found - {module_name(path)}
    return graph


def test_no_import_cycles():
    graph = imports()
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        assert state.get(node) != 1, "import cycle: " + " -> ".join([*path[path.index(node) :], node])
        state[node] = 1
        for dep in sorted(graph.get(node, ())):
            # A package imports its own submodules (the kinds registry); that is not a cycle.
            if not dep.startswith(node + "."):
                visit(dep, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        visit(module, [])


def test_the_engine_names_nothing_of_the_reference_stack():
    pattern = re.compile(r"INT-[0-9x]|integration_p[0-9]|worker_light|worker_heavy|temporal_worker|cots")
    leaks = [f"{p.name}: {m.group()}" for p in SRC.rglob("*.py") for m in pattern.finditer(p.read_text())]
    assert leaks == []


def test_modules_stay_small():
    # A kind is one module (everything a kind of service is, and nowhere else): it may hold more.
    limit = {"kinds": 400}
    big = {
        p.name: n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > limit.get(p.parent.name, 330)
    }
    assert big == {}, "split modules that grew past ~300 lines (a kind's past ~400)"
