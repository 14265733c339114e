"""What ``--changed`` saves: the reference P0 in full against ``--changed HEAD`` after a one-line
service change, alternately.

    python scripts/bench_impact.py [--rounds 3] [--instance 7]

Two one-line changes (a comment added to the line), each put back after its run whatever happens:
``narrow``, the line of the light worker's file read (run by the few tests that read a file back),
and ``wide``, the line of the Temporal worker's health answer (run by every test that asks the
controller's health, which asks the Temporal worker's). Each round runs the full P0, then
``--changed HEAD`` with each change. The suite's test impact map is made first when missing
(``harness impact refresh p0``). Printed: each way's wall time and tests run, their medians and
the ratios to the full run. Figures go to logs/bench-impact.json. Refuses a tree with uncommitted
changes in those files.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
from pathlib import Path

from benchlib import ROOT, harness, latest_record, outcomes

CHANGES = {
    "narrow": (
        ROOT / "services" / "worker_light" / "app.py",
        'return {"path": body.path, "content": data.decode("utf-8"), "encoding": "utf-8", "size": len(data)}',
    ),
    "wide": (
        ROOT / "services" / "temporal_worker" / "worker.py",
        'return 200, {"status": "healthy", "checks": sorted(checks), "task_queue": queue}',
    ),
}


def timed(instance: str, *args: str) -> tuple[float, int]:
    ran = harness(instance, "suite", "p0", *args)
    return ran.seconds, len(outcomes(latest_record()))


def changed(instance: str, file: Path, line: str) -> tuple[float, int]:
    """``--changed HEAD`` with ``line`` of ``file`` reworded (a comment added), put back after."""
    text = file.read_text()
    assert text.count(line) == 1, f"{file}: the line is not there once: {line}"
    try:
        file.write_text(text.replace(line, line + "  # reworded"))
        return timed(instance, "--changed", "HEAD")
    finally:
        file.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    args = parser.parse_args()
    files = [str(f) for f, _ in CHANGES.values()]
    if subprocess.run(["git", "diff", "--quiet", "--", *files], cwd=ROOT).returncode:
        print(f"uncommitted changes in {', '.join(files)}; commit or stash them first")
        return 2
    if not (ROOT / "logs" / "impact" / "p0.json").is_file():
        harness(args.instance, "impact", "refresh", "p0")
    runs: dict[str, list[tuple[float, int]]] = {"full": [], **{k: [] for k in CHANGES}}
    for n in range(args.rounds):
        runs["full"].append(timed(args.instance))
        for name, (file, line) in CHANGES.items():
            runs[name].append(changed(args.instance, file, line))
        print(
            f"round {n + 1}: " + ", ".join(f"{k} {v[-1][0]:.1f} s ({v[-1][1]} tests)" for k, v in runs.items()),
            flush=True,
        )
    med = {k: statistics.median(w for w, _ in v) for k, v in runs.items()}
    print(f"p0, {args.rounds} alternating rounds, medians:")
    for name, (wall, tests) in ((k, (med[k], runs[k][-1][1])) for k in runs):
        ratio = "" if name == "full" else f", {wall / med['full']:.2f} of the full run"
        print(f"  {name:<7} {wall:5.1f} s, {tests} tests{ratio}")
    (ROOT / "logs" / "bench-impact.json").write_text(json.dumps({"rounds": runs, "medians": med}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
