"""Redis from Debian's ``redis-server``: bound to 127.0.0.1, optional password, ready on PING.

The configuration (password included) goes into a file in the service's data dir, readable only
by its owner, so the password never shows in ``ps``. Persistence is off: a test cache starts
empty and stops at once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field

from harness.config.endpoints import Endpoint
from harness.config.models import Port, ServiceModel
from harness.host.probes import Probe
from harness.kinds.base import Kind, Launch, ServiceContext, which


def _one_line(value: str) -> str:
    """Each value becomes one line of redis.conf: a line break would start a directive of its own."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError("must not hold a line break: it would become a line of its own in redis.conf")
    return value


OneLine = Annotated[str, AfterValidator(_one_line)]


class RedisService(ServiceModel):
    kind: Literal["redis"] = "redis"
    port: Port = Field(...)
    password: OneLine = ""
    settings: dict[Annotated[str, Field(pattern=r"^[A-Za-z][A-Za-z0-9-]*$")], OneLine | int | bool] = {}


@dataclass(frozen=True)
class RedisEndpoint(Endpoint):
    password: str = ""


Ctx = ServiceContext[RedisService, RedisEndpoint]


def _command(*parts: str) -> bytes:
    """One command in RESP, the protocol every Redis client speaks."""
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


@dataclass
class RedisProbe:
    """``PING`` answered with ``+PONG`` (after ``AUTH`` when a password is set)."""

    host: str
    port: int
    password: str = ""

    @property
    def what(self) -> str:
        return f"PING on redis {self.host}:{self.port}"

    def check(self, timeout: float) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout) as sock:
                reader = sock.makefile("rb")
                if self.password:
                    sock.sendall(_command("AUTH", self.password))
                    answer = reader.readline().strip()
                    if not answer.startswith(b"+OK"):
                        return f"AUTH refused: {answer.decode(errors='replace')[:200]}"
                sock.sendall(_command("PING"))
                answer = reader.readline().strip()
        except OSError as exc:
            return exc.strerror or str(exc)
        if answer != b"+PONG":
            return f"PING answered {answer.decode(errors='replace')[:200] or 'nothing'}"
        return None


class RedisKind(Kind[RedisService, RedisEndpoint]):
    name = "redis"
    starter = ("cache", 26379)
    compose_images = ("redis", "bitnami/redis", "valkey/valkey")
    compose_port = 6379
    model = RedisService

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """``--requirepass X`` on its command line, or REDIS_PASSWORD (bitnami's image)."""
        args = list(command)
        password = args[args.index("--requirepass") + 1] if "--requirepass" in args[:-1] else ""
        password = password or environment.get("REDIS_PASSWORD", "")
        return {"password": password} if password else {}

    def endpoint(self, svc: RedisService, base: Endpoint, instance: int) -> RedisEndpoint:
        auth = f":{quote(svc.password, safe='')}@" if svc.password else ""
        return RedisEndpoint.extend(base, url=f"redis://{auth}{base.host}:{base.port}/0", password=svc.password)

    def exports(self, prefix: str, ep: RedisEndpoint) -> dict[str, str]:
        return {f"{prefix}_PASSWORD": ep.password} if ep.password else {}

    def launch(self, ctx: Ctx) -> Launch:
        binary = which(
            "redis-server",
            ctx.env,
            ctx.name,
            "install the Debian package 'redis-server' (apt-get install redis-server)",
        )
        ep = ctx.endpoint
        ctx.data_dir.mkdir(parents=True, exist_ok=True)
        lines = [
            f"bind {ep.host}",
            f"port {ep.port}",
            f"dir {ctx.data_dir}",
            'save ""',
            "appendonly no",
            "protected-mode yes",
            "daemonize no",
        ]
        if ep.password:  # quoted as redis.conf reads a quoted argument
            lines.append('requirepass "{}"'.format(ep.password.replace("\\", "\\\\").replace('"', '\\"')))
        lines += [f"{key} {_setting(value)}" for key, value in ctx.svc.settings.items()]
        conf = ctx.data_dir / "redis.conf"
        fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write("\n".join(lines) + "\n")
        return Launch(argv=[binary, str(conf)])

    def probe(self, ctx: Ctx) -> Probe | None:
        ep = ctx.endpoint
        assert ep.port is not None  # the model requires one
        return RedisProbe(ep.host, ep.port, ep.password)


def _setting(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


REDIS = RedisKind()
