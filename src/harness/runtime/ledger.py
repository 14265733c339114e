"""The instance's ledger: the sole writer of ``state.json``, and reaping what a killed run left.

The state file is written (atomically) the moment a process is spawned, before the harness
waits on it, so a harness killed with SIGKILL still leaves behind an exact list of what to reap.
It is validated on every read: a file that is not what the harness wrote (hand-edited, replaced
by a directory, truncated) is reported as unreadable, and the instance's processes are then
found by the ``HARNESS_OWNER`` tag they carry instead.

A record is not trusted either: each entry's owner tag is this instance's, whatever the file
says, and a pid is treated as the entry's process only while that process carries the tag
(``host/processes.py``), so a forged file cannot make the harness signal an unrelated process.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import os
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TypeVar

import psutil
from pydantic import TypeAdapter, ValidationError

from harness.host.files import open_nofollow, why_not, write_atomic
from harness.host.processes import ProcessEntry, owner_tag, same_process
from harness.runtime.lock import STAMP, instance_lock

KEPT = ("lock", "state.json", STAMP)  # what `down --clean` leaves in the state dir
MAX_STATE = 16 * 1024 * 1024  # far above any real state file; a bigger one is not the harness's
T = TypeVar("T")


@dataclass
class State:
    """The contents of ``.harness/<instance>/state.json``."""

    owner_pid: int = 0
    owner_create_time: float = 0.0
    complete: bool = True
    run_token: str = ""
    processes: dict[str, ProcessEntry] = field(default_factory=dict)
    step_hashes: dict[str, str] = field(default_factory=dict)
    stopping: dict[str, float] = field(default_factory=dict)  # services being stopped on purpose, since when
    restarts: dict[str, int] = field(default_factory=dict)  # restarts by policy during the current run

    def owner_alive(self) -> bool:
        return bool(self.owner_pid) and same_process(self.owner_pid, self.owner_create_time)


_STATE = TypeAdapter(State)


class StateStore:
    """Reads (validated) and writes (atomically) one state file."""

    def __init__(self, state_dir: Path) -> None:
        self.dir = state_dir
        self.path = state_dir / "state.json"

    def load(self) -> tuple[State, str | None]:
        """The state, and why the file could not be used (``None`` when it could, or is absent)."""
        try:
            with os.fdopen(open_nofollow(self.path, os.O_RDONLY), "rb") as fh:
                text = fh.read(MAX_STATE + 1).decode("utf-8")
        except FileNotFoundError:
            return State(), None
        except OSError as exc:
            return State(), f"{self.path}: {why_not(self.path, exc).removeprefix('it ')}"
        except UnicodeDecodeError as exc:
            return State(), f"{self.path}: not a harness state file ({exc.reason} at byte {exc.start})"
        if len(text) > MAX_STATE:
            return State(), f"{self.path}: not a harness state file (over {MAX_STATE // 1024 // 1024} MiB)"
        try:
            state = _STATE.validate_json(text)
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"]) or "the top level"
            return State(), f"{self.path}: not a harness state file ({where}: {err['msg']})"
        # Whatever the file says, its processes can only be this instance's.
        mine = owner_tag(self.dir, "")
        for name, entry in state.processes.items():
            if not entry.owner.startswith(mine):
                state.processes[name] = dataclasses.replace(entry, owner=mine)
        return state, None

    def save(self, state: State) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        if self.path.is_dir() and not self.path.is_symlink():  # replaced by hand: the ledger's own file wins
            import shutil

            shutil.rmtree(self.path)
        write_atomic(self.path, json.dumps(asdict(state), indent=2, sort_keys=True))


class Ledger:
    """One instance's state, shared by the threads of a run; every change is saved at once.

    Every read and change starts from the file, not from memory: a harness command the run's own
    tests start under its lock (stop a service, start it again) writes the same file meanwhile.
    """

    def __init__(self, state_dir: Path, instance: int) -> None:
        self.store = StateStore(state_dir)
        self.lock = instance_lock(state_dir, instance)
        self._mutex = threading.Lock()
        self._state, self.problem = self.store.load()

    @property
    def path(self) -> Path:
        return self.store.path

    def reload(self) -> None:
        with self._mutex:
            self._state, self.problem = self.store.load()

    def _fresh(self) -> None:
        """The file's state, when it can be read (else the last good one, and the problem kept)."""
        state, problem = self.store.load()
        if problem is None:
            self._state, self.problem = state, None
        else:
            self.problem = problem

    def read(self, view: Callable[[State], T]) -> T:
        """A value computed from a consistent copy of the state."""
        with self._mutex:
            self._fresh()
            return view(copy.deepcopy(self._state))

    def entries(self) -> dict[str, ProcessEntry]:
        """What runs now, as the state file says: service (or step, or helper) -> its process."""
        return self.read(lambda s: dict(s.processes))

    def _change(self, change: Callable[[State], None]) -> None:
        with self._mutex:
            self._fresh()
            change(self._state)
            self.store.save(self._state)
            self.problem = None

    def begin_run(self) -> str:
        """This process now owns the instance's run; returns the run token its children carry.

        Under an inherited lock the holder keeps owning the run: its token is reused, so what
        this command starts belongs to that run (and is reaped with it if it is killed).
        """
        if self.lock.inherited:
            return self.read(lambda s: s.run_token) or uuid.uuid4().hex[:12]
        me = psutil.Process()
        token = uuid.uuid4().hex[:12]

        def begin(s: State) -> None:
            s.owner_pid, s.owner_create_time, s.complete, s.run_token = me.pid, me.create_time(), False, token
            s.restarts.clear()

        self._change(begin)
        return token

    def finish_run(self) -> None:
        if not self.lock.inherited:
            self._change(lambda s: setattr(s, "complete", True))

    def add(self, entry: ProcessEntry) -> None:
        self._change(lambda s: s.processes.__setitem__(entry.name, entry))

    def forget(self, *names: str) -> None:
        def drop(s: State) -> None:
            for name in names:
                s.processes.pop(name, None)
                s.stopping.pop(name, None)

        self._change(drop)

    def intend_stop(self, *names: str) -> None:
        """Say, before stopping them, that these services' exits are intended (the watch reads it)."""

        def mark(s: State) -> None:
            s.stopping.update(dict.fromkeys(names, time.time()))

        self._change(mark)

    def count_restart(self, name: str) -> int:
        """One more restart of ``name`` by its restart policy; returns the run's count so far."""

        def bump(s: State) -> None:
            s.restarts[name] = s.restarts.get(name, 0) + 1

        self._change(bump)
        return self.read(lambda s: s.restarts[name])

    def step_hash(self, name: str) -> str | None:
        return self.read(lambda s: s.step_hashes.get(name))

    def forget_step_hashes(self, *names: str) -> None:
        def drop(s: State) -> None:
            for name in names:
                s.step_hashes.pop(name, None)

        self._change(drop)

    def set_step_hash(self, name: str, digest: str) -> None:
        self._change(lambda s: s.step_hashes.__setitem__(name, digest))

    def crashed(self) -> bool:
        """A run that never finished and whose harness is gone (or a state file we cannot read)."""
        if self.problem is not None:
            return True
        return self.read(lambda s: not s.complete and not s.owner_alive())

    def reap(self, stop: Callable[[list[ProcessEntry], str, bool], T]) -> T | None:
        """Stop what a killed harness left behind; None if nothing was.

        ``stop`` gets the killed run's entries, its token, and whether they are the whole instance:
        services that were up before that run (an ``up`` a developer left running, which a suite
        then used) are not its to stop, and stay. An unreadable state file says nothing of runs:
        then everything is the killed run's.
        """
        if not self.crashed():
            return None
        token = "" if self.problem is not None else (self.read(lambda s: s.run_token) or "")
        entries = list(self.entries().values())
        # An entry tagged with the instance alone (or not at all) cannot be told apart: it goes too.
        mine = [e for e in entries if not token or e.owner.partition("#")[2] in ("", token)]
        result = stop(mine, token, len(mine) == len(entries))

        def reaped(s: State) -> None:
            for entry in mine:
                s.processes.pop(entry.name, None)
            s.complete = True

        self._change(reaped)
        return result
