"""The contract every service kind satisfies.

A kind module holds everything about one kind of service: its pydantic model (the keys
``stack.toml`` accepts, built on ``config/models.py``), its typed endpoint (the ``{name.field}``
placeholders, built on ``config/endpoints.py``), the variables it exports, its compose
variables, its pre-start checks, how it is launched and probed, and the set-up it does once
ready. :class:`Kind` gives each hook a default, so a kind says only what is particular to it.
"""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from harness.config.endpoints import Endpoint
from harness.config.models import ContainerModel, ServiceModel
from harness.errors import HarnessError
from harness.host.probes import Probe

E = TypeVar("E", bound=Endpoint)
S = TypeVar("S", bound=ServiceModel)


class HelperRunner(Protocol):
    def __call__(self, argv: Sequence[str], *, user: str | None = None, timeout: float = 120.0) -> int: ...


@dataclass(frozen=True)
class ServiceContext(Generic[S, E]):
    """One service of one instance, as the plan resolved it: what a kind's hooks receive."""

    name: str
    svc: S
    endpoint: E
    env: Mapping[str, str]
    cwd: Path
    log_path: Path
    data_dir: Path
    rendered: Mapping[str, str]  # the kind's own templates (see Kind.templates), rendered
    stack_file: Path
    instance: int
    cache: Path | None = None  # where a kind keeps what it may copy instead of redoing; None: no cache
    instance_prefix: str = ""  # `<stack>-<instance>`: what the instance's names on an engine start with
    compose_file: Path | None = None  # stack.compose_file, resolved
    compose_cli: str = "auto"  # HARNESS_COMPOSE: auto, v1 or v2
    owner: str = ""  # the run's owner tag (HARNESS_OWNER); set by the supervisor while it starts the service
    helper: HelperRunner | None = None  # set by the supervisor while it starts the service

    def run_helper(self, argv: Sequence[str], *, user: str | None = None, timeout: float = 120.0) -> int:
        """Run a one-shot helper (initdb...) recorded and stopped like any process; its exit code.

        Output goes to the service's log; the helper carries the run's owner tag, so a harness killed
        meanwhile leaves nothing that ``down`` cannot find.
        """
        if self.helper is None:
            raise HarnessError(f"{self.name}: helpers run only while the service is being started")
        return self.helper(argv, user=user, timeout=timeout)


@dataclass
class Launch:
    """How to start the process, and what to do around it."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)  # added to the service's environment
    user: str | None = None
    pass_fds: Sequence[int] = ()
    stop_signal: int = signal.SIGTERM
    startup_probe: Probe | None = None  # ready enough for after_ready; None: the kind's probe
    after_spawn: Callable[[], None] = field(default=lambda: None)
    containers: str = ""  # the labels of its containers (docker/containers.py), removed once it is stopped
    note: str = ""  # for the run record's stage detail (e.g. its data was restored from a cache)


class DataSnapshots(Protocol):
    """A service's data saved right after a data step ran, under that step's inputs hash (a tag).

    The step snapshotting it (``snapshot = "<service>"``) is then up to date while the tag's
    snapshot exists and the data was last set by it; a later start with that tag restores it
    instead of running the step; ``--fresh`` restores it even then. See ``steps.py``.
    """

    def has(self, tag: str) -> bool: ...

    def save(self, tag: str) -> str | None:
        """Snapshot the data now; None, or why it could not be (the step's result stands)."""
        ...

    def restore(self, tag: str) -> None:
        """Put back the snapshot of ``tag`` (it exists: ``has``)."""
        ...

    def empty(self) -> None:
        """Make the data as it is before any step ran (``--fresh`` with no snapshot yet)."""
        ...


class WorkerCopies(Protocol):
    """A service's data copied per test worker (``[suites.X] isolate``): see suite/isolation.py.

    A copy is named by a short tag (``w0``, ``w1``...); making one whose name exists replaces it,
    and dropping one that does not exist is no error, so a run killed half-way is undone by the
    next one without knowing how far it got.
    """

    def make(self, tag: str, workers: int) -> Endpoint:
        """Copy the data for ``tag`` (one of ``workers`` copies); the endpoint that points at it."""
        ...

    def drop(self, tag: str) -> None:
        """Remove the copy of ``tag`` (gone already: nothing to do)."""
        ...

    def describe(self, tag: str) -> str:
        """What the copy of ``tag`` is, for the record (``database app_w0``)."""
        ...


class Kind(Generic[S, E]):
    """Defaults for every hook; a kind module subclasses this and overrides what it needs."""

    name: ClassVar[str]
    model: type[ServiceModel]
    endpoint_type: type[Endpoint] = Endpoint
    extra: ClassVar[str | None] = None  # the pip extra that brings its Python dependencies
    requires: ClassVar[tuple[str, ...]] = ()  # importable modules it needs (checked at load)
    can_snapshot: ClassVar[bool] = False  # snapshots() gives its data snapshots (checked at load)
    can_isolate: ClassVar[bool] = False  # copies() gives per-worker copies of its data (checked at load)
    needs_engine: ClassVar[bool] = False  # runs on a Docker engine whatever the backend (container nodes)
    # `harness init --<kind>`: the service's suggested name and port (None: init does not offer it)
    starter: ClassVar[tuple[str, int | None] | None] = None
    # `harness init --from <compose file>`: the images (no registry, no tag) that become this kind,
    # the port they listen on in their container, and their other ports by name.
    compose_images: ClassVar[tuple[str, ...]] = ()
    compose_port: ClassVar[int | None] = None
    compose_named_ports: ClassVar[dict[int, str]] = {}

    @property
    def containerised(self) -> bool:
        """Whether the docker backend runs it from the compose file."""
        return issubclass(self.model, ContainerModel)

    def endpoint(self, svc: S, base: Endpoint, instance: int) -> E:
        """The typed endpoint: ``base`` (host, port, url...) plus the kind's own fields."""
        return base  # type: ignore[return-value]

    def exports(self, prefix: str, ep: E) -> dict[str, str]:
        """Variables beyond ``<NAME>_HOST/_PORT/_URL/_LOG`` that every process and test gets."""
        return {}

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """This kind's stack.toml keys for a compose service of one of ``compose_images``."""
        return {}

    def compose_env(self, svc: S, ep: E) -> dict[str, str]:
        """``HARNESS_<NAME>_<KEY>`` values the compose file reads (keys without the prefix)."""
        return {}

    def templates(self, svc: S) -> dict[str, str]:
        """The kind's own templated keys (dotted, under ``services.<name>``), rendered by the plan."""
        return {}

    def pre_start(self, ctx: ServiceContext[S, E]) -> None:
        """Checks before anything of the run starts, beyond the port check every service gets."""

    def launch(self, ctx: ServiceContext[S, E]) -> Launch:
        """Prepare (initdb, directories...) and say how to start; may block briefly."""
        raise NotImplementedError

    def probe(self, ctx: ServiceContext[S, E]) -> Probe | None:
        """How to tell the service is healthy, for readiness, ``wait`` and ``status``."""
        return None

    def startup_probe(self, ctx: ServiceContext[S, E]) -> Probe | None:
        """Ready enough for ``after_ready`` (before its set-up exists); None: the full probe."""
        return None

    def after_ready(self, ctx: ServiceContext[S, E]) -> None:
        """Finish set-up that needs the running service (roles, databases, buckets)."""

    def snapshots(self, ctx: ServiceContext[S, E]) -> DataSnapshots | None:
        """How a data step's result is saved and restored (None: this kind cannot snapshot)."""
        return None

    def copies(self, ctx: ServiceContext[S, E]) -> WorkerCopies | None:
        """How its data is copied per test worker (None: this kind cannot isolate workers)."""
        return None

    def runs_python(self, svc: S, rendered: Mapping[str, str]) -> bool:
        """Whether the service is a Python program (``[suites.X] coverage = true`` measures those)."""
        return False

    def start_timeout(self, svc: S) -> float:
        return svc.start_timeout or 60.0

    def ready_passes(self, svc: S) -> int:
        """Consecutive successful probes the readiness wait requires (flaky starts: more than 1)."""
        return 1


def which(binary: str, env: Mapping[str, str], what: str, hint: str) -> str:
    found = shutil.which(binary, path=env.get("PATH"))
    if not found:
        raise HarnessError(f"{what}: '{binary}' not found on PATH; {hint}")
    return found
