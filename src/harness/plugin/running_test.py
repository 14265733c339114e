"""The plugin's side of per-test coverage contexts: which test runs now, told to the services.

With ``[suites.X] coverage``, every covered service process follows the files ``running-*`` in
the directory ``COVERAGE_TESTS_VAR`` names, switching its coverage.py context to the test(s)
named there, and writes what it switched to in ``ack-<pid>`` (``suite/coverage.py``'s start-up
hook, which looks every 10 ms). Here a test's start writes its id, its end clears it, and the test
waits (about 5 ms, at most ``ACK_TIMEOUT``) until every live service process has switched:

- in a run without xdist workers, to exactly this test, and at its end to none: each line a
  service runs is attributed to the test that caused it;
- with workers, several tests run at once and a service cannot tell whose request it serves: its
  context names every test running then, and the test waits until every service's context names
  it. A line is then attributed to its test and to those running beside it, never to none of them
  (without the wait, a test's first requests could land in its predecessor's context, and
  ``--changed`` would miss the test). The record says the attribution is approximate.

Pure Python: travels with the plugin.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .protocol import ACK_PREFIX, COVERAGE_TESTS_VAR, RUNNING_PREFIX, TESTS_SEPARATOR

ACK_TIMEOUT = 1.0
POLL = 0.003


class RunningTest:
    """One pytest process's announcements of the test it runs."""

    def __init__(self, directory: Path, process: str, alone: bool) -> None:
        self.directory = directory
        self.path = directory / f"{RUNNING_PREFIX}{process}"
        self.alone = alone  # no other pytest process runs tests beside this one

    def announce(self, nodeid: str) -> None:
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(nodeid)
        os.replace(tmp, self.path)
        if nodeid or self.alone:  # beside others, a test's end may be attributed to it a little longer
            self._acknowledged(nodeid)

    def _switched(self, said: str, nodeid: str) -> bool:
        return said == nodeid if self.alone else nodeid in said.split(TESTS_SEPARATOR)

    def _acknowledged(self, nodeid: str) -> None:
        """Until every live service process says it switched to ``nodeid`` (or the deadline)."""
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
                if not self._switched(said, nodeid):
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


def from_env(process: str, alone: bool) -> RunningTest | None:
    where = os.environ.get(COVERAGE_TESTS_VAR)
    return RunningTest(Path(where), process, alone) if where else None
