"""Dependency graphs: a stable topological order, and a parallel runner over one.

The runner starts a node as soon as all of its dependencies are done, so independent branches
(Postgres and Xvfb, say) come up side by side. The first failure stops new work; what is already
running is told to give up through ``cancel`` and awaited, then the failure is re-raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait


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


def run_graph(
    deps: Mapping[str, Sequence[str]],
    work: Callable[[str], None],
    *,
    cancel: threading.Event,
    max_workers: int = 8,
    poll: float = 0.1,
) -> None:
    """Run ``work(node)`` for every node, dependencies first, independent nodes in parallel.

    The calling thread only waits (in short slices, so Ctrl-C reaches it at once). On the
    first exception ``cancel`` is set, running nodes are awaited, and that exception is raised.
    """
    nodes = topological_order(deps)
    pending = {n: {d for d in deps[n] if d in deps} for n in nodes}
    running: dict[Future[None], str] = {}
    done: set[str] = set()
    failure: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="harness") as pool:
        try:
            while pending or running:
                if failure is None and not cancel.is_set():
                    for node in [n for n, d in pending.items() if d <= done]:
                        del pending[node]
                        running[pool.submit(work, node)] = node
                if not running:
                    break
                finished, _ = wait(running, timeout=poll, return_when=FIRST_COMPLETED)
                for fut in finished:
                    node = running.pop(fut)
                    exc = fut.exception()
                    if exc is None:
                        done.add(node)
                    elif failure is None:
                        failure = exc
                        cancel.set()
        except BaseException:
            cancel.set()
            wait(running)
            raise
    if failure is not None:
        raise failure
