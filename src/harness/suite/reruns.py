"""Failed tests run again on the live stack (``--reruns N``), and what each attempt said.

After a suite's phases, the tests that failed or errored run again in a pytest of their own
(phase ``rerun1``, ``rerun2``...), on the same stack, up to N times, each time only those still
failing. A test that passes on a rerun is ``flaky``; one that never does stays failed. Either way
its case keeps every attempt (outcome, message, duration, the backend log lines of that attempt),
and its JUnit test case says it the way CI test reporters read reruns (Maven Surefire's form,
which Jenkins, GitLab and the junitparser-based reporters know): a flaky test is a passed case
with one ``flakyFailure`` (or ``flakyError``) per failed attempt; a test that failed every
attempt keeps its ``failure`` and gets a ``rerunFailure`` (``rerunError``) per rerun.

A test that failed because a watched service died or stopped answering is not rerun: the stack,
not the test, was at fault, and the event already says so.

:func:`verdict` then says what pytest's "tests failed" means for the run once reruns and
quarantine (``quarantine.py``) have had their say.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.config.conventions import Quarantined
from harness.host.files import write_json
from harness.plugin.protocol import results_file, selectable
from harness.suite.combine import junit_address, junit_cases, latency_of
from harness.suite.phases import Phase, plugin_results
from harness.suite.quarantine import apply_to_run
from harness.suite.watch import Watch

FAILING = ("failed", "error")
ATTEMPT_KEYS = ("outcome", "message", "duration_s", "backend_logs")


def rerun_phase(attempt: int) -> str:
    return f"rerun{attempt}"


def to_rerun(cases: Iterable[dict[str, Any]], blamed: set[str]) -> list[str]:
    """The node ids that failed or errored, less those a service's failure explains."""
    return [selectable(c["nodeid"]) for c in cases if c["outcome"] in FAILING and c["nodeid"] not in blamed]


def attempt_of(case: dict[str, Any]) -> dict[str, Any]:
    return {k: case.get(k) for k in ATTEMPT_KEYS}


def fold(run_dir: Path, phase: str) -> list[str]:
    """Fold one rerun's results into the run's (``pytest-results.json`` and ``junit.xml``); the
    node ids that passed this time."""
    base_path = run_dir / results_file()
    try:
        base = json.loads(base_path.read_text())
        rerun = json.loads((run_dir / results_file(phase)).read_text())
    except (OSError, ValueError):
        return []  # the rerun's pytest wrote nothing (it crashed): its tests keep their outcome
    by_id = {selectable(c["nodeid"]): c for c in base["tests"]}  # a rerun runs without xdist's groups
    passed = []
    for again in rerun["tests"]:
        case = by_id.get(selectable(again["nodeid"]))
        if case is None:
            continue
        attempts = case.get("attempts") or [attempt_of(case)]
        attempts.append(attempt_of(again))
        case["attempts"] = attempts
        if again["outcome"] == "passed":
            passed.append(case["nodeid"])
            first = attempts[0]
            case.update(outcome="flaky", message=f"passed on attempt {len(attempts)}; first: {first['message']}")
            case["backend_logs"] = {}
        else:
            case.update({k: again[k] for k in ("outcome", "message", "backend_logs")})
    samples = base.get("latency", {}).get("samples", []) + rerun.get("latency", {}).get("samples", [])
    base["latency"] = latency_of(samples)
    base.setdefault("reruns", []).append({"phase": phase, "tests": [t["nodeid"] for t in rerun["tests"]]})
    write_json(base_path, base)
    fold_junit(run_dir / "junit.xml", run_dir / f"junit-{phase}.xml", passed)
    return passed


# -- JUnit ----------------------------------------------------------------------------------------
def fold_junit(base: Path, rerun: Path, passed: Sequence[str]) -> None:
    """The rerun's test cases in place of the base's, earlier attempts kept as Surefire says."""
    if not base.is_file() or not rerun.is_file():
        return
    tree = ET.parse(base)
    ours = junit_cases(tree.getroot())
    theirs = junit_cases(ET.parse(rerun).getroot())
    passed_now = {junit_address(n) for n in passed}
    for address, again in theirs.items():
        case = ours.get(address)
        if case is None:
            continue
        failed_before = [e for e in case if e.tag in ("failure", "error")]
        if address in passed_now:
            for e in failed_before:  # passed in the end: every failed attempt becomes flaky*
                case.remove(e)
            for e in list(case):
                if e.tag.startswith("rerun"):
                    case.remove(e)
                    e.tag = "flakyFailure" if e.tag == "rerunFailure" else "flakyError"
                    failed_before.append(e)
            for e in failed_before:
                e.tag = {"failure": "flakyFailure", "error": "flakyError"}.get(e.tag, e.tag)
                case.append(e)
        else:
            for e in again:
                if e.tag in ("failure", "error"):
                    rerun_e = ET.SubElement(case, "rerunFailure" if e.tag == "failure" else "rerunError", e.attrib)
                    rerun_e.text = e.text
        case.set("time", again.get("time", case.get("time", "0")))
    for suite in tree.getroot().iter("testsuite"):
        cases = list(suite.iter("testcase"))
        suite.set("failures", str(sum(1 for c in cases if c.find("failure") is not None)))
        suite.set("errors", str(sum(1 for c in cases if c.find("error") is not None)))
    tree.write(base, encoding="utf-8", xml_declaration=True)


def rerun_failed(reruns: int, watch: Watch | None, run_dir: Path, run: Callable[[Phase, list[str]], int]) -> None:
    """Run the failed tests again (``run(phase, node ids)``), up to ``reruns`` times, each time
    those still failing; what each attempt said is folded into the run's results."""
    if watch is not None:
        watch.attribute()  # which tests were running when a service failed: those are not rerun
    blamed = {t for e in (watch.events if watch else []) if e.fails for t in e.tests}
    rootdir = plugin_results(run_dir).get("rootdir", "")
    for attempt in range(1, reruns + 1):
        ids = to_rerun(plugin_results(run_dir).get("tests", []), blamed)
        if not ids:
            break
        phase = Phase(rerun_phase(attempt), None, 0)
        run(phase, [f"{rootdir}/{n}" if rootdir else n for n in ids])  # found from any working directory
        fold(run_dir, phase.name)


def verdict(run_dir: Path, quarantine: Sequence[Quarantined], fail_on_flaky: bool, console: Console) -> int:
    """pytest said 1: after reruns and quarantine, is any test still a failure of the run?"""
    for warning in apply_to_run(run_dir, quarantine):
        console.print(f"[yellow]warning:[/yellow] {warning}", highlight=False)
    cases = plugin_results(run_dir).get("tests")
    if not cases:
        return 1  # nothing recorded to judge by: pytest's word stands
    failing = ("failed", "error", "not_run") + (("flaky",) if fail_on_flaky else ())
    return 1 if any(c["outcome"] in failing for c in cases) else 0
