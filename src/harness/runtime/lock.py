"""One run at a time per instance: an exclusive ``flock`` on ``<state dir>/lock``.

The kernel drops the lock when its holder dies, so a killed run never leaves an instance locked.
A harness command started by the holder's own tests (``harness stop X`` from a disruptive test)
presents the holder's token and acts under its lock.

The lock file is truncated and written by whoever runs the harness (root, in many CI jobs), so it
is opened without following a link at its name, and a state dir another user owns is refused
before anything in it is touched. A lock that cannot be used (a directory, a link, unreadable)
is one error naming it.
"""

from __future__ import annotations

import fcntl
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

from harness.errors import HarnessError, LockedError
from harness.host.files import open_nofollow, refuse_foreign, why_not

LOCK_TOKEN_VAR = "HARNESS_LOCK_TOKEN"
STAMP = ".harness-instance"  # in a state dir the harness created: `down --clean` deletes only there


class InstanceLock:
    """An exclusive ``flock`` on ``.harness/<instance>/lock``; the kernel drops it if we die."""

    def __init__(self, state_dir: Path, instance: int) -> None:
        refuse_foreign(state_dir.parent, state_dir, what="state directory")
        self.path = state_dir / "lock"
        self.instance = instance
        self._fh: IO[bytes] | None = None
        self._depth = 0
        self.token = ""
        self.inherited = False  # held by the run whose tests started this command

    def acquire(self, what: str, *, wait: float | None = None, waiting: Callable[[str], None] | None = None) -> None:
        """Take the lock; re-entrant, so a suite can hold it across its up, tests and down.

        ``wait`` (seconds) queues behind a run that holds it instead of refusing; ``waiting`` is
        told once who holds it and what it runs.
        """
        if self._fh is not None:
            self._depth += 1
            return
        if not self.path.parent.exists():
            self.path.parent.mkdir(parents=True)
            os.close(open_nofollow(self.path.parent / STAMP, os.O_WRONLY | os.O_CREAT))
        fh = self._open()
        deadline = time.monotonic() + (wait or 0.0)
        told = False
        while True:
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                fh.seek(0)
                holder = fh.read().decode("utf-8", "replace").strip() or "another harness run"
            inherited = os.environ.get(LOCK_TOKEN_VAR)
            if inherited and holder.endswith(f"token={inherited}"):
                # A harness command run by the holder's own tests (e.g. stop one service): the
                # holder is waiting on them, so they act under its lock.
                fh.close()
                self.inherited = True
                return
            who = holder.split(" token=")[0]
            if wait is None or time.monotonic() >= deadline:
                fh.close()
                waited = f" (waited {wait:.0f} s)" if wait else ""
                raise LockedError(
                    f"instance {self.instance} is busy{waited}: {who} holds {self.path}; wait for it (--queue), "
                    f"or use another instance (--instance N, --instance auto)"
                ) from None
            if not told and waiting is not None:
                waiting(f"instance {self.instance} is busy: {who} holds it; queued (up to {wait:.0f} s)")
                told = True
            time.sleep(0.2)
        fh.seek(0)
        fh.truncate()
        self.token = uuid.uuid4().hex
        fh.write(f"`{what}` (pid {os.getpid()}, since {time.strftime('%H:%M:%S')}) token={self.token}".encode())
        fh.flush()
        self._fh = fh

    def _open(self) -> IO[bytes]:
        """The lock file, held for the lock's lifetime; one that cannot be used is named."""
        try:
            return os.fdopen(open_nofollow(self.path, os.O_RDWR | os.O_CREAT), "r+b", buffering=0)
        except OSError as exc:
            raise HarnessError(
                f"instance {self.instance}: cannot use the lock file {self.path}: {why_not(self.path, exc)}; "
                "remove it, and the harness makes a new one"
            ) from None

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


_RESERVED: dict[str, InstanceLock] = {}


def reserve(state_dir: Path, instance: int) -> bool:
    """Take an instance's lock now, for the ledger this process makes for it next (``--instance auto``)."""
    lock = InstanceLock(state_dir, instance)
    try:
        lock.acquire("--instance auto")
    except LockedError:
        return False
    _RESERVED[str(state_dir)] = lock
    return True


def instance_lock(state_dir: Path, instance: int) -> InstanceLock:
    """The lock ``reserve`` took for this state dir, or a new one (not yet held)."""
    return _RESERVED.pop(str(state_dir), None) or InstanceLock(state_dir, instance)
