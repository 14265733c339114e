"""One supervised service: start, wait until ready, stop, running, healthy.

The kind says what to run and how to tell it is ready; the supervisor does the rest the same way
for every kind: its own process group, output to its log, the run's ``HARNESS_OWNER`` tag, an
entry in the ledger before any wait, readiness polled with the process's liveness checked on
every round, and a stop that escalates from the kind's signal to KILL.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from harness.docker.containers import parse_selector, remove_containers
from harness.errors import HarnessError, Interrupted, PortInUseError, ServiceFailed
from harness.host.ports import port_free, port_holder
from harness.host.probes import Probe, ProbeFailed, wait_ready
from harness.host.processes import ProcessEntry, describe, entry_for, is_running, spawn, stop_entry, wait_exit
from harness.kinds.base import HelperRunner, Kind, ServiceContext
from harness.runtime.outcomes import StopReport

HEALTH_TIMEOUT = 3.0
DEFAULT_GRACE = 5.0


class Entries(Protocol):
    """Where a run keeps what it started: the ledger, and the run's own list."""

    def add(self, entry: ProcessEntry) -> None: ...

    def forget(self, name: str) -> None: ...


class Supervisor(Protocol):
    """What the orchestrator needs of a service; real processes or, in unit tests, fakes."""

    name: str
    fingerprint: str  # what it is (to be) started from; a running one that differs is replaced

    def pre_start(self) -> None: ...

    def start(self, owner: str, entries: Entries, cancel: threading.Event) -> None: ...

    def wait_ready(self, cancel: threading.Event) -> None: ...

    def stop(self) -> StopReport: ...

    def running(self) -> bool: ...

    def healthy(self, timeout: float = HEALTH_TIMEOUT) -> str | None: ...


@dataclass
class ServiceSupervisor:
    """A service of the plan (``kind`` and ``ctx`` given), or only an entry left by an earlier run."""

    name: str
    entry: ProcessEntry | None = None
    kind: Kind[Any, Any] | None = None
    ctx: ServiceContext[Any, Any] | None = None
    ports: tuple[int, ...] = ()
    fingerprint: str = ""
    grace: float = DEFAULT_GRACE
    startup: Probe | None = field(default=None, repr=False)  # set by start(): the launch's own probe
    note: str = ""  # set by start(): the launch's note for the record

    def _require(self) -> tuple[Kind[Any, Any], ServiceContext[Any, Any]]:
        if self.kind is None or self.ctx is None:
            raise HarnessError(f"{self.name}: no longer declared in the stack file; it can only be stopped")
        return self.kind, self.ctx

    def pre_start(self) -> None:
        """Every port must be free (the holder named if not), then the kind's own checks."""
        kind, ctx = self._require()
        host = ctx.endpoint.host
        for port in self.ports:
            if not port_free(port, host):
                pid = port_holder(port)
                who = describe(pid) if pid else "a process this user cannot see"
                raise PortInUseError(
                    f"{self.name}: port {port} is already in use by {who}, which this harness did not "
                    f"start; stop it, or run on another instance (--instance N)"
                )
        kind.pre_start(ctx)

    def start(self, owner: str, entries: Entries, cancel: threading.Event) -> None:
        kind, ctx = self._require()
        if not ctx.cwd.is_dir():
            raise ServiceFailed(self.name, f"its cwd {ctx.cwd} does not exist (services.{self.name}.cwd)")
        ctx = dataclasses.replace(ctx, owner=owner, helper=self._helper(ctx, owner, entries, cancel))
        launch = kind.launch(ctx)
        if cancel.is_set():
            raise Interrupted(f"{self.name}: cancelled before start")
        env = {**ctx.env, **launch.env}
        try:
            proc = spawn(
                launch.argv,
                env=env,
                cwd=ctx.cwd,
                log_path=ctx.log_path,
                owner=owner,
                user=launch.user,
                pass_fds=launch.pass_fds,
            )
        except OSError as exc:
            raise ServiceFailed(self.name, f"cannot start `{' '.join(launch.argv)}`: {exc.strerror or exc}") from None
        finally:
            launch.after_spawn()
        self.entry = entry_for(
            self.name,
            proc,
            launch.argv,
            ctx.log_path,
            ctx.endpoint.url,
            launch.stop_signal,
            self.fingerprint,
            launch.containers,
            owner,
        )
        entries.add(self.entry)
        self.startup = launch.startup_probe or kind.startup_probe(ctx)
        self.note = launch.note

    def _helper(
        self, ctx: ServiceContext[Any, Any], owner: str, entries: Entries, cancel: threading.Event
    ) -> HelperRunner:
        def run(argv: Sequence[str], *, user: str | None = None, timeout: float = 120.0) -> int:
            key = f"helper:{self.name}"
            proc = spawn(argv, env=ctx.env, cwd=ctx.data_dir, log_path=ctx.log_path, owner=owner, user=user)
            rec = entry_for(key, proc, argv, ctx.log_path, owner=owner)
            entries.add(rec)
            try:
                if not wait_exit(proc, timeout, cancel, f"{self.name}: {argv[0]}"):
                    raise ServiceFailed(self.name, f"`{' '.join(argv)}` did not finish within {timeout:.0f} s")
                return int(proc.returncode)
            finally:
                if proc.poll() is None:
                    stop_entry(rec, DEFAULT_GRACE)
                entries.forget(key)

        return run

    def wait_ready(self, cancel: threading.Event) -> None:
        """The startup probe, the kind's set-up, then the full probe, under one deadline."""
        kind, ctx = self._require()
        entry = self.entry
        assert entry is not None, "start() first"
        full = kind.probe(ctx)
        first = self.startup or full
        timeout = kind.start_timeout(ctx.svc)
        deadline = time.monotonic() + timeout

        def wait(probe: Probe, seconds: float, passes: int = 1) -> None:
            wait_ready(
                self.name,
                probe,
                timeout=seconds,
                alive=self.running,
                pid=entry.pid,
                log_path=entry.log,
                cancel=cancel,
                passes=passes,
            )

        passes = kind.ready_passes(ctx.svc)
        if first is not None:
            wait(first, timeout, passes if first is full else 1)
        kind.after_ready(ctx)
        if full is not None and first is not full:
            wait(full, max(1.0, deadline - time.monotonic()), passes)

    def stop(self) -> StopReport:
        if self.entry is None:
            return StopReport()
        processes = tuple(f"{self.name} (pid {p.pid})" for p in stop_entry(self.entry, self.grace))
        containers: tuple[str, ...] = ()
        if self.entry.containers:
            removed = remove_containers([parse_selector(self.entry.containers)])
            containers = tuple(f"container {c}" for c in removed)
        return StopReport(processes, containers=containers)

    def running(self) -> bool:
        return self.entry is not None and is_running(self.entry)

    def healthy(self, timeout: float = HEALTH_TIMEOUT) -> str | None:
        kind, ctx = self._require()
        probe = kind.probe(ctx)
        try:
            return probe.check(timeout) if probe is not None else None
        except ProbeFailed as exc:
            return str(exc)
