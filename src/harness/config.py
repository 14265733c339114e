"""The stack definition: ``stack.toml`` parsed, interpolated and validated into frozen models.

Every error is a :class:`ConfigError` naming the file and the dotted key at fault, so a typo
in the stack file reads as one line instead of a pydantic traceback.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union

from pydantic import Field, ValidationError, model_validator

from harness.conventions import Conventions
from harness.errors import ConfigError
from harness.kinds import KINDS
from harness.kinds.base import NAME, Model, NodeModel, ServiceModel
from harness.stackfile import interpolate, read_toml

if TYPE_CHECKING:
    Service = ServiceModel
else:
    # The union of every registered kind's model, told apart by ``kind``.
    Service = Annotated[Union[tuple(k.model for k in KINDS.values())], Field(discriminator="kind")]  # noqa: UP007
_Model = Model
_Node = NodeModel


class Step(_Node):
    """A one-shot command or Python callable; cached when ``inputs`` and ``outputs`` are given."""

    run: str | None = None
    call: str | None = None
    args: dict[str, Any] = {}
    shell: bool = False
    inputs: list[str] = []
    outputs: list[str] = []
    timeout: float = Field(600.0, gt=0)
    snapshot: str | None = None  # the service whose data it changes: saved after it, restored instead

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        if bool(self.run) == bool(self.call):
            raise ValueError("give exactly one of 'run' (a command) or 'call' ('module:function')")
        if self.snapshot and not self.inputs:
            raise ValueError("'snapshot' needs 'inputs': the files whose change means the step must run again")
        if self.call and ":" not in self.call:
            raise ValueError(f"'call' must look like 'module:function', got {self.call!r}")
        return self


class Profile(_Model):
    services: list[Annotated[str, Field(pattern=NAME)]]
    description: str = ""


class Suite(_Model):
    profile: str
    markers: str | None = None
    paths: list[str] = []
    command: list[str] = ["python", "-m", "pytest"]
    args: list[str] = []
    env: dict[str, str] = {}
    cwd: str | None = None
    path: list[str] = []
    description: str = ""
    session: str | None = None  # its nox session's name (default: integration_<suite>)
    plugin: bool = True  # load the harness's pytest plugin; false: results are read from JUnit XML
    backend_errors: bool = True  # a service logging an ERROR or traceback during a test fails it
    watch: bool = True  # watch the services while the tests run (liveness, restarts, resources)
    workers: Annotated[int, Field(ge=0, le=256)] | Literal["auto"] = 0  # pytest-xdist workers (0: none)
    early_start: bool = True  # start pytest while the stack comes up (false: a conftest needs it at import)
    stop_on_death: bool | None = None  # end the run at the first service failure (None: only under CI)
    stop_on_backend_error: bool = False  # end the run at the first unallowed backend error


class StackSettings(_Model):
    name: str = "stack"
    port_offset: int = Field(100, ge=1, le=5000)
    max_instance: int = Field(20, ge=0, le=200)
    state_dir: str = ".harness"
    log_dir: str = "logs"
    default_profile: str | None = None
    compose_file: str | None = None  # docker backend: where postgres/s3/temporal services come from
    python: str | None = None  # the project's interpreter ({python}); default: the harness's own
    path: list[str] = []  # prepended to PATH for every service, step and suite
    dotenv: str | bool = ".env"  # the .env file beside stack.toml (false: none; or another file)


class Stack(_Model):
    stack: StackSettings = StackSettings()
    tests: Conventions = Conventions()
    env: dict[str, str] = {}
    services: dict[Annotated[str, Field(pattern=NAME)], Service] = {}
    steps: dict[Annotated[str, Field(pattern=NAME)], Step] = {}
    profiles: dict[Annotated[str, Field(pattern=NAME)], Profile] = {}
    suites: dict[Annotated[str, Field(pattern=NAME)], Suite] = {}

    # Set by load_stack; excluded from validation input.
    file: Path = Path("stack.toml")
    root: Path = Path(".")

    def node(self, name: str) -> _Node:
        return self.services.get(name) or self.steps[name]

    def deps(self, name: str) -> list[str]:
        return list(self.node(name).after)

    def task_of(self, name: str) -> str:
        """The Invoke lifecycle task a node belongs to (``invoke <task>`` runs it)."""
        node = self.node(name)
        if node.task:
            return node.task
        if name in self.steps:
            return name.replace("_", "-")
        return "start" if getattr(node, "kind", "process") == "process" else "infra"

    def profile_nodes(self, profile: str | None) -> list[str]:
        """Every node a profile needs, dependencies included, in declaration order."""
        if profile is None:
            profile = self.stack.default_profile
        roots = list(self.services) + list(self.steps) if profile is None else self.profiles[profile].services
        return closure(self, roots)


def closure(stack: Stack, roots: list[str]) -> list[str]:
    seen: set[str] = set()
    stack_: list[str] = list(roots)
    while stack_:
        name = stack_.pop()
        if name not in seen:
            seen.add(name)
            stack_.extend(stack.deps(name))
    order = list(stack.services) + list(stack.steps)
    return [n for n in order if n in seen]


def _format_loc(loc: tuple[int | str, ...], raw: Mapping[str, Any]) -> str:
    parts: list[str] = []
    for i, item in enumerate(loc):
        # pydantic puts the discriminator's tag ("postgres") after the service name: drop it.
        if i == 2 and loc[0] == "services" and isinstance(item, str):
            svc = raw.get("services", {}).get(loc[1], {})
            if isinstance(svc, dict) and item == svc.get("kind", "process"):
                continue
        parts.append(f"[{item}]" if isinstance(item, int) else str(item))
    return ".".join(parts).replace(".[", "[")


def parse_stack(raw: dict[str, Any], file: Path, env: Mapping[str, str]) -> Stack:
    """Validate an already-read TOML document; the caller names the file for error messages."""
    fname = str(file)
    for reserved in ("file", "root"):
        if reserved in raw:
            raise ConfigError(fname, reserved, "unknown key")
    services = raw.get("services", {})
    if isinstance(services, dict):
        for _name, svc in services.items():
            if isinstance(svc, dict) and "kind" not in svc:
                svc["kind"] = "process"
    raw = interpolate(raw, env, fname, "")
    try:
        stack = Stack.model_validate({**raw, "file": file, "root": file.parent})
    except ValidationError as exc:
        err = exc.errors()[0]
        key = _format_loc(err["loc"], raw)
        msg = err["msg"]
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] == "missing":
            msg = "required key is missing"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        elif err["type"] == "union_tag_invalid":
            given = err["input"].get("kind") if isinstance(err["input"], dict) else err["input"]
            msg = f"unknown kind {given!r}; expected one of {', '.join(KINDS)}"
            key = key.removesuffix(".kind") + ".kind" if "kind" not in key else key
        more = len(exc.errors()) - 1
        if more:
            msg += f" (and {more} more problem{'s' if more > 1 else ''})"
        raise ConfigError(fname, key, msg) from None
    _check_references(stack, fname)
    _check_ports(stack, fname)
    _check_cycles(stack, fname)
    _check_patterns(stack, fname)
    _check_paths(stack, fname)
    return stack


def _check_references(stack: Stack, fname: str) -> None:
    clash = set(stack.services) & set(stack.steps)
    if clash:
        name = sorted(clash)[0]
        raise ConfigError(fname, f"steps.{name}", f"'{name}' is also a service; names must be unique")
    known = set(stack.services) | set(stack.steps)
    for section, nodes in (("services", stack.services), ("steps", stack.steps)):
        for name, node in nodes.items():
            for dep in node.after:
                if dep not in known:
                    raise ConfigError(
                        fname,
                        f"{section}.{name}.after",
                        f"unknown dependency '{dep}' (known: {', '.join(sorted(known))})",
                    )
    snapshotted: dict[str, str] = {}
    for name, step in stack.steps.items():
        target = step.snapshot
        if target is None:
            continue
        where = f"steps.{name}.snapshot"
        if target not in closure(stack, [name]) or target not in stack.services:
            raise ConfigError(fname, where, f"'{target}' is not a service this step runs after")
        if not KINDS[getattr(stack.services[target], "kind", "process")].can_snapshot:
            able = ", ".join(k for k, kind in KINDS.items() if kind.can_snapshot)
            raise ConfigError(fname, where, f"'{target}' is of a kind that cannot snapshot its data ({able} can)")
        if target in snapshotted:
            raise ConfigError(fname, where, f"steps.{snapshotted[target]} already snapshots '{target}'")
        snapshotted[target] = name
    for i, allowed in enumerate(stack.tests.allow_backend_errors):
        if allowed.service is not None and allowed.service not in stack.services:
            where = f"tests.allow_backend_errors[{i}].service"
            raise ConfigError(fname, where, f"unknown service '{allowed.service}'")
    for pname, profile in stack.profiles.items():
        for i, svc in enumerate(profile.services):
            if svc not in known:
                raise ConfigError(fname, f"profiles.{pname}.services[{i}]", f"unknown service or step '{svc}'")
    for sname, suite in stack.suites.items():
        if suite.profile not in stack.profiles:
            raise ConfigError(fname, f"suites.{sname}.profile", f"unknown profile '{suite.profile}'")
        if not suite.command:
            raise ConfigError(fname, f"suites.{sname}.command", "the test command is empty")
    default = stack.stack.default_profile
    if default is not None and default not in stack.profiles:
        raise ConfigError(fname, "stack.default_profile", f"unknown profile '{default}'")


def _check_ports(stack: Stack, fname: str) -> None:
    owners: dict[int, str] = {}
    for name, svc in stack.services.items():
        declared = [("port", svc.port)] + [(f"ports.{k}", v) for k, v in svc.ports.items()]
        for key, port in declared:
            if port is None:
                continue
            if port in owners:
                raise ConfigError(fname, f"services.{name}.{key}", f"port {port} is also used by {owners[port]}")
            owners[port] = f"services.{name}"
    # Instances shift every port by the same offset, so two bases that differ by a multiple of
    # it collide at some instance: refuse that up front rather than at `up --instance N`.
    offset, top = stack.stack.port_offset, stack.stack.max_instance
    items = sorted(owners.items())
    for i, (a, owner_a) in enumerate(items):
        for b, owner_b in items[i + 1 :]:
            steps = (b - a) // offset
            if (b - a) % offset == 0 and steps <= top:
                raise ConfigError(
                    fname,
                    "stack.max_instance",
                    f"{owner_a} port {a} and {owner_b} port {b} collide at instance {steps} "
                    f"(port_offset {offset}); lower max_instance below {steps} or change a port",
                )


def _check_patterns(stack: Stack, fname: str) -> None:
    conventions = stack.tests
    rules = [("tests.id_pattern", conventions.id_pattern)]
    rules += [(f"tests.routes[{i}].pattern", r.pattern) for i, r in enumerate(conventions.routes)]
    for key, pattern in rules:
        try:
            re.compile(pattern)
        except re.error as exc:
            raise ConfigError(fname, key, f"not a valid regular expression: {exc}") from None


def inside(root: Path, path: str) -> bool:
    """``path`` (relative to ``root``, or absolute) is ``root`` or below it."""
    resolved = (root / path).resolve()
    return resolved == root.resolve() or root.resolve() in resolved.parents


def _check_paths(stack: Stack, fname: str) -> None:
    """Directories the harness writes (and ``down --clean`` deletes in) stay inside the project."""
    checked = [("stack.state_dir", stack.stack.state_dir), ("stack.log_dir", stack.stack.log_dir)]
    for name, step in stack.steps.items():
        checked += [(f"steps.{name}.outputs[{i}]", out) for i, out in enumerate(step.outputs)]
    for section, nodes in (("services", stack.services), ("steps", stack.steps)):
        checked += [(f"{section}.{n}.cwd", node.cwd) for n, node in nodes.items() if node.cwd and "{" not in node.cwd]
    for key, path in checked:
        # An absolute path is the user's deliberate choice; a relative one must not climb out.
        if not Path(path).is_absolute() and not inside(stack.root, path):
            raise ConfigError(
                fname,
                key,
                f"{path!r} leads outside the project ({stack.root}); use a path inside it, or an absolute one",
            )


def _check_cycles(stack: Stack, fname: str) -> None:
    from harness.graph import CycleError, topological_order

    try:
        topological_order({n: stack.deps(n) for n in [*stack.services, *stack.steps]})
    except CycleError as exc:
        first = exc.cycle[0]
        section = "services" if first in stack.services else "steps"
        raise ConfigError(fname, f"{section}.{first}.after", "dependency cycle: " + " -> ".join(exc.cycle)) from None


def load_stack(path: str | os.PathLike[str], env: Mapping[str, str]) -> Stack:
    """Read, interpolate (``${VAR}`` from ``env``) and validate a stack file."""
    raw = read_toml(path)
    return parse_stack(raw, Path(path).resolve(), env)
