"""The plugin's side of per-test coverage contexts: which test runs now, told to the services.

With ``[suites.X] coverage``, every covered service process follows the files ``running-*`` in
the directory ``COVERAGE_TESTS_VAR`` names, switching its coverage.py context to the test(s)
named there, and writes what it switched to in ``ack-<pid>`` (``suite/coverage.py``'s start-up
hook, which looks every 10 ms). Here a test's start writes its id, its end clears it. In a run
without xdist workers the test then waits (about 5 ms, at most ``ACK_TIMEOUT``) until every live
service process has switched, so each line a service runs is attributed to the test that caused
it. With workers, several tests run at once and a service cannot tell whose request it serves:
contexts name every test running then (``a|b``), and the record says the attribution is
approximate. Pure Python: travels with the plugin.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .protocol import ACK_PREFIX, COVERAGE_TESTS_VAR, RUNNING_PREFIX

ACK_TIMEOUT = 1.0
POLL = 0.003


class RunningTest:
    """One pytest process's announcements of the test it runs."""

    def __init__(self, directory: Path, process: str, wait: bool) -> None:
        self.directory = directory
        self.path = directory / f"{RUNNING_PREFIX}{process}"
        self.wait = wait

    def announce(self, nodeid: str) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(nodeid)
        os.replace(tmp, self.path)
        if self.wait:
            self._acknowledged(nodeid)

    def _acknowledged(self, context: str) -> None:
        """Until every live service process says it switched to ``context`` (or the deadline)."""
        deadline = time.monotonic() + ACK_TIMEOUT
        while time.monotonic() < deadline:
            pending = False
            for entry in os.scandir(self.directory):
                if not entry.name.startswith(ACK_PREFIX):
                    continue
                try:
                    pid = int(entry.name.removeprefix(ACK_PREFIX))
                    if not _alive(pid):  # a process that ended (a restart's predecessor) has no say
                        continue
                    with open(entry.path) as fh:
                        said = fh.read()
                except (ValueError, OSError):
                    continue
                if said != context:
                    pending = True
                    break
            if not pending:
                return
            time.sleep(POLL)


def _alive(pid: int) -> bool:
    """Running, and not a zombie its parent has yet to reap (which ``kill(pid, 0)`` still finds)."""
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc here: kill's answer stands


def from_env(process: str, wait: bool) -> RunningTest | None:
    where = os.environ.get(COVERAGE_TESTS_VAR)
    return RunningTest(Path(where), process, wait) if where else None
