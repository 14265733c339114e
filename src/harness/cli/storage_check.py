"""``harness vfs-fix``: can the Docker engine start a container here, and if not, switch it to vfs.

What it finds is said in plain words, and which command comes next; the engine and storage
checks themselves are ``docker/engine.py`` and ``docker/storage.py``.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from harness.docker.engine import engine_problem
from harness.docker.storage import DAEMON_JSON, apply_vfs, storage_problem
from harness.errors import HarnessError, command_hint


def vfs_fix(console: Console, requested: str, *, apply: bool, daemon_json: Path = DAEMON_JSON) -> int:
    """Docker backend: can the engine start a container here, and if not, switch it to vfs."""
    if requested == "native":
        console.print("vfs-fix: HARNESS_BACKEND=native; the storage-driver fix only applies to docker: nothing to do.")
        return 0
    problem = engine_problem()
    if problem and requested == "docker":
        # `up` will refuse (exit 2) rather than fall back: say that, not "native is used".
        console.print(
            f"vfs-fix: HARNESS_BACKEND=docker but no Docker engine answers ({problem}); `up` will stop with "
            "an error until one does (start it, or set DOCKER_HOST), so there is no storage driver to check."
        )
        return 1
    if problem:
        console.print(
            f"vfs-fix: no Docker engine answers ({problem}); with HARNESS_BACKEND=auto the native backend is "
            "used, and the storage-driver fix only applies to docker: nothing to do."
        )
        return 0
    driver, failure = storage_problem()
    if failure is None:
        console.print(f"vfs-fix: the engine starts containers with storage driver '{driver}': nothing to do.")
        return 0
    console.print(f"vfs-fix: the engine cannot start a container with storage driver '{driver}': {failure}")
    if driver == "vfs":
        raise HarnessError("vfs-fix: the engine already uses vfs and still cannot start a container; see above")
    if not apply:
        console.print(
            f"vfs-fix: this happens with nested Docker; {command_hint('vfs-fix --apply')} sets storage-driver "
            f"'vfs' in {daemon_json} (then restart the Docker daemon)."
        )
        return 1
    path = apply_vfs(daemon_json)
    console.print(f"vfs-fix: wrote storage-driver 'vfs' to {path}; restart the Docker daemon for it to apply.")
    return 0
