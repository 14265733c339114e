"""``logs/history.jsonl``: one line per run, appended; read back for ``harness history`` and flaky tests.

Several runs append to it, a killed one can leave its line torn, and people edit it: a reader
skips every line that is not a run's record (and says how many), and an appender after a torn
line starts its own on a new one, so one bad line never costs another.
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError

from harness.errors import HarnessError
from harness.record.rates import executed


class _Line(BaseModel):
    """What the readers use of a history line: one without a run id, or with a value of another
    type, is skipped; what an older harness did not write yet has its default."""

    model_config = ConfigDict(extra="allow")

    run_id: str
    suite: str = "?"
    git_commit: str = "?"
    git_tree: str = ""
    duration_s: float = 0.0
    status: str = "?"
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    flaky: int = 0
    quarantined: int = 0
    tiers: dict[str, tuple[int, int]] = {}
    outcomes: dict[str, str] = {}


@dataclass(frozen=True)
class History:
    runs: list[dict[str, Any]]
    skipped: int  # lines that are not a run's record: torn, hand-edited, not UTF-8


def load_history(path: Path) -> History:
    """Every line that is a run's record, and how many were not; a history that cannot be read
    at all (a directory) is one error naming it."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return History([], 0)
    except OSError as exc:
        why = "is a directory" if path.is_dir() else str(exc.strerror or exc).lower()
        raise HarnessError(f"{path}: cannot read the run history: {why}") from None
    runs: list[dict[str, Any]] = []
    skipped = 0
    for raw in data.split(b"\n"):
        if not raw.strip():
            continue
        try:
            runs.append(_Line.model_validate(json.loads(raw.decode("utf-8"))).model_dump())
        except (ValueError, ValidationError):  # UnicodeDecodeError and JSONDecodeError are ValueErrors
            skipped += 1
    return History(runs, skipped)


def read_history(path: Path) -> list[dict[str, Any]]:
    """Every line that is a run's record; the others are skipped, never fatal."""
    return load_history(path).runs


def code_of(run: dict[str, Any]) -> str:
    """The code a run tested: its commit, and the digest of its uncommitted changes if any
    (``<commit>+<digest>``), so a change in between is not taken for flakiness."""
    tree = run.get("git_tree", "")
    return f"{run.get('git_commit', '?')}{'+' + tree if tree else ''}"


def flaky_tests(runs: list[dict[str, Any]]) -> dict[str, dict[str, list[str]]]:
    """{nodeid: {commit: [outcomes...]}} for tests with more than one outcome at one commit (on one
    profile: a test that passes against one profile and fails against another is not flaky)."""
    seen: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for run in runs:
        for nodeid, outcome in run.get("outcomes", {}).items():
            if outcome != "skipped":
                seen[(nodeid, code_of(run), run.get("profile", ""))].append(outcome)
    flaky: dict[str, dict[str, list[str]]] = defaultdict(dict)
    for (nodeid, commit, _), outcomes in seen.items():
        if len(set(outcomes)) > 1 or "flaky" in outcomes:  # changed between runs, or within one (a rerun)
            flaky[nodeid].setdefault(commit, []).extend(outcomes)
    return dict(flaky)


def history_line(data: dict[str, Any]) -> dict[str, Any]:
    t = data["tests"]
    return {
        "run_id": data["run_id"],
        "suite": data["suite"],
        "git_commit": data["git_commit"],
        "profile": data.get("profile", ""),  # the same tests against another profile are another system
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
        "coverage": (data.get("coverage") or {}).get("total"),  # the services' total percentage, if measured
        "outcomes": {c["nodeid"]: c["outcome"] for c in t["cases"]},
    }


def append_history(path: Path, data: dict[str, Any]) -> None:
    """One line per run, appended with a single write so concurrent runs never interleave; after
    a torn last line (a run killed while writing it) on a line of its own."""
    line = json.dumps(history_line(data)) + "\n"
    fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        size = os.fstat(fd).st_size
        torn = size > 0 and os.pread(fd, 1, size - 1) != b"\n"
        os.write(fd, (b"\n" if torn else b"") + line.encode())
    finally:
        os.close(fd)
