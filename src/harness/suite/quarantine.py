"""Quarantined tests (``[tests] quarantine``): run and recorded, their failures forgiven until a date.

A quarantined test that fails is ``quarantined`` (neither passed nor failed: it does not fail the
run), with the entry's reason and date in its message; one that passes stays passed, marked.
Past its ``until`` the entry no longer forgives: the test's failure fails the run again and its
message starts by saying the quarantine expired. An entry that matches no test of the run is a
warning naming it (a test renamed or fixed and the entry left behind).
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from harness.config.conventions import Quarantined
from harness.host.files import write_json
from harness.plugin.protocol import results_file, selectable
from harness.suite.combine import mark_junit

FAILING = ("failed", "error")


def entry_for(nodeid: str, entries: Sequence[Quarantined]) -> Quarantined | None:
    nodeid = selectable(nodeid)  # as the user writes it: without xdist's group suffix
    return next((e for e in entries if e.test == nodeid or fnmatch.fnmatchcase(nodeid, e.test)), None)


def apply(cases: list[dict[str, Any]], entries: Sequence[Quarantined], today: dt.date) -> list[str]:
    """Mark and reclassify ``cases`` in place; the warnings (entries matching no test)."""
    used: set[int] = set()
    for case in cases:
        entry = entry_for(case["nodeid"], entries)
        if entry is None:
            continue
        used.add(id(entry))
        said = f"{entry.reason} (until {entry.until.isoformat()})"
        expired = today > entry.until
        case["quarantine"] = {
            "reason": entry.reason,
            "until": entry.until.isoformat(),
            "expired": expired,
            "outcome": case["outcome"],  # what the test did, before the quarantine said what it means
        }
        if case["outcome"] not in FAILING:
            continue
        if expired:
            case["message"] = f"quarantine expired on {entry.until.isoformat()} ({entry.reason}): {case['message']}"
        else:
            case["outcome"] = "quarantined"
            case["message"] = f"quarantined: {said}: {case['message']}"
    return [
        f"[tests] quarantine: {e.test!r} matches no test of this run (renamed, removed or fixed?)"
        for e in entries
        if id(e) not in used
    ]


def apply_to_run(run_dir: Path, entries: Sequence[Quarantined], today: dt.date | None = None) -> list[str]:
    """:func:`apply` on the run's plugin results, rewritten; the warnings, kept in them too."""
    if not entries:
        return []
    path = run_dir / results_file()
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    warnings = apply(results["tests"], entries, today or dt.date.today())
    results["warnings"] = [*results.get("warnings", []), *warnings]
    write_json(path, results)
    # JUnit keeps what happened (a failure stays a failure there) and says the test is quarantined.
    marks = {
        c["nodeid"]: ("quarantined", f"{c['quarantine']['reason']} (until {c['quarantine']['until']})")
        for c in results["tests"]
        if c.get("quarantine")
    }
    mark_junit(run_dir / "junit.xml", marks)
    return warnings
