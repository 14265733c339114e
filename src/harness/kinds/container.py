"""A postgres, s3 or temporal service run by docker compose instead of a native process.

The wrapped native kind still says how to tell the service is healthy and finishes its setup
(roles and databases, buckets) through the same host port, so the docker backend differs from
the native one only in how the server process is started and cleaned up.
"""

from __future__ import annotations

import signal

from harness.compose import base_argv, compose_env, declared_services, project_name, remove_containers
from harness.errors import HarnessError
from harness.kinds.base import Kind, Launch, LaunchContext
from harness.probes import Probe


class ContainerKind:
    def __init__(self, inner: Kind) -> None:
        self.inner = inner

    def service(self, ctx: LaunchContext) -> str:
        return str(ctx.svc.compose_service or ctx.name)

    def launch(self, ctx: LaunchContext) -> Launch:
        ctx.env.update(compose_env(ctx.inst))
        service = self.service(ctx)
        project = project_name(ctx.inst, service)
        declared = declared_services(ctx.inst, ctx.env)
        if service not in declared:
            raise HarnessError(
                f"{ctx.name}: the compose file has no service '{service}' (it has {', '.join(declared) or 'none'}); "
                f"set services.{ctx.name}.compose_service in {ctx.inst.stack.file}"
            )
        # A container left by a harness killed before it could clean up would be reused as is.
        remove_containers([(project, service)], settle=0)
        argv = [*base_argv(ctx.inst, service), "up", "--no-color", "--no-build", "--abort-on-container-exit", service]
        startup = getattr(self.inner, "startup_probe", None)
        return Launch(
            argv=argv,
            stop_signal=signal.SIGTERM,  # compose stops the container with its own stop_signal
            startup_probe=startup(ctx) if startup else None,
            containers=f"{project}/{service}",
        )

    def probe(self, ctx: LaunchContext) -> Probe | None:
        return self.inner.probe(ctx)

    def after_ready(self, ctx: LaunchContext) -> None:
        self.inner.after_ready(ctx)
