"""What orchestration returns: a run's timeline, what it started, and typed stop and status reports.

Only the edges (the CLI, the record) turn these into text.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from harness.ledger import Ledger
from harness.processes import ProcRecord


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


@dataclass(frozen=True)
class StopReport:
    processes: tuple[str, ...] = ()  # "api (pid 4242)"
    strays: tuple[str, ...] = ()  # marked processes that had left their group
    containers: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    without_state: str | None = None  # why the state file could not be used, when it could not

    def __add__(self, other: StopReport) -> StopReport:
        return StopReport(
            self.processes + other.processes,
            self.strays + other.strays,
            self.containers + other.containers,
            self.volumes + other.volumes,
            self.without_state or other.without_state,
        )

    @property
    def items(self) -> list[str]:
        return [*self.processes, *(f"stray pid {p}" for p in self.strays), *self.containers, *self.volumes]


@dataclass(frozen=True)
class StatusRow:
    service: str
    state: str  # running, exited, stopped, unknown
    url: str
    log: str
    pid: str = ""
    health: str = "-"
    cpu: str = ""  # CPU % of its process tree now
    memory: str = ""  # resident MiB of its process tree now
    restarts: int = 0  # by its restart policy, during the current run


class RunRecorder:
    """A run's processes go into the ledger (for reaping) and the run's list (for its teardown)."""

    def __init__(self, ledger: Ledger, run: Run) -> None:
        self.ledger, self.run = ledger, run

    def record(self, rec: ProcRecord) -> None:
        self.ledger.record(rec)
        self.run.started_one(rec.name)

    def forget(self, name: str) -> None:
        self.ledger.forget(name)
