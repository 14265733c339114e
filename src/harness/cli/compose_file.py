"""Reading a team's compose file as compose would: variables filled, lists or maps alike.

Lenient where compose is: an unset ``${VAR}`` is an empty string (said in ``notes``), an
``env_file`` that cannot be read is skipped (said too). No engine and no compose CLI needed.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")


def read_compose(compose: Path, notes: list[str]) -> dict[str, Any]:
    """The compose file as data, ``${VAR}`` filled from the environment and the ``.env`` beside it."""
    import yaml
    from dotenv import dotenv_values

    dotenv = {k: v for k, v in dotenv_values(compose.parent / ".env").items() if v is not None}
    try:
        text = compose.read_text(encoding="utf-8")
        model = yaml.safe_load(interpolated(text, {**dotenv, **os.environ}, notes)) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise HarnessError(f"init --from: {compose}: not a readable compose file ({exc})") from None
    services = model.get("services") if isinstance(model, dict) else None
    if not isinstance(services, dict) or not services:
        raise HarnessError(f"init --from: {compose}: no services in it")
    return dict(model)


def image_name(image: str) -> str:
    """``docker.io/library/postgres:16-alpine`` -> ``postgres``: no registry, no tag, no digest."""
    name = image.split("@", 1)[0]
    parts = name.split("/")
    if len(parts) > 1 and ("." in parts[0] or ":" in parts[0] or parts[0] == "localhost"):
        parts = parts[1:]  # a registry host
    name = "/".join(parts)
    name = name.rsplit(":", 1)[0] if ":" in name.rsplit("/", 1)[-1] else name
    return name.removeprefix("library/")


def interpolated(text: str, env: Mapping[str, str], notes: list[str]) -> str:
    """``${VAR}``, ``${VAR:-default}`` and ``$VAR`` as compose fills them (unset: empty, noted)."""

    def sub(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(3)
        if name in env:
            return env[name]
        if match.group(2) is not None:
            return match.group(2)
        notes.append(f"${{{name}}} is not set (compose would use an empty string; so does this file)")
        return ""

    return _VAR.sub(sub, text.replace("$$", "\0")).replace("\0", "$")


def mapping(value: Any) -> dict[str, str]:
    """``environment:`` or ``labels:`` as a list of ``K=V`` or a mapping."""
    if isinstance(value, list):
        return {str(k): str(v) for k, _, v in (str(item).partition("=") for item in value)}
    return {str(k): "" if v is None else str(v) for k, v in (value or {}).items()}


def depends(value: Any) -> dict[str, str]:
    """``depends_on:`` as service -> condition (a plain list: ``service_started``)."""
    if isinstance(value, list):
        return dict.fromkeys(map(str, value), "service_started")
    return {str(k): str((v or {}).get("condition", "service_started")) for k, v in (value or {}).items()}


def published_ports(value: Any) -> dict[int, int]:
    """``ports:`` as container port -> host port (only those published on a fixed host port)."""
    out: dict[int, int] = {}
    for entry in value or []:
        if isinstance(entry, dict):
            target, published = entry.get("target"), entry.get("published")
        else:
            parts = str(entry).split("/")[0].split(":")
            target, published = parts[-1], (parts[-2] if len(parts) > 1 else None)
        if target and published and "-" not in str(published) and "-" not in str(target):
            out[int(target)] = int(published)
    return out


def command(value: Any) -> list[str]:
    return shlex.split(value) if isinstance(value, str) else [str(v) for v in value or []]


def environment(svc: str, spec: Mapping[str, Any], base: Path, notes: list[str]) -> dict[str, str]:
    from dotenv import dotenv_values

    env: dict[str, str] = {}
    files = spec.get("env_file") or []
    for entry in [files] if isinstance(files, str | dict) else files:
        path = base / (entry["path"] if isinstance(entry, dict) else str(entry))
        if path.is_file():
            env.update({k: v for k, v in dotenv_values(path).items() if v is not None})
        else:
            notes.append(f"services.{svc}.env_file: {path} cannot be read; its variables are not mapped")
    return {**env, **mapping(spec.get("environment"))}
