"""What measuring the services costs: the reference P0 with coverage off and on, alternately.

    python scripts/bench_coverage.py [--rounds 3] [--instance 7] [--suite p0] [--profile full]

Each round runs ``harness suite p0 --profile full`` and the same with ``--coverage`` (every Python
service of the profile under coverage.py, combined after the teardown) on the same instance, one
after the other. The ``full`` profile is P0's own (``backend``) and the frontend's server: all five
of the stack's Python services. Printed: each way's wall time and pytest's own session time
(junit.xml's), their medians, the ratios, and the coverage the last covered run measured. Figures
go to logs/bench-coverage.json.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from benchlib import ROOT, harness, latest_record, medians, session_time


def one(suite: str, instance: str, *extra: str) -> tuple[float, float, dict[str, Any]]:
    ran = harness(instance, "suite", suite, *extra)
    record = latest_record()
    return ran.seconds, session_time(ROOT / "logs" / "latest" / "junit.xml"), record.get("coverage") or {}


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    parser.add_argument("--suite", default="p0")
    parser.add_argument("--profile", default="full", help="the profile the suite runs against (its own: '')")
    args = parser.parse_args()
    profile = ("--profile", args.profile) if args.profile else ()
    runs: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
    measured: dict[str, Any] = {}
    for n in range(args.rounds):
        wall, tests, _ = one(args.suite, args.instance, *profile)
        runs["off"].append((wall, tests))
        wall, tests, measured = one(args.suite, args.instance, *profile, "--coverage")
        runs["on"].append((wall, tests))
        print(
            f"round {n + 1}: off {runs['off'][-1][0]:.1f} s (tests {runs['off'][-1][1]:.1f}), "
            f"on {runs['on'][-1][0]:.1f} s (tests {runs['on'][-1][1]:.1f})",
            flush=True,
        )
    med = medians(runs)
    (off_w, off_t), (on_w, on_t) = med["off"], med["on"]
    print(f"{args.suite} ({args.profile or 'its own'} profile), {args.rounds} alternating rounds, medians:")
    print(f"  coverage off  {off_w:.1f} s wall, {off_t:.1f} s pytest's time")
    print(f"  coverage on   {on_w:.1f} s wall, {on_t:.1f} s pytest's time (combining and reports included in wall)")
    print(f"  ratio         {on_w / off_w:.3f} wall, {on_t / off_t:.3f} pytest's time")
    services = measured.get("services") or {}
    print(f"  measured      total {measured.get('total')}%, {len(services)} services: {services}")
    print(f"  report        {measured.get('xml')} (combined from {', '.join(services)})")
    out = ROOT / "logs" / "bench-coverage.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": runs, "medians": med, "coverage": measured}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
