"""Plain app processes: a command line with ``{port}``-style placeholders, and how it proves ready."""

from __future__ import annotations

import os
import re
import shlex
import shutil
from collections.abc import Mapping
from typing import Literal

from pydantic import field_validator

from harness.config.endpoints import Endpoint
from harness.config.models import CommandLine, Ready, ServiceModel
from harness.errors import HarnessError
from harness.host.probes import CommandProbe, HttpProbe, Probe, TcpProbe
from harness.kinds.base import Kind, Launch, ServiceContext


class ProcessService(ServiceModel):
    kind: Literal["process"] = "process"
    command: CommandLine
    ready: Ready | None = None

    @field_validator("command")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("the command is empty")
        return value


Ctx = ServiceContext[ProcessService, Endpoint]
PYTHON = re.compile(r"python[\d.]*")  # python, python3, python3.11


class ProcessKind(Kind[ProcessService, Endpoint]):
    name = "process"
    model = ProcessService

    def templates(self, svc: ProcessService) -> dict[str, str]:
        out = {"command": svc.command}
        if svc.ready and svc.ready.http:
            out["ready.http"] = svc.ready.http
        if svc.ready and svc.ready.command:
            out["ready.command"] = svc.ready.command
        return out

    def launch(self, ctx: Ctx) -> Launch:
        argv = shlex.split(ctx.rendered["command"])
        if not argv:
            raise HarnessError(f"{ctx.stack_file}: services.{ctx.name}.command: the command is empty")
        return Launch(argv=argv)

    def probe(self, ctx: Ctx) -> Probe | None:
        ready, ep = ctx.svc.ready, ctx.endpoint
        if ready is None or ready.tcp:
            return TcpProbe(ep.host, ep.port) if ep.port is not None else None
        if ready.http:
            path = ctx.rendered["ready.http"]
            url = path if path.startswith("http") else f"http://{ep.host}:{ep.port}{path}"
            return HttpProbe(url, ready.status, ready.expect)
        return CommandProbe(shlex.split(ctx.rendered["ready.command"]), cwd=str(ctx.cwd), env=dict(ctx.env))

    def runs_python(self, svc: ProcessService, rendered: Mapping[str, str]) -> bool:
        """A Python interpreter (``{python} -m uvicorn ...``), or a script whose first line names one
        (a venv's ``uvicorn``, found on PATH)."""
        argv = shlex.split(rendered["command"])
        if not argv:
            return False
        if PYTHON.fullmatch(os.path.basename(argv[0])):
            return True
        found = shutil.which(argv[0])
        try:
            with open(found or argv[0], "rb") as fh:
                first = fh.readline(200)
        except OSError:
            return False
        return first.startswith(b"#!") and b"python" in first

    def start_timeout(self, svc: ProcessService) -> float:
        return svc.start_timeout or (svc.ready.timeout if svc.ready else 60.0)

    def ready_passes(self, svc: ProcessService) -> int:
        return svc.ready.passes if svc.ready else 1


PROCESS = ProcessKind()
