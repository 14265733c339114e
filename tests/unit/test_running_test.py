"""Per-test coverage contexts, the plugin's side: a test waits until the services follow it."""

from __future__ import annotations

import os
import threading
import time

from harness.plugin.protocol import ACK_PREFIX, TESTS_SEPARATOR
from harness.plugin.running_test import RunningTest


def _ack(directory, context: str) -> None:
    """What a covered service process writes once it switched (this process stands in for it)."""
    (directory / f"{ACK_PREFIX}{os.getpid()}").write_text(context)


def _announce_in_thread(running: RunningTest, nodeid: str) -> tuple[threading.Thread, list[float]]:
    done: list[float] = []
    thread = threading.Thread(target=lambda: (running.announce(nodeid), done.append(time.monotonic())))
    thread.start()
    return thread, done


def test_beside_other_workers_a_test_waits_until_every_service_context_names_it(tmp_path):
    _ack(tmp_path, "tests/t.py::previous")
    running = RunningTest(tmp_path, "gw0", alone=False)
    thread, done = _announce_in_thread(running, "tests/t.py::mine[a|b]")
    time.sleep(0.1)
    assert not done, "the test went on while the service still counted its lines for the test before"
    _ack(tmp_path, TESTS_SEPARATOR.join(["tests/t.py::mine[a|b]", "tests/t.py::other"]))
    thread.join(timeout=2)
    assert done and (tmp_path / "running-gw0").read_text() == "tests/t.py::mine[a|b]"


def test_beside_other_workers_a_tests_end_does_not_wait(tmp_path):
    _ack(tmp_path, "tests/t.py::mine")
    t0 = time.monotonic()
    RunningTest(tmp_path, "gw0", alone=False).announce("")
    assert time.monotonic() - t0 < 0.5 and (tmp_path / "running-gw0").read_text() == ""


def test_alone_a_test_waits_for_exactly_its_context_and_its_end_for_none(tmp_path):
    _ack(tmp_path, TESTS_SEPARATOR.join(["tests/t.py::mine", "tests/t.py::stale"]))
    running = RunningTest(tmp_path, "main", alone=True)
    thread, done = _announce_in_thread(running, "tests/t.py::mine")
    time.sleep(0.1)
    assert not done
    _ack(tmp_path, "tests/t.py::mine")
    thread.join(timeout=2)
    assert done
    thread, done = _announce_in_thread(running, "")
    time.sleep(0.1)
    assert not done
    _ack(tmp_path, "")
    thread.join(timeout=2)
    assert done
