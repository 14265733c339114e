"""``harness init``: a starter stack.toml for the kinds a team names, every key written out.

Keys whose default is fine are commented out with that default, so the file is a reference of
what can be set; the file loads as written, and a team edits the app command, the migration step
and the suite's paths to make it theirs.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
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
INIT_LOG_DIR = ".harness/logs"
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


# What a key left unset by default takes when uncommented: a value of its type that loads.
EXAMPLES: dict[str, Any] = {
    "default_profile": "{profile}",
    "compose_file": "docker-compose.yml",
    "python": sys.executable,
    "markers": "not slow",
    "cwd": ".",
    "session": "integration_tests",
    "stop_on_death": False,
    "task": "start",
    "url": "http://{{host}}:{{port}}",
    "start_timeout": 60.0,
    "run_as": "{service}",
    "compose_service": "{service}",
}
EXAMPLE_NOTES = {
    "python": "the project's interpreter, for example .venv/bin/python; unset: the harness's own",
    "default_profile": "the profile `up` brings up when none is named; unset: every service",
    "stop_on_death": "end the run at the first service failure; unset: only under CI",
}


@dataclass(frozen=True)
class Shape:
    """What the project is: an app the stack runs (its command) and a migration, or a library."""

    app: str | None = "{python} -m your_app --port {port}"
    migrate: str | None = "{python} -m alembic upgrade head"
    python: str | None = None  # the project's interpreter ([stack] python); None: the harness's own

    @classmethod
    def of(cls, *, library: bool, app: str | None, migrate: str | None, python: str | None = None) -> Shape:
        if library and (app or migrate):
            raise HarnessError("init: --library has no app and no migration; leave out --app and --migrate")
        if library:
            return cls(None, None, python)
        return cls(app or cls.app, migrate or cls.migrate, python)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + " }" if value else "{}"
    return json.dumps(value)


def commented(fields: dict[str, Any], skip: Sequence[str] = (), **context: str) -> list[str]:
    """``# key = default`` for every field with a default, and its note where there is one.

    A key unset by default shows an example of its type (``EXAMPLES``), so every line loads when
    uncommented; ``context`` fills the examples' ``{profile}`` and ``{service}``.
    """
    lines = []
    for name, info in fields.items():
        if name in skip or info.default is PydanticUndefined:
            continue
        value = info.default
        if value is None:
            value = EXAMPLES.get(name, "")
            if isinstance(value, str):
                value = value.format(profile=context.get("profile", ""), service=context.get("service", ""))
        note = NOTES.get(name) or EXAMPLE_NOTES.get(name) or ("not set by default" if info.default is None else "")
        lines.append(f"# {name} = {toml_value(value)}" + (f"  # {note}" if note else ""))
    return lines


def render(name: str, kinds: Sequence[str], shape: Shape = Shape()) -> str:
    services = [(KINDS[kind].starter or (kind, None))[0] for kind in kinds]
    profile = "app" if shape.app else "deps"
    edit = "the app's command, " if shape.app else ""
    edit += "the migration step and " if shape.migrate else ""
    out = [
        "# Written by `harness init`: every key the harness reads, commented out with its default where",
        f"# that is fine (uncommented, each loads as it is). Edit {edit}the suite's paths; then",
        "# `harness up` (leave it running), `harness suite tests` (up, test, record, tear down).",
        "",
        "[stack]",
        f"name = {json.dumps(name)}",
        "# Run records, service logs and history beside the state, so the harness writes one directory",
        "# (`logs/` is a name a project may already use; unset, it is what older stacks have).",
        f"log_dir = {json.dumps(INIT_LOG_DIR)}",
        *(
            [f"python = {json.dumps(shape.python)}  # the project's interpreter: suites and {{python}}"]
            if shape.python
            else []
        ),
        *commented(
            StackSettings.model_fields, skip=("name", "log_dir", *(["python"] if shape.python else [])), profile=profile
        ),
        "",
        "[tests]",
        *commented(Conventions.model_fields),
        "",
    ]
    for kind, service in zip(kinds, services, strict=True):
        port = (KINDS[kind].starter or (kind, None))[1]
        fields = {k: v for k, v in KINDS[kind].model.model_fields.items() if k not in COMMON}
        out += [f"[services.{service}]", f'kind = "{kind}"', *([f"port = {port}"] if port else [])]
        out += [*commented(fields, service=service), ""]
    first = services[0] if services else None
    if shape.migrate:
        out += [
            "[steps.migrate]",
            "# A one-shot command before the app starts; cached by `inputs`/`outputs` content hash when given.",
            f"run = {json.dumps(shape.migrate)}",
            *([f"after = {json.dumps([first])}"] if first else []),
            "",
        ]
    if shape.app:
        out += [
            "[services.app]",
            "# Your application. Placeholders: {port}, {python}, {root}, {instance}, {<service>.<field>}",
            "# (for example {db.dsn}), {env.NAME}; ${VAR:-default} comes from the environment or .env.",
            f"command = {json.dumps(shape.app)}",
            f"port = {APP_PORT}",
            f"after = {json.dumps([*services, *(['migrate'] if shape.migrate else [])])}",
            'ready = { http = "/health", timeout = 60 }',
            *commented(
                {k: v for k, v in ServiceModel.model_fields.items() if k not in ("port", "kind", "after", "env")}
            ),
            "",
        ]
    database = next((s for k, s in zip(kinds, services, strict=True) if k == "postgres"), None)
    url_of = "app" if shape.app else first
    out += [
        "[env]",
        "# Every service, step and suite gets these, and <SERVICE>_HOST, _PORT, _URL (and each kind's own,",
        "# such as DB_DSN) without asking.",
        *([f'DATABASE_URL = "{{{database}.dsn}}"'] if database else []),
        f'# NAME = "{{{url_of}.url}}"' if url_of else '# NAME = "{root}/data"',
        "",
        f"[profiles.{profile}]",
        f"services = {json.dumps(['app'] if shape.app else services)}",
        "",
        "[suites.tests]",
        f'profile = "{profile}"',
        'paths = ["tests"]',
        *commented(Suite.model_fields, skip=("profile", "paths")),
        "",
    ]
    return "\n".join(out).rstrip() + "\n"


def written_dirs(stack: StackSettings) -> list[str]:
    """The top directories the harness writes beside the stack file (state and logs), as
    .gitignore lines (``.harness/``); absolute ones are outside the project and left out."""
    tops = []
    for where in (stack.state_dir, stack.log_dir):
        path = Path(where)
        if not path.is_absolute() and path.parts and path.parts[0] not in (".", ".."):
            tops.append(path.parts[0] + "/")
    return list(dict.fromkeys(tops))


def ignore_in_git(directory: Path, lines: Sequence[str]) -> list[str]:
    """``lines`` added to ``directory``'s .gitignore where missing; the lines it added."""
    path = directory / ".gitignore"
    text = path.read_text() if path.exists() else ""
    have = {line.strip() for line in text.splitlines()}
    missing = [line for line in lines if line not in have and line.rstrip("/") not in have]
    if missing:
        path.write_text(text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(missing) + "\n")
    return missing


def init(target: Path, kinds: Sequence[str], *, force: bool = False, shape: Shape = Shape()) -> Path:
    unknown = [k for k in kinds if k not in STARTERS]
    if unknown:
        known = ", ".join(STARTERS)
        raise HarnessError(f"unknown kind(s) {', '.join(unknown)} (kinds: {known})")
    return write_new(target, render(target.resolve().parent.name or "stack", kinds, shape), force=force)


def write_new(target: Path, text: str, *, force: bool) -> Path:
    """A starter file at ``target``; an existing one is kept unless ``force``."""
    if target.exists() and not force:
        raise HarnessError(f"{target} exists; move it away, or pass --force to overwrite it")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text)
    return target
