"""How fast the harness brings the reference stack up and down, measured and printed.

    python scripts/benchmark.py [--instance 7] [--rounds 3] [--profile backend]

Per round: a cold ``up`` (nothing running), a warm ``up`` (everything already running: the
idempotent path), ``status``, and ``down``. Prints each figure, the median per phase, the
cold/warm ratio.
Runs on its own instance so a developer's stack is untouched.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def timed(args: list[str], instance: str) -> float:
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "harness", "--instance", instance, *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    took = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"`harness {' '.join(args)}` failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="7")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="backend")
    args = parser.parse_args()
    phases: dict[str, list[float]] = {"cold up": [], "warm up": [], "status": [], "down": []}
    timed(["down"], args.instance)
    for n in range(1, args.rounds + 1):
        phases["cold up"].append(timed(["up", "--profile", args.profile], args.instance))
        phases["warm up"].append(timed(["up", "--profile", args.profile], args.instance))
        phases["status"].append(timed(["status"], args.instance))
        phases["down"].append(timed(["down"], args.instance))
        print(f"round {n}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in phases.items()), flush=True)
    medians = {k: statistics.median(v) for k, v in phases.items()}
    print("\nmedian over", args.rounds, "rounds:")
    for phase, value in medians.items():
        print(f"  {phase:<8} {value:6.2f} s")
    print(f"  cold/warm up ratio: {medians['cold up'] / medians['warm up']:.1f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
