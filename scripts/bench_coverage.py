"""What measuring the services costs: the reference P0 with coverage off and on, alternately.

    python scripts/bench_coverage.py [--rounds 3] [--instance 7] [--suite p0]

Each round runs ``harness suite p0`` and ``harness suite p0 --coverage`` (every Python service of
its profile under coverage.py, combined after the teardown) on the same instance, one after the
other. Printed: each way's wall time and pytest's own session time (junit.xml's), their medians,
the ratios, and the coverage the last covered run measured. Figures go to logs/bench-coverage.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_plugin import session_time  # junit.xml's session time

ROOT = Path(__file__).resolve().parents[1]


def one(suite: str, instance: str, *extra: str) -> tuple[float, float, dict[str, object]]:
    argv = [sys.executable, "-m", "harness", "--instance", instance, "suite", suite, *extra]
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    latest = ROOT / "logs" / "latest"
    record = json.loads((latest / "results.json").read_text())
    return wall, session_time(latest / "junit.xml"), record.get("coverage") or {}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    parser.add_argument("--suite", default="p0")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    measured: dict[str, object] = {}
    for n in range(args.rounds):
        wall, tests, _ = one(args.suite, args.instance)
        runs["off"].append((wall, tests))
        wall, tests, measured = one(args.suite, args.instance, "--coverage")
        runs["on"].append((wall, tests))
        print(
            f"round {n + 1}: off {runs['off'][-1][0]:.1f} s (tests {runs['off'][-1][1]:.1f}), "
            f"on {runs['on'][-1][0]:.1f} s (tests {runs['on'][-1][1]:.1f})",
            flush=True,
        )
    med = {k: (statistics.median(w for w, _ in v), statistics.median(t for _, t in v)) for k, v in runs.items()}
    (off_w, off_t), (on_w, on_t) = med["off"], med["on"]
    print(f"{args.suite}, {args.rounds} alternating rounds, medians:")
    print(f"  coverage off  {off_w:.1f} s wall, {off_t:.1f} s pytest's time")
    print(f"  coverage on   {on_w:.1f} s wall, {on_t:.1f} s pytest's time (combining and reports included in wall)")
    print(f"  ratio         {on_w / off_w:.3f} wall, {on_t / off_t:.3f} pytest's time")
    print(f"  measured      total {measured.get('total')}%, per service {measured.get('services')}")
    out = ROOT / "logs" / "bench-coverage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": runs, "medians": med, "coverage": measured}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
