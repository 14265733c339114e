"""The plugin's side of the watch: which test runs now, and failing it when a service fails.

The harness's watch appends events to ``$HARNESS_RUN_DIR/events.jsonl`` and reads
``running/<worker>`` to name the test running at each event. Here a thread tails the events;
when one that fails tests arrives during a test's call, SIGUSR1 to the main thread raises
:class:`ServiceDown` inside the test (so a test blocked on a dead service ends within a tick),
and the test's report is failed with the service, what happened and its log tail. An event
between tests fails the next test's set-up. Pure Python: this file is copied to the suite's
``PYTHONPATH`` with the plugin.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import Any

POLL = 0.1


class ServiceDown(Exception):
    """Raised inside a running test when a service it depends on died or stopped answering."""


def describe(event: dict[str, Any]) -> str:
    """``service 'api' died: pid 42 killed by SIGKILL`` and the log tail, for a failure message."""
    text = f"service '{event['service']}' {event['event']} during the test: {event['detail']}"
    tail = event.get("log_tail") or []
    if tail:
        text += f"\n--- last lines of {event['service']}'s log ---\n" + "\n".join(tail)
    return text


class Liveness:
    def __init__(self, run_dir: Path, worker: str) -> None:
        self.events_path = run_dir / "events.jsonl"
        self.running = run_dir / "running" / worker
        self._offset = 0
        self._lock = threading.Lock()
        self._failing: list[dict[str, Any]] = []  # events that fail tests, not yet blamed on one
        self._in_call = False
        self._raised = False
        self._halt = threading.Event()
        self._main = threading.main_thread().ident
        self._thread = threading.Thread(target=self._loop, name="harness-liveness", daemon=True)

    def start(self) -> None:
        self.running.parent.mkdir(parents=True, exist_ok=True)
        signal.signal(signal.SIGUSR1, self._interrupt)
        self._thread.start()

    def stop(self) -> None:
        self._halt.set()
        self.running.unlink(missing_ok=True)

    # -- the test's phases -------------------------------------------------------------------------
    def begin(self, nodeid: str) -> None:
        self.running.write_text(nodeid)

    def end(self) -> None:
        self.running.write_text("")

    def enter_call(self) -> None:
        with self._lock:
            self._in_call, self._raised = True, False
        if self.pending():  # it failed before the call began: interrupt at once
            self._signal()

    def leave_call(self) -> None:
        with self._lock:
            self._in_call = False

    def pending(self) -> bool:
        self._read()
        with self._lock:
            return bool(self._failing)

    def blame(self) -> list[dict[str, Any]]:
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
        try:
            with self.events_path.open("rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError:
            return False
        complete = data[: data.rfind(b"\n") + 1]
        with self._lock:
            self._offset += len(complete)
            new = [e for e in (json.loads(line) for line in complete.splitlines() if line.strip()) if e.get("fails")]
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
        raise ServiceDown(describe(event))


def enabled() -> bool:
    return bool(os.environ.get("HARNESS_RUN_DIR")) and os.environ.get("HARNESS_WATCH", "on") != "off"
