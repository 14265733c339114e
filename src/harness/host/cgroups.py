"""Finding every process a run started, even one that cleared its environment and left its session.

Where the kernel lets us (a writable cgroup hierarchy: cgroup v2, or v1's ``pids`` controller),
each started process is put in a cgroup named after its instance and run. Everything it forks
stays there whatever it does to its environment or session, so ``down`` and the cleanup trap
find it. Without a writable hierarchy this module finds nothing and the ``HARNESS_OWNER``
owner is the only way (the README says what escapes then).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from pathlib import Path

CANDIDATES = (
    Path("/sys/fs/cgroup"),  # cgroup v2 mounted at the top (it has cgroup.controllers there)
    Path("/sys/fs/cgroup/unified"),  # the v2 part of a hybrid set-up
    Path("/sys/fs/cgroup/pids"),  # cgroup v1's pids controller
)


_chosen: list[Path | None] = []  # hierarchy()'s answer, once made
_choosing = threading.Lock()


def hierarchy() -> Path | None:
    """A cgroup directory we can create groups under, or None: the same one for every thread.

    Services start side by side, each thread adding its process: were two threads to choose
    at once, one could settle on the v1 ``pids`` hierarchy while the process remembers v2, and a
    server that wiped its environment (redis-server) would not be found by the next command.
    """
    with _choosing:
        if not _chosen:
            _chosen.append(_writable_root())
        return _chosen[0]


def _writable_root() -> Path | None:
    for root in CANDIDATES:
        if root == CANDIDATES[0] and not (root / "cgroup.controllers").exists():
            continue
        if not (root / "cgroup.procs").exists():
            continue
        probe = root / f"harness-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            probe.mkdir()
        except OSError:
            continue
        with contextlib.suppress(OSError):
            probe.rmdir()
        return root
    return None


def group_of(owner: str) -> Path | None:
    """The cgroup of a run owner (``<state dir>#<token>``); the instance's own for ``<state dir>#``."""
    root = hierarchy()
    if root is None:
        return None
    state_dir, _, token = owner.partition("#")
    instance = root / f"harness-{hashlib.sha256(state_dir.encode()).hexdigest()[:16]}"
    return instance / token if token else instance


def add(owner: str, pid: int) -> bool:
    """Put ``pid`` in the run's cgroup; False where cgroups cannot be used."""
    group = group_of(owner)
    if group is None:
        return False
    try:
        group.mkdir(parents=True, exist_ok=True)
        (group / "cgroup.procs").write_text(f"{pid}\n")
    except OSError:
        return False
    return True


def members(owner: str) -> list[int]:
    """Every live pid in the owner's cgroup and those below it; empty groups are removed."""
    group = group_of(owner)
    if group is None or not group.is_dir():
        return []
    pids: list[int] = []
    for directory in sorted((p for p in [group, *group.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            pids += [int(line) for line in (directory / "cgroup.procs").read_text().split()]
    return sorted(set(pids) - {os.getpid()})


def prune(owner: str) -> None:
    """Remove the owner's cgroups that no longer hold a process (deepest first)."""
    group = group_of(owner)
    if group is None or not group.is_dir():
        return
    for directory in sorted((p for p in [group, *group.rglob("*")] if p.is_dir()), key=lambda p: -len(p.parts)):
        with contextlib.suppress(OSError):
            directory.rmdir()
    if owner.partition("#")[2]:  # a run's group: its instance's group goes too once nothing is left in it
        with contextlib.suppress(OSError):
            group.parent.rmdir()
