from __future__ import annotations

import json
import textwrap

from harness.history import flaky_tests, read_history
from harness.results import RunRecord, write_record

from .helpers import plan_of


def make_record(tmp_path, suite="smoke", outcome="passed"):
    (tmp_path / "stack.toml").write_text(
        textwrap.dedent("""
        [services.db]
        kind = "postgres"
        port = 25999
    """)
    )
    plan = plan_of(tmp_path / "stack.toml", 0)
    record = RunRecord(
        plan.root,
        plan.runs_dir,
        plan.instance,
        suite,
        "native",
        exit_code=0 if outcome == "passed" else 1,
        status=outcome,
    )
    record.completed_at = record.started_at
    record.pytest = {
        "tests": [
            {
                "nodeid": "t.py::test_a",
                "int_id": "INT-001",
                "outcome": outcome,
                "duration_s": 0.1,
                "message": "",
                "backend_logs": {},
            }
        ]
    }
    record.failure = "connecting to postgresql://app:hunter2@127.0.0.1/x failed"
    return record


def test_record_latest_and_history(tmp_path):
    first = write_record(make_record(tmp_path), {})
    second = write_record(make_record(tmp_path, outcome="failed"), {"DB_PASSWORD": "hunter2"})
    latest = tmp_path / "logs" / "latest"
    assert latest.is_symlink() and json.loads((latest / "results.json").read_text())["run_id"] == second["run_id"]
    assert "hunter2" not in (latest / "results.json").read_text()
    for key in (
        "run_id",
        "suite",
        "backend",
        "git_commit",
        "started_at",
        "completed_at",
        "exit_code",
        "stages",
        "tests",
        "latency",
    ):
        assert key in second
    assert second["tests"]["total"] == 1 and second["tests"]["failed"] == 1
    history = read_history(tmp_path / "logs" / "history.jsonl")
    assert [h["run_id"] for h in history] == [first["run_id"], second["run_id"]]
    assert flaky_tests(history) == {"t.py::test_a": {history[0]["git_commit"]: ["passed", "failed"]}}
    assert (tmp_path / "logs" / "runs" / second["run_id"] / "report.html").read_text().count("t.py::test_a") >= 1


def test_history_skips_torn_lines(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"run_id": "a", "outcomes": {}}\n{"run_id": "b", "outc\n')
    assert [r["run_id"] for r in read_history(path)] == ["a"]
