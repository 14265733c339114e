from __future__ import annotations

import threading
import time

import pytest

from harness.config.graph import CycleError, topological_order
from harness.runtime.parallel import run_graph


def test_order_puts_dependencies_first_and_keeps_declaration_order():
    deps = {"api": ["db", "s3"], "db": [], "s3": [], "migrate": ["db"]}
    order = topological_order(deps)
    assert order.index("db") < order.index("api") and order.index("s3") < order.index("api")
    assert order.index("db") < order.index("migrate")
    assert order[:2] == ["db", "s3"]


def test_cycle_is_reported_with_its_path():
    with pytest.raises(CycleError) as info:
        topological_order({"a": ["b"], "b": ["c"], "c": ["a"]})
    assert info.value.cycle == ["a", "b", "c", "a"]


def test_independent_branches_run_in_parallel():
    both_running = threading.Barrier(2, timeout=5)
    done = []

    def work(node: str) -> None:
        if node in ("left", "right"):
            both_running.wait()  # deadlocks (and times out) unless both run at once
        done.append(node)

    run_graph({"left": [], "right": [], "top": ["left", "right"]}, work, cancel=threading.Event())
    assert done[-1] == "top" and set(done) == {"left", "right", "top"}


def test_first_failure_cancels_the_rest_and_is_raised():
    cancel = threading.Event()
    started = []

    def work(node: str) -> None:
        started.append(node)
        if node == "bad":
            raise RuntimeError("bad broke")
        if node == "slow":
            deadline = time.monotonic() + 5
            while not cancel.is_set() and time.monotonic() < deadline:
                time.sleep(0.01)

    t0 = time.monotonic()
    with pytest.raises(RuntimeError, match="bad broke"):
        run_graph({"bad": [], "slow": [], "after_bad": ["bad"]}, work, cancel=cancel)
    assert time.monotonic() - t0 < 2
    assert "after_bad" not in started and cancel.is_set()
