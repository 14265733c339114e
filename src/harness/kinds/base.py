"""The contract every service kind satisfies."""

from __future__ import annotations

import shutil
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Protocol

from harness.environment import Instance
from harness.errors import HarnessError
from harness.probes import Probe


@dataclass
class LaunchContext:
    """What a kind needs to know to start one service of one instance."""

    inst: Instance
    name: str
    svc: Any
    view: SimpleNamespace
    env: dict[str, str]
    cwd: Path
    log_path: Path

    @property
    def data_dir(self) -> Path:
        return self.inst.data_dir(self.name)


@dataclass
class Launch:
    """How to start the process, and what to do around it."""

    argv: list[str]
    user: str | None = None
    pass_fds: Sequence[int] = ()
    stop_signal: int = signal.SIGTERM
    startup_probe: Probe | None = None
    after_spawn: Callable[[], None] = field(default=lambda: None)
    containers: str = ""  # "project/service" of compose containers to remove once it is stopped


class Kind(Protocol):
    def launch(self, ctx: LaunchContext) -> Launch:
        """Prepare (initdb, directories...) and say how to start; may block briefly."""

    def probe(self, ctx: LaunchContext) -> Probe | None:
        """How to tell the service is healthy, for ``wait`` and ``status``."""

    def after_ready(self, ctx: LaunchContext) -> None:
        """Finish setup that needs the running service (databases, buckets)."""


def which(binary: str, env: dict[str, str], what: str, hint: str) -> str:
    found = shutil.which(binary, path=env.get("PATH"))
    if not found:
        raise HarnessError(f"{what}: '{binary}' not found on PATH; {hint}")
    return found
