"""``harness init --from docker-compose.yml``: a team's compose file as a stack.toml.

An image a kind recognises (``Kind.compose_images``: postgres, mysql and mariadb, redis, minio,
rabbitmq, temporal) becomes that kind, run natively, its environment mapped to the kind's keys
(``Kind.from_compose``); every other service becomes a container node running that compose
service (its image, environment, command, volumes and healthcheck as the file says).
``depends_on`` becomes ``after``; a service others wait on to complete
(``service_completed_successfully``) becomes a step; published ports are kept (a host port
below 1024 moves up by 10000). What cannot be mapped (build contexts, networks, secrets, an
``env_file`` that cannot be read) is listed at the top of the file and returned, never dropped
silently.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.cli.compose_file import command, depends, environment, image_name, published_ports, read_compose
from harness.cli.scaffold import INIT_LOG_DIR
from harness.kinds import KINDS
from harness.kinds.base import Kind


@dataclass
class Imported:
    """The stack.toml written from a compose file, and what could not be mapped."""

    text: str
    notes: list[str] = field(default_factory=list)


def kind_of(image: str) -> Kind[Any, Any] | None:
    name = image_name(image)
    return next((k for k in KINDS.values() if name in k.compose_images), None)


def node_name(service: str) -> str:
    """A compose service's name as a stack.toml name (lower case, letters, digits and _)."""
    name = re.sub(r"[^a-z0-9_]", "_", service.lower())
    return name if name[:1].isalpha() else f"s_{name}"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{_key(k)} = {_toml(v)}" for k, v in value.items()) + " }"
    return json.dumps(value)


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else json.dumps(key)


def _host(port: int, where: str, notes: list[str]) -> int:
    if port >= 1024:
        return port
    notes.append(f"{where}: host port {port} is below 1024; the stack publishes it on {port + 10000}")
    return port + 10000


def import_compose(compose: Path, stack_file: Path) -> Imported:
    """The stack.toml for ``compose`` (to be written at ``stack_file``)."""
    notes: list[str] = []
    model = read_compose(compose, notes)
    services = model["services"]
    for key in ("networks", "secrets", "configs"):
        if model.get(key):
            notes.append(f"top-level {key} ({', '.join(model[key])})" + _WHY.get(key, ""))
    oneshots = {d for s in services.values() for d, c in depends(s.get("depends_on")).items() if "completed" in c}
    names = {svc: node_name(svc) for svc in services}
    skipped: set[str] = set()
    blocks: list[list[str]] = []
    ports: list[int] = []  # every host port the stack will use, to keep instances apart
    compose_rel = os.path.relpath(compose.resolve(), stack_file.resolve().parent)
    for svc, spec in services.items():
        spec = spec or {}
        name = names[svc]
        env = environment(svc, spec, compose.parent, notes)
        for key in ("networks", "secrets", "configs", "network_mode", "extra_hosts"):
            if spec.get(key) and key != "networks":
                notes.append(f"services.{svc}.{key}" + _WHY.get(key, ""))
        if spec.get("networks"):
            notes.append(f"services.{svc}.networks" + _WHY["networks"])
        if "build" in spec and "image" not in spec:
            skipped.add(svc)
            notes.append(
                f"services.{svc} is built from a context (build:) and names no image: build it, then add it "
                f'as a container node (kind = "container", image = "...")'
            )
            continue
        after = [names[d] for d in depends(spec.get("depends_on")) if d in services]
        if svc in oneshots:
            blocks.append(_step(svc, name, compose_rel, after))
            continue
        kind = kind_of(str(spec.get("image", "")))
        published = published_ports(spec.get("ports"))
        if kind is not None:
            blocks.append(_native(svc, name, kind, spec, env, published, after, notes, ports))
        else:
            blocks.append(_container(svc, name, spec, published, after, notes, ports))
    for block in blocks:  # a dependency that could not be mapped is not waited for
        for i, line in enumerate(block):
            if line.startswith("after = "):
                kept = [d for d in json.loads(line[8:]) if d not in {names[s] for s in skipped}]
                block[i] = f"after = {json.dumps(kept)}"
    text = _render(stack_file, compose_rel, blocks, ports, services, names, oneshots | skipped, notes)
    return Imported(text, notes)


_WHY = {
    "networks": ": every container node joins the instance's own network, where each is reached by its service name",
    "secrets": ": give the values through the environment or .env, and ${VAR} in stack.toml",
    "configs": ": mount the files as volumes of a container node, or put the values in env",
    "network_mode": ": container nodes publish their ports on 127.0.0.1 instead",
    "extra_hosts": ": add them to the image, or reach the others by their service names",
}


def _step(svc: str, name: str, compose_rel: str, after: list[str]) -> list[str]:
    return [
        f"[steps.{name}]",
        f"# compose service {svc}, run to completion before what waits on it; it reaches the other services",
        "# by their compose names only when they run as containers (point it at {<service>.host}:{<service>.port})",
        f'run = "docker compose --file {compose_rel} run --rm --no-deps {svc}"',
        f"after = {json.dumps(after)}",
    ]


def _native(
    svc: str,
    name: str,
    kind: Kind[Any, Any],
    spec: Mapping[str, Any],
    env: dict[str, str],
    published: dict[int, int],
    after: list[str],
    notes: list[str],
    used: list[int],
) -> list[str]:
    own = kind.compose_port
    port = _host(published.get(own, own), f"services.{svc}", notes) if own else None
    out = [f"[services.{name}]", f"# compose service {svc} ({spec.get('image')}): run natively"]
    out.append(f'kind = "{kind.name}"')
    if port:
        out.append(f"port = {port}")
    named = {
        label: _host(published[inner], f"services.{svc}", notes)
        for inner, label in kind.compose_named_ports.items()
        if inner in published
    }
    if named:
        out.append(f"ports = {_toml(named)}")
    used += [*([port] if port else []), *named.values()]
    if port and kind.name == "rabbitmq":
        used += [port + 1, port + 2]  # its epmd and distribution ports
    out += [f"{key} = {_toml(value)}" for key, value in kind.from_compose(env, command(spec.get("command"))).items()]
    if after:
        out.append(f"after = {json.dumps(after)}")
    if spec.get("volumes"):
        notes.append(f"services.{svc}.volumes: a native {kind.name} keeps its data in the instance's state dir")
    return out


def _container(
    svc: str,
    name: str,
    spec: Mapping[str, Any],
    published: dict[int, int],
    after: list[str],
    notes: list[str],
    used: list[int],
) -> list[str]:
    out = [
        f"[services.{name}]",
        f"# compose service {svc} ({spec.get('image')}): its image, environment, command, volumes and healthcheck",
        'kind = "container"',
        f'compose_service = "{svc}"',
    ]
    ports = {inner: _host(host, f"services.{svc}", notes) for inner, host in published.items()}
    used += list(ports.values())
    if len(ports) == 1:
        ((inner, host),) = ports.items()
        out.append(f'port = "{host}:{inner}"')
    elif ports:
        out.append(f"ports = {_toml({f'p{inner}': f'{host}:{inner}' for inner, host in ports.items()})}")
    health = spec.get("healthcheck") or {}
    if health and not health.get("disable"):
        out.append("healthcheck = true  # its compose healthcheck")
    if after:
        out.append(f"after = {json.dumps(after)}")
    return out


def _render(
    stack_file: Path,
    compose_rel: str,
    blocks: list[list[str]],
    ports: list[int],
    services: Mapping[str, Any],
    names: Mapping[str, str],
    not_nodes: set[str],
    notes: list[str],
) -> str:
    nodes = [names[s] for s in services if s not in not_nodes]
    top = _max_instance(ports)
    head = [
        f"# Written by `harness init --from {compose_rel}`: each service of the compose file, natively where a",
        "# kind of the harness runs its image, else as a container node running that compose service.",
    ]
    head += ["#", "# Not mapped (do these by hand):"] + [f"#   - {n}" for n in notes] if notes else []
    out = [
        *head,
        "",
        "[stack]",
        f"name = {json.dumps(stack_file.resolve().parent.name or 'stack')}",
        f"compose_file = {json.dumps(compose_rel)}",
        "# The kinds with a native form run natively; container nodes run on the Docker engine.",
        'backend = "native"',
        f"log_dir = {json.dumps(INIT_LOG_DIR)}  # records and logs beside the state: one directory to ignore",
        *(
            [f"max_instance = {top}  # at instance {top + 1} two ports would collide or one pass 65535"]
            if top is not None
            else []
        ),
        'default_profile = "all"',
        "",
    ]
    for block in blocks:
        out += [*block, ""]
    out += [
        "[profiles.all]",
        f"services = {json.dumps(nodes)}",
        "",
        "[suites.tests]",
        'profile = "all"',
        'paths = ["tests"]',
    ]
    return "\n".join(out) + "\n"


def _max_instance(ports: list[int], offset: int = 100, default: int = 20) -> int | None:
    """The highest instance at which no two host ports collide and none passes 65535 (None: the
    default holds).

    Instances shift every port by ``offset``: two ports ``k * offset`` apart meet at instance k.
    """
    steps = [abs(a - b) // offset for i, a in enumerate(ports) for b in ports[i + 1 :] if abs(a - b) % offset == 0]
    lowest = min(steps, default=default + 1)
    if ports and max(ports) + default * offset > 65535:
        lowest = min(lowest, (65535 - max(ports)) // offset + 1)
    return max(0, lowest - 1) if lowest <= default else None
