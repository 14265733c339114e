"""A suite's tests in phases: in parallel on pytest-xdist workers, then the disruptive ones alone.

With ``workers`` set (``[suites.X] workers = "auto" | N``, or ``-n N`` after ``--``), the suite
runs twice against the one stack: first every test not marked ``disruptive`` on N workers, then
the ``disruptive`` ones (which stop and start services) one at a time with nothing beside them.
Each phase writes its own JUnit file and plugin results; :func:`combine` folds them into the
run's ``junit.xml`` and plugin results as if one pytest had run.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, worst
from harness.host.files import write_json
from harness.plugin.protocol import DISRUPTIVE, DISRUPTIVE_PARTS, PARALLEL, results_file
from harness.suite.combine import latency_of, merge_junit

NO_TESTS = 5  # pytest's exit code when a selection is empty
# pytest's exit codes, worst first: interrupted, internal error, usage error, tests failed.
PYTEST_SEVERITY = (2, 3, 4, 1, 0)


@dataclass(frozen=True)
class Phase:
    name: str  # one of protocol.PHASES; "" for a suite run in one go
    markers: str | None  # the -m expression of this phase
    workers: int  # 0: no xdist

    def junit(self, run_dir: Path) -> Path:
        return run_dir / (f"junit-{self.name}.xml" if self.name else "junit.xml")


def worker_count(value: str | int | None) -> int:
    """``auto`` is the machine's CPU count; 0 or None turns workers off."""
    if value in (None, 0, "0", ""):
        return 0
    if value == "auto":
        return max(1, os.cpu_count() or 1)
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise HarnessError(f"workers: {value!r} is not a number of workers or 'auto'") from None
    if count < 0:
        raise HarnessError(f"workers: {count} is negative")
    return count


def take_workers(pytest_args: Sequence[str]) -> tuple[str | None, list[str]]:
    """``-n N`` / ``--numprocesses N`` among the arguments after ``--`` (the phases apply it)."""
    rest: list[str] = []
    found: str | None = None
    args = list(pytest_args)
    i = 0
    while i < len(args):
        arg = args[i]
        if arg in ("-n", "--numprocesses") and i + 1 < len(args):
            found, i = args[i + 1], i + 2
            continue
        if arg.startswith("--numprocesses="):
            found = arg.split("=", 1)[1]
        elif arg.startswith("-n") and arg[2:].isalnum() and len(arg) > 2:
            found = arg[2:]
        else:
            rest.append(arg)
        i += 1
    return found, rest


def plan_phases(markers: str | None, workers: int) -> list[Phase]:
    if workers <= 0:
        return [Phase("", markers, 0)]
    both = f"({markers}) and " if markers else ""
    return [Phase(PARALLEL, f"{both}not {DISRUPTIVE}", workers), Phase(DISRUPTIVE, f"{both}{DISRUPTIVE}", 0)]


def disruptive_left(run_dir: Path) -> bool:
    """Whether the parallel phase deselected disruptive tests (``run_order.py`` says; unsaid: yes)."""
    said = [json.loads(p.read_text()) for p in run_dir.glob(DISRUPTIVE_PARTS)]
    return any(said) if said else True


def overall_exit(codes: Sequence[int]) -> int:
    """One pytest exit code for the phases: an empty phase is fine when another ran tests."""
    ran = [c for c in codes if c != NO_TESTS]
    if not ran:
        return NO_TESTS
    return worst(ran, PYTEST_SEVERITY)


def combine(run_dir: Path, phases: Sequence[Phase]) -> None:
    """The phases' JUnit files and plugin results, as the run's single ones."""
    if len(phases) == 1 and not phases[0].name:
        return
    merge_junit([phase.junit(run_dir) for phase in phases], run_dir / "junit.xml")
    present = [part for part in (plugin_results(run_dir, p.name) for p in phases) if part]
    if not present:
        return
    tests = [t for p in present for t in p["tests"]]
    ran = {t["nodeid"] for t in tests}  # each phase deselects the other's tests
    counts: Counter[str] = Counter()
    for p in present:
        counts.update(p.get("pytest_counts", {}))
    combined = {
        "exitstatus": overall_exit([int(p["exitstatus"]) for p in present]),
        "tests": tests,
        "latency": latency_of([s for p in present for s in p.get("latency", {}).get("samples", [])]),
        "stopped": next((p["stopped"] for p in present if p.get("stopped")), []),
        "phases": [{"phase": ph.name, "workers": ph.workers} for ph in phases],
        "python": next((p["python"] for p in present if p.get("python")), ""),
        "rootdir": next((p["rootdir"] for p in present if p.get("rootdir")), ""),
        "deselected": sorted({n for p in present for n in p.get("deselected", [])} - ran),
        "pytest_counts": dict(counts),
    }
    write_json(run_dir / results_file(), combined)


def plugin_results(run_dir: Path, phase: str = "") -> dict[str, Any]:
    """What the plugin wrote for a run (or one phase of it); empty when it wrote nothing readable."""
    try:
        data: dict[str, Any] = json.loads((run_dir / results_file(phase)).read_text())
    except (OSError, ValueError):
        return {}
    return data
