"""(Stack, Settings, instance) -> Plan: every value derived from ``stack.toml``, computed once.

Per node the plan holds its kind, typed endpoint, environment, cwd, rendered templates, log and
data paths, dependency level and fingerprint; and the stack-wide environment every process and
test receives. Nothing downstream recomputes a URL or re-reads ``.env``. Loading a stack is
building instance 0's plan, so every template is checked before anything starts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.config.checks import inside
from harness.config.endpoints import Endpoint, Ports
from harness.config.graph import dependency_levels
from harness.config.loader import load_stack
from harness.config.models import ServiceModel
from harness.config.schema import Stack, Step, closure
from harness.config.settings import Settings
from harness.config.templates import EnvView, own_placeholders, render
from harness.docker.compose import instance_prefix
from harness.errors import ConfigError, HarnessError
from harness.host.dircache import cache_root
from harness.kinds import KINDS, missing_extra
from harness.kinds.base import Kind, ServiceContext
from harness.plugin.protocol import INSTANCE_VAR, LOG_DIR_VAR, STACK_FILE_VAR, STATE_DIR_VAR, env_name
from harness.runtime.instances import resolve_instance
from harness.runtime.interpreter import project_python


@dataclass(frozen=True)
class NodePlan:
    """One service or step of one instance, fully resolved."""

    name: str
    section: str  # "services" or "steps"
    model: ServiceModel | Step
    deps: tuple[str, ...]
    level: int  # depth in the dependency graph: what depends on nothing is 0
    task: str
    env: Mapping[str, str]
    cwd: Path
    log_path: Path
    data_dir: Path
    endpoint: Endpoint | None  # services only
    rendered: Mapping[str, str]  # the node's own templates, rendered (command, run, ready.http...)
    fingerprint: str

    @property
    def is_service(self) -> bool:
        return self.section == "services"

    @property
    def kind(self) -> Kind[Any, Any]:
        assert isinstance(self.model, ServiceModel), f"{self.name} is a step"
        return KINDS[self.model.kind]

    @property
    def ports(self) -> list[int]:
        if self.endpoint is None:
            return []
        return [p for p in [self.endpoint.port, *self.endpoint.ports.values()] if p is not None]


@dataclass(frozen=True)
class SuitePlan:
    """A suite's test command, environment, PATH entries and cwd, rendered like every node's."""

    argv: tuple[str, ...]
    env: Mapping[str, str]
    path: tuple[str, ...]  # absolute, before the inherited PATH
    cwd: Path


@dataclass(frozen=True)
class Plan:
    stack: Stack
    settings: Settings
    instance: int
    state_dir: Path
    log_dir: Path
    derived_env: Mapping[str, str]  # what the harness adds: HARNESS_*, per-service variables, [env]
    env: Mapping[str, str]  # the base every process and test starts from: environ + derived_env
    nodes: Mapping[str, NodePlan]
    python: str = sys.executable  # {python}: stack.python, or the harness's own interpreter
    suites: Mapping[str, SuitePlan] = dataclasses.field(default_factory=dict)

    @property
    def file(self) -> Path:
        return self.stack.file

    @property
    def root(self) -> Path:
        return self.stack.root

    @property
    def services(self) -> list[str]:
        return [n for n, node in self.nodes.items() if node.is_service]

    @property
    def runs_dir(self) -> Path:
        return (self.root / self.stack.stack.log_dir / "runs").resolve()

    @property
    def history_file(self) -> Path:
        return (self.root / self.stack.stack.log_dir / "history.jsonl").resolve()

    def node(self, name: str) -> NodePlan:
        return self.nodes[name]

    def closure(self, names: Sequence[str]) -> list[str]:
        """``names`` and everything they depend on, in declaration order."""
        return closure(self.stack, list(names))

    def profile_nodes(self, profile: str | None) -> list[str]:
        if profile is not None and profile not in self.stack.profiles:
            known = ", ".join(self.stack.profiles) or "none"
            raise HarnessError(f"unknown profile '{profile}' (known: {known})")
        return self.stack.profile_nodes(profile)

    def tasks(self) -> dict[str, list[str]]:
        """Lifecycle task name -> its nodes, in declaration order (``invoke <task>``)."""
        out: dict[str, list[str]] = {}
        for name, node in self.nodes.items():
            out.setdefault(node.task, []).append(name)
        return out

    def check_names(self, names: Sequence[str]) -> None:
        unknown = [n for n in names if n not in self.nodes]
        if unknown:
            raise HarnessError(f"unknown service or step: {', '.join(unknown)} (known: {', '.join(self.nodes)})")

    def context(self, name: str, env: Mapping[str, str] | None = None) -> ServiceContext[Any, Any]:
        node = self.nodes[name]
        assert isinstance(node.model, ServiceModel) and node.endpoint is not None
        compose_file = self.stack.stack.compose_file
        return ServiceContext(
            name=name,
            svc=node.model,
            endpoint=node.endpoint,
            env=dict(env if env is not None else node.env),
            cwd=node.cwd,
            log_path=node.log_path,
            data_dir=node.data_dir,
            rendered=node.rendered,
            stack_file=self.file,
            instance=self.instance,
            cache=cache_root(self.env, no_cache=self.settings.no_cache),
            instance_prefix=instance_prefix(self.stack.stack.name, self.instance),
            compose_file=(self.root / compose_file).resolve() if compose_file else None,
            compose_cli=(self.settings.compose or "auto").lower(),
        )


def _endpoints(stack: Stack, number: int, state_dir: Path, log_dir: Path) -> dict[str, Endpoint]:
    offset = number * stack.stack.port_offset
    endpoints: dict[str, Endpoint] = {}
    for name, svc in stack.services.items():
        port = svc.port + offset if svc.port is not None else None
        base = Endpoint(
            name=name,
            kind=svc.kind,
            host=svc.host,
            port=port,
            ports=Ports(name, {k: p + offset for k, p in svc.ports.items()}),
            url=f"http://{svc.host}:{port}" if port is not None else "",
            data_dir=str(state_dir / name),
            log=str(log_dir / f"{name}.log"),
        )
        endpoints[name] = KINDS[svc.kind].endpoint(svc, base, number)
    return endpoints


def service_exports(ep: Endpoint) -> dict[str, str]:
    """``<NAME>_HOST``, ``_PORT``, ``_URL``, ``_LOG``, each named port, and the kind's own."""
    prefix = env_name(ep.name)
    out: dict[str, str] = {}
    if ep.port is not None:
        out[f"{prefix}_HOST"] = ep.host
        out[f"{prefix}_PORT"] = str(ep.port)
    if ep.url:
        out[f"{prefix}_URL"] = ep.url
    out[f"{prefix}_LOG"] = ep.log
    for port_name, port in ep.ports.items():
        out[f"{prefix}_{env_name(port_name)}_PORT"] = str(port)
    out.update(KINDS[ep.kind].exports(prefix, ep))
    return out


def shared_placeholders(
    stack: Stack, settings: Settings, number: int, state_dir: Path, log_dir: Path
) -> dict[str, Any]:
    """The placeholders that are not a service's: ``{instance}``, ``{root}``, ``{env.X}``..."""
    return {
        "instance": number,
        "root": str(stack.root),
        "state_dir": str(state_dir),
        "log_dir": str(log_dir),
        "env": EnvView(dict(settings.environ)),
    }


def build_plan(stack: Stack, settings: Settings, number: int) -> Plan:
    """Everything instance ``number`` of ``stack`` needs; every template error is raised here."""
    root, file = stack.root, stack.file
    state_dir = (root / stack.stack.state_dir / str(number)).resolve()
    log_dir = (root / stack.stack.log_dir / str(number)).resolve()
    environ = dict(settings.environ)
    endpoints = _endpoints(stack, number, state_dir, log_dir)

    shared = shared_placeholders(stack, settings, number, state_dir, log_dir)
    python = shared["python"] = project_python(stack, shared)
    # A service's own `url` may be a template over the others' endpoints.
    for name, svc in stack.services.items():
        if svc.url:
            ctx: dict[str, Any] = {**endpoints, **shared, **own_placeholders(endpoints[name])}
            url = render(svc.url, ctx, file, f"services.{name}.url")
            endpoints[name] = dataclasses.replace(endpoints[name], url=url)

    derived: dict[str, str] = {
        INSTANCE_VAR: str(number),
        STACK_FILE_VAR: str(file),
        STATE_DIR_VAR: str(state_dir),
        LOG_DIR_VAR: str(log_dir),
    }
    for ep in endpoints.values():
        derived.update(service_exports(ep))
    stack_ctx = {**endpoints, **shared}
    for key, template in stack.env.items():
        derived[key] = render(template, stack_ctx, file, f"env.{key}")
    base_env = {**environ, **derived}

    def path_entries(own: Sequence[str], ctx: Mapping[str, Any], where: str) -> list[str]:
        """A node's or suite's ``path``, then the stack's, absolute; then the interpreter's directory."""
        rendered = [render(p, ctx, file, f"{where}.path") for p in [*own, *stack.stack.path]]
        return [str((root / p).resolve()) for p in rendered] + [os.path.dirname(python)]

    levels = dependency_levels({n: stack.deps(n) for n in [*stack.services, *stack.steps]})
    nodes: dict[str, NodePlan] = {}
    every: list[tuple[str, ServiceModel | Step]] = [*stack.services.items(), *stack.steps.items()]
    for name, model in every:
        section = "services" if name in stack.services else "steps"
        own_ep = endpoints.get(name)
        own = (
            own_placeholders(own_ep)
            if own_ep is not None
            else {"name": name, "log": str(log_dir / f"{name}.log"), "data_dir": str(state_dir / name)}
        )
        ctx = {**stack_ctx, **own}
        where = f"{section}.{name}"
        env = dict(base_env)
        for key, template in model.env.items():
            env[key] = render(template, ctx, file, f"{where}.env.{key}")
        env["PATH"] = os.pathsep.join([*path_entries(model.path, ctx, where), base_env.get("PATH", os.defpath)])
        cwd = (root / render(model.cwd, ctx, file, f"{where}.cwd")).resolve() if model.cwd else root
        if model.cwd and not Path(model.cwd).is_absolute() and not inside(root, str(cwd)):
            raise ConfigError(str(file), f"{where}.cwd", f"{str(cwd)!r} leads outside the project ({root})")
        if isinstance(model, Step):
            templates = {"run": model.run} if model.run else {}
        else:
            templates = KINDS[model.kind].templates(model)
        rendered = {k: render(t, ctx, file, f"{where}.{k}") for k, t in templates.items()}
        fingerprint = hashlib.sha256(
            json.dumps([model.model_dump(mode="json"), derived], sort_keys=True).encode()
        ).hexdigest()[:16]
        nodes[name] = NodePlan(
            name=name,
            section=section,
            model=model,
            deps=tuple(model.after),
            level=levels[name],
            task=stack.task_of(name),
            env=env,
            cwd=cwd,
            log_path=log_dir / f"{name}.log",
            data_dir=state_dir / name,
            endpoint=own_ep,
            rendered=rendered,
            fingerprint=fingerprint,
        )
    suites = {
        name: SuitePlan(
            argv=tuple(render(part, stack_ctx, file, f"suites.{name}.command") for part in suite.command),
            env={k: render(t, stack_ctx, file, f"suites.{name}.env.{k}") for k, t in suite.env.items()},
            path=tuple(path_entries(suite.path, stack_ctx, f"suites.{name}")),
            cwd=(root / suite.cwd).resolve() if suite.cwd else root,
        )
        for name, suite in stack.suites.items()
    }
    return Plan(stack, settings, number, state_dir, log_dir, derived, base_env, nodes, python, suites)


def read_stack(settings: Settings) -> Stack:
    """The stack file the settings name, validated against every registered kind."""
    return load_stack(settings.stack_file, settings.environ, KINDS)


def load_plan(settings: Settings) -> Plan:
    """Load and check the stack (as instance 0), then plan the instance the settings ask for."""
    stack = read_stack(settings)
    for name, svc in stack.services.items():
        hint = missing_extra(KINDS[svc.kind])
        if hint:
            raise ConfigError(str(stack.file), f"services.{name}.kind", f"kind '{svc.kind}' needs {hint}")
    number = resolve_instance(stack, settings.instance)
    checked = build_plan(stack, settings, 0)
    return checked if number == 0 else build_plan(stack, settings, number)
