"""Redis from Debian's ``redis-server``: bound to 127.0.0.1, optional password, ready on PING.

The configuration (password included) goes into a file in the service's data dir, readable only
by its owner, so the password never shows in ``ps``. Persistence is off: a test cache starts
empty and stops at once.
"""

from __future__ import annotations

import dataclasses
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote

from pydantic import AfterValidator, Field

from harness.config.endpoints import Endpoint
from harness.config.models import Port, ServiceModel
from harness.errors import HarnessError
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
    database: int = 0  # the database index ({name.database}); a test worker's own with isolate


Ctx = ServiceContext[RedisService, RedisEndpoint]


def _command(*parts: str) -> bytes:
    """One command in RESP, the protocol every Redis client speaks."""
    out = [f"*{len(parts)}\r\n".encode()]
    for part in parts:
        data = part.encode()
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class _Refused(Exception):
    """A command answered with a RESP error (``-WRONGPASS ...``)."""

    def __init__(self, command: str, answer: str) -> None:
        super().__init__(f"{command} refused: {answer}")
        self.command, self.answer = command, answer


def _exchange(host: str, port: int, password: str, commands: list[tuple[str, ...]], timeout: float) -> list[bytes]:
    """Each command's reply (its first line, an array's items joined to it), after ``AUTH`` when a
    password is set: the probe and the workers' copies speak to the server through this one place."""
    auth = [("AUTH", password)] if password else []
    replies = []
    with socket.create_connection((host, port), timeout=timeout) as sock:
        reader = sock.makefile("rb")
        for parts in [*auth, *commands]:
            sock.sendall(_command(*parts))
            answer = reader.readline().strip()
            if answer.startswith(b"-"):
                raise _Refused(parts[0], answer[1:].decode(errors="replace"))
            if answer.startswith(b"*"):  # an array (CONFIG GET): read its items
                for _ in range(int(answer[1:]) * 2):
                    answer += b" " + reader.readline().strip()
            replies.append(answer)
    return replies[len(auth) :]


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
            (answer,) = _exchange(self.host, self.port, self.password, [("PING",)], timeout)
        except _Refused as exc:
            return str(exc)[:200]
        except OSError as exc:
            return exc.strerror or str(exc)
        if answer != b"+PONG":
            return f"PING answered {answer.decode(errors='replace')[:200] or 'nothing'}"
        return None


def _call(ep: RedisEndpoint, *commands: tuple[str, ...], timeout: float = 5.0) -> list[bytes]:
    """Each command's reply on the service's server; a refusal is the service's error."""
    assert ep.port is not None
    try:
        return _exchange(ep.host, ep.port, ep.password, list(commands), timeout)
    except _Refused as exc:
        raise HarnessError(f"{ep.name}: redis {exc}") from None


@dataclass
class IndexCopies:
    """Each test worker's own database index (1, 2, ... in worker order), emptied before and after.

    Redis has no copy of a database, so a worker starts with an empty one; the server's
    ``databases`` setting (16 by default) bounds the workers.
    """

    endpoint: RedisEndpoint
    name: str

    @staticmethod
    def index(tag: str) -> int:
        return int(tag.removeprefix("gw")) + 1

    def make(self, tag: str, workers: int) -> RedisEndpoint:
        (said,) = _call(self.endpoint, ("CONFIG", "GET", "databases"))
        last = said.split()[-1]
        available = int(last) if last.isdigit() else 16
        if workers + 1 > available:
            raise HarnessError(
                f"{self.name}: {workers} workers need {workers + 1} databases (index 0 and one each), and the "
                f"server has {available}; raise services.{self.name}.settings.databases, or run fewer workers"
            )
        index = self.index(tag)
        _call(self.endpoint, ("SELECT", str(index)), ("FLUSHDB",))
        ep = self.endpoint
        url = ep.url.rsplit("/", 1)[0] + f"/{index}"
        return dataclasses.replace(ep, database=index, url=url)

    def drop(self, tag: str) -> None:
        _call(self.endpoint, ("SELECT", str(self.index(tag))), ("FLUSHDB",))

    def describe(self, tag: str) -> str:
        return f"database index {self.index(tag)}"


class RedisKind(Kind[RedisService, RedisEndpoint]):
    name = "redis"
    starter = ("cache", 26379)
    compose_images = ("redis", "bitnami/redis", "valkey/valkey")
    compose_port = 6379
    model = RedisService
    can_isolate = True

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

    def copies(self, ctx: Ctx) -> IndexCopies:
        return IndexCopies(ctx.endpoint, ctx.name)


def _setting(value: object) -> str:
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


REDIS = RedisKind()
