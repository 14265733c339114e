"""A run's record: ``logs/runs/<run_id>/`` with results.json, junit.xml, service logs, report.

The record is written whatever happened (tests failed, the stack never came up, Ctrl-C), then
``logs/latest`` is pointed at it and one line is appended to ``logs/history.jsonl``. Optional
sinks (a results database, an S3 upload) run last and can only warn.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.masking import mask_text
from harness.rates import categories, tally

RESULTS_VERSION = 1


def utc_now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def git_commit(root: Path) -> str:
    try:
        res = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=5, check=False
        )
    except OSError:
        return "unknown"
    return res.stdout.strip() if res.returncode == 0 else "unknown"


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
    run_id: str = ""
    started_at: str = field(default_factory=utc_now)
    completed_at: str = ""
    exit_code: int = 2
    status: str = "error"
    failure: str = ""
    failed_stage: str = ""
    stages: list[dict[str, Any]] = field(default_factory=list)
    pytest: dict[str, Any] = field(default_factory=dict)
    argv: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # results.json as written
    shard: str = ""  # "K/N" when this run is one shard of a suite
    group_id: str = ""  # the same for every shard of one CI run
    events: list[dict[str, Any]] = field(default_factory=list)  # what happened to services during the tests
    resources: dict[str, Any] = field(default_factory=dict)  # per service: CPU and memory, peak and mean

    def __post_init__(self) -> None:
        self.run_id = self.run_id or new_run_id(self.suite)

    @property
    def dir(self) -> Path:
        return self.runs_dir / self.run_id

    def tests_summary(self) -> dict[str, Any]:
        tests = self.pytest.get("tests", [])
        overall = tally(tests)
        return {**overall, **categories(tests), "cases": tests}

    def as_dict(self) -> dict[str, Any]:
        return {
            "version": RESULTS_VERSION,
            "run_id": self.run_id,
            "suite": self.suite,
            "backend": self.backend,
            "instance": self.instance,
            "git_commit": git_commit(self.root),
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "duration_s": _seconds_between(self.started_at, self.completed_at),
            "exit_code": self.exit_code,
            "status": self.status,
            "failure": self.failure,
            "failed_stage": self.failed_stage,
            "shard": self.shard,
            "group_id": self.group_id,
            "argv": self.argv,
            "python": self.pytest.get("python", ""),  # the interpreter that ran the tests (plugin suites)
            "stages": self.stages,
            "tests": self.tests_summary(),
            "latency": self.pytest.get("latency", {"endpoints": {}, "slow_endpoints": []}),
            "events": self.events,
            "resources": self.resources,
            "logs": sorted(p.name for p in (self.dir / "logs").glob("*.log")) if (self.dir / "logs").is_dir() else [],
        }


def _seconds_between(start: str, end: str) -> float:
    if not end:
        return 0.0
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def log_offsets(log_dir: Path) -> dict[str, int]:
    """Where each service log ends now: a run's copy starts there (logs are appended across runs)."""
    return {p.name: p.stat().st_size for p in log_dir.glob("*.log")} if log_dir.is_dir() else {}


def collect_logs(record: RunRecord, log_dir: Path, env: Mapping[str, str], since: dict[str, int]) -> None:
    """Copy what every service logged during the run into the run directory, secrets masked."""
    target = record.dir / "logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(log_dir.glob("*.log")):
        with open(path, "rb") as fh:
            fh.seek(since.get(path.name, 0))
            text = fh.read().decode("utf-8", errors="replace")
        (target / path.name).write_text(mask_text(text, env), encoding="utf-8")


def write_record(record: RunRecord, env: Mapping[str, str]) -> dict[str, Any]:
    """results.json (atomically), the HTML report, logs/latest and a history line."""
    from harness.report import write_html_report

    record.dir.mkdir(parents=True, exist_ok=True)
    data: dict[str, Any] = json.loads(mask_text(json.dumps(record.as_dict()), env))
    tmp = record.dir / "results.json.tmp"
    tmp.write_text(json.dumps(data, indent=2))
    os.replace(tmp, record.dir / "results.json")
    write_html_report(data, record.dir / "report.html")
    latest = record.runs_dir.parent / "latest"
    tmp_link = latest.with_name(f".latest.{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(record.dir.relative_to(latest.parent))
    os.replace(tmp_link, latest)
    append_history(record.runs_dir.parent / "history.jsonl", data)
    return data


def history_line(data: dict[str, Any]) -> dict[str, Any]:
    t = data["tests"]
    return {
        "run_id": data["run_id"],
        "suite": data["suite"],
        "git_commit": data["git_commit"],
        "started_at": data["started_at"],
        "duration_s": data["duration_s"],
        "exit_code": data["exit_code"],
        "status": data["status"],
        "passed": t["passed"],
        "failed": t["failed"],
        "errors": t["errors"],
        "skipped": t["skipped"],
        "tiers": {tier: [r["passed"], r["total"] - r["skipped"]] for tier, r in t.get("by_tier", {}).items()},
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
