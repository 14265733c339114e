"""`nox -s integration_p0` now against the repository's first complete version (fbe60a6), printed.

    python scripts/bench_v1.py [--rounds 3] [--instance 7] [--ref fbe60a6]   (or: nox -s bench -- --v1)

The first version is checked out beside this one (a git worktree under .harness/), and each side
runs its own `nox -s integration_p0` in its own venv: made and filled once (a warm-up run, not
timed), then reused (`nox -R`: no venv check, no install). The two alternate, round by round, on
the same instance (its own: a developer's instance 0 is untouched), each starting with its stack
down (each suite tears down what it started). Prints every round, the medians and their ratio
(the target is at most 0.5), and writes logs/bench-v1.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worktree(ref: str) -> Path:
    """The first version's tree, checked out once (detached) and kept for later runs."""
    where = ROOT / ".harness" / f"v1-{ref}"
    if not (where / "noxfile.py").exists():
        subprocess.run(["git", "worktree", "prune"], cwd=ROOT, check=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(where), ref], cwd=ROOT, check=True)
    return where


def p0(tree: Path, instance: str, *, reuse: bool) -> float:
    """One `nox -s integration_p0` in ``tree``; its wall time. A failing run stops the benchmark."""
    env = {**os.environ, "HARNESS_INSTANCE": instance, "COLUMNS": "120"}
    env.pop("VIRTUAL_ENV", None)
    argv = [sys.executable, "-m", "nox", "-R" if reuse else "-r", "-s", "integration_p0"]
    t0 = time.perf_counter()
    res = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True)
    took = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"{tree}: nox -s integration_p0 failed ({res.returncode}):\n{res.stderr[-3000:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    parser.add_argument("--ref", default="fbe60a6")
    args = parser.parse_args()
    sides = {"v1": worktree(args.ref), "now": ROOT}
    down = [sys.executable, "-m", "harness", "--instance", args.instance, "down"]
    subprocess.run(down, cwd=ROOT, capture_output=True, check=True)  # this side's leftovers, if any
    for name, tree in sides.items():  # warm-up: each side's venv made and filled, not timed
        print(f"warm-up {name}: {p0(tree, args.instance, reuse=False):.1f} s", flush=True)
    times: dict[str, list[float]] = {name: [] for name in sides}
    for n in range(1, args.rounds + 1):
        for name, tree in sides.items():
            times[name].append(p0(tree, args.instance, reuse=True))
        print(f"round {n}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["now"] / med["v1"]
    print(f"\nnox -s integration_p0, venv reused, median of {args.rounds}: v1 ({args.ref}) {med['v1']:.2f} s, "
          f"now {med['now']:.2f} s; now / v1 = {ratio:.2f} (target <= 0.50)")  # fmt: skip
    out = ROOT / "logs" / "bench-v1.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"ref": args.ref, "rounds": times, "medians": med, "ratio": ratio}, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
