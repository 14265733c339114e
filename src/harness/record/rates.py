"""Pass rates per category: per tier marker, per catalog id and per test file.

A rate is passed / executed (skipped tests are counted but do not lower it); ``None`` when nothing
in the category ran. A flaky test (passed on a rerun) counts as passed in the rate and is counted
apart; a quarantined failure is neither (like an xfail), and counted apart too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed", "not_run", "flaky", "quarantined")


def executed(rate: Mapping[str, Any]) -> int:
    """The tests that ran to a verdict (passed, flaky, failed, errors): what a pass rate divides by."""
    return int(rate["passed"]) + int(rate.get("flaky", 0)) + int(rate["failed"]) + int(rate["errors"])


def tally(cases: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    count = dict.fromkeys(OUTCOMES, 0)
    for case in cases:
        count[case["outcome"] if case["outcome"] in count else "error"] += 1
    ran = executed({**count, "errors": count["error"]})
    return {
        "total": sum(count.values()),
        "passed": count["passed"],
        "failed": count["failed"],
        "errors": count["error"],
        "skipped": count["skipped"],
        "xfailed": count["xfailed"],  # as pytest counts them: neither passed nor failed
        "xpassed": count["xpassed"],
        "not_run": count["not_run"],  # left out when the run stopped early (a service died, say)
        "flaky": count["flaky"],  # failed, then passed on a rerun
        "quarantined": count["quarantined"],  # failed, forgiven by [tests] quarantine
        "pass_rate": round((count["passed"] + count["flaky"]) / ran, 4) if ran else None,
    }


def by(cases: Sequence[Mapping[str, Any]], keys: Callable[[Mapping[str, Any]], Iterable[str]]) -> dict[str, Any]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for case in cases:
        for key in keys(case):
            groups.setdefault(key, []).append(case)
    return {key: tally(group) for key, group in sorted(groups.items())}


def categories(cases: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``by_tier``, ``by_id`` and ``by_file`` for results.json."""
    return {
        "by_tier": by(cases, lambda c: c.get("markers") or []),
        "by_id": by(cases, lambda c: [c["int_id"]] if c.get("int_id") else []),
        "by_file": by(cases, lambda c: [str(c["nodeid"]).split("::", 1)[0]]),
    }


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.1f}%"
