"""Service kinds: how each kind of service is launched, probed and finished off.

Each kind is a module-level object satisfying :class:`Kind`, registered in :data:`KINDS` by the
name ``stack.toml`` uses (pre-commit's languages registry is the model).
"""

from __future__ import annotations

from harness.kinds.base import Kind, Launch, LaunchContext
from harness.kinds.postgres import POSTGRES
from harness.kinds.process import PROCESS
from harness.kinds.s3 import S3
from harness.kinds.temporal import TEMPORAL
from harness.kinds.xvfb import XVFB

KINDS: dict[str, Kind] = {
    "process": PROCESS,
    "postgres": POSTGRES,
    "s3": S3,
    "temporal": TEMPORAL,
    "xvfb": XVFB,
}

__all__ = ["KINDS", "Kind", "Launch", "LaunchContext"]
