"""The dependency graph of a stack's nodes: a stable topological order, levels, and cycles.

``runtime/parallel.py`` runs work over such a graph; this module only orders it, so the stack
loader can refuse a cycle before anything runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class CycleError(ValueError):
    def __init__(self, cycle: list[str]) -> None:
        self.cycle = cycle
        super().__init__("dependency cycle: " + " -> ".join(cycle))


def topological_order(deps: Mapping[str, Sequence[str]]) -> list[str]:
    """Nodes ordered so each comes after its dependencies; ties keep the mapping's order."""
    order: list[str] = []
    state: dict[str, int] = {}  # 1 = visiting, 2 = done

    def visit(node: str, path: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            raise CycleError([*path[path.index(node) :], node])
        state[node] = 1
        for dep in deps.get(node, ()):
            if dep in deps:
                visit(dep, [*path, node])
        state[node] = 2
        order.append(node)

    for node in deps:
        visit(node, [])
    return order


def dependency_levels(deps: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Each node's depth: 0 for what depends on nothing, else one more than its deepest dependency."""
    levels: dict[str, int] = {}

    def level(name: str) -> int:
        if name not in levels:
            levels[name] = 1 + max((level(d) for d in deps.get(name, ()) if d in deps), default=-1)
        return levels[name]

    for name in deps:
        level(name)
    return levels
