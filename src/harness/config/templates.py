"""Placeholders in stack.toml values (``{port}``, ``{db.dsn}``, ``{env.NAME}``), rendered.

Every error names the stack file, the key and the placeholder, and says what the placeholder
could have been.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config.endpoints import Endpoint
from harness.errors import ConfigError


class EnvView:
    """``{env.NAME}`` in templates: the process environment plus ``.env``."""

    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def __getattr__(self, key: str) -> str:
        try:
            return self._env[key]
        except KeyError:
            raise AttributeError(f"{key} is not set in the environment or .env") from None


def render(template: str, ctx: Mapping[str, Any], file: Path, key: str) -> str:
    """``str.format`` whose errors name the stack file, the key and the placeholder at fault."""
    formatter = string.Formatter()
    try:
        parsed = list(formatter.parse(template))
    except ValueError as exc:
        raise ConfigError(str(file), key, f"bad template {template!r}: {exc}") from None
    for _, field, _, _ in parsed:
        if field is None:
            continue
        if field == "" or field.isdigit():
            raise ConfigError(str(file), key, f"bad template {template!r}: placeholders need a name")
        try:
            formatter.get_field(field, (), ctx)
        except KeyError:
            known = ", ".join(sorted(ctx))
            raise ConfigError(str(file), key, f"unknown placeholder {{{field}}} (known: {known})") from None
        except (AttributeError, IndexError, TypeError) as exc:
            raise ConfigError(str(file), key, f"unknown placeholder {{{field}}}: {exc}") from None
    try:
        return formatter.vformat(template, (), dict(ctx))
    except (ValueError, IndexError, KeyError, AttributeError) as exc:
        raise ConfigError(str(file), key, f"bad template {template!r}: {exc}") from None


def own_placeholders(ep: Endpoint) -> dict[str, Any]:
    """The placeholders a node sees of itself: ``{port}``, ``{url}``, ``{ports.http}``..."""
    return {
        "name": ep.name,
        "host": ep.host,
        "port": ep.port,
        "url": ep.url,
        "ports": ep.ports,
        "data_dir": ep.data_dir,
        "log": ep.log,
    }
