"""up, down and stop over the dependency graph, with the cleanup trap.

``up`` runs the graph of the requested nodes, independent branches in parallel; its
``try/finally`` is the trap: a failure or Ctrl-C stops everything the run started (unless
``keep_on_failure``). Stopping goes dependents first: each service as soon as what depends on
it has stopped. Every operation returns data (:class:`StopReport`); only the CLI makes text.
Looking without changing anything (status, wait) is ``inspection.py``.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import Any

from rich.console import Console

from harness.config.checks import inside
from harness.docker.compose import Compose
from harness.errors import HarnessError, Interrupted, ServiceFailed, command_hint
from harness.host import cgroups
from harness.host.processes import ProcessEntry, is_running, owner_tag, stop_processes, tagged_processes
from harness.host.users import remove_data
from harness.kinds.base import Kind
from harness.runtime.backend import (
    ContainerKind,
    InstanceContainers,
    compose_of,
    instance_containers,
    select_backend,
)
from harness.runtime.ledger import KEPT, Ledger
from harness.runtime.lock import STAMP
from harness.runtime.outcomes import StopReport
from harness.runtime.parallel import run_graph
from harness.runtime.plan import Plan
from harness.runtime.progress import Progress
from harness.runtime.run import Run, RunEntries
from harness.runtime.steps import run_tracked_step
from harness.runtime.supervisor import DEFAULT_GRACE, ServiceSupervisor, Supervisor

SupervisorFactory = Callable[[str, "ProcessEntry | None"], Supervisor]


class Orchestrator:
    """Operations on one instance of one stack (its plan and its ledger)."""

    def __init__(
        self,
        plan: Plan,
        console: Console | None = None,
        *,
        ledger: Ledger | None = None,
        backend: str | None = None,
        supervise: SupervisorFactory | None = None,
    ) -> None:
        self.plan = plan
        self.console = console or Console(stderr=True)
        self.ledger = ledger or Ledger(plan.state_dir, plan.instance)
        self._backend = backend
        self._supervise = supervise
        self.instance_tag = owner_tag(plan.state_dir, "")

    # -- what runs each service -----------------------------------------------------------------
    @cached_property
    def backend(self) -> str:
        """``native`` or ``docker``, chosen once (asking the engine takes a moment)."""
        if self._backend is None:
            return select_backend(self.plan)
        return self._backend

    @cached_property
    def compose(self) -> Compose:
        return compose_of(self.plan)

    @property
    def on_engine(self) -> InstanceContainers:
        """What the instance has on the engine; when the backend cannot be chosen (no engine), that
        of its container nodes alone (stopping must not need an engine to say what it cannot do)."""
        try:
            backend = self.backend
        except HarnessError:
            backend = "native"
        return instance_containers(self.plan, backend)

    def kind(self, name: str) -> Kind[Any, Any]:
        """How ``name`` is started and probed: its kind, in a container under the docker backend."""
        kind = self.plan.node(name).kind
        if kind.containerised and self.backend == "docker":
            return ContainerKind(kind, self.compose)
        return kind

    def supervisor(self, name: str, record: ProcessEntry | None = None) -> Supervisor:
        if self._supervise is not None:
            return self._supervise(name, record)
        node = self.plan.nodes.get(name)
        if node is None or not node.is_service:  # a step's process, or a service no longer declared
            return ServiceSupervisor(name, record)
        containerised = node.kind.containerised and self.backend == "docker"
        return ServiceSupervisor(
            name,
            record,
            self.kind(name),
            self.plan.context(name),
            tuple(node.ports),
            node.fingerprint + ("-docker" if containerised else ""),
            getattr(node.model, "stop_timeout", DEFAULT_GRACE),
        )

    # -- up ------------------------------------------------------------------------------------
    def up(self, run: Run, names: Sequence[str], *, title: str, keep_on_failure: bool = False) -> None:
        """Bring ``names`` and their dependencies up; on any failure stop what ``run`` started."""
        nodes = self.plan.closure(names)
        entries = self.ledger.entries()
        running = {n for n in nodes if n in entries and self.supervisor(n, entries[n]).running()}
        if run.fresh:  # what uses a data step's result starts again after the restore
            steps = [n for n in nodes if getattr(self.plan.node(n).model, "snapshot", None)]
            users = sorted(n for n in running if any(s in self.plan.closure([n]) for s in steps))
            running -= set(users)
            self.stop(users)
        ok = False
        try:
            self.plan.log_dir.mkdir(parents=True, exist_ok=True)
            for name in nodes:
                if self.plan.node(name).is_service and name not in running:
                    self.supervisor(name).pre_start()
            with Progress(self.console, nodes, title) as progress:
                run_graph(
                    {n: [d for d in self.plan.node(n).deps if d in nodes] for n in nodes},
                    lambda n: self._bring_up(run, n, progress, entries.get(n) if n in running else None),
                    cancel=run.cancel,
                )
            ok = True
        except KeyboardInterrupt:
            run.cancel.set()
            raise Interrupted(f"{title} interrupted; stopped what it had started") from None
        finally:
            if not ok and not keep_on_failure:
                self.teardown(run)
            elif not ok:
                self.console.print(
                    "[yellow]--keep-on-failure: leaving started services up for debugging; "
                    f"{command_hint('down', self.plan.instance)} stops them[/yellow]"
                )

    def _bring_up(self, run: Run, name: str, progress: Progress, existing: ProcessEntry | None) -> None:
        if run.cancel.is_set():
            progress.update(name, "cancelled")
            return
        t0 = time.monotonic()
        try:
            if not self.plan.node(name).is_service:
                progress.update(name, "running")
                target = getattr(self.plan.node(name).model, "snapshot", None)
                outcome = run_tracked_step(
                    self.plan.node(name),
                    self.plan.root,
                    self.ledger,
                    add_entry=RunEntries(self.ledger, run).add,
                    cancel=run.cancel,
                    owner=owner_tag(self.plan.state_dir, run.token),
                    data=self.kind(target).snapshots(self.plan.context(target)) if target else None,
                    fresh=run.fresh,
                    no_cache=self.plan.settings.no_cache,
                )
                progress.update(name, outcome)
                run.timeline.add(name, "ok", t0, outcome)
                return
            sup = self.supervisor(name, existing)
            if existing is not None:
                current = existing.fingerprint == sup.fingerprint
                if current and sup.healthy() is None:
                    progress.update(name, "already running", f"pid {existing.pid}")
                    run.timeline.add(name, "ok", t0, "already running")
                    return
                # Started from other settings, or alive but not answering: replace it.
                progress.update(name, "restarting", "settings changed" if not current else "not healthy")
                self.ledger.intend_stop(name)
                sup.stop()
                self.ledger.forget(name)
                sup = self.supervisor(name)
                sup.pre_start()
            progress.update(name, "starting")
            sup.start(owner_tag(self.plan.state_dir, run.token), RunEntries(self.ledger, run), run.cancel)
            progress.update(name, "waiting")
            sup.wait_ready(run.cancel)
            progress.update(name, "ready", note := getattr(sup, "note", ""))  # how its data was made
            run.timeline.add(name, "ok", t0, note)
        except Interrupted:
            progress.update(name, "cancelled")
            run.timeline.add(name, "cancelled", t0)
            raise
        except Exception as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            progress.update(name, "failed", first[:120])
            run.timeline.add(name, "failed", t0, first)
            if isinstance(exc, HarnessError):
                raise
            # OSError, a driver's error...: still this service's failure, said without a traceback.
            raise ServiceFailed(name, f"{type(exc).__name__}: {exc}") from exc

    def stop_entries(self, entries: Sequence[ProcessEntry], owner: str, *, whole_instance: bool = False) -> StopReport:
        """Each service stops as soon as everything that depends on it has stopped, side by side.

        Then anything still carrying ``owner`` in its environment (grandchildren that left their
        group) is stopped, and under ``whole_instance`` every container of the instance is swept
        (also one created but not yet recorded, when its harness was killed in between).
        """
        by_name = {r.name: r for r in entries}
        node = {n: n.removeprefix("step:") for n in by_name}
        depends = {n: set(self.plan.closure([node[n]])) for n in by_name if node[n] in self.plan.nodes}
        dependents = {n: [d for d in by_name if d != n and node[n] in depends.get(d, ())] for n in by_name}
        reports: list[StopReport] = []
        run_graph(dependents, lambda n: reports.append(self.supervisor(n, by_name[n]).stop()), cancel=threading.Event())
        report = sum(reports, StopReport())
        on_engine = self.on_engine
        if whole_instance and (on_engine.state or (on_engine.projects and any(r.containers for r in entries))):
            report += StopReport(containers=tuple(on_engine.sweep(self.console)))
        strays = tuple(str(p.pid) for p in stop_processes(tagged_processes(owner), signal.SIGTERM, DEFAULT_GRACE))
        cgroups.prune(owner)
        return report + StopReport(strays=strays)

    def teardown(self, run: Run) -> StopReport:
        """The trap, and a suite's teardown: stop what ``run`` started; what was up before stays up."""
        names = set(run.started)
        entries = [r for n, r in self.ledger.entries().items() if n in names]
        report = self.stop_entries(entries, owner_tag(self.plan.state_dir, run.token))
        self.ledger.forget(*names)
        return report

    def reap(self, *, unreadable_too: bool = True) -> StopReport | None:
        """Clean up after a harness killed mid-run (or an unreadable state file); None if nothing to do."""
        problem = self.ledger.problem
        if problem is not None and not unreadable_too:
            return None

        def stop(entries: list[ProcessEntry], token: str, whole: bool) -> StopReport:
            owner = self.instance_tag if whole or not token else owner_tag(self.plan.state_dir, token)
            return self.stop_entries(entries, owner, whole_instance=whole)

        report = self.ledger.reap(stop)
        if report is not None and problem is not None:
            return report + StopReport(without_state=problem)
        return report

    def down(self, *, clean: bool = False) -> StopReport:
        """Stop every process of the instance, dependents first, and any stray ones.

        ``clean`` also deletes the instance's data (databases, Temporal history, workspaces), so
        the next ``up`` starts from nothing; the lock and the caches of steps with ``outputs`` are
        kept (a step without outputs, such as a migration, runs again).
        """
        problem = self.ledger.problem
        entries = list(self.ledger.entries().values())
        report = self.stop_entries(entries, self.instance_tag, whole_instance=True)
        if problem is not None:
            report += StopReport(without_state=problem, containers=tuple(self.on_engine.sweep(self.console)))
        self.ledger.forget(*[r.name for r in entries])
        self.ledger.finish_run()
        if clean:
            report += StopReport(volumes=tuple(self.on_engine.remove_data()))
            if not (self.plan.state_dir / STAMP).exists() and not inside(self.plan.root, str(self.plan.state_dir)):
                raise HarnessError(
                    f"down --clean: {self.plan.state_dir} is outside the project and has no {STAMP} file, so the "
                    "harness did not create it; it deletes nothing there (remove what you mean to by hand)"
                )
            for entry in self.plan.state_dir.iterdir():
                if entry.name not in KEPT:
                    remove_data(entry)
            # A step without outputs left its result only in the data just deleted (migrations).
            data_steps = [n for n, node in self.plan.nodes.items() if not getattr(node.model, "outputs", True)]
            self.ledger.forget_step_hashes(*data_steps)
        return report

    def stop(self, names: Sequence[str]) -> StopReport:
        """Stop some services only (e.g. Temporal, to test how the rest copes)."""
        unknown = [n for n in names if n not in self.plan.services]
        if unknown:
            raise HarnessError(f"unknown service(s) {', '.join(unknown)} (known: {', '.join(self.plan.services)})")
        entries = self.ledger.entries()
        report = StopReport()
        self.ledger.intend_stop(*[n for n in names if n in entries])  # a watching suite sees it was asked for
        for name in names:
            if name in entries:
                report += self.supervisor(name, entries[name]).stop()
        self.ledger.forget(*names)
        return report

    def preexisting(self, run: Run) -> list[str]:
        """Recorded, running services ``run`` did not start."""
        return [n for n, r in self.ledger.entries().items() if n not in run.started and is_running(r)]
