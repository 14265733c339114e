"""Which backend runs the infrastructure (``native`` processes, or ``docker`` compose), and the
wrapper that runs a containerised kind (postgres, s3, temporal) from the compose file.

``HARNESS_BACKEND=auto`` (the default) picks docker only when an engine answers and the stack
names a compose file; asking for docker explicitly without an engine is an error that says so.
The wrapped kind still says how to tell the service is healthy and finishes its set-up (roles
and databases, buckets) through the same host port, so the docker backend differs from the
native one only in how the server process is started and cleaned up.
"""

from __future__ import annotations

import signal
from typing import TYPE_CHECKING, Any

from rich.console import Console

from harness.config.endpoints import Endpoint
from harness.config.models import ServiceModel
from harness.docker.compose import Compose, remove_containers, remove_volumes
from harness.docker.engine import engine_problem
from harness.errors import HarnessError
from harness.host.probes import Probe
from harness.kinds.base import DataSnapshots, Kind, Launch, ServiceContext

if TYPE_CHECKING:
    from harness.runtime.plan import Plan

Ctx = ServiceContext[Any, Any]


def select_backend(plan: Plan) -> str:
    """``native`` or ``docker`` for this run of the plan's stack."""
    choice = plan.settings.chosen_backend
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


class ContainerKind(Kind[ServiceModel, Endpoint]):
    def __init__(self, inner: Kind[Any, Any], compose: Compose) -> None:
        self.inner, self.compose = inner, compose
        self.name = inner.name  # type: ignore[misc]
        self.can_snapshot = inner.can_snapshot  # type: ignore[misc]
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
        remove_containers([(project, service)], settle=0)
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
            containers=f"{project}/{service}",
        )

    def probe(self, ctx: Ctx) -> Probe | None:
        return self.inner.probe(ctx)

    def after_ready(self, ctx: Ctx) -> None:
        self.inner.after_ready(ctx)

    def snapshots(self, ctx: Ctx) -> DataSnapshots | None:
        return self.inner.snapshots(ctx)  # through the service's own protocol: the same in a container

    def start_timeout(self, svc: ServiceModel) -> float:
        return self.inner.start_timeout(svc)

    def ready_passes(self, svc: ServiceModel) -> int:
        return self.inner.ready_passes(svc)


def sweep_containers(compose: Compose, console: Console) -> list[str]:
    """Remove every container of the instance's compose projects (after a kill, or without state)."""
    projects = compose.projects()
    try:
        return [f"container {c}" for c in remove_containers([(p, None) for p in projects])]
    except Exception as exc:  # the engine went away: say what is left, do not fail the stop
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        console.print(f"[yellow]could not remove the containers of {', '.join(projects)}: {first}[/yellow]")
        return []


def remove_instance_volumes(compose: Compose) -> list[str]:
    """The docker backend keeps data in the compose projects' volumes; ``down --clean`` drops them."""
    projects = compose.projects()
    removed = [f"container {c}" for c in remove_containers([(p, None) for p in projects], settle=0)]
    for project in projects:
        removed += [f"volume {v}" for v in remove_volumes(project)]
    return removed
