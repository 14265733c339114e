"""What an instance has running, on disk: the state file and the one-run-at-a-time lock.

The state file is written (atomically) the moment a process is spawned, before the harness
waits on it, so a harness killed with SIGKILL still leaves behind an exact list of what to reap.
"""

from __future__ import annotations

import fcntl
import json
import os
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any

import psutil

from harness.errors import LockedError

LOCK_TOKEN_VAR = "HARNESS_LOCK_TOKEN"


@dataclass(frozen=True)
class ProcRecord:
    name: str
    pid: int
    create_time: float
    argv: list[str]
    log: str
    started_at: float
    url: str = ""
    stop_signal: int = 15
    fingerprint: str = ""
    containers: str = ""  # docker backend: "project/service", removed after the process stops


@dataclass
class State:
    """The contents of ``.harness/<instance>/state.json``."""

    owner_pid: int = 0
    owner_create_time: float = 0.0
    complete: bool = True
    run_token: str = ""
    processes: dict[str, ProcRecord] = field(default_factory=dict)
    step_hashes: dict[str, str] = field(default_factory=dict)

    def owner_alive(self) -> bool:
        return bool(self.owner_pid) and same_process(self.owner_pid, self.owner_create_time)


def same_process(pid: int, create_time: float) -> bool:
    """True when ``pid`` is still the process we recorded (not a recycled pid)."""
    try:
        proc = psutil.Process(pid)
        return bool(abs(proc.create_time() - create_time) < 0.05 and proc.status() != psutil.STATUS_ZOMBIE)
    except (psutil.NoSuchProcess, psutil.AccessDenied):
        return False


class StateStore:
    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "state.json"

    def load(self) -> State:
        try:
            data: dict[str, Any] = json.loads(self.path.read_text())
        except FileNotFoundError:
            return State()
        except (OSError, ValueError):
            # A torn file cannot happen (writes are atomic); an edited one is treated as empty
            # rather than blocking every later run.
            return State()
        procs = {k: ProcRecord(**v) for k, v in data.pop("processes", {}).items()}
        known = {k: v for k, v in data.items() if k in State.__dataclass_fields__}
        return State(processes=procs, **known)

    def save(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(f".tmp.{os.getpid()}")
        payload = asdict(state)
        tmp.write_text(json.dumps(payload, indent=2, sort_keys=True))
        os.replace(tmp, self.path)


class InstanceLock:
    """An exclusive ``flock`` on ``.harness/<instance>/lock``; the kernel drops it if we die."""

    def __init__(self, state_dir: Path, instance: int) -> None:
        self.path = state_dir / "lock"
        self.instance = instance
        self._fh: IO[str] | None = None
        self._depth = 0
        self.token = ""

    def acquire(self, what: str) -> None:
        """Take the lock; re-entrant, so a suite can hold it across its up, tests and down."""
        if self._fh is not None:
            self._depth += 1
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")  # noqa: SIM115 - held for the lock's lifetime
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "another harness run"
            fh.close()
            inherited = os.environ.get(LOCK_TOKEN_VAR)
            if inherited and holder.endswith(f"token={inherited}"):
                # A harness command run by the holder's own tests (e.g. stop one service): the
                # holder is waiting on them, so they act under its lock.
                return
            raise LockedError(
                f"instance {self.instance} is busy: {holder.split(' token=')[0]} holds {self.path}; wait for it, "
                f"or use another instance (--instance N / HARNESS_INSTANCE=N)"
            ) from None
        fh.seek(0)
        fh.truncate()
        self.token = uuid.uuid4().hex
        fh.write(f"`{what}` (pid {os.getpid()}, since {time.strftime('%H:%M:%S')}) token={self.token}")
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._depth:
            self._depth -= 1
            return
        if self._fh is not None:
            self._fh.seek(0)
            self._fh.truncate()
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()
            self._fh = None

    def __enter__(self) -> InstanceLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
