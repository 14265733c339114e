"""How a service's name becomes part of a variable name (``worker-a`` -> ``WORKER_A``)."""

from __future__ import annotations

import re


def env_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9]", "_", name).upper()
