"""Starting and stopping supervised processes, one process group each.

Every child starts in a new session (so its group can be signalled as a whole), writes to a log
file rather than a pipe nobody reads, and carries ``HARNESS_OWNER`` in its environment so that
grandchildren which left the group can still be found. Stopping is TERM (or the service's own
signal) to the group, a grace period, KILL, and a wait until every member is gone.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil

from harness.config.settings import OWNER_VAR
from harness.errors import Interrupted
from harness.host import cgroups

TAIL_LINES = 30


@dataclass(frozen=True)
class ProcessEntry:
    """What the ledger keeps of one started process: enough to find and stop it later."""

    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    started_at: float
    url: str = ""
    stop_signal: int = 15
    fingerprint: str = ""
    containers: str = ""  # the labels of its containers (docker/containers.py), removed once it has stopped
    owner: str = ""  # the HARNESS_OWNER tag it was started with: it is ours only while it carries it


def same_process(pid: int, create_time: float) -> bool:
    """True when ``pid`` is still the process we recorded (not a recycled pid)."""
    try:
        proc = psutil.Process(pid)
        return bool(abs(proc.create_time() - create_time) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


def carries(pid: int, owner: str) -> bool:
    """``pid`` carries ``owner`` (a run's tag, or ``<state dir>#``): in its environment, or in its cgroup.

    A pid and start time alone can be copied from ``ps`` into a forged state file; a process of
    someone else's does not carry our marker.
    """
    if not owner:
        return False
    try:
        environ: dict[str, str] | None = psutil.Process(pid).environ()
    except (psutil.Error, OSError):
        environ = None
    if environ and environ.get(OWNER_VAR, "").startswith(owner):
        return True
    if pid in cgroups.members(owner):
        return True
    # A server that wipes its environment to set its process title (redis-server does) cannot
    # show the marker; where no cgroup can say, the session of its own that spawn() gave it stands in.
    try:
        return environ == {} and cgroups.hierarchy() is None and os.getsid(pid) == pid
    except OSError:
        return False


def owner_tag(state_dir: Path, run_token: str) -> str:
    """The ``HARNESS_OWNER`` value of a run's processes; ``<state dir>#`` alone tags the whole instance."""
    return f"{state_dir}#{run_token}"


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: Path,
    log_path: Path,
    owner: str,
    user: str | None = None,
    pass_fds: Sequence[int] = (),
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in its own session with output appended to ``log_path``."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    child_env = {k: v for k, v in env.items() if k != OWNER_VAR}
    child_env[OWNER_VAR] = owner
    with open(log_path, "ab") as log:
        log.write(f"--- harness: starting {' '.join(argv)} at {time.strftime('%H:%M:%S')} ---\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            env=child_env,
            start_new_session=True,
            user=user,
            pass_fds=tuple(pass_fds),
        )
    # Into the run's cgroup (where the kernel offers one): what it forks stays findable even
    # after clearing its environment and leaving its session.
    if owner:
        cgroups.add(owner, proc.pid)
    return proc


def wait_exit(proc: subprocess.Popen[bytes], timeout: float, cancel: threading.Event, what: str) -> bool:
    """Wait for a one-shot process: True once it exited, False at the deadline.

    Raises :class:`Interrupted` as soon as ``cancel`` is set (the run is being torn down).
    """
    deadline = time.monotonic() + timeout
    while proc.poll() is None:
        if cancel.is_set():
            raise Interrupted(f"{what}: cancelled")
        if time.monotonic() > deadline:
            return False
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=0.05)
    return True


def entry_for(
    name: str,
    proc: subprocess.Popen[bytes],
    argv: Sequence[str],
    log_path: Path,
    url: str = "",
    stop_signal: int = signal.SIGTERM,
    fingerprint: str = "",
    containers: str = "",
    owner: str = "",
) -> ProcessEntry:
    try:
        created = psutil.Process(proc.pid).create_time()
    except psutil.NoSuchProcess:
        created = 0.0
    return ProcessEntry(
        name=name,
        pid=proc.pid,
        create_time=created,
        argv=list(argv),
        log=str(log_path),
        started_at=time.time(),
        url=url,
        stop_signal=int(stop_signal),
        fingerprint=fingerprint,
        containers=containers,
        owner=owner,
    )


def tagged_processes(prefix: str) -> list[psutil.Process]:
    """Processes of ``prefix`` (a run's owner tag, or ``<state dir>#`` for the whole instance).

    Found by the ``HARNESS_OWNER`` variable every child carries, and by the run's cgroup where
    the kernel offers one (which also finds a process that cleared its environment).
    """
    found = []
    me = os.getpid()
    in_group = set(cgroups.members(prefix))
    for proc in psutil.process_iter(["pid"]):
        if proc.pid == me:
            continue
        try:
            value = proc.environ().get(OWNER_VAR, "")
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess, OSError):
            continue
        if value.startswith(prefix) or proc.pid in in_group:
            found.append(proc)
            in_group.discard(proc.pid)
    for pid in in_group:  # members whose environment we could not read
        with contextlib.suppress(psutil.NoSuchProcess):
            found.append(psutil.Process(pid))
    return found


def _group_members(pgid: int) -> list[psutil.Process]:
    members = []
    for proc in psutil.process_iter(["pid"]):
        try:
            if os.getpgid(proc.pid) == pgid:
                members.append(proc)
        except (ProcessLookupError, PermissionError, psutil.NoSuchProcess):
            continue
    return members


def stop_processes(procs: Iterable[psutil.Process], sig: int, grace: float) -> list[psutil.Process]:
    """Signal, wait up to ``grace``, KILL the rest, wait again; returns those that were alive."""
    return stop_signalled([(proc, sig) for proc in procs], grace)


def stop_signalled(targets: Iterable[tuple[psutil.Process, int]], grace: float) -> list[psutil.Process]:
    """Send each process its own signal, then wait for all of them together (one grace period)."""
    alive = []
    for proc, sig in targets:
        try:
            proc.send_signal(sig)
            alive.append(proc)
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
    left = wait_gone(alive, grace)
    for proc in left:
        try:
            proc.kill()
        except psutil.NoSuchProcess:
            continue
    wait_gone(left, 10)
    return alive


def _gone(proc: psutil.Process) -> bool:
    try:
        return bool(proc.status() == psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return True


def wait_gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Wait until every process has exited; returns those still running at the deadline.

    An exited process whose parent has not reaped it yet (a zombie; ours were reparented when
    the harness that started them exited) counts as gone: it holds no port and runs no code.
    Our own children are reaped here so they do not linger as zombies.
    """
    deadline = time.monotonic() + timeout
    interval = 0.01
    pending = list(procs)
    while pending:
        for proc in [p for p in pending if _gone(p)]:
            with contextlib.suppress(ChildProcessError, psutil.Error):
                os.waitpid(proc.pid, os.WNOHANG)
        pending = [p for p in pending if not _gone(p)]
        if not pending or time.monotonic() >= deadline:
            break
        time.sleep(interval)
        interval = min(interval * 1.5, 0.04)
    return pending


def stop_entry(rec: ProcessEntry, grace: float) -> list[psutil.Process]:
    """Stop the group an entry started, but only if the pid is still the one we recorded.

    Returns the processes that were signalled (empty when it was already gone or the pid was
    recycled by something that is not ours).
    """
    return stop_signalled([(p, rec.stop_signal) for p in members_of(rec)], grace)


def members_of(rec: ProcessEntry) -> list[psutil.Process]:
    """The recorded process, its group and its descendants; empty if the pid is not ours any more."""
    if not is_running(rec):
        return []
    leader = psutil.Process(rec.pid)
    members = {p.pid: p for p in _group_members(rec.pid)}
    try:
        for child in leader.children(recursive=True):
            members.setdefault(child.pid, child)
    except psutil.NoSuchProcess:
        pass
    members.setdefault(leader.pid, leader)
    return list(members.values())


def is_running(rec: ProcessEntry) -> bool:
    """The recorded process is alive and ours: the same start time, and it carries its owner tag."""
    return same_process(rec.pid, rec.create_time) and carries(rec.pid, rec.owner)


def log_tail(path: str | Path, lines: int = TAIL_LINES) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def describe(pid: int) -> str:
    """``pid 4242 (postgres -D /var/lib/...)`` for error messages."""
    try:
        proc = psutil.Process(pid)
        cmd = " ".join(proc.cmdline()) or proc.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        cmd = "?"
    return f"pid {pid} ({cmd})"
