"""Plain app processes: a command line with ``{port}``-style placeholders."""

from __future__ import annotations

import shlex

from harness.environment import node_template
from harness.kinds.base import Launch, LaunchContext
from harness.probes import CommandProbe, HttpProbe, Probe, TcpProbe


class ProcessKind:
    def launch(self, ctx: LaunchContext) -> Launch:
        command = node_template(ctx.inst, ctx.name, ctx.svc.command, f"services.{ctx.name}.command")
        return Launch(argv=shlex.split(command))

    def probe(self, ctx: LaunchContext) -> Probe | None:
        ready, view = ctx.svc.ready, ctx.view
        if ready is None:
            return TcpProbe(view.host, view.port) if view.port is not None else None
        if ready.http:
            path = node_template(ctx.inst, ctx.name, ready.http, f"services.{ctx.name}.ready.http")
            url = path if path.startswith("http") else f"http://{view.host}:{view.port}{path}"
            return HttpProbe(url, ready.status, ready.expect)
        if ready.tcp:
            return TcpProbe(view.host, view.port)
        command = node_template(ctx.inst, ctx.name, ready.command, f"services.{ctx.name}.ready.command")
        return CommandProbe(shlex.split(command), cwd=str(ctx.cwd), env=ctx.env)

    def after_ready(self, ctx: LaunchContext) -> None:
        return None


PROCESS = ProcessKind()
