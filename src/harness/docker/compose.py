"""The docker backend's side of docker compose: which CLI, which project, which variables.

Infrastructure services (postgres, s3, temporal) run as containers from ``stack.compose_file``;
Xvfb and the app processes stay native. The containers use host networking on the stack's own
ports (bound to 127.0.0.1), so probes, derived URLs and the port check are the same as natively.

Each service runs as an attached ``compose up <service>``: a supervised process like any other,
whose output is the service's log and whose exit fails the readiness wait at once. Containers
are found afterwards by compose's labels and removed, so neither ``down`` nor a harness killed
with SIGKILL leaves one behind.
"""

from __future__ import annotations

import contextlib
import functools
import re
import shutil
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness.docker.engine import docker_client
from harness.errors import HarnessError

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
# ``<stack>-<instance>`` for the compose file, e.g. to give a volume a fixed name per instance.
INSTANCE_VARIABLE = "HARNESS_INSTANCE_NAME"


def _answers(argv: Sequence[str]) -> bool:
    if not shutil.which(argv[0]):
        return False
    try:
        return subprocess.run([*argv, "version"], capture_output=True, timeout=10, check=False).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@functools.cache
def compose_command(choice: str = "auto") -> tuple[str, ...]:
    """The compose CLI: ``v2`` the ``docker compose`` plugin, ``v1`` ``docker-compose``.

    ``auto`` (``HARNESS_COMPOSE`` unset) takes v2 when it answers, else v1.
    """
    v2, v1 = ("docker", "compose"), ("docker-compose",)
    if choice in ("auto", "v2") and _answers(v2):
        return v2
    if choice in ("auto", "v1") and _answers(v1):
        return v1
    if choice == "v2":
        raise HarnessError(
            "HARNESS_COMPOSE=v2: `docker compose version` does not answer; install the compose plugin "
            "(for example into $DOCKER_CONFIG/cli-plugins), or set HARNESS_COMPOSE=v1"
        )
    if choice == "v1":
        raise HarnessError(
            "HARNESS_COMPOSE=v1: `docker-compose` is not installed; install it, or set HARNESS_COMPOSE=v2"
        )
    raise HarnessError(
        "docker backend: neither `docker compose` nor `docker-compose` is installed; "
        "install the compose plugin, or use HARNESS_BACKEND=native"
    )


@dataclass(frozen=True)
class Compose:
    """One instance's view of the compose file: projects, variables and the CLI to run.

    ``services`` maps each containerised service of the stack to its name in the compose file;
    ``variables`` are the ``HARNESS_<SERVICE>_<FIELD>`` values the compose file reads (ports
    are the instance's, so ``${HARNESS_POSTGRES_PORT}`` follows ``--instance`` exactly as the
    native processes do).
    """

    stack_name: str
    instance: int
    file: str | None  # stack.compose_file as written, relative to the stack's directory
    stack_file: Path
    services: Mapping[str, str]
    variables: Mapping[str, str]
    cli: str = "auto"  # HARNESS_COMPOSE: auto, v1 or v2

    def project(self, service: str) -> str:
        """One compose project per stack, instance and service.

        Per service, not per stack: each service's compose client then only ever sees its own
        container. With one project, clients starting side by side list each other's containers
        mid-creation and fail with "No such container" (seen with compose v1).
        """
        return f"{self.prefix}-{re.sub(r'[^a-z0-9_-]', '', service.lower())}"

    @property
    def prefix(self) -> str:
        """``<stack>-<instance>``: what every project and fixed volume name of the instance starts with."""
        base = re.sub(r"[^a-z0-9_-]", "", self.stack_name.lower()) or "stack"
        return f"{base}-{self.instance}"

    def projects(self) -> list[str]:
        """The compose projects of every containerised service of the stack."""
        return [self.project(service) for service in self.services.values()]

    def path(self) -> Path:
        if not self.file:
            raise HarnessError(
                f"docker backend: stack.compose_file is not set in {self.stack_file}; "
                "point it at a compose file, or use HARNESS_BACKEND=native"
            )
        path = (self.stack_file.parent / self.file).resolve()
        if not path.is_file():
            raise HarnessError(f"docker backend: {path} (stack.compose_file in {self.stack_file}) does not exist")
        return path

    def env(self) -> dict[str, str]:
        return {**self.variables, INSTANCE_VARIABLE: self.prefix}

    def base_argv(self, service: str) -> list[str]:
        return [*compose_command(self.cli), "--project-name", self.project(service), "--file", str(self.path())]

    def declared_services(self, env: Mapping[str, str]) -> list[str]:
        """The services the compose file defines (``compose config --services``)."""
        argv = [*compose_command(self.cli), "--file", str(self.path()), "config", "--services"]
        res = subprocess.run(argv, capture_output=True, text=True, env={**env, **self.env()}, timeout=60, check=False)
        if res.returncode:
            detail = (res.stderr.strip().splitlines() or ["no output"])[-1]
            raise HarnessError(f"docker backend: {self.path()} is not a valid compose file: {detail}")
        return res.stdout.split()


def remove_containers(
    targets: Sequence[tuple[str, str | None]], settle: float = 0.3, timeout: float = 10.0
) -> list[str]:
    """Force-remove the containers of ``(project, service or None)`` pairs; returns their names.

    A compose client killed mid-request can leave a create still in flight at the engine, so
    the sweep repeats until nothing new has appeared for ``settle`` seconds (within ``timeout``).
    """
    import docker

    client = docker_client()
    removed: list[str] = []
    deadline = time.monotonic() + timeout
    last_seen = time.monotonic()
    while True:
        for project, service in targets:
            labels = [f"{PROJECT_LABEL}={project}"] + ([f"{SERVICE_LABEL}={service}"] if service else [])
            # ignore_removed: a container removed between the listing and its inspection is gone anyway.
            for container in client.containers.list(all=True, filters={"label": labels}, ignore_removed=True):
                with contextlib.suppress(docker.errors.NotFound):
                    container.remove(force=True)
                if container.name not in removed:
                    removed.append(str(container.name))
                last_seen = time.monotonic()
        if time.monotonic() - last_seen >= settle or time.monotonic() >= deadline:
            return removed
        time.sleep(0.05)


def remove_volumes(project: str) -> list[str]:
    """Delete the project's named volumes (``down --clean``: databases start from nothing)."""
    client = docker_client()
    removed = []
    for volume in client.volumes.list(filters={"label": f"{PROJECT_LABEL}={project}"}):
        volume.remove(force=True)
        removed.append(str(volume.name))
    return removed
