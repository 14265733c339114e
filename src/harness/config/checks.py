"""Checks across keys of a validated stack: references, snapshots, ports, cycles, paths.

pydantic checks each table on its own; what spans tables (a dependency that must exist, two
services on one port, at any instance) is checked here, each failure one :class:`ConfigError`
naming the file and the key.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from harness.config.graph import CycleError, topological_order
from harness.config.models import KindSchema
from harness.config.schema import Stack, closure
from harness.errors import ConfigError


def check_stack(stack: Stack, fname: str, kinds: Mapping[str, KindSchema]) -> None:
    _check_references(stack, fname)
    _check_snapshots(stack, fname, kinds)
    _check_isolation(stack, fname, kinds)
    _check_coverage(stack, fname)
    _check_ports(stack, fname)
    _check_cycles(stack, fname)
    _check_paths(stack, fname)


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


def _check_snapshots(stack: Stack, fname: str, kinds: Mapping[str, KindSchema]) -> None:
    snapshotted: dict[str, str] = {}
    for name, step in stack.steps.items():
        target = step.snapshot
        if target is None:
            continue
        where = f"steps.{name}.snapshot"
        if target not in closure(stack, [name]) or target not in stack.services:
            raise ConfigError(fname, where, f"'{target}' is not a service this step runs after")
        if not kinds[stack.services[target].kind].can_snapshot:
            able = ", ".join(k for k, kind in kinds.items() if kind.can_snapshot)
            raise ConfigError(fname, where, f"'{target}' is of a kind that cannot snapshot its data ({able} can)")
        if target in snapshotted:
            raise ConfigError(fname, where, f"steps.{snapshotted[target]} already snapshots '{target}'")
        snapshotted[target] = name


def _check_coverage(stack: Stack, fname: str) -> None:
    for sname, suite in stack.suites.items():
        names = suite.coverage if isinstance(suite.coverage, list) else []
        profile = stack.profile_nodes(suite.profile)
        for i, name in enumerate(names):
            where = f"suites.{sname}.coverage[{i}]"
            if name not in stack.services:
                raise ConfigError(fname, where, f"unknown service '{name}' (services: {', '.join(stack.services)})")
            if name not in profile:
                raise ConfigError(fname, where, f"'{name}' is not in profile '{suite.profile}', which the suite runs")


def _check_isolation(stack: Stack, fname: str, kinds: Mapping[str, KindSchema]) -> None:
    for sname, suite in stack.suites.items():
        profile = stack.profile_nodes(suite.profile)
        for i, name in enumerate(suite.isolate):
            where = f"suites.{sname}.isolate[{i}]"
            if name not in stack.services:
                raise ConfigError(fname, where, f"unknown service '{name}' (services: {', '.join(stack.services)})")
            if name not in profile:
                raise ConfigError(fname, where, f"'{name}' is not in profile '{suite.profile}', which the suite runs")
            if not kinds[stack.services[name].kind].can_isolate:
                able = ", ".join(k for k, kind in kinds.items() if kind.can_isolate)
                said = f"'{name}' is of a kind whose data cannot be copied per worker ({able} can)"
                raise ConfigError(fname, where, said)


TOP_PORT = 65535


def _check_ports(stack: Stack, fname: str) -> None:
    owners: dict[int, str] = {}
    offset, top = stack.stack.port_offset, stack.stack.max_instance
    for name, svc in stack.services.items():
        declared = [("port", svc.port)] + [(f"ports.{k}", v) for k, v in svc.ports.items()]
        for key, port in declared:
            if port is None:
                continue
            if port in owners:
                raise ConfigError(fname, f"services.{name}.{key}", f"port {port} is also used by {owners[port]}")
            owners[port] = f"services.{name}"
            if port + top * offset > TOP_PORT:  # no such port: refused at load, not at `up --instance N`
                raise ConfigError(
                    fname,
                    f"services.{name}.{key}",
                    f"port {port} becomes {port + top * offset} at instance {top} (stack.max_instance {top}, "
                    f"port_offset {offset}), past {TOP_PORT}; lower the port, max_instance or port_offset",
                )
    # Instances shift every port by the same offset, so two bases that differ by a multiple of
    # it collide at some instance: refuse that up front rather than at `up --instance N`.
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


def inside(root: Path, path: str) -> bool:
    """``path`` (relative to ``root``, or absolute) is ``root`` or below it (links followed)."""
    top = Path(os.path.realpath(root))
    resolved = Path(os.path.realpath(root / path))  # never raises, a link loop included
    return resolved == top or top in resolved.parents


def _check_paths(stack: Stack, fname: str) -> None:
    """Directories the harness writes (and ``down --clean`` deletes in), where suites run, and
    the durations file stay inside the project; the state and log dirs are directories."""
    dirs = [("stack.state_dir", stack.stack.state_dir), ("stack.log_dir", stack.stack.log_dir)]
    checked = list(dirs)
    for name, step in stack.steps.items():
        checked += [(f"steps.{name}.outputs[{i}]", out) for i, out in enumerate(step.outputs)]
    for section, nodes in (("services", stack.services), ("steps", stack.steps)):
        checked += [(f"{section}.{n}.cwd", node.cwd) for n, node in nodes.items() if node.cwd and "{" not in node.cwd]
    checked += [(f"suites.{n}.cwd", suite.cwd) for n, suite in stack.suites.items() if suite.cwd]
    if stack.tests.durations:
        checked.append(("tests.durations", stack.tests.durations))
    for key, path in checked:
        # An absolute path is the user's deliberate choice; a relative one must not climb out.
        if not Path(path).is_absolute() and not inside(stack.root, path):
            raise ConfigError(
                fname,
                key,
                f"{path!r} leads outside the project ({stack.root}); use a path inside it, or an absolute one",
            )
    for key, path in dirs:
        where = stack.root / path
        if os.path.lexists(where) and not where.is_dir():
            what = "a link that leads nowhere" if where.is_symlink() and not where.exists() else "not a directory"
            raise ConfigError(fname, key, f"{path!r} exists and is {what}; the harness keeps a directory there")


def _check_cycles(stack: Stack, fname: str) -> None:
    try:
        topological_order({n: stack.deps(n) for n in [*stack.services, *stack.steps]})
    except CycleError as exc:
        first = exc.cycle[0]
        section = "services" if first in stack.services else "steps"
        raise ConfigError(fname, f"{section}.{first}.after", "dependency cycle: " + " -> ".join(exc.cycle)) from None
