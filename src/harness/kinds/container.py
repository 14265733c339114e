"""Any image, or any service of the project's compose file, as a node of the stack: a container.

``image = "mailpit/mailpit:v1.21"`` runs that image; ``compose_service = "kafka"`` runs that
service of ``stack.compose_file`` alone (its image, environment, command, volumes and
healthcheck as the file says). Either way the container joins the instance's own network (the
others reach it by its service name), publishes each of the node's ports on 127.0.0.1 at a host
port that shifts with the instance like every other port (``ports = { http = 8025 }`` publishes
container port 8025 on 8025 + offset; ``"18080:80"`` publishes container port 80 on 18080 +
offset), and is labelled with the instance and the run, so a harness killed with SIGKILL has it
removed by the next ``up``, ``down`` or ``status``.

Its supervised process is ``docker/follow.py``: the container's output goes to the service's log
(so the plugin slices it per test and the backend-error rule applies), its exit is the
container's, and a stop goes through the engine. Ready when the container's own HEALTHCHECK says
healthy (``healthcheck``: true, false, or unset: when the image has one), else on ``ready``
(http or tcp from the host, or a command run inside the container), else when every published
port answers from inside the container.
"""

from __future__ import annotations

import contextlib
import shlex
import subprocess
import sys
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from harness.config.endpoints import Endpoint
from harness.config.models import NAME, CommandLine, Ready, ServiceModel
from harness.docker.compose import compose_command, render_service
from harness.docker.containers import (
    NODE_LABEL,
    OWNER_LABEL,
    STATE_LABEL,
    ensure_network,
    ensure_volume,
    remove_containers,
    selector_text,
)
from harness.docker.engine import docker_client
from harness.docker.probes import ContainerExecProbe, ContainerHealthProbe, ContainerProbe, PublishedPortProbe
from harness.errors import HarnessError
from harness.host.files import write_private
from harness.host.probes import AllOf, HttpProbe, Probe
from harness.host.processes import log_tail
from harness.kinds.base import Kind, Launch, ServiceContext

HEALTH_INTERVAL_NS = 500_000_000  # how often the image's own healthcheck runs while we wait on it


def _split(value: object, where: str) -> tuple[int, int | None]:
    """``8025`` (or ``"8025"``) -> (8025, None); ``"18080:80"`` -> (18080, 80): host port, container port."""
    if isinstance(value, int):
        return value, None
    host, sep, inner = str(value).partition(":")
    try:
        return int(host), (int(inner) if sep else None)
    except ValueError:
        raise ValueError(f'{where}: {value!r} is not a port, nor HOST:CONTAINER (for example "18080:80")') from None


class ContainerService(ServiceModel):
    kind: Literal["container"] = "container"
    image: str | None = None
    compose_service: str | None = None  # one service of stack.compose_file, run alone
    command: CommandLine | list[str] | None = None  # replaces the image's (a string is split like a shell would)
    container_port: int | None = Field(None, ge=1, le=65535)  # what `port` publishes (default: the same number)
    container_ports: dict[Annotated[str, Field(pattern=NAME)], Annotated[int, Field(ge=1, le=65535)]] = {}
    volumes: dict[str, str] = {}  # path in the container -> "tmpfs", or a volume name (one per instance)
    ready: Ready | None = None  # http or tcp from the host; command: run inside the container
    healthcheck: bool | None = None  # wait on the image's HEALTHCHECK (unset: when it has one)

    @model_validator(mode="before")
    @classmethod
    def _host_and_container_ports(cls, data: Any) -> Any:
        """``"HOST:CONTAINER"`` in ``port`` and ``ports``, as compose writes them."""
        if not isinstance(data, dict):
            return data
        data = dict(data)
        if "port" in data and not isinstance(data["port"], int):
            data["port"], inner = _split(data["port"], "port")
            if inner is not None:
                data.setdefault("container_port", inner)
        if isinstance(data.get("ports"), dict):
            ports, inner_ports = {}, dict(data.get("container_ports") or {})
            for key, value in data["ports"].items():
                ports[key], inner = _split(value, f"ports.{key}")
                if inner is not None:
                    inner_ports.setdefault(key, inner)
            data["ports"], data["container_ports"] = ports, inner_ports
        return data

    @model_validator(mode="after")
    def _one_source(self) -> ContainerService:
        if bool(self.image) == bool(self.compose_service):
            raise ValueError("give exactly one of 'image' (any image) or 'compose_service' (from stack.compose_file)")
        unknown = sorted(set(self.container_ports) - set(self.ports))
        if unknown:
            raise ValueError(f"container_ports names {', '.join(unknown)}, which ports does not")
        for path, source in self.volumes.items():
            if not path.startswith("/"):
                raise ValueError(f"volumes: {path!r} is not an absolute path in the container")
            if source != "tmpfs" and not source.replace("-", "_").replace(".", "_").isidentifier():
                raise ValueError(f"volumes.{path}: {source!r} is neither 'tmpfs' nor a volume name")
        return self

    def published(self, host_ports: dict[str, int], port: int | None) -> dict[int, int]:
        """Container port -> host port, for this instance's host ports."""
        out = {self.container_ports.get(name, self.ports[name]): host for name, host in host_ports.items()}
        if port is not None and self.port is not None:
            out[self.container_port or self.port] = port
        return out


@dataclass(frozen=True)
class ContainerEndpoint(Endpoint):
    image: str = ""  # the image (for a compose service: its name in the compose file)


Ctx = ServiceContext[ContainerService, ContainerEndpoint]


def container_name(ctx: ServiceContext[Any, Any]) -> str:
    """``<stack>-<instance>-<service>``: one container per node and instance."""
    return f"{ctx.instance_prefix}-{ctx.name}"


def _free_name(client: Any, name: str, node: str) -> None:
    """The name taken by a stopped container of another copy of this stack (another checkout, whose
    state dir differs, so the sweep above does not match it) is freed; a running one is named."""
    import docker

    try:
        other = client.containers.get(name)
    except docker.errors.NotFound:
        return
    if other.status == "running":
        where = (other.labels or {}).get(STATE_LABEL, "not the harness's")
        raise HarnessError(
            f"{node}: container {name} is running for another copy of this stack (state dir {where}); "
            "take that one down, or use another --instance"
        )
    with contextlib.suppress(docker.errors.NotFound):
        other.remove(force=True, v=True)


class ContainerKind(Kind[ContainerService, ContainerEndpoint]):
    name = "container"
    model = ContainerService
    extra = "docker"
    requires = ("docker", "yaml")
    needs_engine = True

    def endpoint(self, svc: ContainerService, base: Endpoint, instance: int) -> ContainerEndpoint:
        ports = dict(base.ports.items())
        port = base.port if base.port is not None else ports.get("http")
        url = f"http://{base.host}:{port}" if port is not None else ""
        return ContainerEndpoint.extend(base, url=url, image=svc.image or svc.compose_service or "")

    def templates(self, svc: ContainerService) -> dict[str, str]:
        out = {f"env.{key}": value for key, value in svc.env.items()}
        if isinstance(svc.command, str):
            out["command"] = svc.command
        elif svc.command is not None:
            out |= {f"command.{i}": part for i, part in enumerate(svc.command)}
        if svc.ready and svc.ready.http:
            out["ready.http"] = svc.ready.http
        if svc.ready and svc.ready.command:
            out["ready.command"] = svc.ready.command
        return out

    def launch(self, ctx: Ctx) -> Launch:
        svc, name = ctx.svc, container_name(ctx)
        state = str(ctx.data_dir.parent)
        selector = {STATE_LABEL: state, NODE_LABEL: ctx.name}
        labels = {**selector, OWNER_LABEL: ctx.owner}
        client = docker_client()
        remove_containers([selector], settle=0)  # one a killed run left behind
        _free_name(client, name, ctx.name)
        network = ensure_network(client, ctx.instance_prefix, {STATE_LABEL: state})
        host_ports = svc.published(dict(ctx.endpoint.ports.items()), ctx.endpoint.port)
        environment = {key.removeprefix("env."): v for key, v in ctx.rendered.items() if key.startswith("env.")}
        if svc.compose_service:
            self._compose_up(ctx, name, labels, network, host_ports, environment)
        else:
            self._run(ctx, client, name, labels, network, host_ports, environment)
        grace = max(1.0, svc.stop_timeout - 2.0)  # the engine's stop, inside the harness's own grace
        return Launch(
            argv=[sys.executable, "-m", "harness.docker.follow", name, f"{grace:g}"],
            containers=selector_text(selector),
            note=f"container {name}",
        )

    def _command(self, ctx: Ctx) -> list[str] | None:
        if "command" in ctx.rendered:
            return shlex.split(ctx.rendered["command"])
        parts = sorted((int(k.split(".")[1]), v) for k, v in ctx.rendered.items() if k.startswith("command."))
        return [v for _, v in parts] or None

    def _run(
        self,
        ctx: Ctx,
        client: Any,
        name: str,
        labels: dict[str, str],
        network: str,
        host_ports: dict[int, int],
        environment: dict[str, str],
    ) -> None:
        import docker

        svc = ctx.svc
        assert svc.image is not None
        image = self._image(ctx, client, svc.image)
        has_health = bool((image.attrs.get("Config") or {}).get("Healthcheck"))
        if svc.healthcheck and not has_health:
            raise HarnessError(
                f"{ctx.name}: healthcheck = true, but image {svc.image} has no HEALTHCHECK; "
                f"give services.{ctx.name}.ready instead ({ctx.stack_file})"
            )
        volumes = {}
        tmpfs = {}
        for path, source in svc.volumes.items():
            if source == "tmpfs":
                tmpfs[path] = ""
            else:
                volume = ensure_volume(client, f"{name}-{source}", labels)
                volumes[volume] = {"bind": path, "mode": "rw"}
        try:
            container = client.containers.create(
                svc.image,
                command=self._command(ctx),
                name=name,
                environment=environment,
                labels=labels,
                ports={f"{inner}/tcp": ("127.0.0.1", host) for inner, host in host_ports.items()},
                network=network,
                networking_config={network: client.api.create_endpoint_config(aliases=[ctx.name])},
                tmpfs=tmpfs,
                volumes=volumes,
                healthcheck={"interval": HEALTH_INTERVAL_NS} if has_health and svc.healthcheck is not False else None,
                detach=True,
            )
            container.start()
        except docker.errors.APIError as exc:
            reason = exc.explanation or exc
            raise HarnessError(f"{ctx.name}: the engine refused to start {svc.image}: {reason}") from None

    def _image(self, ctx: Ctx, client: Any, image: str) -> Any:
        """The image, pulled if the engine does not have it yet."""
        import docker

        try:
            return client.images.get(image)
        except docker.errors.ImageNotFound:
            pass
        try:
            return client.images.pull(image)
        except docker.errors.APIError as exc:
            raise HarnessError(
                f"{ctx.name}: image {image} is not on the engine and could not be pulled "
                f"({(exc.explanation or str(exc)).splitlines()[0]}); build or load it there first"
            ) from None

    def _compose_up(
        self,
        ctx: Ctx,
        name: str,
        labels: dict[str, str],
        network: str,
        host_ports: dict[int, int],
        environment: dict[str, str],
    ) -> None:
        """The compose service rendered alone (``docker/compose.py``), then ``up -d`` of just it."""
        import yaml

        svc = ctx.svc
        if ctx.compose_file is None:
            raise HarnessError(f"{ctx.name}: compose_service needs stack.compose_file in {ctx.stack_file}")
        project = name
        model = render_service(
            ctx.compose_cli,
            [ctx.compose_file],
            str(svc.compose_service),
            project=project,
            name=name,
            host_ports=host_ports,
            labels=labels,
            network=network,
            aliases=[ctx.name, str(svc.compose_service)],
            environment=environment,
            env=ctx.env,
        )
        service = model["services"][str(svc.compose_service)]
        command = self._command(ctx)
        if command:
            service["command"] = command
        if svc.healthcheck is False:
            service["healthcheck"] = {"disable": True}
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        rendered = ctx.data_dir / "compose.yaml"
        write_private(rendered, yaml.safe_dump(model, sort_keys=False), 0o644)
        argv = [*compose_command(ctx.compose_cli), "--project-name", project, "--file", str(rendered)]
        argv += ["up", "--detach", "--no-deps", "--no-build", str(svc.compose_service)]
        with open(ctx.log_path, "ab") as log:
            res = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(ctx.env), timeout=600)
        if res.returncode:
            raise HarnessError(
                f"{ctx.name}: `{' '.join(argv)}` exited with {res.returncode}; last lines of {ctx.log_path}:\n"
                + log_tail(ctx.log_path, 10)
            )

    def probe(self, ctx: Ctx) -> Probe | None:
        svc, ep, name = ctx.svc, ctx.endpoint, container_name(ctx)
        ports = [PublishedPortProbe(ep.host, p) for p in [ep.port, *ep.ports.values()] if p is not None]
        ready = svc.ready
        if svc.healthcheck:
            return ContainerHealthProbe(name)
        if ready is not None and ready.http:
            path = ctx.rendered["ready.http"]
            return HttpProbe(path if path.startswith("http") else f"{ep.url}{path}", ready.status, ready.expect)
        if ready is not None and ready.command:
            return ContainerExecProbe(name, shlex.split(ctx.rendered["ready.command"]))
        fallback = AllOf(ports) if ports else None
        if ready is not None or svc.healthcheck is False:  # tcp = true, or the image's check turned off
            return fallback
        return ContainerProbe(name, fallback)

    def start_timeout(self, svc: ContainerService) -> float:
        return svc.start_timeout or (svc.ready.timeout if svc.ready else 120.0)

    def ready_passes(self, svc: ContainerService) -> int:
        return svc.ready.passes if svc.ready else 1


CONTAINER = ContainerKind()
