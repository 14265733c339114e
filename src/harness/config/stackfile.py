"""Reading ``stack.toml``: its bytes into a TOML document, and ``${VAR}`` filled in from the environment.

Every way a file can be unreadable (missing, a directory, not UTF-8, not TOML, nested too deep,
empty) is one :class:`ConfigError` naming the file, and the line where one is known.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.errors import ConfigError

_INTERP = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate(value: Any, env: Mapping[str, str], file: str, key: str) -> Any:
    """Replace ``${VAR}`` and ``${VAR:-default}`` in every string, from the environment and .env."""
    if isinstance(value, dict):
        return {k: interpolate(v, env, file, f"{key}.{k}" if key else k) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if not isinstance(value, str):
        return value

    def sub(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        raise ConfigError(file, key, f"${{{name}}} is not set in the environment or .env")

    return _INTERP.sub(sub, value)


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path``; every way it can be unreadable is one ConfigError."""
    fname = str(path)
    file = Path(path)
    if file.is_dir():
        raise ConfigError(fname, "", "is a directory, not a stack file (set --stack or HARNESS_STACK)")
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise ConfigError(fname, "", "no such file (set --stack or HARNESS_STACK)") from None
    except OSError as exc:
        raise ConfigError(fname, "", f"cannot read it: {exc.strerror or exc}") from None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(fname, "", f"line {line}: not UTF-8 text (byte {data[exc.start]:#04x})") from None
    if not text.strip():
        raise ConfigError(fname, "", "the file is empty; declare at least one service or step")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(fname, "", f"not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(fname, "", "not valid TOML: values nested too deeply") from None
