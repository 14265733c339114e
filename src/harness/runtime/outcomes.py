"""What orchestration operations return: typed stop and status reports.

Only the edges (the CLI, the record) turn these into text.
"""

from __future__ import annotations

from dataclasses import dataclass


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
