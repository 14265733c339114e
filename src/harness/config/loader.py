"""Loading ``stack.toml``: read, ``${VAR}`` filled in, each service validated by its kind's model,
then the checks across keys.

Every error is a :class:`ConfigError` naming the file and the dotted key at fault, so a typo
in the stack file reads as one line instead of a pydantic traceback. The kinds are handed in
(``kinds/`` builds on this package, not the reverse): ``runtime.plan.read_stack`` passes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from harness.config import checks
from harness.config.models import KindSchema, ServiceModel
from harness.config.schema import Stack
from harness.config.stackfile import interpolate, read_toml
from harness.errors import ConfigError


def config_error(exc: ValidationError, file: str, prefix: tuple[str | int, ...] = ()) -> ConfigError:
    """pydantic's first error as one line: the dotted key, and a message a person can act on."""
    err = exc.errors()[0]
    loc = (*prefix, *err["loc"])
    key = ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")
    msg = err["msg"]
    if err["type"] == "extra_forbidden":
        msg = "unknown key"
    elif err["type"] == "missing":
        msg = "required key is missing"
    elif msg.startswith("Value error, "):
        msg = msg[len("Value error, ") :]
    more = len(exc.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(file, key, msg)


def validated(model: type[BaseModel], data: object, file: str, prefix: tuple[str | int, ...] = ()) -> Any:
    """``model`` validated from ``data``; a failure is a ConfigError under ``prefix``."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise config_error(exc, file, prefix) from None


# The kernel passes at most 128 KiB as one argument or environment variable (MAX_ARG_STRLEN);
# a longer value would fail only when its process is started, after others have been.
MAX_VALUE = 127 * 1024


def check_strings(value: object, file: str, key: str = "") -> None:
    """No string in the stack (after ``${VAR}``) holds a NUL or is too long to pass to a process.

    Either would be refused by ``exec`` only when the service is started, after the services
    before it: said here, at load, with the key.
    """
    if isinstance(value, dict):
        for k, v in value.items():
            where = f"{key}.{k}" if key else str(k)
            if "\0" in str(k):
                raise ConfigError(file, repr(where), "a key holds a NUL character (\\0)")
            check_strings(v, file, where)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            check_strings(v, file, f"{key}[{i}]")
    elif isinstance(value, str):
        if "\0" in value:
            raise ConfigError(file, key, "holds a NUL character (\\0), which no command line or environment can carry")
        size = len(value.encode())
        if size > MAX_VALUE:
            raise ConfigError(
                file,
                key,
                f"is {size} bytes long; a command line argument or environment variable holds at most "
                f"{MAX_VALUE // 1024} KiB (put the data in a file and pass its path)",
            )


def _services(raw: object, kinds: Mapping[str, KindSchema], file: str) -> dict[str, ServiceModel]:
    """Each service validated by its kind's model (``kind`` defaults to ``process``)."""
    if not isinstance(raw, dict):
        raise ConfigError(file, "services", "must be a table of services ([services.NAME])")
    out: dict[str, ServiceModel] = {}
    for name, data in raw.items():
        if not isinstance(data, dict):
            raise ConfigError(file, f"services.{name}", "must be a table of keys ([services.NAME])")
        data = {"kind": "process", **data}
        kind = kinds.get(str(data["kind"]))
        if kind is None:
            known = ", ".join(kinds)
            raise ConfigError(file, f"services.{name}.kind", f"unknown kind {data['kind']!r}; expected one of {known}")
        out[name] = validated(kind.model, data, file, ("services", name))
    return out


def parse_stack(raw: dict[str, Any], file: Path, env: Mapping[str, str], kinds: Mapping[str, KindSchema]) -> Stack:
    """Validate an already-read TOML document; the caller names the file for error messages."""
    fname = str(file)
    for reserved in ("file", "root"):
        if reserved in raw:
            raise ConfigError(fname, reserved, "unknown key")
    raw = interpolate(raw, env, fname, "")
    check_strings(raw, fname)
    services = _services(raw.get("services", {}), kinds, fname)
    stack: Stack = validated(Stack, {**raw, "services": services, "file": file, "root": file.parent}, fname)
    checks.check_stack(stack, fname, kinds)
    return stack


def load_stack(path: str | os.PathLike[str], env: Mapping[str, str], kinds: Mapping[str, KindSchema]) -> Stack:
    """Read, interpolate (``${VAR}`` from ``env``) and validate a stack file."""
    raw = read_toml(path)
    return parse_stack(raw, Path(path).resolve(), env, kinds)
