"""The ``tests`` block of results.json, and how its counts meet pytest's and JUnit's.

The record counts tests: one case per test, its subtests listed inside it. pytest's last line
counts otherwise (a failed subtest is a failure of its own, passing ones are "subtests passed"),
JUnit counts each subtest as a test, and neither lists what was deselected or left unrun when a
run stopped early. The block keeps all three counts and says, in words, why they differ; a
difference it cannot explain is said as such, never hidden.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.record.rates import categories, tally


def junit_counts(path: Path) -> dict[str, int]:
    """``tests``, ``failures``, ``errors``, ``skipped`` summed over the file's suites; empty when
    there is no readable file."""
    from junitparser import JUnitXml

    if not path.is_file():
        return {}
    try:
        suites = list(JUnitXml.fromfile(str(path)))
    except Exception:  # a file pytest did not finish writing: nothing to compare with
        return {}
    keys = ("tests", "failures", "errors", "skipped")
    return {key: sum(int(getattr(suite, key) or 0) for suite in suites) for key in keys}


def first_outcome(case: Mapping[str, Any]) -> str:
    """The outcome of a test's first attempt, before reruns and quarantine."""
    attempts = case.get("attempts") or []
    if attempts:
        return str(attempts[0]["outcome"])
    if case["outcome"] == "quarantined":
        return str(case["quarantine"]["outcome"])
    return str(case["outcome"])


def subtest_tally(cases: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    return dict(Counter(s["outcome"] for case in cases for s in case.get("subtests", [])))


def tests_block(
    cases: Sequence[Mapping[str, Any]],
    *,
    deselected: Iterable[str] = (),
    pytest_counts: Mapping[str, int] | None = None,
    junit: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """results.json's ``tests``: the tally, per category, deselected ids, subtests, and the
    counts of pytest and JUnit with the reasons they differ."""
    counts = tally(cases)
    ran = {c["nodeid"] for c in cases}
    # pytest's and JUnit's counts are of the first attempt (pytest's line before any rerun), and
    # know nothing of quarantine: compare them with the cases as that attempt left them.
    first = tally([{**c, "outcome": first_outcome(c)} for c in cases])
    ids = sorted(set(deselected) - ran)
    subtests = subtest_tally(cases)
    counted = {
        "pytest": dict(pytest_counts or {}),
        "junit": dict(junit or {}),
        "notes": reconcile(first, subtests, len(ids), pytest_counts or {}, junit or {}),
    }
    return {
        **counts,
        "deselected": len(ids),
        "subtests": subtests,
        **categories(cases),
        "counted": counted,
        "deselected_ids": ids,
        "cases": list(cases),
    }


def reconcile(
    counts: Mapping[str, Any],
    subtests: Mapping[str, int],
    deselected: int,
    pytest_counts: Mapping[str, int],
    junit: Mapping[str, int],
) -> list[str]:
    """One sentence per way pytest's or JUnit's count differs from the record's, and why."""
    notes = []
    n_sub = sum(subtests.values())
    if n_sub:
        said = ", ".join(f"{n} {outcome}" for outcome, n in sorted(subtests.items()))
        notes.append(
            f"{n_sub} subtests ({said}) are listed inside their tests' cases; pytest counts a failed "
            "subtest as a failure of its own (its test fails too) and junit.xml counts every subtest as a test"
        )
    if counts["not_run"]:
        notes.append(
            f"{counts['not_run']} tests the run never reached (it stopped early) are in the record only; "
            "pytest and junit.xml do not count them"
        )
    if pytest_counts:
        notes += _against_pytest(counts, subtests, deselected, pytest_counts)
    if junit:
        expected = counts["total"] - counts["not_run"] + n_sub
        # A test whose call passed and whose teardown errored: pytest before 9.2 counts it twice in
        # JUnit (a pass and an error), 9.2 and later once.
        torn = max(0, pytest_counts.get("passed", 0) - counts["passed"]) if pytest_counts else 0
        junit_tests = junit.get("tests", 0)
        if torn and junit_tests == expected + torn:
            notes.append(
                f"junit.xml counts {torn} test(s) whose teardown errored after a passing call twice, a pass "
                "and an error (pytest before 9.2 does)"
            )
        elif junit_tests != expected:
            notes.append(
                f"unexplained: junit.xml counts {junit_tests} tests where the record's cases and subtests "
                f"make {expected}"
            )
    return notes


def _against_pytest(
    counts: Mapping[str, Any], subtests: Mapping[str, int], deselected: int, pytest_counts: Mapping[str, int]
) -> list[str]:
    notes = []
    said_deselected = pytest_counts.get("deselected", 0)
    if said_deselected != deselected:
        notes.append(
            f"pytest said {said_deselected} deselected, the record {deselected}: under xdist pytest does not "
            "count them, and the phases or shards of a run deselect tests another of them ran"
        )
    expected = {
        "passed": counts["passed"],
        "failed": counts["failed"] + subtests.get("failed", 0),
        "error": counts["errors"],
        "skipped": counts["skipped"] + subtests.get("skipped", 0),
        "xfailed": counts["xfailed"] + subtests.get("xfailed", 0),
        "xpassed": counts["xpassed"],
        "subtests passed": subtests.get("passed", 0),
    }
    # A test whose teardown errored after its call: one case here (error after a pass, failed after
    # a failure), the call's outcome and an error in pytest's count.
    torn = {k: pytest_counts.get(k, 0) - expected[k] for k in ("passed", "error")}
    if torn["passed"] > 0 or torn["error"] > 0:
        notes.append(
            f"pytest counts {pytest_counts.get('passed', 0)} passed and {pytest_counts.get('error', 0)} errors, the "
            f"record {expected['passed']} and {expected['error']}: a test whose teardown errored after its call is "
            "one case here, its call's outcome and an error in pytest's count"
        )
    if expected["subtests passed"] and "subtests passed" not in pytest_counts:
        del expected["subtests passed"]  # pytest counts passing subtests only at other verbosities
        notes.append("pytest's count leaves out passing subtests at its default verbosity (-v shows them)")
    for key, ours in expected.items():
        theirs = pytest_counts.get(key, 0)
        if theirs != ours and not (key in torn and torn[key] > 0):
            notes.append(f"unexplained: pytest counts {theirs} {key}, the record's cases make {ours}")
    return notes
