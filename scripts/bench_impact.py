"""What ``--changed`` saves: the reference P0 in full against ``--changed HEAD`` after a one-line
service change, alternately.

    python scripts/bench_impact.py [--rounds 3] [--instance 7]

The change is a comment added to one line of the Temporal worker's health answer (a line only the
health tests run), put back after every round whatever happens. The suite's test impact map is
made first when missing (``harness impact refresh p0``). Printed: each way's wall time and tests
run, their medians and the ratio. Figures go to logs/bench-impact.json. Refuses a tree with
uncommitted changes in that file.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess

from benchlib import ROOT, harness, latest_record, outcomes

FILE = ROOT / "services" / "temporal_worker" / "worker.py"
LINE = 'return 200, {"status": "healthy", "checks": sorted(checks), "task_queue": queue}'


def timed(instance: str, *args: str) -> tuple[float, int]:
    ran = harness(instance, "suite", "p0", *args)
    return ran.seconds, len(outcomes(latest_record()))


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    args = parser.parse_args()
    if subprocess.run(["git", "diff", "--quiet", "--", str(FILE)], cwd=ROOT).returncode:
        print(f"{FILE}: uncommitted changes; commit or stash them first")
        return 2
    if not (ROOT / "logs" / "impact" / "p0.json").is_file():
        harness(args.instance, "impact", "refresh", "p0")
    text = FILE.read_text()
    assert text.count(LINE) == 1, f"{FILE}: the line is not there once"
    runs: dict[str, list[tuple[float, int]]] = {"full": [], "changed": []}
    for n in range(args.rounds):
        runs["full"].append(timed(args.instance))
        try:
            FILE.write_text(text.replace(LINE, LINE + "  # reworded"))
            runs["changed"].append(timed(args.instance, "--changed", "HEAD"))
        finally:
            FILE.write_text(text)
        print(
            f"round {n + 1}: full {runs['full'][-1][0]:.1f} s ({runs['full'][-1][1]} tests), "
            f"--changed {runs['changed'][-1][0]:.1f} s ({runs['changed'][-1][1]} tests)",
            flush=True,
        )
    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    print(
        f"p0, {args.rounds} alternating rounds, medians: full {med['full']:.1f} s, --changed {med['changed']:.1f} s, "
        f"ratio {med['changed'] / med['full']:.2f}"
    )
    (ROOT / "logs" / "bench-impact.json").write_text(json.dumps({"rounds": runs, "medians": med}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
