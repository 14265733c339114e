"""Bringing an instance's stack up, checking it, and taking it down.

``up`` runs the dependency graph of the requested nodes, independent branches in parallel. Its
``try/finally`` is the cleanup trap: a failure, Ctrl-C or SIGTERM stops everything this run
started (unless ``keep_on_failure``). Processes are recorded in the state file as they spawn,
so a harness killed with SIGKILL is cleaned up by the next ``up``, ``down`` or ``status``.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import psutil
from rich.console import Console

from harness.config import ContainerService, closure
from harness.environment import (
    Instance,
    derive_env,
    node_cwd,
    node_env,
    service_views,
)
from harness.errors import HarnessError, Interrupted, PortInUseError, ServiceFailed
from harness.graph import run_graph
from harness.kinds import KINDS, Kind, LaunchContext
from harness.kinds.container import ContainerKind
from harness.kinds.xvfb import display_holder
from harness.ports import port_free, port_holder
from harness.probes import wait_ready
from harness.processes import (
    describe,
    is_running,
    marked_processes,
    members_of,
    owner_marker,
    record_for,
    spawn,
    stop_processes,
    stop_record,
    stop_signalled,
)
from harness.state import InstanceLock, ProcRecord, State, StateStore
from harness.steps import run_step
from harness.ui import Progress

HEALTH_TIMEOUT = 3.0


@dataclass
class Stage:
    """One node's part of a run, for the results timeline."""

    name: str
    status: str
    start_offset: float
    duration: float
    detail: str = ""


@dataclass
class RunTimeline:
    started: float = field(default_factory=time.monotonic)
    stages: list[Stage] = field(default_factory=list)

    def add(self, name: str, status: str, t0: float, detail: str = "") -> None:
        now = time.monotonic()
        self.stages.append(Stage(name, status, round(t0 - self.started, 3), round(now - t0, 3), detail))


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C so the cleanup trap runs for both."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Harness:
    """Operations on one instance of one stack."""

    def __init__(self, inst: Instance, console: Console | None = None) -> None:
        self.inst = inst
        self.stack = inst.stack
        self.console = console or Console(stderr=True)
        self.store = StateStore(inst.state_dir)
        self.lock = InstanceLock(inst.state_dir, inst.number)
        self.marker_prefix = owner_marker(inst.state_dir, "")
        self.timeline = RunTimeline()
        self._state_lock = threading.Lock()
        self._state = State()
        self._started: list[str] = []

    # -- environment -------------------------------------------------------------------------
    def env(self) -> dict[str, str]:
        """The harness's own environment, ``.env``, and the derived stack environment."""
        from harness.config import dotenv_values_for

        base = {**dotenv_values_for(self.stack.root), **os.environ}
        base.pop("HARNESS_OWNER", None)
        base.update(derive_env(self.inst))
        return base

    def context(self, name: str, env: dict[str, str] | None = None) -> LaunchContext:
        env = node_env(self.inst, name, env or self.env())
        return LaunchContext(
            self.inst,
            name,
            self.stack.services[name],
            service_views(self.inst)[name],
            env,
            node_cwd(self.inst, name),
            self.inst.log_path(name),
        )

    @functools.cached_property
    def backend(self) -> str:
        """``native`` or ``docker``, chosen once per Harness (asking the engine takes a moment)."""
        from harness.backends import select_backend

        return select_backend(self.stack)

    def kind(self, name: str) -> Kind:
        """How ``name`` is started and probed: its kind, in a container under the docker backend."""
        svc = self.stack.services[name]
        if isinstance(svc, ContainerService) and self.backend == "docker":
            return ContainerKind(KINDS[svc.kind])
        return KINDS[svc.kind]

    def fingerprint(self, name: str) -> str:
        """What a running service was started from: its definition and the derived environment.

        A service whose fingerprint changed (stack.toml edited, a port moved) is restarted by the
        next ``up`` instead of being kept with stale settings.
        """
        node = self.stack.node(name)
        parts: list[Any] = [node.model_dump(mode="json"), derive_env(self.inst)]
        if isinstance(node, ContainerService) and self.backend == "docker":
            parts.append("docker")  # a native server is replaced by a container, and back
        data = json.dumps(parts, sort_keys=True)
        return hashlib.sha256(data.encode()).hexdigest()[:16]

    # -- state -------------------------------------------------------------------------------
    def _record(self, rec: ProcRecord) -> None:
        with self._state_lock:
            self._state.processes[rec.name] = rec
            self.store.save(self._state)

    def _forget(self, name: str) -> None:
        with self._state_lock:
            self._state.processes.pop(name, None)
            self.store.save(self._state)

    def _reap_crashed(self, state: State) -> list[str]:
        """Stop what a harness that died mid-run left behind; returns what was stopped."""
        if state.complete or state.owner_alive():
            return []
        reaped = self._stop_all(state)
        state.processes.clear()
        state.complete = True
        self.store.save(state)
        if reaped:
            self.console.print(
                f"[yellow]reaped {len(reaped)} process(es) left by a harness run that was killed "
                f"(pid {state.owner_pid}):[/yellow] " + ", ".join(reaped)
            )
        return reaped

    def _stop_all(self, state: State) -> list[str]:
        return self._stop_records(list(state.processes.values()), self.marker_prefix, whole_instance=True)

    def _stop_records(
        self, records: Sequence[ProcRecord], marker_prefix: str, *, whole_instance: bool = False
    ) -> list[str]:
        """Stop dependents before what they depend on; services of one level stop together.

        Then their containers are removed, and anything still carrying ``marker_prefix`` in its
        environment (grandchildren that left their group) is stopped too.
        """
        stopped: list[str] = []
        for level in sorted({self._level(r.name) for r in records}, reverse=True):
            recs = [r for r in records if self._level(r.name) == level]
            owner = {}
            targets = []
            for rec in recs:
                for proc in members_of(rec):
                    owner[proc.pid] = rec.name
                    targets.append((proc, rec.stop_signal))
            grace = max((self._grace(r.name) for r in recs), default=5.0)
            stopped += [f"{owner[p.pid]} (pid {p.pid})" for p in stop_signalled(targets, grace)]
        stopped += self._remove_containers(records, whole_instance=whole_instance)
        for proc in stop_processes(marked_processes(marker_prefix), signal.SIGTERM, 5.0):
            stopped.append(f"stray pid {proc.pid}")
        return stopped

    def _stop_one(self, rec: ProcRecord) -> list[str]:
        stopped = [f"{rec.name} (pid {p.pid})" for p in stop_record(rec, self._grace(rec.name))]
        return stopped + self._remove_containers([rec])

    def _remove_containers(self, records: Sequence[ProcRecord], *, whole_instance: bool = False) -> list[str]:
        """A compose client stopped (or killed) may leave its container: remove it by label.

        ``whole_instance`` sweeps every compose project of the instance instead: also a container
        whose compose client was spawned but not yet recorded when the harness was killed.
        """
        targets = [tuple(r.containers.partition("/")[::2]) for r in records if r.containers]
        if not targets:
            return []
        from harness.compose import projects, remove_containers

        if whole_instance:
            targets = [(p, "") for p in projects(self.inst)]

        try:
            return [f"container {c}" for c in remove_containers([(p, s or None) for p, s in targets])]
        except Exception as exc:  # the engine went away: say what is left, do not fail the stop
            self.console.print(
                f"[yellow]could not remove the containers of compose project(s) "
                f"{', '.join(p for p, _ in targets)}: "
                f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}[/yellow]"
            )
            return []

    def _level(self, name: str) -> int:
        """Depth in the dependency graph: 0 for what depends on nothing (or is no longer declared)."""
        base = name.removeprefix("step:")
        if base not in self.stack.services and base not in self.stack.steps:
            return 0
        deps = [d for d in self.stack.deps(base)]
        return 1 + max((self._level(d) for d in deps), default=-1)

    def _grace(self, name: str) -> float:
        svc = self.stack.services.get(name)
        return svc.stop_timeout if svc is not None else 5.0

    @contextlib.contextmanager
    def _locked(self, what: str) -> Iterator[State]:
        self.lock.acquire(what)
        try:
            state = self.store.load()
            self._reap_crashed(state)
            self._state = state
            yield state
        finally:
            self.lock.release()

    # -- up ----------------------------------------------------------------------------------
    def up(self, names: Sequence[str], *, keep_on_failure: bool = False, what: str = "up") -> None:
        """Bring ``names`` and their dependencies up; on any failure stop what this run started."""
        nodes = closure(self.stack, list(names))
        backend = self.backend  # before anything is recorded: a refused backend starts nothing
        with self._locked(what) as state, sigterm_as_interrupt():
            me = psutil.Process()
            state.owner_pid, state.owner_create_time = me.pid, me.create_time()
            state.complete = False
            state.run_token = uuid.uuid4().hex[:12]
            self.store.save(state)
            cancel = threading.Event()
            title = f"{self.stack.stack.name} (instance {self.inst.number}, {backend} backend): {what}"
            ok = False
            try:
                self.inst.log_dir.mkdir(parents=True, exist_ok=True)
                env = self.env()
                running = {n for n in nodes if n in state.processes and is_running(state.processes[n])}
                self._check_ports([n for n in nodes if n in self.stack.services and n not in running])
                with Progress(self.console, nodes, title) as progress:
                    run_graph(
                        {n: [d for d in self.stack.deps(n) if d in nodes] for n in nodes},
                        lambda n: self._bring_up(n, env, progress, cancel, n in running),
                        cancel=cancel,
                    )
                ok = True
            except KeyboardInterrupt:
                cancel.set()
                raise Interrupted(f"{what} interrupted; stopped what it had started") from None
            finally:
                if not ok and not keep_on_failure:
                    self._cleanup()
                elif not ok:
                    self.console.print(
                        "[yellow]--keep-on-failure: leaving started services up for "
                        "debugging; `invoke down` stops them[/yellow]"
                    )
                with self._state_lock:
                    state.complete = True
                    self.store.save(state)

    def _cleanup(self) -> None:
        """The trap: stop every process this run started, dependents first."""
        with self._state_lock:
            names = set(self._started)
        records = [r for n, r in self._state.processes.items() if n in names]
        self._stop_records(records, owner_marker(self.inst.state_dir, self._state.run_token))
        for name in names:
            self._forget(name)

    def stop_started(self) -> list[str]:
        """Stop what this Harness started (a suite's teardown); what was already up stays up."""
        with self._locked("teardown") as state:
            names = set(self._started)
            records = [r for n, r in state.processes.items() if n in names]
            stopped = self._stop_records(records, owner_marker(self.inst.state_dir, state.run_token))
            for name in names:
                state.processes.pop(name, None)
            self.store.save(state)
        return stopped

    def preexisting(self) -> list[str]:
        """Recorded, running services this Harness did not start."""
        state = self.store.load()
        return [n for n, r in state.processes.items() if n not in self._started and is_running(r)]

    def _check_ports(self, services: Sequence[str]) -> None:
        """Every port of every service about to start must be free; name the holder if not."""
        views = service_views(self.inst)
        for name in services:
            v = views[name]
            ports = [p for p in [v.port, *vars(v.ports).values()] if p is not None]
            for port in ports:
                if not port_free(port, v.host):
                    pid = port_holder(port)
                    who = describe(pid) if pid else "a process this user cannot see"
                    raise PortInUseError(
                        f"{name}: port {port} is already in use by {who}, which this harness did not "
                        f"start; stop it, or run on another instance (--instance N)"
                    )
            if v.kind == "xvfb":
                pid = display_holder(v.display_number)
                if pid is not None:
                    raise PortInUseError(
                        f"{name}: display :{v.display_number} is already held by {describe(pid)} "
                        f"(/tmp/.X{v.display_number}-lock); stop it or use another instance"
                    )

    def _bring_up(
        self, name: str, env: dict[str, str], progress: Progress, cancel: threading.Event, already: bool
    ) -> None:
        if cancel.is_set():
            progress.update(name, "cancelled")
            return
        t0 = time.monotonic()
        try:
            if name in self.stack.steps:
                outcome = self._run_step(name, env, progress, cancel)
                progress.update(name, outcome)
                self.timeline.add(name, "ok", t0, outcome)
                return
            if already:
                ctx = self.context(name, env)
                probe = self.kind(name).probe(ctx)
                rec = self._state.processes[name]
                current = rec.fingerprint == self.fingerprint(name)
                if current and (probe is None or probe.check(HEALTH_TIMEOUT) is None):
                    progress.update(name, "already running", f"pid {rec.pid}")
                    self.timeline.add(name, "ok", t0, "already running")
                    return
                # Started from other settings, or alive but not answering: replace it.
                progress.update(name, "restarting", "settings changed" if not current else "not healthy")
                self._stop_one(rec)
                self._forget(name)
                self._check_ports([name])
            self._start_service(name, env, progress, cancel)
            self.timeline.add(name, "ok", t0)
        except Interrupted:
            progress.update(name, "cancelled")
            self.timeline.add(name, "cancelled", t0)
            raise
        except Exception as exc:
            first = (str(exc).splitlines() or [type(exc).__name__])[0]
            progress.update(name, "failed", first[:120])
            self.timeline.add(name, "failed", t0, first)
            if isinstance(exc, HarnessError):
                raise
            # OSError, a driver's error...: still this service's failure, said without a traceback.
            raise ServiceFailed(name, f"{type(exc).__name__}: {exc}") from exc

    def _start_service(self, name: str, env: dict[str, str], progress: Progress, cancel: threading.Event) -> None:
        ctx = self.context(name, env)
        kind = self.kind(name)
        progress.update(name, "starting")
        launch = kind.launch(ctx)
        if cancel.is_set():
            raise Interrupted(f"{name}: cancelled before start")
        try:
            proc = spawn(
                launch.argv,
                env=ctx.env,
                cwd=ctx.cwd,
                log_path=ctx.log_path,
                marker=owner_marker(self.inst.state_dir, self._state.run_token),
                user=launch.user,
                pass_fds=launch.pass_fds,
            )
        except OSError as exc:
            raise ServiceFailed(name, f"cannot start `{' '.join(launch.argv)}`: {exc.strerror or exc}") from None
        finally:
            launch.after_spawn()
        rec = record_for(
            name,
            proc,
            launch.argv,
            ctx.log_path,
            ctx.view.url,
            launch.stop_signal,
            self.fingerprint(name),
            launch.containers,
        )
        self._record(rec)
        with self._state_lock:
            self._started.append(name)
        progress.update(name, "waiting", f"pid {proc.pid}")
        probe = launch.startup_probe or kind.probe(ctx)
        timeout = ctx.svc.start_timeout or (ctx.svc.ready.timeout if getattr(ctx.svc, "ready", None) else 60.0)
        deadline = time.monotonic() + timeout

        def alive() -> bool:
            return proc.poll() is None

        if probe is not None:
            wait_ready(
                name, probe, timeout=timeout, alive=alive, pid=proc.pid, log_path=str(ctx.log_path), cancel=cancel
            )
        kind.after_ready(ctx)
        full = kind.probe(ctx)
        if full is not None and full is not probe and launch.startup_probe is not None:
            wait_ready(
                name,
                full,
                timeout=max(1.0, deadline - time.monotonic()),
                alive=alive,
                pid=proc.pid,
                log_path=str(ctx.log_path),
                cancel=cancel,
            )
        progress.update(name, "ready", f"pid {proc.pid}")

    def _run_step(self, name: str, env: dict[str, str], progress: Progress, cancel: threading.Event) -> str:
        progress.update(name, "running")
        step_env = node_env(self.inst, name, env)
        key = f"step:{name}"

        def on_spawn(proc: subprocess.Popen[bytes], argv: list[str]) -> None:
            self._record(record_for(key, proc, argv, self.inst.log_path(name)))
            with self._state_lock:
                self._started.append(key)

        try:
            outcome, digest = run_step(
                self.inst,
                name,
                env=step_env,
                cwd=node_cwd(self.inst, name),
                cached_digest=self._state.step_hashes.get(name),
                cancel=cancel,
                on_spawn=on_spawn,
                marker=owner_marker(self.inst.state_dir, self._state.run_token),
            )
        finally:
            rec = self._state.processes.get(key)
            if rec is not None and is_running(rec):
                stop_record(rec, 5.0)
            if rec is not None:
                self._forget(key)
        if digest:
            with self._state_lock:
                self._state.step_hashes[name] = digest
                self.store.save(self._state)
        return outcome

    # -- down, stop ---------------------------------------------------------------------------
    def down(self, *, clean: bool = False) -> list[str]:
        """Stop every recorded process of the instance, dependents first, and any stray ones.

        ``clean`` also deletes the instance's data (databases, Temporal history, workspaces), so
        the next ``up`` starts from nothing; step caches and the lock are kept.
        """
        with self._locked("down") as state:
            stopped = self._stop_all(state)
            state.processes.clear()
            state.complete = True
            self.store.save(state)
            if clean:
                stopped += self._remove_volumes()
                for entry in self.inst.state_dir.iterdir():
                    if entry.name not in ("lock", "state.json"):
                        if entry.is_dir():
                            shutil.rmtree(entry)
                        else:
                            entry.unlink()
        return stopped

    def _remove_volumes(self) -> list[str]:
        """The docker backend keeps data in the compose project's volumes; ``--clean`` drops them."""
        if not self.stack.stack.compose_file or self.backend != "docker":
            return []
        from harness.compose import projects, remove_containers, remove_volumes

        removed = [f"container {c}" for c in remove_containers([(p, None) for p in projects(self.inst)], settle=0)]
        for project in projects(self.inst):
            removed += [f"volume {v}" for v in remove_volumes(project)]
        return removed

    def stop(self, names: Sequence[str]) -> list[str]:
        """Stop some services only (e.g. Temporal, to test how the rest copes)."""
        unknown = [n for n in names if n not in self.stack.services]
        if unknown:
            raise HarnessError(f"unknown service(s) {', '.join(unknown)} (known: {', '.join(self.stack.services)})")
        stopped = []
        with self._locked("stop") as state:
            for name in names:
                rec = state.processes.pop(name, None)
                if rec is not None:
                    stopped += self._stop_one(rec)
            self.store.save(state)
        return stopped

    # -- status, wait --------------------------------------------------------------------------
    def status(self, *, health: bool = True) -> list[dict[str, str]]:
        """One row per service: state, health, URL, pid, log; reaps a crashed run if it can."""
        try:
            with self._locked("status") as state:
                pass
            note = ""
        except HarnessError as exc:
            state, note = self.store.load(), str(exc)
        if note:
            self.console.print(f"[yellow]{note}[/yellow]")
        env = self.env()
        views = service_views(self.inst)

        def row(name: str) -> dict[str, str]:
            rec = state.processes.get(name)
            alive = rec is not None and is_running(rec)
            r = {
                "service": name,
                "url": views[name].url,
                "log": str(self.inst.log_path(name)),
                "pid": str(rec.pid) if alive and rec else "",
                "state": "running" if alive else ("exited" if rec else "stopped"),
            }
            if health:
                r["health"] = "-"
                if alive:
                    ctx = self.context(name, env)
                    probe = self.kind(name).probe(ctx)
                    reason = probe.check(HEALTH_TIMEOUT) if probe else None
                    r["health"] = "healthy" if reason is None else f"unhealthy: {reason}"[:80]
            return r

        with ThreadPoolExecutor(max_workers=8) as pool:
            return list(pool.map(row, self.stack.services))

    def wait(self, names: Sequence[str], timeout: float | None = None) -> dict[str, float]:
        """Probe running services until healthy (all share one deadline)."""
        state = self.store.load()
        env = self.env()
        services = [n for n in closure(self.stack, list(names)) if n in self.stack.services]
        missing = [n for n in services if n not in state.processes or not is_running(state.processes[n])]
        if missing:
            raise HarnessError(f"not running: {', '.join(missing)}; start them with `invoke up`")
        t_end = time.monotonic() + (timeout or 60.0)

        def one(name: str) -> float:
            ctx = self.context(name, env)
            probe = self.kind(name).probe(ctx)
            rec = state.processes[name]
            if probe is None:
                return 0.0
            return wait_ready(
                name,
                probe,
                timeout=max(0.5, t_end - time.monotonic()),
                alive=lambda: is_running(rec),
                pid=rec.pid,
                log_path=rec.log,
            )

        with ThreadPoolExecutor(max_workers=8) as pool:
            return dict(zip(services, pool.map(one, services), strict=True))

    def describe_up(self) -> list[dict[str, str]]:
        return self.status(health=False)


def stage_dicts(timeline: RunTimeline) -> list[dict[str, Any]]:
    return [vars(s) for s in timeline.stages]
