"""How fast the harness brings the reference stack up, tests it and takes it down: medians and ratios.

    python scripts/benchmark.py [--instance 7] [--rounds 3] [--profile backend]   (or: nox -s bench)

Per round, on its own instance (a developer's stack is untouched):

- cold ``up`` of the profile, each stage's duration read from the same run; the critical path
  (the longest chain of stage durations through the dependency graph) and the wall time over it;
- the same profile brought up by a serial runner written the way the runner this project
  replaces works: one node after the other (``harness up <node>`` each, so the same processes),
  each service noticed at the first 0.5 s health poll after it is ready, ``sleep 2`` after Xvfb
  and 5 s for Temporal to settle;
- warm ``up`` (everything already running), ``status``, ``down``;
- one quick test through ``suite p0 --reuse`` against bare ``pytest`` on the same running stack
  (the harness's overhead before and around a test);
- ``suite p0`` with workers on against workers off, and the serial tail of the run with workers
  (the summed durations of its grouped and disruptive tests; P0 isolates no data, see
  docs/parallel-tests.md, so it is the same with ``isolate`` as without);
- ``nox -s integration_p0`` as the README has it typed (its venv already made, as on any run
  but the first) against the harness's own duration in that run (its record's ``duration_s``):
  what nox adds around the suite.

It prints a table of medians and the ratios measured in the same run, and writes
``logs/bench.json``. Absolute seconds drift on shared machines: compare the ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

from benchlib import ROOT, harness, latest_record, serial_tail

QUICK_TEST = "tests/integration/architecture_p0/test_health.py"
SETTLE = {"xvfb": 2.0, "temporal": 5.0}  # what the replaced runner slept after starting these
POLL = 0.5  # how often it polled a service's health


def run(args: list[str], instance: str, env: dict[str, str] | None = None) -> tuple[float, str]:
    ran = harness(instance, *args, env=env)
    return ran.seconds, ran.output


def nox_p0(instance: str) -> tuple[float, float]:
    """``nox -s integration_p0`` as typed: its wall time, and the harness's own run inside it."""
    nox = shutil.which("nox")
    argv = [nox] if nox else [sys.executable, "-m", "nox"]
    t0 = time.perf_counter()
    res = subprocess.run(
        [*argv, "-s", "integration_p0"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "HARNESS_INSTANCE": instance},
    )
    took = time.perf_counter() - t0
    if res.returncode:
        raise SystemExit(f"`nox -s integration_p0` failed ({res.returncode}):\n{res.stderr[-2000:]}")
    return took, float(latest_record()["duration_s"])


def plan_graph(profile: str) -> tuple[list[str], dict[str, list[str]], set[str]]:
    """The profile's nodes in dependency order, each node's dependencies, and which are services."""
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import load_plan

    plan = load_plan(resolve_settings(stack=str(ROOT / "stack.toml")))
    nodes = plan.closure(plan.profile_nodes(profile))
    deps = {n: [d for d in plan.node(n).deps if d in nodes] for n in nodes}
    return nodes, deps, {n for n in nodes if plan.node(n).is_service}


def critical_path(durations: dict[str, float], deps: dict[str, list[str]]) -> float:
    finish: dict[str, float] = {}

    def done(node: str) -> float:
        if node not in finish:
            finish[node] = durations.get(node, 0.0) + max((done(d) for d in deps.get(node, [])), default=0.0)
        return finish[node]

    return max((done(n) for n in deps), default=0.0)


def serial_up(nodes: list[str], services: set[str], instance: str) -> float:
    """One node after the other; a service counts as up at the first 0.5 s health poll after it is."""
    t0 = time.perf_counter()
    for node in nodes:
        took = run(["up", node], instance)[0]
        poll_wait = (-took) % POLL if node in services else 0.0  # polled every 0.5 s: the next tick
        time.sleep(poll_wait + SETTLE.get(node, 0.0))
    return time.perf_counter() - t0


def bare_pytest(instance: str) -> float:
    """The quick test by plain pytest, with the environment ``harness env`` derives (no harness run)
    and the p0 suite's own pytest arguments (the plugins it leaves out), as the suite runs it."""
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import read_stack

    suite_args = read_stack(resolve_settings(stack=str(ROOT / "stack.toml"))).suites["p0"].args
    values = json.loads(harness(instance, "env", "--show-secrets").stdout)["env"]
    t0 = time.perf_counter()
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "harness.plugin.pytest_plugin",
            "-m",
            "integration_p0",
            *suite_args,
            QUICK_TEST,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, **values},
    )
    if res.returncode:
        raise SystemExit(f"bare pytest failed ({res.returncode}):\n{res.stdout[-2000:]}")
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instance", default="7")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", default="backend")
    args = parser.parse_args()
    inst = args.instance
    nodes, deps, services = plan_graph(args.profile)
    keys = ["cold up", "critical path", "serial runner", "warm up", "status", "down"]
    keys += ["suite --reuse (1 file)", "bare pytest (1 file)", "p0 workers off", "p0 workers on", "p0 serial tail"]
    keys += ["nox -s integration_p0", "harness run in it"]
    figures: dict[str, list[float]] = {k: [] for k in keys}
    run(["down"], inst)
    if not (ROOT / ".nox" / "integration_p0").is_dir():
        took, _ = nox_p0(inst)  # the first run makes the venv; every later one is what is measured
        print(f"nox -s integration_p0, first run (venv made): {took:.1f} s", flush=True)
    for n in range(1, args.rounds + 1):
        timeline = ROOT / "logs" / "bench-timeline.json"
        took, _ = run(["up", "--profile", args.profile], inst, {"HARNESS_TIMELINE": str(timeline)})
        stages = {s["name"]: s["duration"] for s in json.loads(timeline.read_text())}
        figures["cold up"].append(took)
        figures["critical path"].append(critical_path(stages, deps))
        figures["warm up"].append(run(["up", "--profile", args.profile], inst)[0])
        figures["status"].append(run(["status"], inst)[0])
        figures["suite --reuse (1 file)"].append(run(["suite", "p0", "--reuse", "--", QUICK_TEST], inst)[0])
        figures["bare pytest (1 file)"].append(bare_pytest(inst))
        figures["down"].append(run(["down"], inst)[0])
        figures["serial runner"].append(serial_up(nodes, services, inst))
        run(["down"], inst)
        figures["p0 workers off"].append(run(["suite", "p0", "--workers", "0"], inst)[0])
        figures["p0 workers on"].append(run(["suite", "p0", "--workers", "auto"], inst)[0])
        p0_record = json.loads((ROOT / "logs" / "latest" / "results.json").read_text())
        figures["p0 serial tail"].append(serial_tail(p0_record))
        typed, inside = nox_p0(inst)
        figures["nox -s integration_p0"].append(typed)
        figures["harness run in it"].append(inside)
        print(f"round {n}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in figures.items()), flush=True)
    med = {k: statistics.median(v) for k, v in figures.items()}
    ratios = {
        "cold up / critical path": med["cold up"] / med["critical path"],
        "cold up / serial runner": med["cold up"] / med["serial runner"],
        "suite --reuse - bare pytest (s)": med["suite --reuse (1 file)"] - med["bare pytest (1 file)"],
        "p0 workers on / off": med["p0 workers on"] / med["p0 workers off"],
        "nox -s integration_p0 / its harness run": med["nox -s integration_p0"] / med["harness run in it"],
    }
    print(f"\nmedians over {args.rounds} round(s), profile {args.profile}, instance {inst}:")
    for key, value in med.items():
        print(f"  {key:<28} {value:7.2f} s")
    print("ratios (same run):")
    for key, value in ratios.items():
        print(f"  {key:<40} {value:7.2f}")
    out = ROOT / "logs" / "bench.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"rounds": figures, "medians": med, "ratios": ratios, "profile": args.profile}, indent=2))
    print(f"written: {out.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
