"""Containers, volumes and networks found by their labels, and removed with what they made.

Everything the harness makes on an engine carries labels: ``STATE_LABEL`` (the instance, by its
state dir), ``OWNER_LABEL`` (the run) and ``NODE_LABEL`` (the service). A harness killed with
SIGKILL leaves exact label values behind in its ledger, and the next ``up``, ``down`` or
``status`` removes by them; the engine filters labels by exact value only, so each is its own.
A selector is a mapping of label to value, all of which must match; the ledger keeps one per
service as JSON text.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from harness.docker.compose import PROJECT_LABEL, SERVICE_LABEL
from harness.docker.engine import docker_client

STATE_LABEL = "org.harness.state"  # the instance: its state dir
OWNER_LABEL = "org.harness.owner"  # the run: <state dir>#<token>
NODE_LABEL = "org.harness.service"  # the service of the stack

Selector = Mapping[str, str]


def selector_text(selector: Selector) -> str:
    """How a ledger entry keeps a selector."""
    return json.dumps(dict(selector), sort_keys=True)


def parse_selector(text: str) -> dict[str, str]:
    """A ledger entry's selector; ``project/service`` is how entries before labels kept compose's."""
    if text.startswith("{"):
        return {str(k): str(v) for k, v in json.loads(text).items()}
    project, _, service = text.partition("/")
    return {PROJECT_LABEL: project, **({SERVICE_LABEL: service} if service else {})}


def _filters(selector: Selector) -> dict[str, list[str]]:
    return {"label": [f"{k}={v}" for k, v in selector.items()]}


def remove_containers(selectors: Sequence[Selector], settle: float = 0.3, timeout: float = 10.0) -> list[str]:
    """Force-remove the containers each selector matches, with their anonymous volumes; their names.

    A compose client killed mid-request can leave a create still in flight at the engine, so
    the sweep repeats until nothing new has appeared for ``settle`` seconds (within ``timeout``).
    """
    import docker

    client = docker_client()
    removed: list[str] = []
    deadline = time.monotonic() + timeout
    last_seen = time.monotonic()
    while True:
        for selector in selectors:
            # ignore_removed: a container removed between the listing and its inspection is gone anyway.
            for container in client.containers.list(all=True, filters=_filters(selector), ignore_removed=True):
                with contextlib.suppress(docker.errors.NotFound, docker.errors.APIError):
                    container.remove(force=True, v=True)
                if container.name not in removed:
                    removed.append(str(container.name))
                last_seen = time.monotonic()
        if time.monotonic() - last_seen >= settle or time.monotonic() >= deadline:
            return removed
        time.sleep(0.05)


def remove_volumes(selector: Selector) -> list[str]:
    """Delete the named volumes the selector matches (``down --clean``: data starts from nothing)."""
    removed = []
    for volume in docker_client().volumes.list(filters=_filters(selector)):
        volume.remove(force=True)
        removed.append(str(volume.name))
    return removed


def remove_networks(selector: Selector) -> list[str]:
    """Delete the networks the selector matches that no container uses any more."""
    import docker

    removed = []
    for network in docker_client().networks.list(filters=_filters(selector)):
        with contextlib.suppress(docker.errors.APIError):  # still in use: it stays
            network.remove()
            removed.append(str(network.name))
    return removed


def ensure_network(client: Any, name: str, labels: Mapping[str, str]) -> str:
    """The instance's own network (containers reach each other there by service name)."""
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        return str(client.networks.get(name).id)
    try:
        return str(client.networks.create(name, driver="bridge", labels=dict(labels)).id)
    except docker.errors.APIError:  # made meanwhile by a parallel start
        return str(client.networks.get(name).id)


def ensure_volume(client: Any, name: str, labels: Mapping[str, str]) -> str:
    """A named volume of the instance, labelled so ``down --clean`` finds it."""
    import docker

    with contextlib.suppress(docker.errors.NotFound):
        return str(client.volumes.get(name).name)
    return str(client.volumes.create(name=name, labels=dict(labels)).name)
