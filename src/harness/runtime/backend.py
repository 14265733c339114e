"""Which backend runs the infrastructure (``native`` processes, or ``docker`` compose), the
wrapper that runs a containerised kind (postgres, s3, temporal) from the compose file, and what
an instance has on the engine (removed after a kill, and by ``down --clean``).

``HARNESS_BACKEND=auto`` (the default) picks docker only when an engine answers and the stack
names a compose file; asking for docker explicitly without an engine is an error that says so.
The wrapped kind still says how to tell the service is healthy and finishes its set-up (roles
and databases, buckets) through the same host port, so the docker backend differs from the
native one only in how the server process is started and cleaned up.
"""

from __future__ import annotations

import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console

from harness.config.endpoints import Endpoint
from harness.config.models import ServiceModel
from harness.docker.compose import Compose, compose_labels
from harness.docker.containers import (
    STATE_LABEL,
    Selector,
    remove_containers,
    remove_networks,
    remove_volumes,
    selector_text,
)
from harness.docker.engine import engine_problem
from harness.errors import HarnessError
from harness.host.probes import Probe
from harness.kinds import KINDS
from harness.kinds.base import DataSnapshots, Kind, Launch, ServiceContext, WorkerCopies
from harness.plugin.protocol import env_name

if TYPE_CHECKING:
    from harness.runtime.plan import Plan

Ctx = ServiceContext[Any, Any]


def compose_of(plan: Plan) -> Compose:
    """The docker backend's view of this instance (projects and ``HARNESS_<SVC>_*`` variables)."""
    services: dict[str, str] = {}
    variables: dict[str, str] = {}
    for name, node in plan.nodes.items():
        if not node.is_service or not node.kind.containerised or node.endpoint is None:
            continue
        ep, model = node.endpoint, node.model
        services[name] = getattr(model, "compose_service", None) or name
        prefix = f"HARNESS_{env_name(name)}_"
        variables[prefix + "HOST"] = ep.host
        variables[prefix + "PORT"] = str(ep.port)
        for port_name, port in ep.ports.items():
            variables[f"{prefix}{env_name(port_name)}_PORT"] = str(port)
        variables.update({prefix + k: v for k, v in node.kind.compose_env(model, ep).items()})
    return Compose(
        plan.stack.stack.name,
        plan.instance,
        plan.stack.stack.compose_file,
        plan.file,
        services,
        variables,
        plan.settings.chosen_compose,
    )


def engine_nodes(plan: Plan) -> list[str]:
    """The stack's services whose kind runs on a Docker engine whatever the backend (container nodes)."""
    return [n for n, svc in plan.stack.services.items() if KINDS[svc.kind].needs_engine]


def select_backend(plan: Plan) -> str:
    """``native`` or ``docker`` for this run of the plan's stack (for the kinds compose can run).

    Container nodes need an engine whichever it is: with ``HARNESS_BACKEND=native``, or with none
    answering, that is said here, before anything starts.
    """
    choice = plan.settings.backend_for(plan.stack.stack.backend)
    needing = engine_nodes(plan)
    if needing:
        where = f"services.{needing[0]} in {plan.file}"
        # Asked for in the environment or on the command line: no engine wanted at all.
        # (`[stack] backend = "native"` says where the kinds with a native form run.)
        if plan.settings.backend and plan.settings.chosen_backend == "native":
            raise HarnessError(
                f'HARNESS_BACKEND=native: {where} is a container node (kind = "container"), which runs on '
                "a Docker engine; use HARNESS_BACKEND=auto or docker, or leave it out of the stack"
            )
        problem = engine_problem()
        if problem:
            raise HarnessError(
                f"{where} is a container node and needs a Docker engine, and none answers ({problem}); "
                "start one (and set DOCKER_HOST if it listens elsewhere)"
            )
    if choice == "native":
        return "native"
    has_compose = bool(plan.stack.stack.compose_file)
    if choice == "docker":
        if not has_compose:
            raise HarnessError(f"HARNESS_BACKEND=docker: stack.compose_file is not set in {plan.file}")
        problem = engine_problem()
        if problem:
            raise HarnessError(
                f"HARNESS_BACKEND=docker: no Docker engine answers ({problem}); "
                "start one (and set DOCKER_HOST if it listens elsewhere), or use HARNESS_BACKEND=native"
            )
        return "docker"
    return "docker" if has_compose and engine_problem() is None else "native"


@dataclass(frozen=True)
class InstanceContainers:
    """What an instance has on the engine: the compose projects of its wrapped kinds (under the
    docker backend) and the labelled containers, volumes and network of its container nodes."""

    projects: tuple[str, ...]
    state: str | None  # the state label's value; None: the stack has no container node

    @property
    def any(self) -> bool:
        return bool(self.projects) or self.state is not None

    def selectors(self) -> Sequence[Selector]:
        return [compose_labels(p) for p in self.projects] + ([{STATE_LABEL: self.state}] if self.state else [])

    def sweep(self, console: Console) -> list[str]:
        """Remove every container of the instance (after a kill, or without state), and its network."""
        if not self.any:
            return []
        try:
            removed = [f"container {c}" for c in remove_containers(self.selectors())]
            return removed + [f"network {n}" for n in self._networks()]
        except Exception as exc:  # the engine went away: say what is left, do not fail the stop
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            console.print(f"[yellow]could not remove the instance's containers: {first}[/yellow]")
            return []

    def remove_data(self) -> list[str]:
        """``down --clean``: the volumes that hold the instance's data on the engine."""
        if not self.any:
            return []
        removed = [f"container {c}" for c in remove_containers(self.selectors(), settle=0)]
        for selector in self.selectors():
            removed += [f"volume {v}" for v in remove_volumes(selector)]
        return removed + [f"network {n}" for n in self._networks()]

    def _networks(self) -> list[str]:
        return remove_networks({STATE_LABEL: self.state}) if self.state else []


def instance_containers(plan: Plan, backend: str) -> InstanceContainers:
    projects = tuple(compose_of(plan).projects()) if backend == "docker" else ()
    return InstanceContainers(projects, str(plan.state_dir) if engine_nodes(plan) else None)


class ContainerKind(Kind[ServiceModel, Endpoint]):
    def __init__(self, inner: Kind[Any, Any], compose: Compose) -> None:
        self.inner, self.compose = inner, compose
        self.name = inner.name  # type: ignore[misc]
        self.can_snapshot = inner.can_snapshot  # type: ignore[misc]
        self.can_isolate = inner.can_isolate  # type: ignore[misc]
        self.model = inner.model

    def launch(self, ctx: Ctx) -> Launch:
        service = ctx.svc.compose_service or ctx.name
        declared = self.compose.declared_services(ctx.env)
        if service not in declared:
            raise HarnessError(
                f"{ctx.name}: the compose file has no service '{service}' (it has {', '.join(declared) or 'none'}); "
                f"set services.{ctx.name}.compose_service in {ctx.stack_file}"
            )
        project = self.compose.project(service)
        # A container left by a harness killed before it could clean up would be reused as is.
        remove_containers([compose_labels(project, service)], settle=0)
        argv = [
            *self.compose.base_argv(service),
            "up",
            "--no-color",
            "--no-build",
            "--abort-on-container-exit",
            service,
        ]
        return Launch(
            argv=argv,
            env=self.compose.env(),
            stop_signal=signal.SIGTERM,  # compose stops the container with its own stop_signal
            startup_probe=self.inner.startup_probe(ctx),
            containers=selector_text(compose_labels(project, service)),
        )

    def probe(self, ctx: Ctx) -> Probe | None:
        return self.inner.probe(ctx)

    def after_ready(self, ctx: Ctx) -> None:
        self.inner.after_ready(ctx)

    def snapshots(self, ctx: Ctx) -> DataSnapshots | None:
        return self.inner.snapshots(ctx)  # through the service's own protocol: the same in a container

    def copies(self, ctx: Ctx) -> WorkerCopies | None:
        return self.inner.copies(ctx)  # through the service's own protocol, like snapshots

    def start_timeout(self, svc: ServiceModel) -> float:
        return self.inner.start_timeout(svc)

    def ready_passes(self, svc: ServiceModel) -> int:
        return self.inner.ready_passes(svc)
