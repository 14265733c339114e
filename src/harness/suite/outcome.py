"""The run record's data, as a suite run fills it in: what ran, how it ended, where it is kept.

``record/`` turns it into files (results.json, junit.xml, report.html, history) and sends it to
the sinks; this module only holds it, so a suite run can fill it in whatever happens.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def new_run_id(suite: str) -> str:
    return f"{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%SZ')}-{suite}-{uuid.uuid4().hex[:6]}"


@dataclass
class RunRecord:
    """Everything results.json says about one suite run."""

    root: Path  # the stack's directory (the git commit is read there)
    runs_dir: Path
    instance: int
    suite: str
    backend: str
    profile: str = ""  # the profile the suite ran against (its own, or --profile's)
    run_id: str = ""
    started_at: str = field(default_factory=utc_now)
    completed_at: str = ""
    exit_code: int = 2
    status: str = "error"
    failure: str = ""
    failed_stage: str = ""
    stages: list[dict[str, Any]] = field(default_factory=list)
    pytest: dict[str, Any] = field(default_factory=dict)  # what the plugin wrote (results_file)
    argv: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # results.json as written
    shard: str = ""  # "K/N" when this run is one shard of a suite
    group_id: str = ""  # the same for every shard of one CI run
    failed_from: dict[str, Any] | None = None  # --failed-from: the run whose failed tests this one runs again
    isolation: dict[str, Any] | None = None  # [suites.X] isolate: each worker's copies
    coverage: dict[str, Any] | None = None  # [suites.X] coverage: percentages and reports (suite/coverage.py)
    events: list[dict[str, Any]] = field(default_factory=list)  # what happened to services during the tests
    resources: dict[str, Any] = field(default_factory=dict)  # per service: CPU and memory, peak and mean
    log_dir: Path | None = None  # the instance's service logs, copied into the run directory
    log_offsets: dict[str, int] = field(default_factory=dict)  # where each log ended when the run began
    own_dirs: list[Path] = field(default_factory=list)  # what the harness writes in the tree (not a change to it)

    def __post_init__(self) -> None:
        self.run_id = self.run_id or new_run_id(self.suite)

    @property
    def dir(self) -> Path:
        return self.runs_dir / self.run_id


def log_offsets(log_dir: Path) -> dict[str, int]:
    """Where each service log ends now: a run's copy starts there (logs are appended across runs)."""
    return {p.name: p.stat().st_size for p in log_dir.glob("*.log")} if log_dir.is_dir() else {}
