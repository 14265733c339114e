"""Reading ``stack.toml``: its bytes into a TOML document, and ``${VAR}`` filled in from the environment.

Every way a file can be unreadable (missing, a directory, not UTF-8, not TOML, nested too deep,
empty) is one :class:`ConfigError` naming the file, and the line where one is known. It is read
only if it is a regular file, and never past ``MAX_STACK_FILE``: ``--stack`` naming a FIFO, a
device or a link loop is said at once instead of hanging, reading forever or a traceback.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import tomllib
from collections.abc import Mapping
from typing import Any

from harness.errors import ConfigError

MAX_STACK_FILE = 16 * 1024 * 1024  # far above any stack file a person writes
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


def read_stack_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of the stack file at ``path``: a regular file (links followed), read whole."""
    fname = str(path)
    try:
        # Non-blocking: opening a FIFO nobody writes to returns at once, to be refused below.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise ConfigError(fname, "", "no such file (set --stack or HARNESS_STACK)") from None
    except OSError as exc:
        why = "a symbolic link that leads back to itself" if exc.errno == errno.ELOOP else exc.strerror or exc
        raise ConfigError(fname, "", f"cannot read it: {why}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise ConfigError(fname, "", "is a directory, not a stack file (set --stack or HARNESS_STACK)")
        what = "a FIFO" if stat.S_ISFIFO(mode) else "a device" if stat.S_ISCHR(mode) else "not a regular file"
        raise ConfigError(fname, "", f"is {what}, not a stack file; give the path of a file")
    os.set_blocking(fd, True)
    with os.fdopen(fd, "rb") as fh:
        data = fh.read(MAX_STACK_FILE + 1)
    if len(data) > MAX_STACK_FILE:
        raise ConfigError(fname, "", f"is over {MAX_STACK_FILE // 1024 // 1024} MiB; that is not a stack file")
    return data


def read_toml(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The TOML document at ``path``; every way it can be unreadable is one ConfigError."""
    fname = str(path)
    data = read_stack_bytes(path)
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
