"""``harness durations``: each test's median duration over the recorded runs, for balancing shards.

The file is merged, not replaced: a test no recorded run holds keeps the duration it had (so
after running only p0, the other tiers' entries stay). Records that cannot be read are skipped
and counted.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError
from harness.host.files import write_atomic
from harness.record.reading import read_record


@dataclass(frozen=True)
class Written:
    tests: int  # in the file now
    measured: int  # of them, from the recorded runs
    skipped: list[Path]  # records that could not be read


def existing(target: Path) -> dict[str, float]:
    """What ``target`` holds now ({} when absent); a file that is not one is refused, not lost."""
    if not target.exists():
        return {}
    try:
        data = json.loads(target.read_text())
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"durations: {target} is not a durations file ({exc}); move it away to start anew") from None
    if not isinstance(data, dict) or not all(isinstance(v, (int, float)) for v in data.values()):
        raise HarnessError(f"durations: {target}: expected {{test id: seconds}}; move it away to start anew")
    return {str(k): float(v) for k, v in data.items()}


def write_durations(runs_dir: Path, target: Path) -> Written:
    """``target`` (``[tests] durations``) updated from every run under ``runs_dir``."""
    seen: dict[str, list[float]] = {}
    skipped = []
    for results in sorted(runs_dir.glob("*/results.json")):
        try:
            cases = read_record(results, "durations")["tests"]["cases"]
        except HarnessError:
            skipped.append(results)
            continue
        for case in cases:
            if case["outcome"] in ("passed", "failed"):
                seen.setdefault(case["nodeid"], []).append(case["duration_s"])
    measured = {k: round(statistics.median(v), 3) for k, v in seen.items()}
    recorded = {**existing(target), **measured}
    write_atomic(target, json.dumps(dict(sorted(recorded.items())), indent=1) + "\n")
    return Written(len(recorded), len(measured), skipped)
