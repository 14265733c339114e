"""The engine's shape: packages in one flow, no import cycles, the plugin apart, nothing of the
reference stack, small modules."""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "harness"
# The flow, bottom first: a package imports only packages before it (and errors.py).
# plugin/ stands apart: it runs in the suite's own Python and imports only itself, the standard
# library, pytest, httpx (service_client) and websockets (service_ws, imported when asked for);
# anything may import it (its modules are pure Python).
ORDER = ["config", "host", "docker", "kinds", "runtime", "suite", "record", "cli"]
APART = {"plugin"}
PLUGIN_THIRD_PARTY = {"pytest", "_pytest", "httpx", "websockets"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported(path: Path) -> set[str]:
    """Every module name ``path`` imports, at the top or inside functions, relative ones resolved."""
    package = module_name(path) if path.name == "__init__.py" else module_name(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            found |= {base} | {f"{base}.{a.name}" for a in node.names}
        elif isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
    return found


def imports() -> dict[str, set[str]]:
    """Module -> the harness modules it imports."""
    modules = {module_name(p) for p in SRC.rglob("*.py")}
    return {module_name(p): (imported(p) & modules) - {module_name(p)} for p in SRC.rglob("*.py")}


def package_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 or (SRC / parts[-1]).is_dir() else ""


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


def test_packages_import_only_what_comes_before_them_in_the_flow():
    wrong = []
    for module, deps in sorted(imports().items()):
        here = package_of(module)
        if here not in ORDER:
            continue
        for dep in deps:
            there = package_of(dep)
            if there in ORDER and ORDER.index(there) > ORDER.index(here):
                wrong.append(f"{module} imports {dep} ({here} comes before {there})")
    assert wrong == []


def test_every_module_belongs_to_a_package_of_the_flow():
    top = sorted(p.stem for p in SRC.glob("*.py"))
    # errors is the bottom; the others are the entry point and aliases kept for old import paths.
    assert top == ["__init__", "__main__", "builtins", "errors", "invoke", "nox"]
    packages = sorted(p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists())
    assert packages == sorted([*ORDER, *APART])


def test_the_plugin_imports_only_itself_the_standard_library_pytest_and_httpx():
    wrong = []
    for path in sorted((SRC / "plugin").glob("*.py")):
        for name in imported(path):
            root = name.split(".")[0]
            if root == "harness":
                if not name.startswith("harness.plugin"):
                    wrong.append(f"{path.name} imports {name}")
            elif root not in sys.stdlib_module_names and root not in PLUGIN_THIRD_PARTY and root != "__future__":
                wrong.append(f"{path.name} imports {name}")
    assert wrong == [], "plugin/ runs in the suite's own Python, where the harness is not installed"


def test_the_plugin_is_copied_whole(tmp_path):
    from harness.suite.plugin_copy import PACKAGE, plugin_dir

    copied = plugin_dir(tmp_path) / PACKAGE
    assert sorted(p.name for p in copied.glob("*.py")) == sorted(p.name for p in (SRC / "plugin").glob("*.py"))


def test_the_engine_names_nothing_of_the_reference_stack():
    pattern = re.compile(r"INT-[0-9x]|integration_p[0-9]|worker_light|worker_heavy|temporal_worker|cots")
    leaks = [f"{p.name}: {m.group()}" for p in SRC.rglob("*.py") for m in pattern.finditer(p.read_text())]
    assert leaks == []


def test_modules_stay_small():
    # A kind is one module (everything a kind of service is, and nowhere else): it may hold more
    # (postgres: its cluster, role and databases, their snapshots and each test worker's copies).
    limit = {"kinds": 430}
    big = {
        p.name: n for p in SRC.rglob("*.py") if (n := len(p.read_text().splitlines())) > limit.get(p.parent.name, 330)
    }
    assert big == {}, "split modules that grew past ~330 lines (a kind's past ~430)"
