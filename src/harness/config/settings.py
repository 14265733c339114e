"""One precedence chain for everything a run is told: flags > HARNESS_* env > .env > stack.toml > defaults.

The CLI, Invoke and nox all hand their flags here; nothing below reads ``os.environ`` or ``.env``
for a setting again. ``environ`` (``.env`` under the process environment) is also what ``${VAR}``
in stack.toml, ``{env.NAME}`` placeholders and every started process see.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError

BACKENDS = ("auto", "native", "docker")
COMPOSE_CLIS = ("auto", "v1", "v2")
QUEUE_DEFAULT = 1800.0
OWNER_VAR = "HARNESS_OWNER"


def read_dotenv(path: Path) -> dict[str, str]:
    """A ``.env`` file read by python-dotenv (never hand-parsed); missing means empty."""
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    try:
        values = dotenv_values(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{path}: cannot read it ({exc})") from None
    return {k: v for k, v in values.items() if v is not None}


def _dotenv_setting(stack_file: Path) -> str | None:
    """``[stack] dotenv`` as written (it decides which file fills ``${VAR}``, so it is read first)."""
    import tomllib

    from harness.config.stackfile import read_stack_bytes

    try:
        value = tomllib.loads(read_stack_bytes(stack_file).decode()).get("stack", {}).get("dotenv", ".env")
    except (HarnessError, ValueError, RecursionError, AttributeError):
        return ".env"  # the stack loader reports an unreadable file properly, later
    if value is False:
        return None
    return value if isinstance(value, str) and value else ".env"


def _seconds(value: str | None) -> float | None:
    """``HARNESS_QUEUE``: seconds to queue for a busy instance (``1``/``true``: the default wait)."""
    if not value or flag(value) is False:
        return None
    try:
        return float(value) if float(value) > 1 else QUEUE_DEFAULT
    except ValueError:
        return QUEUE_DEFAULT if flag(value) else None


def flag(value: str | None) -> bool | None:
    """A yes/no variable (``1``, ``true``, ``yes``, ``on``); None when unset or empty."""
    if value is None or value == "":
        return None
    return value.strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    """What a run was asked for; ``None`` means "not said here": the stack file or a default decides."""

    stack_file: Path
    instance: str | None = None
    backend: str | None = None
    compose: str | None = None  # which compose CLI the docker backend runs: auto, v1, v2
    reuse: bool = False
    keep: bool = False
    queue: float | None = None  # seconds to wait for a busy instance; None: refuse at once
    no_cache: bool = False  # ignore every cache: initdb's, steps', data snapshots
    stop_on_death: bool | None = None  # the flags; None: the suite's setting, else on under CI
    environ: Mapping[str, str] = field(default_factory=dict)

    @property
    def chosen_backend(self) -> str:
        return self.backend_for(None)

    def backend_for(self, stack_setting: str | None) -> str:
        """``--backend``/``HARNESS_BACKEND``, else ``[stack] backend``, else ``auto``."""
        return _one_of("HARNESS_BACKEND", self.backend or stack_setting, BACKENDS)

    @property
    def chosen_compose(self) -> str:
        return _one_of("HARNESS_COMPOSE", self.compose, COMPOSE_CLIS)

    def chosen_stop_on_death(self, suite_setting: bool | None) -> bool:
        """The flag, else the suite's ``stop_on_death``, else on under CI only."""
        if self.stop_on_death is not None:
            return self.stop_on_death
        if suite_setting is not None:
            return suite_setting
        return bool(flag(self.environ.get("CI")))


def _one_of(variable: str, value: str | None, allowed: tuple[str, ...]) -> str:
    """``value`` (default ``auto``), lower-cased, if it is one of ``allowed``; else an error naming it."""
    choice = (value or "auto").lower()
    if choice not in allowed:
        raise HarnessError(f"{variable}={choice!r} is not one of {', '.join(allowed)}")
    return choice


def resolve_settings(
    *,
    stack: str | None = None,
    instance: str | int | None = None,
    backend: str | None = None,
    reuse: bool | None = None,
    keep: bool | None = None,
    queue: float | None = None,
    no_cache: bool | None = None,
    stop_on_death: bool | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Apply the chain; flags are the keyword arguments (``None``: not given on the command line)."""
    process_env = dict(os.environ if environ is None else environ)
    stack_file = Path(stack or process_env.get("HARNESS_STACK") or "stack.toml")
    chosen = _dotenv_setting(stack_file)
    # realpath, not resolve(): a link loop is the stack loader's to report, in one line.
    dotenv = read_dotenv(Path(os.path.realpath(stack_file)).parent / chosen) if chosen else {}
    merged = {**dotenv, **process_env}
    merged.pop(OWNER_VAR, None)  # a harness run inside a suite must not inherit its parent's marker

    def pick(flag: object, name: str) -> str | None:
        if flag is not None:
            return str(flag)
        return merged.get(name) or None

    return Settings(
        stack_file=stack_file,
        instance=pick(instance, "HARNESS_INSTANCE"),
        backend=pick(backend, "HARNESS_BACKEND"),
        compose=pick(None, "HARNESS_COMPOSE"),
        reuse=bool(reuse) or bool(flag(merged.get("HARNESS_REUSE"))),
        keep=bool(keep) or bool(flag(merged.get("HARNESS_KEEP"))),
        queue=queue if queue is not None else _seconds(merged.get("HARNESS_QUEUE")),
        no_cache=bool(no_cache) or bool(flag(merged.get("HARNESS_NO_CACHE"))),
        stop_on_death=stop_on_death,
        environ=merged,
    )
