"""``harness history``: the last runs as a table, and tests whose outcome changed at one commit."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from harness.record.history import code_of, flaky_tests, load_history
from harness.record.rates import percent


def tier_rates(run: dict[str, Any]) -> str:
    """``<tier> 52/52 (100.0%)`` per tier of a history line (older lines have none)."""
    parts = []
    for tier, (passed, executed) in sorted(run.get("tiers", {}).items()):
        parts.append(f"{tier} {passed}/{executed} ({percent(passed / executed if executed else None)})")
    return ", ".join(parts) or "-"


def short_code(code: str) -> str:
    """``0123456789`` for a commit, ``0123456789+ab12cd34`` with uncommitted changes."""
    commit, _, tree = code.partition("+")
    return commit[:10] + (f"+{tree[:8]}" if tree else "")


def show_history(path: Path, console: Console, *, limit: int) -> int:
    history = load_history(path)
    runs = history.runs
    if history.skipped:
        plural = "s" if history.skipped > 1 else ""
        console.print(
            f"[yellow]skipped {history.skipped} line{plural} of {path} that {'are' if plural else 'is'} not a run's "
            "record (torn, edited by hand, or not UTF-8)[/yellow]",
            highlight=False,
        )
    if not runs:
        console.print(f"no runs recorded yet in {path}")
        return 0
    table = Table(title=f"last {min(limit, len(runs))} of {len(runs)} runs ({path})", title_justify="left")
    columns = ("run", "suite", "commit", "duration", "status", "passed", "failed", "errors", "skipped", "flaky")
    for col in (*columns, "quarantined", "tiers"):
        table.add_column(col)
    for run in runs[-limit:]:
        table.add_row(
            run["run_id"],
            run["suite"],
            short_code(code_of(run)),
            f"{run['duration_s']:.1f} s",
            run["status"],
            str(run["passed"]),
            str(run["failed"]),
            str(run["errors"]),
            str(run["skipped"]),
            str(run.get("flaky", 0)),
            str(run.get("quarantined", 0)),
            tier_rates(run),
        )
    console.print(table)
    flaky = flaky_tests(runs)
    if flaky:
        console.print("[yellow]tests whose outcome changed between runs at the same commit:[/yellow]")
        for nodeid, commits in sorted(flaky.items()):
            for commit, outcomes in commits.items():
                console.print(f"  {nodeid} @ {short_code(commit)}: {' -> '.join(outcomes)}", markup=False)
    else:
        console.print("no flaky tests: every test kept its outcome at each commit")
    return 0
