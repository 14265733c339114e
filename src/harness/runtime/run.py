"""One run of the orchestrator: what it started (for its teardown), its timeline, its cancel flag."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.host.processes import ProcessEntry
from harness.runtime.ledger import Ledger


@dataclass(frozen=True)
class Stage:
    """One node's part of a run, for the results timeline."""

    name: str
    status: str
    start_offset: float
    duration: float
    detail: str = ""


@dataclass
class Timeline:
    started: float = field(default_factory=time.monotonic)
    stages: list[Stage] = field(default_factory=list)

    def add(self, name: str, status: str, t0: float, detail: str = "") -> None:
        now = time.monotonic()
        self.stages.append(Stage(name, status, round(t0 - self.started, 3), round(now - t0, 3), detail))

    def first_failed(self) -> str | None:
        return next((s.name for s in self.stages if s.status == "failed"), None)


@dataclass
class Run:
    """What one session has started, and its timeline; the orchestrator adds to both."""

    token: str = ""
    timeline: Timeline = field(default_factory=Timeline)
    started: list[str] = field(default_factory=list)
    cancel: threading.Event = field(default_factory=threading.Event)
    fresh: bool = False  # data steps restore their snapshot even when up to date (--fresh)
    _mutex: threading.Lock = field(default_factory=threading.Lock)

    def started_one(self, name: str) -> None:
        with self._mutex:
            self.started.append(name)


class RunEntries:
    """A run's processes go into the ledger (for reaping) and the run's list (for its teardown)."""

    def __init__(self, ledger: Ledger, run: Run) -> None:
        self.ledger, self.run = ledger, run

    def add(self, entry: ProcessEntry) -> None:
        self.ledger.add(entry)
        self.run.started_one(entry.name)

    def forget(self, name: str) -> None:
        self.ledger.forget(name)
