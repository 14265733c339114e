"""A run's record: ``logs/runs/<run_id>/`` with results.json, junit.xml, service logs, report.

The record is written whatever happened (tests failed, the stack never came up, Ctrl-C), then
``logs/latest`` is pointed at it and one line is appended to ``logs/history.jsonl``. Optional
sinks (a results database, an S3 upload) run last and can only warn.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import subprocess
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.config.masking import mask_text
from harness.host.files import write_atomic, write_json
from harness.record.counts import junit_counts, tests_block
from harness.record.history import append_history
from harness.record.locations import relative_rootdir, relocated, repository_root
from harness.suite.outcome import RunRecord, utc_now

RESULTS_VERSION = 1


def _git(root: Path, *args: str) -> str | None:
    try:
        res = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout.decode("utf-8", "replace") if res.returncode == 0 else None


def git_commit(root: Path) -> str:
    said = _git(root, "rev-parse", "HEAD")
    return said.strip() if said else "unknown"


DIRTY_LISTED = 200  # files named in results.json; the count is always whole


def git_changes(root: Path, own_dirs: Sequence[Path] = ()) -> dict[str, Any]:
    """What the working tree has that its commit has not: ``files`` (porcelain status lines, the
    harness's own state and logs left out), their ``count``, and ``tree``, a digest of the
    changes, so two runs at one commit are known to have run the same code (or not)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    status = _git(root, "status", "--porcelain=v1", "-z")
    if top is None or status is None:
        return {"files": [], "count": 0, "tree": ""}
    mine = []
    for d in own_dirs:
        try:
            mine.append(d.resolve().relative_to(Path(top.strip()).resolve()).as_posix().rstrip("/") + "/")
        except ValueError:
            continue  # outside the repository
    entries = [e for e in status.split("\0") if len(e) > 3]
    files = [e for e in entries if not any((e[3:].rstrip("/") + "/").startswith(m) for m in mine)]
    if not files:
        return {"files": [], "count": 0, "tree": ""}
    diff = _git(root, "diff", "HEAD", "--binary") or ""
    digest = hashlib.sha256(("\0".join(sorted(files)) + "\0" + diff).encode()).hexdigest()[:16]
    return {"files": files[:DIRTY_LISTED], "count": len(files), "tree": digest}


def results_json(record: RunRecord) -> dict[str, Any]:
    """What results.json says of a run (before secrets are masked)."""
    tests = relocated(record.pytest.get("tests", []), record.pytest.get("rootdir", ""), repository_root(record.root))
    logs = record.dir / "logs"
    return {
        "version": RESULTS_VERSION,
        "run_id": record.run_id,
        "suite": record.suite,
        "backend": record.backend,
        "instance": record.instance,
        "git_commit": git_commit(record.root),
        "git_changes": git_changes(record.root, record.own_dirs),  # uncommitted: the commit alone is not the code
        "started_at": record.started_at,
        "completed_at": record.completed_at,
        "duration_s": _seconds_between(record.started_at, record.completed_at),
        "exit_code": record.exit_code,
        "status": record.status,
        "failure": record.failure,
        "failed_stage": record.failed_stage,
        "profile": record.profile,
        "shard": record.shard,
        "group_id": record.group_id,
        "argv": record.argv,
        "python": record.pytest.get("python", ""),  # the interpreter that ran the tests (plugin suites)
        "rootdir": relative_rootdir(record.pytest.get("rootdir", ""), record.root),  # node ids are relative to it
        "failed_from": record.failed_from,  # --failed-from: the run whose failed tests this one ran again
        "isolation": record.isolation,  # [suites.X] isolate: which copies each worker used
        "coverage": record.coverage,  # [suites.X] coverage: total and per-service percentages, reports
        "stages": record.stages,
        "tests": tests_block(
            tests,
            deselected=record.pytest.get("deselected", []),
            pytest_counts=record.pytest.get("pytest_counts"),
            junit=junit_counts(record.dir / "junit.xml"),
        ),
        "latency": record.pytest.get("latency", {"endpoints": {}, "slow_endpoints": []}),
        "events": record.events,
        "resources": record.resources,
        "logs": sorted(p.name for p in logs.glob("*.log")) if logs.is_dir() else [],
    }


def _seconds_between(start: str, end: str) -> float:
    if not end:
        return 0.0
    parse = dt.datetime.fromisoformat
    return (parse(end.replace("Z", "+00:00")) - parse(start.replace("Z", "+00:00"))).total_seconds()


def collect_logs(record: RunRecord, env: Mapping[str, str]) -> None:
    """Copy what every service logged during the run into the run directory, secrets masked."""
    if record.log_dir is None or not record.log_dir.is_dir():
        return
    target = record.dir / "logs"
    target.mkdir(parents=True, exist_ok=True)
    for path in sorted(record.log_dir.glob("*.log")):
        with open(path, "rb") as fh:
            fh.seek(record.log_offsets.get(path.name, 0))
            text = fh.read().decode("utf-8", errors="replace")
        write_atomic(target / path.name, mask_text(text, env))


def _point_latest(record: RunRecord) -> None:
    latest = record.runs_dir.parent / "latest"
    tmp_link = latest.with_name(f".latest.{os.getpid()}")
    if tmp_link.is_symlink() or tmp_link.exists():
        tmp_link.unlink()
    tmp_link.symlink_to(record.dir.relative_to(latest.parent))
    os.replace(tmp_link, latest)


def write_record(record: RunRecord, env: Mapping[str, str], console: Console | None = None) -> dict[str, Any]:
    """results.json (atomically), the HTML report, logs/latest and a history line.

    ``logs/latest`` and the history line only point at the record: when either cannot be
    written (a directory in the way), that is a warning, and the run keeps its exit code.
    """
    from harness.record.report import write_html_report

    data: dict[str, Any] = json.loads(mask_text(json.dumps(results_json(record)), env))
    write_json(record.dir / "results.json", data)
    write_html_report(data, record.dir / "report.html")
    history = record.runs_dir.parent / "history.jsonl"
    pointers: list[tuple[Path, Callable[[], None]]] = [
        (record.runs_dir.parent / "latest", lambda: _point_latest(record)),
        (history, lambda: append_history(history, data)),
    ]
    for path, write in pointers:
        try:
            write()
        except OSError as exc:
            why = "it is a directory" if path.is_dir() and not path.is_symlink() else str(exc.strerror or exc)
            (console or Console(stderr=True)).print(
                f"[yellow]warning:[/yellow] could not update {path}: {why}; the run's record is in {record.dir}",
                highlight=False,
            )
    return data


def record_failure(root: Path, runs_dir: Path, suite: str, failure: str, env: Mapping[str, str]) -> RunRecord:
    """The record of a suite run that never started (no stack, no harness in the venv): it says why,
    and ``logs/latest`` points at it, not at an older run that passed."""
    record = RunRecord(root, runs_dir, 0, suite, "none", failure=failure, failed_stage="start")
    record.own_dirs = [runs_dir.parent]
    record.completed_at = utc_now()
    record.data = write_record(record, env)
    return record


def mask_files(directory: Path, env: Mapping[str, str]) -> list[Path]:
    """Every text file under ``directory`` with secrets masked (rewritten whole); those it changed."""
    changed = []
    for path in sorted(directory.rglob("*")):
        if path.is_symlink() or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # not text: nothing a secret could be read from as such
        masked = mask_text(text, env)
        if masked != text:
            write_atomic(path, masked)
            changed.append(path)
    return changed


def persist_run(record: RunRecord, env: Mapping[str, str], console: Console) -> dict[str, Any]:
    """Everything a finished run leaves: its logs, masked JUnit, the record files, the sinks."""
    from harness.record import sinks

    collect_logs(record, env)  # after teardown: shutdown messages are in it
    mask_files(record.dir, env)  # JUnit, the plugin's results, events: a failing test's output can quote one
    data = write_record(record, env, console)
    sinks.send(data, record.dir, env, console)
    return data
