"""Each pytest-xdist worker its own copy of the data of the services a suite isolates.

``[suites.X] isolate = ["db", "cache", "objects"]``: once the stack is up and before the workers
start, each service's kind makes one copy of its data per worker (``WorkerCopies`` in
``kinds/base.py``: a database from a template, a Redis index, buckets). Each worker's variables,
rendered again with its copies' endpoints (``plan.rebound_env``), go to a private file in the
instance's state dir that the plugin applies in the worker before conftest is imported
(``protocol.WORKER_ENV_VAR``). The services themselves keep the data they were started with.

The copies are dropped when the run ends, however it ends. Which copies may exist is written to
the state dir before the first is made, so what a harness killed with SIGKILL left is dropped by
the next run on the instance (as its processes are reaped), before it makes its own.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rich.console import Console

from harness.config.endpoints import Endpoint
from harness.config.templates import render
from harness.errors import HarnessError
from harness.host.files import write_json, write_private
from harness.kinds.base import WorkerCopies
from harness.runtime.orchestrator import Orchestrator
from harness.runtime.plan import Plan, service_exports, shared_placeholders
from harness.runtime.session import Session

T = TypeVar("T")
LEDGER = "worker-copies.json"  # {service: [tag, ...]}: the copies that may exist on this instance
ENV_FILES = "worker-env-*.json"  # one per run: {worker: {variable: value}}


@dataclass
class Isolation:
    """The copies one run made, and the file that tells each worker where its copies are."""

    env_file: Path
    services: list[str]
    tags: list[str] = field(default_factory=list)
    workers: dict[str, dict[str, str]] = field(default_factory=dict)  # worker -> service -> its copy, for the record


def rebound_env(plan: Plan, suite_name: str, replaced: Mapping[str, Endpoint]) -> dict[str, str]:
    """The variables of a suite's tests that change when ``replaced`` services point elsewhere.

    A test worker with its own copy of a database gets that copy's ``DB_DSN``, and every ``[env]``
    or ``[suites.X.env]`` value rendered from ``{db.dsn}`` rendered again; the rest is unchanged.
    """
    stack, file = plan.stack, plan.file
    endpoints = {name: node.endpoint for name, node in plan.nodes.items() if node.endpoint is not None}
    endpoints.update(replaced)
    ctx = {**endpoints, **shared_placeholders(stack, plan.settings, plan.instance, plan.state_dir, plan.log_dir)}
    ctx["python"] = plan.python
    fresh: dict[str, str] = {}
    for ep in replaced.values():
        fresh.update(service_exports(ep))
    fresh.update({key: render(t, ctx, file, f"env.{key}") for key, t in stack.env.items()})
    suite = stack.suites[suite_name]
    fresh.update({k: render(t, ctx, file, f"suites.{suite_name}.env.{k}") for k, t in suite.env.items()})
    before = {**plan.env, **plan.suites[suite_name].env}
    return {k: v for k, v in fresh.items() if before.get(k) != v}


def worker_tags(workers: int) -> list[str]:
    """The xdist worker ids, which name the copies: ``gw0``, ``gw1``..."""
    return [f"gw{i}" for i in range(workers)]


def env_file(orch: Orchestrator, run_id: str) -> Path:
    return orch.plan.state_dir / ENV_FILES.replace("*", run_id)


def _copies(orch: Orchestrator, name: str) -> WorkerCopies:
    copies = orch.kind(name).copies(orch.plan.context(name))
    if copies is None:  # checked at load; a kind that changed its mind since is still named
        raise HarnessError(f"{name}: its kind cannot copy its data per worker")
    return copies


def _guarded(what: str, call: Callable[..., T], *args: object) -> T:
    """A kind's call, its client library's errors (psycopg, botocore, a socket) as one line."""
    try:
        return call(*args)
    except HarnessError:
        raise
    except Exception as exc:  # whatever the kind's client raised, said in one line
        said = str(exc).strip().splitlines()
        raise HarnessError(f"{what}: {said[0] if said else type(exc).__name__}") from None


def _ledger(orch: Orchestrator) -> dict[str, list[str]]:
    try:
        data = json.loads((orch.plan.state_dir / LEDGER).read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise HarnessError(f"{orch.plan.state_dir / LEDGER}: unreadable ({exc}); delete it to go on") from None
    return {str(k): [str(t) for t in v] for k, v in data.items()} if isinstance(data, dict) else {}


def for_run(services: Sequence[str], workers: int, console: Console) -> list[str]:
    """What a run isolates: nothing in one pytest process (no xdist workers), which it says."""
    if services and not workers:
        console.print(f"isolate: no pytest-xdist workers in this run: its tests use the shared {', '.join(services)}")
    return list(services) if workers else []


def reap(orch: Orchestrator) -> list[str]:
    """Drop the copies an earlier run on this instance left (it was killed); what was dropped."""
    left = _ledger(orch)
    dropped = []
    for name, tags in left.items():
        if name not in orch.plan.services or not orch.plan.node(name).kind.can_isolate:
            continue  # no longer in the stack: nothing here can reach its data
        copies = _copies(orch, name)
        for tag in tags:
            _guarded(f"{name}: dropping the copy an earlier run left for worker {tag}", copies.drop, tag)
            dropped.append(f"{name}: {copies.describe(tag)}")
    (orch.plan.state_dir / LEDGER).unlink(missing_ok=True)
    for stale in orch.plan.state_dir.glob(ENV_FILES):  # its workers' variables (passwords among them)
        stale.unlink(missing_ok=True)
    return dropped


def make(orch: Orchestrator, suite_name: str, services: list[str], workers: int, path: Path) -> Isolation:
    """One copy per worker of each service's data, and the workers' variables in ``path``."""
    iso = Isolation(path, list(services), worker_tags(workers))
    write_json(orch.plan.state_dir / LEDGER, {name: iso.tags for name in services})  # before any copy exists
    copies = {name: _copies(orch, name) for name in services}
    by_worker: dict[str, dict[str, str]] = {}
    for tag in iso.tags:
        replaced: dict[str, Endpoint] = {}
        for name, kind_copies in copies.items():
            replaced[name] = _guarded(f"{name}: copying its data for worker {tag}", kind_copies.make, tag, workers)
        by_worker[tag] = rebound_env(orch.plan, suite_name, replaced)
        iso.workers[tag] = {name: kind_copies.describe(tag) for name, kind_copies in copies.items()}
    write_private(path, json.dumps(by_worker))  # DSNs with passwords: only the state dir's owner reads it
    return iso


def drop(orch: Orchestrator, iso: Isolation) -> None:
    """Every copy the run made (or began to), the workers' file, and the ledger entry."""
    iso.env_file.unlink(missing_ok=True)
    failed = []
    for name in iso.services:
        for tag in iso.tags:
            try:
                _guarded(f"{name} {tag}", _copies(orch, name).drop, tag)
            except HarnessError as exc:  # one copy's failure must not keep the others
                failed.append(str(exc))
    if failed:  # the ledger stays: the next run drops what is left
        raise HarnessError("could not drop the workers' copies (the next run retries): " + "; ".join(failed))
    (orch.plan.state_dir / LEDGER).unlink(missing_ok=True)


def prepare(session: Session, suite_name: str, services: list[str], workers: int, path: Path) -> Isolation:
    """Copies of the isolated services' data for each worker (an earlier killed run's dropped first)."""
    orch, t0 = session.orch, time.monotonic()
    left = reap(orch)
    if left:
        orch.console.print(f"dropped the workers' copies an earlier run left: {'; '.join(left)}")
    try:
        made = make(orch, suite_name, services, workers, path)
    except BaseException:
        with contextlib.suppress(HarnessError):  # what was made before the failure; else the next run
            reap(orch)
        path.unlink(missing_ok=True)
        raise
    session.run.timeline.add("isolate", "ok", t0, f"{len(made.tags)} copies of {', '.join(services)}")
    return made
