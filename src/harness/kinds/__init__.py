"""The registry of service kinds, keyed by the name ``stack.toml`` uses (``kind = "postgres"``).

Each kind is one module (pre-commit's languages registry is the model): adding a kind is a new
module and one line here. A kind's Python dependencies come with its pip extra; a stack that
uses a kind whose extra is missing is told which one to install.
"""

from __future__ import annotations

import importlib.util
from typing import Any

from harness.kinds.base import Kind
from harness.kinds.container import CONTAINER
from harness.kinds.mysql import MYSQL
from harness.kinds.postgres import POSTGRES
from harness.kinds.process import PROCESS
from harness.kinds.rabbitmq import RABBITMQ
from harness.kinds.redis import REDIS
from harness.kinds.s3 import S3
from harness.kinds.temporal import TEMPORAL
from harness.kinds.xvfb import XVFB

KINDS: dict[str, Kind[Any, Any]] = {
    k.name: k for k in (PROCESS, POSTGRES, MYSQL, REDIS, RABBITMQ, S3, TEMPORAL, XVFB, CONTAINER)
}


def missing_extra(kind: Kind[Any, Any]) -> str | None:
    """``None`` when the kind's Python dependencies import, else the pip command that adds them."""
    missing = [m for m in kind.requires if importlib.util.find_spec(m) is None]
    if not missing:
        return None
    return f"pip install 'stack-harness[{kind.extra}]' (missing: {', '.join(missing)})"


__all__ = ["KINDS", "Kind", "missing_extra"]
