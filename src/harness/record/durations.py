"""``harness durations``: each test's median duration over the recorded runs, for balancing shards."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

from harness.host.files import write_atomic


def write_durations(runs_dir: Path, target: Path) -> int:
    """``target`` (``[tests] durations``) from every run under ``runs_dir``; how many tests it holds."""
    seen: dict[str, list[float]] = {}
    for results in sorted(runs_dir.glob("*/results.json")):
        try:
            cases = json.loads(results.read_text())["tests"]["cases"]
        except (OSError, ValueError, KeyError):
            continue
        for case in cases:
            if case["outcome"] in ("passed", "failed"):
                seen.setdefault(case["nodeid"], []).append(case["duration_s"])
    recorded = {k: round(statistics.median(v), 3) for k, v in sorted(seen.items())}
    write_atomic(target, json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    return len(recorded)
