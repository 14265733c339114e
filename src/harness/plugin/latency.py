"""Per-endpoint latency: record each HTTP call, summarise as count and p50/p95/p99.

Routes are folded so ``GET /episodes/17`` and ``GET /episodes/18`` count as one endpoint: the
stack's own rules (``[tests] routes`` in stack.toml, handed over as ``PluginConfig.routes``) first,
then uuids, numbers and long hex ids become ``{id}``.
"""

from __future__ import annotations

import functools
import math
import re
import threading
from dataclasses import dataclass
from typing import Any

from .protocol import PluginConfig

SLOW_P99_MS = 500.0
_ID = re.compile(r"/(?:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|\d+|[0-9a-f]{16,})(?=/|$)", re.I)
Rule = tuple["re.Pattern[str]", str]


@functools.cache
def rules_from(routes: tuple[tuple[str, str], ...]) -> list[Rule]:
    """The stack's folding rules, ``(pattern, replace)`` each, compiled once."""
    return [(re.compile(pattern), replace) for pattern, replace in routes]


def route_of(path: str, rules: list[Rule] | None = None) -> str:
    route = path.split("?", 1)[0]
    for pattern, replace in rules if rules is not None else _env_rules():
        route = pattern.sub(replace, route)
    return _ID.sub("/{id}", route) or "/"


def _env_rules() -> list[Rule]:
    return rules_from(PluginConfig.current().routes)


@dataclass(frozen=True)
class Call:
    service: str
    method: str
    route: str
    status: int
    ms: float


class LatencyLog:
    """Thread-safe list of calls; one per test session."""

    def __init__(self) -> None:
        self._calls: list[Call] = []
        self._lock = threading.Lock()

    def add(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return 0.0
    rank = max(1, min(len(sorted_values), math.ceil(q * len(sorted_values) / 100)))
    return sorted_values[rank - 1]


def summarize(calls: list[Call], slow_ms: float = SLOW_P99_MS) -> dict[str, Any]:
    groups: dict[str, list[Call]] = {}
    for call in calls:
        groups.setdefault(f"{call.service} {call.method} {call.route}", []).append(call)
    endpoints = {}
    for key, items in sorted(groups.items()):
        ms = sorted(c.ms for c in items)
        endpoints[key] = {
            "count": len(ms),
            "p50_ms": round(percentile(ms, 50), 2),
            "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2),
            "max_ms": round(ms[-1], 2),
            "errors": sum(1 for c in items if c.status >= 500),
        }
    slow = [k for k, v in endpoints.items() if v["p99_ms"] > slow_ms]
    return {"endpoints": endpoints, "slow_endpoints": slow, "slow_threshold_ms": slow_ms}
