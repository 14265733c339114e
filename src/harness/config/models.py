"""The schema pieces every node of ``stack.toml`` shares, and every kind's model builds on.

A kind's own keys live in its module under ``kinds/``; what is common to all services (ports,
readiness, liveness, restart policy) and to services and steps alike (ordering, environment) is
here, so the stack loader can validate a service before knowing which kinds exist.
"""

from __future__ import annotations

import shlex
from typing import Annotated, Literal, Protocol

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

NAME = r"^[a-z][a-z0-9_]*$"
Port = Annotated[int, Field(ge=1024, le=65000)]


def split_command(value: str) -> str:
    """A command line as the harness splits it (shlex): an unbalanced quote is said at load, with
    its key, not when the service starts after others have."""
    try:
        shlex.split(value)
    except ValueError as exc:
        raise ValueError(f"cannot be split into arguments: {str(exc).lower()} (an unbalanced quote?)") from None
    return value


CommandLine = Annotated[str, AfterValidator(split_command)]


class Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Ready(Model):
    """How a service proves it is ready: exactly one of http, tcp or command."""

    http: str | None = None
    status: int = 200
    expect: str | None = None
    tcp: bool = False
    command: CommandLine | None = None
    timeout: float = Field(60.0, gt=0)
    passes: int = Field(1, ge=1, le=100)  # consecutive successful probes before it counts as ready

    @model_validator(mode="after")
    def _one_kind(self) -> Ready:
        chosen = [k for k in ("http", "command") if getattr(self, k)] + (["tcp"] if self.tcp else [])
        if len(chosen) != 1:
            raise ValueError("give exactly one of 'http', 'tcp = true' or 'command'")
        return self


class NodeModel(Model):
    """What services and steps share: ordering, lifecycle task, and process environment."""

    after: list[Annotated[str, Field(pattern=NAME)]] = []
    task: str | None = None
    env: dict[str, str] = {}
    cwd: str | None = None
    path: list[str] = []


class Live(Model):
    """The readiness probe re-run while tests run: every ``interval`` s; ``failures`` in a row is a failure."""

    interval: float = Field(2.0, gt=0, le=3600)
    failures: int = Field(3, ge=1, le=1000)


class ServiceModel(NodeModel):
    kind: str = "process"
    host: str = Field("127.0.0.1", pattern=r"^127\.0\.0\.1$")
    port: Port | None = None
    ports: dict[Annotated[str, Field(pattern=NAME)], Port] = {}
    url: str | None = None
    stop_timeout: float = Field(10.0, gt=0)
    start_timeout: float | None = Field(None, gt=0)
    backend_errors: bool = True  # its ERROR lines and tracebacks fail the test during which they appear
    live: Live | bool = True  # false: only "process alive" is watched during a suite
    restart: Literal["no", "on-failure", "always"] = "no"  # after it dies during a suite
    max_restarts: int = Field(3, ge=0, le=1000)
    backoff: float = Field(0.5, gt=0, le=600)  # first restart's delay; doubles each time
    backoff_max: float = Field(10.0, gt=0, le=3600)

    @property
    def liveness(self) -> Live | None:
        """The live check to run, or None when ``live = false``."""
        if self.live is True:
            return Live()
        return self.live or None


class ContainerModel(ServiceModel):
    """A service the docker backend can run from ``stack.compose_file`` instead of natively."""

    compose_service: str | None = None  # its name in the compose file (default: this service's)


class KindSchema(Protocol):
    """What loading a stack needs of a kind: its model, whether data steps can snapshot it and
    suites copy its data per worker."""

    @property
    def model(self) -> type[ServiceModel]: ...

    @property
    def can_snapshot(self) -> bool: ...

    @property
    def can_isolate(self) -> bool: ...
