"""Asking a container whether it is ready: its own HEALTHCHECK, a command inside it, its ports.

A published port needs care: the engine's proxy accepts a connection on the host port before
anything listens in the container, then closes it, so a plain connect says ready too early.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass
from typing import Any

from harness.docker.engine import docker_client
from harness.errors import HarnessError
from harness.host.probes import Probe, ProbeFailed


@dataclass
class PublishedPortProbe:
    """A host port the engine publishes, answered by the container.

    The engine's proxy accepts a connection on the host port before anything listens in the
    container, then closes it: a connection that stays open (or that the server speaks on) is
    the container's; one closed at once is not yet.
    """

    host: str
    port: int

    @property
    def what(self) -> str:
        return f"{self.host}:{self.port} answered from the container"

    def check(self, timeout: float) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=min(timeout, 1.0)) as sock:
                sock.settimeout(0.15)
                try:
                    if sock.recv(1) == b"":
                        return "accepted, then closed at once: nothing listens in the container yet"
                except TimeoutError:
                    pass  # open and quiet: something listens
        except OSError as exc:
            return exc.strerror or str(exc)
        return None


@dataclass
class ContainerHealthProbe:
    """The container's own HEALTHCHECK: ``healthy`` (``required``: it must have one)."""

    name: str
    required: bool = True

    @property
    def what(self) -> str:
        return f"container {self.name}'s HEALTHCHECK to say healthy"

    def check(self, timeout: float) -> str | None:
        state = _inspect(self.name)
        if state is None:
            return f"container {self.name} does not exist"
        health = state.get("State", {}).get("Health")
        if not health:
            if self.required:
                raise ProbeFailed(f"{self.what}: its image has no HEALTHCHECK; give `ready = {{ ... }}` instead")
            return None
        status = str(health.get("Status"))
        if status == "healthy":
            return None
        last = (health.get("Log") or [{}])[-1].get("Output", "").strip().splitlines()
        return f"health {status}" + (f": {last[-1][:200]}" if last else "")


@dataclass
class ContainerExecProbe:
    """A command run inside the container, exiting 0."""

    name: str
    argv: list[str]

    @property
    def what(self) -> str:
        return f"`{' '.join(self.argv)}` in container {self.name} exiting 0"

    def check(self, timeout: float) -> str | None:
        import docker

        try:
            result = docker_client().containers.get(self.name).exec_run(self.argv)
        except docker.errors.NotFound:
            return f"container {self.name} does not exist"
        except (docker.errors.APIError, HarnessError) as exc:
            return str(getattr(exc, "explanation", None) or exc)[:200]
        if result.exit_code:
            out = result.output.decode(errors="replace").strip().splitlines()
            return f"exit {result.exit_code}" + (f": {out[-1][:200]}" if out else "")
        return None


@dataclass
class ContainerProbe:
    """Unset ``healthcheck``: the container's own HEALTHCHECK when its image has one, else ``fallback``."""

    name: str
    fallback: Probe | None

    @property
    def what(self) -> str:
        return f"container {self.name} healthy" + (f", or {self.fallback.what}" if self.fallback else "")

    def check(self, timeout: float) -> str | None:
        state = _inspect(self.name)
        if state is None:
            return f"container {self.name} does not exist"
        if state.get("State", {}).get("Health"):
            return ContainerHealthProbe(self.name).check(timeout)
        return self.fallback.check(timeout) if self.fallback else None


def _inspect(name: str) -> dict[str, Any] | None:
    """The container's state; None when it does not exist (an engine gone away: ProbeFailed)."""
    import docker

    try:
        return dict(docker_client().api.inspect_container(name))
    except docker.errors.NotFound:
        return None
    except (docker.errors.APIError, HarnessError) as exc:
        raise ProbeFailed(f"container {name}: {getattr(exc, 'explanation', None) or exc}") from None
