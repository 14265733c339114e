"""Everything derived from the stack file and the instance number: ports, URLs, paths, env vars.

One function (:func:`derive_env`) produces the environment that services, steps and tests all
receive, so nothing downstream ever hard-codes a port.
"""

from __future__ import annotations

import os
import re
import string
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from harness.config import Stack
from harness.errors import ConfigError, HarnessError

SECRET_WORDS = re.compile(r"PASSWORD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE|CREDENTIAL|DSN", re.I)
MASK = "***"
_URL_PASSWORD = re.compile(r"(://[^:/@\s]+:)[^@\s]+@")


@dataclass(frozen=True)
class Instance:
    """One running copy of a stack: its number, port shift and private directories."""

    stack: Stack
    number: int

    @property
    def offset(self) -> int:
        return self.number * self.stack.stack.port_offset

    @property
    def state_dir(self) -> Path:
        return (self.stack.root / self.stack.stack.state_dir / str(self.number)).resolve()

    @property
    def log_dir(self) -> Path:
        return (self.stack.root / self.stack.stack.log_dir / str(self.number)).resolve()

    def port(self, base: int) -> int:
        return base + self.offset

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def data_dir(self, name: str) -> Path:
        return self.state_dir / name


def resolve_instance(stack: Stack, value: int | str | None = None) -> Instance:
    """The instance from ``--instance``, else ``HARNESS_INSTANCE``, else 0, range-checked."""
    raw = value if value is not None else os.environ.get("HARNESS_INSTANCE", "0")
    try:
        number = int(raw)
    except ValueError:
        raise HarnessError(f"HARNESS_INSTANCE / --instance must be a whole number, got {raw!r}") from None
    limit = stack.stack.max_instance
    if not 0 <= number <= limit:
        raise HarnessError(f"instance {number} is out of range 0..{limit} (stack.max_instance in {stack.file})")
    return Instance(stack, number)


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def service_views(inst: Instance) -> dict[str, SimpleNamespace]:
    """Per-service facts for templates: ``{postgres.port}``, ``{s3.endpoint}``, ``{api.url}``..."""
    views: dict[str, SimpleNamespace] = {}
    for name, svc in inst.stack.services.items():
        port = inst.port(svc.port) if svc.port is not None else None
        v = SimpleNamespace(name=name, host=svc.host, port=port, kind=svc.kind)
        v.ports = SimpleNamespace(**{k: inst.port(p) for k, p in svc.ports.items()})
        v.url = f"http://{svc.host}:{port}" if port is not None else ""
        v.data_dir = str(inst.data_dir(name))
        v.log = str(inst.log_path(name))
        if svc.kind == "postgres":
            v.user, v.password, v.database = svc.user, svc.password, svc.database
            v.dsn = f"postgresql://{svc.user}:{svc.password}@{svc.host}:{port}/{svc.database}"
            v.url = f"postgresql://{svc.user}@{svc.host}:{port}/{svc.database}"
        elif svc.kind == "s3":
            v.endpoint = v.url
            v.access_key, v.secret_key, v.region = svc.access_key, svc.secret_key, svc.region
            v.buckets = ",".join(svc.buckets)
        elif svc.kind == "temporal":
            v.address = f"{svc.host}:{port}"
            v.namespace = svc.namespace
            v.url = v.address
        elif svc.kind == "xvfb":
            v.display_number = svc.display + inst.number
            v.display = f":{v.display_number}"
            v.url = v.display
        views[name] = v
    for name, svc in inst.stack.services.items():
        if svc.url:
            views[name].url = render(svc.url, _context(inst, views, name), inst.stack, f"services.{name}.url")
    return views


class _EnvView:
    """``{env.NAME}`` in templates: the process environment plus ``.env``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getattr__(self, key: str) -> str:
        try:
            return self._env[key]
        except KeyError:
            raise AttributeError(key) from None


def _context(inst: Instance, views: Mapping[str, SimpleNamespace], own: str | None) -> dict[str, Any]:
    from harness.config import dotenv_values_for

    ctx: dict[str, Any] = dict(views)
    ctx.update(
        instance=inst.number,
        root=str(inst.stack.root),
        state_dir=str(inst.state_dir),
        log_dir=str(inst.log_dir),
        python=sys.executable,
        env=_EnvView({**dotenv_values_for(inst.stack.root), **os.environ}),
    )
    if own is not None and own in views:
        v = views[own]
        ctx.update(
            name=own, host=v.host, port=v.port, url=getattr(v, "url", ""), ports=v.ports, data_dir=v.data_dir, log=v.log
        )
    elif own is not None:
        ctx.update(name=own, log=str(inst.log_path(own)), data_dir=str(inst.data_dir(own)))
    return ctx


def render(template: str, ctx: Mapping[str, Any], stack: Stack, key: str) -> str:
    """``str.format`` with errors that name the stack file, the key and the placeholder."""
    try:
        return string.Formatter().vformat(template, (), dict(ctx))
    except (KeyError, AttributeError) as exc:
        field = str(exc).strip("'\"")
        raise ConfigError(str(stack.file), key, f"unknown placeholder {{{field}}} in {template!r}") from None
    except (ValueError, IndexError) as exc:
        raise ConfigError(str(stack.file), key, f"bad template {template!r}: {exc}") from None


def derive_env(inst: Instance) -> dict[str, str]:
    """The environment every service, step and test gets (on top of the harness's own)."""
    views = service_views(inst)
    env: dict[str, str] = {
        "HARNESS_INSTANCE": str(inst.number),
        "HARNESS_STACK_FILE": str(inst.stack.file),
        "HARNESS_STATE_DIR": str(inst.state_dir),
        "HARNESS_LOG_DIR": str(inst.log_dir),
    }
    for name, v in views.items():
        prefix = env_name(name)
        if v.port is not None:
            env[f"{prefix}_HOST"] = v.host
            env[f"{prefix}_PORT"] = str(v.port)
        if v.url:
            env[f"{prefix}_URL"] = v.url
        env[f"{prefix}_LOG"] = v.log
        for pname, port in vars(v.ports).items():
            env[f"{prefix}_{env_name(pname)}_PORT"] = str(port)
        if v.kind == "postgres":
            env.update(
                {
                    f"{prefix}_USER": v.user,
                    f"{prefix}_PASSWORD": v.password,
                    f"{prefix}_DB": v.database,
                    f"{prefix}_DSN": v.dsn,
                }
            )
        elif v.kind == "s3":
            env.update(
                {
                    f"{prefix}_ENDPOINT": v.endpoint,
                    f"{prefix}_ACCESS_KEY": v.access_key,
                    f"{prefix}_SECRET_KEY": v.secret_key,
                    f"{prefix}_REGION": v.region,
                    f"{prefix}_BUCKETS": v.buckets,
                }
            )
        elif v.kind == "temporal":
            env.update({f"{prefix}_ADDRESS": v.address, f"{prefix}_NAMESPACE": v.namespace})
        elif v.kind == "xvfb":
            env["DISPLAY"] = v.display
    ctx = _context(inst, views, None)
    for key, template in inst.stack.env.items():
        env[key] = render(template, ctx, inst.stack, f"env.{key}")
    return env


def node_env(inst: Instance, name: str, base: Mapping[str, str]) -> dict[str, str]:
    """A service's or step's own ``env`` and ``path`` entries layered over the derived env."""
    node = inst.stack.node(name)
    ctx = _context(inst, service_views(inst), name)
    section = "services" if name in inst.stack.services else "steps"
    env = dict(base)
    for key, template in node.env.items():
        env[key] = render(template, ctx, inst.stack, f"{section}.{name}.env.{key}")
    extra = [render(p, ctx, inst.stack, f"{section}.{name}.path") for p in node.path]
    extra = [str((inst.stack.root / p).resolve()) for p in extra]
    env["PATH"] = os.pathsep.join([*extra, os.path.dirname(sys.executable), base.get("PATH", os.defpath)])
    return env


def node_template(inst: Instance, name: str, template: str, key: str) -> str:
    return render(template, _context(inst, service_views(inst), name), inst.stack, key)


def node_cwd(inst: Instance, name: str) -> Path:
    node = inst.stack.node(name)
    if not node.cwd:
        return inst.stack.root
    return (inst.stack.root / node_template(inst, name, node.cwd, f"{name}.cwd")).resolve()


def check_templates(stack: Stack) -> None:
    """Render every template once at load time, so a typo fails before anything starts."""
    inst = Instance(stack, 0)
    derive_env(inst)
    for name, svc in stack.services.items():
        node_env(inst, name, {})
        if svc.kind == "process":
            node_template(inst, name, svc.command, f"services.{name}.command")
            if svc.ready and svc.ready.http:
                node_template(inst, name, svc.ready.http, f"services.{name}.ready.http")
    for name, step in stack.steps.items():
        node_env(inst, name, {})
        if step.run:
            node_template(inst, name, step.run, f"steps.{name}.run")


def is_secret(key: str) -> bool:
    return bool(SECRET_WORDS.search(key))


def mask_env(env: Mapping[str, str]) -> dict[str, str]:
    """A copy safe to print or persist: secret-looking keys' values and URL passwords replaced."""
    return {k: (MASK if is_secret(k) and v else _URL_PASSWORD.sub(rf"\1{MASK}@", v)) for k, v in env.items()}


def mask_text(text: str, env: Mapping[str, str]) -> str:
    """Remove secret values (and passwords inside URLs) from free text before it is shown."""
    for key, value in env.items():
        # Short values ("app", "harness") are words too common to hunt for in free text.
        if is_secret(key) and value and len(value) >= 8:
            text = text.replace(value, MASK)
    return _URL_PASSWORD.sub(rf"\1{MASK}@", text)
