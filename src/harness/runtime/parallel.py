"""A parallel runner over a dependency graph: each node as soon as its dependencies are done.

Independent branches (Postgres and Xvfb, say) come up side by side. The first failure stops new
work; what is already running is told to give up through ``cancel`` and awaited, then the
failure is re-raised.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from harness.config.graph import topological_order


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
