"""``invoke history``: the last runs, and tests whose outcome changed at the same commit (flaky)."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.rates import percent


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


def flaky_tests(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """{nodeid: {commit: [outcomes...]}} for tests with more than one outcome at one commit."""
    seen: dict[tuple[str, str], list[str]] = defaultdict(list)
    for run in runs:
        for nodeid, outcome in run.get("outcomes", {}).items():
            if outcome != "skipped":
                seen[(nodeid, run.get("git_commit", "?"))].append(outcome)
    flaky: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for (nodeid, commit), outcomes in seen.items():
        if len(set(outcomes)) > 1:
            flaky[nodeid][commit] = outcomes
    return dict(flaky)


def tier_rates(run: dict[str, Any]) -> str:
    """``<tier> 52/52 (100.0%)`` per tier of a history line (older lines have none)."""
    parts = []
    for tier, (passed, executed) in sorted(run.get("tiers", {}).items()):
        parts.append(f"{tier} {passed}/{executed} ({percent(passed / executed if executed else None)})")
    return ", ".join(parts) or "-"


def show_history(path: Path, console: Console, *, limit: int) -> int:
    runs = read_history(path)
    if not runs:
        console.print(f"no runs recorded yet in {path}")
        return 0
    table = Table(title=f"last {min(limit, len(runs))} of {len(runs)} runs ({path})", title_justify="left")
    for col in ("run", "suite", "commit", "duration", "status", "passed", "failed", "errors", "skipped", "tiers"):
        table.add_column(col)
    for run in runs[-limit:]:
        table.add_row(
            run["run_id"],
            run["suite"],
            run["git_commit"][:10],
            f"{run['duration_s']:.1f} s",
            run["status"],
            str(run["passed"]),
            str(run["failed"]),
            str(run["errors"]),
            str(run["skipped"]),
            tier_rates(run),
        )
    console.print(table)
    flaky = flaky_tests(runs)
    if flaky:
        console.print("[yellow]tests whose outcome changed between runs at the same commit:[/yellow]")
        for nodeid, commits in sorted(flaky.items()):
            for commit, outcomes in commits.items():
                console.print(f"  {nodeid} @ {commit[:10]}: {' -> '.join(outcomes)}", markup=False)
    else:
        console.print("no flaky tests: every test kept its outcome at each commit")
    return 0
