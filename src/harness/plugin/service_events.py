"""The plugin's side of the watch: which test runs now, and failing it when a service fails.

The harness's watch (``suite/watch.py``) appends :class:`~.protocol.ServiceEvent` lines to the
run directory's ``EVENTS_FILE``; this process keeps when it ran which test in memory and leaves
it in ``timeline_part(<worker>)`` at its end, by which the harness names the tests running at
each event (nothing is written per test: a suite of thousands of fast tests would pay for it).
Here a thread tails the events;
when one that fails tests arrives during a test's call, SIGUSR1 to the main thread raises
:class:`ServiceDown` inside the test (so a test blocked on a dead service ends within a tick),
and the test's report is failed with the service, what happened and its log tail. An event
between tests fails the next test's set-up. Pure Python: this file is copied to the suite's
``PYTHONPATH`` with the plugin.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from pathlib import Path
from types import FrameType

from .protocol import EVENTS_FILE, ServiceEvent, timeline_part

POLL = 0.1


class ServiceDown(Exception):
    """Raised inside a running test when a service it depends on died or stopped answering."""


class ServiceEvents:
    """One pytest process's reader of the watch's events, and writer of the test it runs."""

    def __init__(self, run_dir: Path, worker: str) -> None:
        self.events_path = run_dir / EVENTS_FILE
        self._events = str(self.events_path)
        self._fd = -1
        self.timeline_path = run_dir / timeline_part(worker)
        self.timeline: list[list[object]] = []  # [nodeid, start, stop]
        self._offset = 0
        # Re-entrant: the SIGUSR1 handler takes it in the main thread, which may hold it then.
        self._lock = threading.RLock()
        self._reading = threading.Lock()
        self._failing: list[ServiceEvent] = []  # events that fail tests, not yet blamed on one
        self._in_call = False
        self._raised = False
        self._halt = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._loop, name="harness-liveness", daemon=True)

    def start(self) -> None:
        signal.signal(signal.SIGUSR1, self._interrupt)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        with contextlib.suppress(OSError):
            self.timeline_path.write_text(json.dumps(self.timeline))

    # -- the test's phases -------------------------------------------------------------------------
    def begin(self, nodeid: str) -> None:
        self.timeline.append([nodeid, time.time(), None])

    def end(self) -> None:
        if self.timeline:
            self.timeline[-1][2] = time.time()

    def enter_call(self) -> None:
        with self._lock:
            self._in_call, self._raised = True, False
            failed_before = bool(self._failing)  # read by the thread; the call's end reads the file too
        if failed_before:  # it failed before the call began: interrupt at once
            self._signal()

    def leave_call(self) -> None:
        with self._lock:
            self._in_call = False

    def pending(self) -> bool:
        """Failing events the thread (which reads every ``POLL`` s) has seen and no test was blamed for."""
        with self._lock:
            return bool(self._failing)

    def blame(self) -> list[ServiceEvent]:
        """The failing events not yet blamed on a test (now blamed on the current one)."""
        self._read()
        with self._lock:
            events, self._failing = self._failing, []
        return events

    # -- reading events ------------------------------------------------------------------------
    def _loop(self) -> None:
        while not self._halt.wait(POLL):
            if self._read():
                with self._lock:
                    fire = self._in_call and not self._raised
                if fire:
                    self._signal()

    def _read(self) -> bool:
        """New failing events since the last read; True when there were."""
        with self._reading:  # the thread and the main thread both read: each line once
            try:
                if self._fd < 0:  # the watch makes the file: until then, nothing to read
                    self._fd = os.open(self._events, os.O_RDONLY)
                size = os.lseek(self._fd, 0, os.SEEK_END)  # read after every test: a tenth of a stat
                if size <= self._offset:  # the usual case: nothing new
                    return False
                data = os.pread(self._fd, size - self._offset, self._offset)
            except OSError:
                return False
            complete = data[: data.rfind(b"\n") + 1]
            self._offset += len(complete)
        events = (ServiceEvent.from_json(line) for line in complete.splitlines() if line.strip())
        new = [e for e in events if e.fails]
        with self._lock:
            self._failing += new
        return bool(new)

    def _signal(self) -> None:
        if self._main is not None:
            signal.pthread_kill(self._main, signal.SIGUSR1)

    def _interrupt(self, signum: int, frame: FrameType | None) -> None:
        with self._lock:
            if not self._in_call or self._raised or not self._failing:
                return
            self._raised = True
            event = self._failing[0]
        raise ServiceDown(event.describe())
