"""Is there a Docker engine, and a client for it (``DOCKER_HOST`` honoured)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from harness.errors import HarnessError


def engine_problem(timeout: float = 3.0) -> str | None:
    """None when a Docker engine answers (``DOCKER_HOST`` honoured), else why not."""
    host = os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
    if host.startswith("unix://") and not Path(host.removeprefix("unix://")).exists():
        return f"nothing listens at {host}"  # said without importing the docker SDK (0.15 s)
    try:
        import docker

        client = docker.from_env(timeout=timeout)
        client.ping()
    except Exception as exc:  # the SDK raises several unrelated types for "no engine"
        text = str(exc)
        for needle, said in (
            ("FileNotFoundError", "nothing listens at"),
            ("No such file", "nothing listens at"),
            ("Connection refused", "connection refused at"),
            ("PermissionError", "permission denied on"),
            ("Permission denied", "permission denied on"),
        ):
            if needle in text:
                return f"{said} {host}"
        return f"{host}: {text.splitlines()[0] if text else type(exc).__name__}"
    return None


def docker_client() -> Any:
    """A docker SDK client from the environment (``DOCKER_HOST`` included)."""
    import docker

    try:
        return docker.from_env(timeout=30)
    except docker.errors.DockerException as exc:
        raise HarnessError(f"docker backend: no Docker engine answers ({exc})") from None
