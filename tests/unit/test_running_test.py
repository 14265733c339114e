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


def _waits_for(running: RunningTest, nodeid: str, directory, ack: str) -> None:
    """``announce(nodeid)`` holds the test until the service acknowledges ``ack``."""
    done: list[bool] = []
    thread = threading.Thread(target=lambda: (running.announce(nodeid), done.append(True)))
    thread.start()
    time.sleep(0.1)
    assert not done, f"the test went on before the service switched (it still said {_said(directory)!r})"
    _ack(directory, ack)
    thread.join(timeout=2)
    assert done, f"the test still waits after the service said {ack!r}"


def _said(directory) -> str:
    return (directory / f"{ACK_PREFIX}{os.getpid()}").read_text()


def test_beside_other_workers_a_test_waits_until_every_service_context_names_it(tmp_path):
    _ack(tmp_path, "tests/t.py::previous")  # its first requests would be counted for the test before
    running = RunningTest(tmp_path, "gw0", alone=False)
    _waits_for(running, "tests/t.py::mine[a|b]", tmp_path, TESTS_SEPARATOR.join(["tests/t.py::mine[a|b]", "x"]))
    assert (tmp_path / "running-gw0").read_text() == "tests/t.py::mine[a|b]"


def test_beside_other_workers_a_tests_end_does_not_wait(tmp_path):
    _ack(tmp_path, "tests/t.py::mine")
    t0 = time.monotonic()
    RunningTest(tmp_path, "gw0", alone=False).announce("")
    assert time.monotonic() - t0 < 0.5 and (tmp_path / "running-gw0").read_text() == ""


def test_alone_a_test_waits_for_exactly_its_context_and_its_end_for_none(tmp_path):
    _ack(tmp_path, TESTS_SEPARATOR.join(["tests/t.py::mine", "tests/t.py::stale"]))
    running = RunningTest(tmp_path, "main", alone=True)
    _waits_for(running, "tests/t.py::mine", tmp_path, "tests/t.py::mine")
    _waits_for(running, "", tmp_path, "")
