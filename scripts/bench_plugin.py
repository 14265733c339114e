"""What the harness's pytest plugin costs per test: a generated suite of fast tests, by bare pytest
and as a harness suite, alternately in one run.

    python scripts/bench_plugin.py [--tests 2000] [--files 20] [--rounds 3] [--instance 7]

The project lives in a temporary directory: N one-line tests in F files and one plain process
service (the plugin slices its log per test, checks it for ERROR lines, watches it). The stack is
brought up once; then, alternately, bare pytest (the same arguments, no plugin) and
``harness suite bench --reuse`` (the plugin, the watch, the record) run the whole suite. Printed:
pytest's own session time (junit.xml's) and the wall time of each, their medians, and the ratio of
the medians (the target is at most 1.05 for pytest's time). Figures go to logs/bench-plugin.json.

Both write and reuse bytecode, as on a developer's machine (``PYTHONDONTWRITEBYTECODE``, which
some images set, is dropped), and a first round of each is not counted: pytest's rewriting of
2,000 asserts is then read from its cache, not redone in every round, and what is left of the
session is the tests' own time, where the plugin's per-test cost shows.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from benchlib import ROOT, harness, medians, session_time

# Bytecode written and reused, as on a developer's machine (an inherited setting would make every
# round compile the tests and rewrite their asserts again).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)
QUIET = ["-p", "no:cacheprovider", "-q", "-p", "no:hypothesispytest", "-p", "no:benchmark", "-p", "no:anyio"]
STACK = """
[stack]
name = "plugin-bench"

[services.api]
command = "{{python}} -m http.server {{port}} --bind 127.0.0.1"
port = 27190
ready = {{ tcp = true }}

[profiles.api]
services = ["api"]

[suites.bench]
profile = "api"
paths = ["tests"]
args = {args}
"""


def make_project(where: Path, tests: int, files: int) -> Path:
    (where / "tests").mkdir()
    per_file = tests // files
    for f in range(files):
        body = "\n".join(f"def test_{f}_{i}():\n    assert {i} + 1 == {i + 1}\n" for i in range(per_file))
        (where / "tests" / f"test_f{f}.py").write_text(body)
    (where / "stack.toml").write_text(textwrap.dedent(STACK.format(args=json.dumps([*QUIET, "-p", "no:playwright"]))))
    return where / "stack.toml"


def bare(project: Path) -> tuple[float, float]:
    junit = project / "bare.xml"
    argv = [sys.executable, "-m", "pytest", "tests", *QUIET, "-p", "no:playwright", "-p", "no:harness"]
    t0 = time.perf_counter()
    res = subprocess.run([*argv, f"--junitxml={junit}"], cwd=project, capture_output=True, text=True, timeout=900)
    wall = time.perf_counter() - t0
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return session_time(junit), wall


def suite(stack: Path, instance: str) -> tuple[float, float]:
    ran = harness(instance, "suite", "bench", "--reuse", stack=stack)
    return session_time(stack.parent / "logs" / "latest" / "junit.xml"), ran.seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--tests", type=int, default=2000)
    parser.add_argument("--files", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--instance", default="7")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-plugin-") as tmp:
        stack = make_project(Path(tmp), args.tests, args.files)
        harness(args.instance, "up", stack=stack)
        runs: dict[str, list[tuple[float, float]]] = {"bare pytest": [], "harness suite": []}
        try:
            bare(stack.parent), suite(stack, args.instance)  # warm: bytecode and rewritten tests cached
            for n in range(args.rounds):
                runs["bare pytest"].append(bare(stack.parent))
                runs["harness suite"].append(suite(stack, args.instance))
                print(
                    f"round {n + 1}: bare {runs['bare pytest'][-1][0]:.2f} s (wall {runs['bare pytest'][-1][1]:.2f}), "
                    f"suite {runs['harness suite'][-1][0]:.2f} s (wall {runs['harness suite'][-1][1]:.2f})",
                    flush=True,
                )
        finally:
            harness(args.instance, "down", stack=stack, check=False)
    med = medians(runs)
    (bare_s, bare_w), (suite_s, suite_w) = med["bare pytest"], med["harness suite"]
    print(f"{args.tests} tests in {args.files} files, {args.rounds} alternating rounds, medians:")
    print(f"  bare pytest     {bare_s:.2f} s pytest's time, {bare_w:.2f} s wall")
    print(f"  harness suite   {suite_s:.2f} s pytest's time, {suite_w:.2f} s wall (up, record and teardown aside)")
    print(f"  ratio           {suite_s / bare_s:.3f} (pytest's time; target <= 1.05), {suite_w / bare_w:.3f} wall")
    out = ROOT / "logs" / "bench-plugin.json"
    out.parent.mkdir(exist_ok=True)
    figures = {"tests": args.tests, "rounds": runs, "medians": med, "ratio": suite_s / bare_s}
    out.write_text(json.dumps(figures, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
