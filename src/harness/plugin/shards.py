"""Splitting a suite into N shards: deterministic, balanced by recorded durations, disruptive together.

The same test ids and durations give the same split on every machine. Tests are placed longest
first, each on the shard with the least recorded time so far (ties: the lowest shard number); a
test with no recorded duration counts as the average of the known ones. Every test marked
``disruptive`` goes to one shard as a block, so they still run alone after each other.
(pytest-split balances the same way; it cannot keep a marked group together, hence this module.)
Pure Python: the plugin copies it into a suite's Python.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

DEFAULT_SECONDS = 1.0  # for a suite with no durations recorded at all


def parse(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), 1 <= K <= N; a ValueError that says what is wrong otherwise."""
    part, _, total = text.partition("/")
    try:
        k, n = int(part), int(total)
    except ValueError:
        raise ValueError(f"--shard takes K/N (for example 2/4), got {text!r}") from None
    if not 1 <= k <= n:
        raise ValueError(f"--shard {text}: K must be between 1 and N")
    return k, n


def load_durations(path: str | Path | None) -> dict[str, float]:
    if not path or not Path(path).is_file():
        return {}
    data = json.loads(Path(path).read_text())
    return {str(k): float(v) for k, v in data.items()}


def split(
    tests: Sequence[str], n: int, durations: Mapping[str, float], disruptive: Sequence[str] = ()
) -> list[list[str]]:
    """``n`` lists of test ids; every test in exactly one, in the order given."""
    known = [durations[t] for t in tests if t in durations]
    fallback = sum(known) / len(known) if known else DEFAULT_SECONDS
    weight = {t: durations.get(t, fallback) for t in tests}
    blocked = [t for t in tests if t in set(disruptive)]
    units: list[tuple[float, str, list[str]]] = [(weight[t], t, [t]) for t in tests if t not in set(blocked)]
    if blocked:
        units.append((sum(weight[t] for t in blocked), blocked[0], blocked))
    loads = [0.0] * n
    shards: list[set[str]] = [set() for _ in range(n)]
    for seconds, _, members in sorted(units, key=lambda u: (-u[0], u[1])):
        target = min(range(n), key=lambda i: (loads[i], i))
        loads[target] += seconds
        shards[target].update(members)
    return [[t for t in tests if t in shard] for shard in shards]
