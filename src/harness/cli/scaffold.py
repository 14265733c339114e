"""``harness init``: a starter stack.toml for the kinds a team names, every key written out.

Keys whose default is fine are commented out with that default, so the file is a reference of
what can be set; the file loads as written, and a team edits the app command, the migration step
and the suite's paths to make it theirs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic_core import PydanticUndefined

from harness.config.conventions import Conventions
from harness.config.models import ServiceModel
from harness.config.schema import StackSettings, Suite
from harness.errors import HarnessError
from harness.kinds import KINDS

# Each kind's starter port (Kind.starter) ends in other digits, so none collide at any instance
# (port_offset 100); rabbitmq also takes the next two (its epmd and distribution ports).
APP_PORT = 28080
COMMON = set(ServiceModel.model_fields) | {"kind"}
STARTERS = [name for name, kind in KINDS.items() if kind.starter]  # what `harness init --<kind>` offers
NOTES = {
    "port_offset": "instance N shifts every port by N * port_offset",
    "max_instance": "instances 0..max_instance; ports must not collide at any of them",
    "state_dir": "per-instance data (databases, state.json, the lock), inside the project",
    "log_dir": "service logs and run records (logs/runs/<run_id>/)",
    "python": "the project's interpreter: {python} in commands and suites (default: the harness's)",
    "path": "prepended to PATH for every service, step and suite",
    "dotenv": "the .env beside this file fills ${VAR} and every process's environment; false: none",
    "compose_file": "docker backend: where containerised services come from",
    "id_marker": "the pytest marker carrying a test's catalog id (recorded per test)",
    "tier_prefix": "markers starting with this are recorded per test, with pass rates",
    "routes": "regex rules folding URL paths into one latency row: { pattern = '...', replace = '...' }",
    "plugin": "load the harness's pytest plugin into the suite's Python (it needs only pytest)",
    "backend_errors": "a service logging ERROR or a traceback during a test fails that test",
    "early_start": "pytest starts while the stack comes up, tests wait for it; false: a conftest needs it at import",
}


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return json.dumps(value)


def commented(fields: dict[str, Any], skip: Sequence[str] = ()) -> list[str]:
    """``# key = default`` for every field with a default, and its note where there is one."""
    lines = []
    for name, info in fields.items():
        if name in skip or info.default is PydanticUndefined:
            continue
        default = info.default if info.default is not None else ""
        note = f"  # {NOTES[name]}" if name in NOTES else ("  # not set by default" if info.default is None else "")
        lines.append(f"# {name} = {toml_value(default)}{note}")
    return lines


def render(name: str, kinds: Sequence[str]) -> str:
    out = [
        "# Written by `harness init`: every key the harness reads, commented out with its default where",
        "# that is fine. Edit the app's command, the migration step and the suite's paths; then",
        "# `harness up` (leave it running), `harness suite tests` (up, test, record, tear down).",
        "",
        "[stack]",
        f"name = {json.dumps(name)}",
        *commented(StackSettings.model_fields, skip=("name",)),
        "",
        "[tests]",
        *commented(Conventions.model_fields),
        "",
    ]
    deps = []
    for kind in kinds:
        service, port = KINDS[kind].starter or (kind, None)
        deps.append(service)
        fields = KINDS[kind].model.model_fields
        out += [f"[services.{service}]", f'kind = "{kind}"']
        if port:
            out.append(f"port = {port}")
        out += commented({k: v for k, v in fields.items() if k not in COMMON})
        out.append("")
    first = deps[0] if deps else None
    dsn = f'DATABASE_URL = "{{{first}.dsn}}"' if "postgres" in kinds else ""
    out += [
        "[steps.migrate]",
        "# A one-shot command before the app starts; cached by `inputs`/`outputs` content hash when given.",
        'run = "{python} -m alembic upgrade head"',
        *([f"after = {json.dumps([first])}"] if first else []),
        "",
        "[services.app]",
        "# Your application. Placeholders: {port}, {python}, {root}, {instance}, {<service>.<field>}",
        "# (for example {db.dsn}), {env.NAME}; ${VAR:-default} comes from the environment or .env.",
        'command = "{python} -m your_app --port {port}"',
        f"port = {APP_PORT}",
        f"after = {json.dumps([*deps, 'migrate'])}",
        'ready = { http = "/health", timeout = 60 }',
        *commented({k: v for k, v in ServiceModel.model_fields.items() if k not in ("port", "kind", "after", "env")}),
        "",
        "[env]",
        "# Every service, step and suite gets these, and <SERVICE>_HOST, _PORT, _URL (and each kind's own,",
        "# such as DB_DSN) without asking.",
        *([dsn] if dsn else ['# NAME = "{app.url}"']),
        "",
        "[profiles.app]",
        'services = ["app"]',
        "",
        "[suites.tests]",
        'profile = "app"',
        'paths = ["tests"]',
        *commented(Suite.model_fields, skip=("profile", "paths")),
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def init(target: Path, kinds: Sequence[str], *, force: bool = False) -> Path:
    unknown = [k for k in kinds if k not in STARTERS]
    if unknown:
        known = ", ".join(STARTERS)
        raise HarnessError(f"unknown kind(s) {', '.join(unknown)} (kinds: {known})")
    return write_new(target, render(target.resolve().parent.name or "stack", kinds), force=force)


def write_new(target: Path, text: str, *, force: bool) -> Path:
    """A starter file at ``target``; an existing one is kept unless ``force``."""
    if target.exists() and not force:
        raise HarnessError(f"{target} exists; move it away, or pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
