"""The stack watched while a suite's tests run: liveness, intended changes, restarts, resources.

A thread of the harness process that ran ``up`` (or ``--reuse``) looks at every service of the
suite's profile a few times a second: is its recorded process alive, does its readiness probe
still pass (every ``live.interval`` s; ``live.failures`` misses in a row is a failure), and did
the ledger change under it. Stops and starts through the harness (``harness stop``/``up``, which
mark a stop as intended in the ledger first) are recorded as intended; a death or a failing
probe is not, and fails the test running at that moment (the plugin reads them: ``EVENTS_FILE``),
unless the service's restart policy takes it: then it is restarted with exponential backoff
and each restart is an event. Every event names the test or tests running then (the plugin
keeps ``RUNNING_DIR/<worker>`` up to date), and CPU and memory of each service's process tree are
sampled once a second.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.host.processes import ProcessEntry, is_running, log_tail
from harness.host.usage import TreeSampler, Usage
from harness.plugin.protocol import EVENTS_FILE, TIMELINE_PARTS, ServiceEvent

TICK = 0.2
SAMPLE_EVERY = 1.0
RECOVERY = 30.0  # after a dependency is back, its dependents' failing probes are still excused this long
TAIL = 20


@dataclass
class _Seen:
    pid: int | None = None
    misses: int = 0
    next_probe: float = 0.0
    dead_pid: int | None = None
    restart_at: float | None = None
    stopped: bool = False  # removed from the ledger by a stop through the harness


def exit_status(pid: int) -> str:
    """How ``pid`` ended, when it was our child (else that it is not known)."""
    try:
        got, status = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return "exited (not this harness's child: exit code unknown)"
    if got == 0:
        return "exited"
    if os.WIFSIGNALED(status):
        return f"killed by {signal.Signals(os.WTERMSIG(status)).name}"
    return f"exited with code {os.WEXITSTATUS(status)}"


class Watch:
    """Watches ``services`` until :meth:`stop`; ``restart(name)`` brings one back (by policy)."""

    def __init__(
        self,
        services: Sequence[str],
        *,
        entries: Callable[[], dict[str, ProcessEntry]],
        stopping: Callable[[], dict[str, float]],
        settings: Callable[[str], Any],
        probe: Callable[[str, ProcessEntry], str | None],
        restart: Callable[[str], None],
        count_restart: Callable[[str], int],
        depends_on: Callable[[str], set[str]],
        run_dir: Path,
    ) -> None:
        self.services = list(services)
        self._entries, self._stopping, self._settings = entries, stopping, settings
        self._probe, self._restart, self._count_restart = probe, restart, count_restart
        self._depends_on = depends_on
        self._disrupted: dict[str, float] = {}  # service -> until when (inf: still down) its dependents are excused
        self.events_path = run_dir / EVENTS_FILE
        self.run_dir = run_dir
        self.events: list[ServiceEvent] = []
        self.usage: dict[str, Usage] = {n: Usage() for n in self.services}
        self._seen = {n: _Seen() for n in self.services}
        self._sampler = TreeSampler()
        self._halt = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-watch", daemon=True)

    # -- lifecycle -------------------------------------------------------------------------------
    def start(self) -> Watch:
        self.events_path.touch()
        now = time.monotonic()
        for name, rec in self._entries().items():
            if name in self._seen:
                self._seen[name].pid = rec.pid
                self._seen[name].next_probe = now + self._interval(name)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def resources(self) -> dict[str, dict[str, float | int]]:
        return {name: u.summary() for name, u in self.usage.items() if u.samples}

    # -- the loop --------------------------------------------------------------------------------
    def _loop(self) -> None:
        next_sample = 0.0
        while not self._halt.is_set():
            try:
                entries, stopping = self._entries(), self._stopping()
                for name in self.services:
                    self._check(name, entries.get(name), stopping)
                if time.monotonic() >= next_sample:
                    next_sample = time.monotonic() + SAMPLE_EVERY
                    self._sample(entries)
            except Exception as exc:  # a watch that stops watching must say so, not die silently
                self._emit(ServiceEvent(time.time(), "harness", "watch error", f"{type(exc).__name__}: {exc}"))
            self._halt.wait(TICK)

    def _interval(self, name: str) -> float:
        live = self._settings(name).liveness
        return float(live.interval) if live else float("inf")

    def _check(self, name: str, rec: ProcessEntry | None, stopping: dict[str, float]) -> None:
        seen, now = self._seen[name], time.monotonic()
        if rec is None:
            if seen.pid is not None and seen.restart_at is None:
                self._emit(ServiceEvent(time.time(), name, "stopped", "stopped through the harness", intended=True))
                seen.stopped = True
                self._disrupted[name] = float("inf")
            seen.pid = None
            return
        if rec.pid != seen.pid:
            restarted = seen.restart_at is not None
            if seen.pid is not None or restarted or seen.stopped:
                what = "restarted" if restarted else "started"
                self._emit(ServiceEvent(time.time(), name, what, f"pid {rec.pid}", intended=True))
                self._disrupted[name] = now + RECOVERY
            seen.pid, seen.misses, seen.dead_pid, seen.restart_at, seen.stopped = rec.pid, 0, None, None, False
            seen.next_probe = now + self._interval(name)
        if seen.restart_at is not None:
            if now >= seen.restart_at:
                self._do_restart(name, rec)
            return
        if not is_running(rec):
            if seen.dead_pid != rec.pid and name not in stopping and not self._stopped_on_purpose(name, rec):
                seen.dead_pid = rec.pid
                self._died(name, rec)
            return
        if now >= seen.next_probe:
            self._live_probe(name, rec, seen)

    def _stopped_on_purpose(self, name: str, rec: ProcessEntry) -> bool:
        """Asked again once it is seen dead: a stop through the harness marks the service before it
        signals, and forgets its record after, so one of the two shows now. (The tick's own reads
        can predate both: a service killed at once, as Temporal is, was taken for a death.)"""
        now = self._entries().get(name)
        return name in self._stopping() or now is None or now.pid != rec.pid

    def _died(self, name: str, rec: ProcessEntry) -> None:
        svc, how = self._settings(name), exit_status(rec.pid)
        tail = log_tail(rec.log, TAIL).splitlines()
        crashed = not how.startswith("exited with code 0")
        takes_it = svc.restart == "always" or (svc.restart == "on-failure" and crashed)
        count = self._count_restart(name) if takes_it else 0
        if takes_it and count <= svc.max_restarts:
            self._disrupted[name] = float("inf")
            delay = min(svc.backoff * 2 ** (count - 1), svc.backoff_max)
            self._seen[name].restart_at = time.monotonic() + delay
            detail = f"pid {rec.pid} {how}; restart {count} of {svc.max_restarts} in {delay:.1f} s ({svc.restart})"
            self._emit(ServiceEvent(time.time(), name, "restarting", detail, log_tail=tail))
            return
        limit = f"; max_restarts ({svc.max_restarts}) reached" if takes_it else ""
        self._emit(ServiceEvent(time.time(), name, "died", f"pid {rec.pid} {how}{limit}", fails=True, log_tail=tail))

    def _do_restart(self, name: str, rec: ProcessEntry) -> None:
        try:
            self._restart(name)
            new = self._entries().get(name)
            if new is not None and new.pid != rec.pid:  # said now: the tests may end before the next tick
                self._check(name, new, {})
        except Exception as exc:
            self._seen[name].restart_at = None
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            tail = log_tail(rec.log, TAIL).splitlines()
            self._emit(ServiceEvent(time.time(), name, "died", f"restart failed: {first}", fails=True, log_tail=tail))

    def _live_probe(self, name: str, rec: ProcessEntry, seen: _Seen) -> None:
        live = self._settings(name).liveness
        seen.next_probe = time.monotonic() + self._interval(name)
        if live is None:
            return
        reason = self._probe(name, rec)
        if reason is None:
            if seen.misses >= live.failures:
                self._emit(ServiceEvent(time.time(), name, "recovered", "its probe passes again"))
            seen.misses = 0
            return
        seen.misses += 1
        if seen.misses == live.failures:
            detail = f"its probe failed {live.failures} times in a row ({live.interval:g} s apart): {reason}"
            tail = log_tail(rec.log, TAIL).splitlines()
            excuse = self._excuse(name)
            if excuse:  # a dependency was stopped or restarted on purpose: expected, recorded
                said = f"{detail} ({excuse})"
                self._emit(ServiceEvent(time.time(), name, "unhealthy", said, intended=True, log_tail=tail))
            else:
                self._emit(ServiceEvent(time.time(), name, "unhealthy", detail, fails=True, log_tail=tail))

    def _excuse(self, name: str) -> str:
        """Why failing probes of ``name`` are expected now: a dependency down or just back, or ''."""
        now = time.monotonic()
        for dep in sorted(self._depends_on(name)):
            until = self._disrupted.get(dep)
            if until is not None and now < until:
                state = "is stopped" if until == float("inf") else "was restarted moments ago"
                return f"its dependency {dep} {state}"
        return ""

    def _sample(self, entries: dict[str, ProcessEntry]) -> None:
        for name in self.services:
            rec = entries.get(name)
            if rec is not None and is_running(rec):
                reading = self._sampler.sample(rec.pid)
                if reading is not None:
                    self.usage[name].add(*reading)

    # -- events ----------------------------------------------------------------------------------
    def attribute(self) -> None:
        """Name in each event the tests that were running when it happened (from the timelines the
        pytest processes left; a process killed outright left none)."""
        spans: list[tuple[str, float, float]] = []
        for part in sorted(self.run_dir.glob(TIMELINE_PARTS)):
            try:
                spans += [
                    (str(n), float(a), float(b) if b is not None else float("inf"))
                    for n, a, b in json.loads(part.read_text())
                ]
            except (OSError, ValueError, TypeError):
                continue
        for event in self.events:
            event.tests = [nodeid for nodeid, start, stop in spans if start <= event.time <= stop]

    def _emit(self, event: ServiceEvent) -> None:
        self.events.append(event)
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(event.to_json() + "\n")
