"""Which backend runs the infrastructure: ``native`` processes, or ``docker`` compose.

``HARNESS_BACKEND=auto`` (the default) picks docker only when an engine answers. The docker
backend is not built yet, so asking for it explicitly is an error that says so, and ``auto``
uses native.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from rich.console import Console

from harness.errors import HarnessError

BACKENDS = ("auto", "native", "docker")


def docker_engine_answers(timeout: float = 3.0) -> bool:
    if not shutil.which("docker"):
        return False
    try:
        res = subprocess.run(
            ["docker", "info", "--format", "{{.ServerVersion}}"], capture_output=True, timeout=timeout, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0 and bool(res.stdout.strip())


def select_backend(requested: str | None = None) -> str:
    choice = (requested or os.environ.get("HARNESS_BACKEND") or "auto").lower()
    if choice not in BACKENDS:
        raise HarnessError(f"HARNESS_BACKEND={choice!r} is not one of {', '.join(BACKENDS)}")
    if choice == "docker":
        raise HarnessError(
            "HARNESS_BACKEND=docker: the docker backend is not implemented yet; use HARNESS_BACKEND=native (or auto)"
        )
    return "native"


def vfs_fix(console: Console, *, apply: bool) -> int:
    """The docker-in-docker storage fix applies to the docker backend only."""
    backend = select_backend()
    engine = docker_engine_answers()
    console.print(
        f"vfs-fix: backend is '{backend}'"
        + (
            " (a Docker engine answers, but the docker backend is not implemented yet)"
            if engine
            else " (no Docker engine answers)"
        )
        + "; the storage-driver fix only applies to the docker backend, so there is nothing to do."
    )
    if apply:
        console.print("vfs-fix: --apply ignored: no daemon configuration is changed.")
    return 0
