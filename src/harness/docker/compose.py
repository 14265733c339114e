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

import functools
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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
        return instance_prefix(self.stack_name, self.instance)

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


def compose_labels(project: str, service: str | None = None) -> dict[str, str]:
    """The labels compose puts on a project's containers (and on one service's, when given)."""
    return {PROJECT_LABEL: project, **({SERVICE_LABEL: service} if service else {})}


def instance_prefix(stack_name: str, instance: int) -> str:
    """``<stack>-<instance>``: what every project, container, volume and network of an instance starts with."""
    base = re.sub(r"[^a-z0-9_-]", "", stack_name.lower()) or "stack"
    return f"{base}-{instance}"


def render_service(
    cli: str,
    files: Sequence[Path],
    service: str,
    *,
    project: str,
    name: str,
    host_ports: Mapping[int, int],
    labels: Mapping[str, str],
    network: str,
    aliases: Sequence[str],
    environment: Mapping[str, str],
    env: Mapping[str, str],
) -> dict[str, Any]:
    """One service of a project's compose file, alone, as a compose model of its own.

    ``compose config`` (the project's own CLI) resolves interpolation, ``.env``, ``env_file``,
    ``extends`` and relative paths; from its output the service is kept alone: every published
    port becomes ``127.0.0.1:<host port>:<container port>`` from ``host_ports`` (a container port
    without one is refused, naming it), no ``depends_on``, ``links`` or fixed ``container_name``
    of the file's (the container is ``name``), the instance's network with ``aliases``, the
    harness's labels, ``environment`` over the file's. Written as plain YAML without override tags,
    it works alike under compose v1 and v2 (v1 rejects ``!override``; both concatenate ports).
    """
    import yaml

    argv = [*compose_command(cli), "--project-name", project]
    for f in files:
        argv += ["--file", str(f)]
    res = subprocess.run([*argv, "config"], capture_output=True, text=True, env=dict(env), timeout=60, check=False)
    if res.returncode:
        detail = (res.stderr.strip().splitlines() or ["no output"])[-1]
        raise HarnessError(f"{', '.join(map(str, files))} is not a valid compose file: {detail}")
    model = yaml.safe_load(res.stdout) or {}
    services = model.get("services") or {}
    if service not in services:
        raise HarnessError(f"the compose file has no service '{service}' (it has {', '.join(services) or 'none'})")
    svc = dict(services[service])
    mode = str(svc.get("network_mode", ""))
    if mode == "host" or mode.startswith(("service:", "container:")):
        raise HarnessError(f"compose service '{service}': network_mode {mode} cannot have its ports remapped")
    if "build" in svc and "image" not in svc:
        raise HarnessError(
            f"compose service '{service}' is built from a context and names no image: build it, then give "
            "the image (image = ...) instead of compose_service"
        )
    for key in ("depends_on", "links", "external_links", "container_name", "scale", "build", "profiles"):
        svc.pop(key, None)
    published = []
    for entry in svc.get("ports") or []:
        target = int(entry["target"] if isinstance(entry, dict) else str(entry).split(":")[-1].split("/")[0])
        if target not in host_ports:
            raise HarnessError(
                f"compose service '{service}' publishes container port {target}, which the stack gives no host "
                f'port: add it to ports (for example ports = {{ p{target} = "<host port>:{target}" }})'
            )
        published.append(target)
    # The short syntax: compose v1 rejects host_ip in the long one.
    svc["ports"] = [f"127.0.0.1:{host_ports[t]}:{t}" for t in dict.fromkeys([*published, *host_ports])]
    own = svc.get("labels") or {}
    if isinstance(own, list):
        own = dict(str(item).partition("=")[::2] for item in own)
    svc["labels"] = {**own, **{k: v.replace("$", "$$") for k, v in labels.items()}}
    environment_now = svc.get("environment") or {}
    if isinstance(environment_now, list):
        environment_now = dict(str(item).partition("=")[::2] for item in environment_now)
    svc["environment"] = {**environment_now, **{k: v.replace("$", "$$") for k, v in environment.items()}}
    svc["container_name"] = name
    svc["networks"] = {"harness": {"aliases": list(dict.fromkeys(aliases))}}
    out: dict[str, Any] = {"services": {service: svc}, "networks": {"harness": {"external": True, "name": network}}}
    if compose_command(cli) == ("docker-compose",):
        out["version"] = str(model.get("version") or "3.9")
    used = {str(v["source"] if isinstance(v, dict) else str(v).split(":")[0]) for v in svc.get("volumes") or []}
    volumes = {
        k: v if (v or {}).get("external") else {**(v or {}), "labels": dict(labels)}
        for k, v in (model.get("volumes") or {}).items()
        if k in used
    }
    if volumes:
        out["volumes"] = volumes
    return out
