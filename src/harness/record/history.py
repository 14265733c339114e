"""``logs/history.jsonl``: one line per run, appended; read back for ``harness history`` and flaky tests."""

from __future__ import annotations

import json
import os
from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.record.rates import executed


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every parseable line; a torn or hand-edited line is skipped, never fatal."""
    if not path.exists():
        return []
    runs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            runs.append(json.loads(line))
        except ValueError:
            continue
    return runs


def code_of(run: dict[str, Any]) -> str:
    """The code a run tested: its commit, and the digest of its uncommitted changes if any
    (``<commit>+<digest>``), so a change in between is not taken for flakiness."""
    tree = run.get("git_tree", "")
    return f"{run.get('git_commit', '?')}{'+' + tree if tree else ''}"


def flaky_tests(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """{nodeid: {commit: [outcomes...]}} for tests with more than one outcome at one commit."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for run in runs:
        for nodeid, outcome in run.get("outcomes", {}).items():
            if outcome != "skipped":
                seen[(nodeid, code_of(run))].append(outcome)
    flaky: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for (nodeid, commit), outcomes in seen.items():
        if len(set(outcomes)) > 1 or "flaky" in outcomes:  # changed between runs, or within one (a rerun)
            flaky[nodeid][commit] = outcomes
    return dict(flaky)


def history_line(data: dict[str, Any]) -> dict[str, Any]:
    t = data["tests"]
    return {
        "run_id": data["run_id"],
        "suite": data["suite"],
        "git_commit": data["git_commit"],
        "git_tree": data.get("git_changes", {}).get("tree", ""),  # "" for a clean tree
        "started_at": data["started_at"],
        "duration_s": data["duration_s"],
        "exit_code": data["exit_code"],
        "status": data["status"],
        "passed": t["passed"],
        "failed": t["failed"],
        "errors": t["errors"],
        "skipped": t["skipped"],
        "flaky": t.get("flaky", 0),
        "quarantined": t.get("quarantined", 0),
        "tiers": {tier: [r["passed"], executed(r)] for tier, r in t.get("by_tier", {}).items()},
        "outcomes": {c["nodeid"]: c["outcome"] for c in t["cases"]},
    }


def append_history(path: Path, data: dict[str, Any]) -> None:
    """One line per run, appended with a single write so concurrent runs never interleave."""
    line = json.dumps(history_line(data)) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode())
    finally:
        os.close(fd)
