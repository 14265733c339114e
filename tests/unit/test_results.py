from __future__ import annotations

import json
import textwrap

from harness.record.history import flaky_tests, read_history
from harness.record.results import write_record
from harness.suite.outcome import RunRecord

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


def test_a_test_that_flips_between_profiles_is_not_flaky():
    runs = [
        {"git_commit": "c1", "profile": "backend", "outcomes": {"t.py::a": "passed"}},
        {"git_commit": "c1", "profile": "full", "outcomes": {"t.py::a": "failed"}},
        {"git_commit": "c1", "profile": "full", "outcomes": {"t.py::a": "passed"}},
    ]
    assert flaky_tests(runs[:2]) == {}
    assert flaky_tests(runs) == {"t.py::a": {"c1": ["failed", "passed"]}}


def test_history_skips_torn_lines(tmp_path):
    path = tmp_path / "history.jsonl"
    path.write_text('{"run_id": "a", "outcomes": {}}\n{"run_id": "b", "outc\n')
    assert [r["run_id"] for r in read_history(path)] == ["a"]


def test_pass_rates_per_tier_id_and_file_reach_results_report_and_history(tmp_path):
    from rich.console import Console

    from harness.cli.history_view import show_history
    from harness.record.rates import categories

    def case(nodeid, int_id, tier, outcome):
        return {
            "nodeid": nodeid,
            "int_id": int_id,
            "markers": [tier],
            "outcome": outcome,
            "duration_s": 0.1,
            "message": "",
            "backend_logs": {},
        }

    cases = [
        case("a.py::test_1", "INT-001", "tier_a", "passed"),
        case("a.py::test_2", "INT-001", "tier_a", "failed"),
        case("a.py::test_3", "INT-002", "tier_a", "skipped"),
        case("b.py::test_4", "INT-101", "tier_b", "passed"),
        case("b.py::test_5", None, "tier_b", "error"),
    ]
    got = categories(cases)
    assert got["by_tier"]["tier_a"] == {
        "total": 3,
        "passed": 1,
        "failed": 1,
        "errors": 0,
        "skipped": 1,
        "xfailed": 0,
        "xpassed": 0,
        "not_run": 0,
        "flaky": 0,
        "quarantined": 0,
        "pass_rate": 0.5,
    }
    assert got["by_tier"]["tier_b"]["pass_rate"] == 0.5 and got["by_tier"]["tier_b"]["errors"] == 1
    assert got["by_id"]["INT-001"]["pass_rate"] == 0.5 and got["by_id"]["INT-002"]["pass_rate"] is None
    assert set(got["by_id"]) == {"INT-001", "INT-002", "INT-101"}
    assert got["by_file"]["a.py"]["total"] == 3 and got["by_file"]["b.py"]["total"] == 2

    record = make_record(tmp_path)
    record.pytest = {"tests": cases}
    data = write_record(record, {})
    assert data["tests"]["by_tier"] == got["by_tier"] and data["tests"]["by_file"] == got["by_file"]
    html = (tmp_path / "logs" / "runs" / data["run_id"] / "report.html").read_text()
    assert "Pass rate by tier" in html and "tier_a" in html and "50.0%" in html and "INT-101" in html
    console = Console(record=True, width=300)
    show_history(tmp_path / "logs" / "history.jsonl", console, limit=5)
    shown = console.export_text()
    assert "tier_a 1/2 (50.0%)" in shown and "tier_b 1/2 (50.0%)" in shown


def test_history_readers_skip_every_line_that_is_not_a_run_and_say_how_many(tmp_path):
    from rich.console import Console

    from harness.cli.history_view import show_history
    from harness.record.history import load_history

    first = write_record(make_record(tmp_path), {})
    path = tmp_path / "logs" / "history.jsonl"
    with path.open("ab") as fh:
        fh.write(b"[1, 2]\n")  # JSON, not a run
        fh.write(b'{"run_id": "x", "passed": "many"}\n')  # a run's keys, of the wrong type
        fh.write(b'{"run_id": "y", "outcomes": ["t.py::test_a"]}\n')
        fh.write(b'{"run_id": "z\xff\xfe"}\n')  # not UTF-8
        fh.write(b"\n")  # blank: nothing to say about it
    history = load_history(path)
    assert [r["run_id"] for r in history.runs] == [first["run_id"]] and history.skipped == 4
    console = Console(record=True, width=200)
    assert show_history(path, console, limit=5) == 0
    said = console.export_text()
    assert "skipped 4 lines of" in said and first["run_id"] in said


def test_a_run_appended_after_a_torn_line_starts_a_line_of_its_own(tmp_path):
    first = write_record(make_record(tmp_path), {})
    path = tmp_path / "logs" / "history.jsonl"
    with path.open("a") as fh:
        fh.write('{"run_id": "killed-while-writing", "sui')  # no newline: the next append must not join it
    second = write_record(make_record(tmp_path, outcome="failed"), {})
    assert [r["run_id"] for r in read_history(path)] == [first["run_id"], second["run_id"]]
    assert path.read_text().endswith("\n")


def test_history_or_latest_in_the_way_is_a_warning_and_the_record_is_written(tmp_path):
    from rich.console import Console

    (tmp_path / "logs" / "history.jsonl").mkdir(parents=True)
    (tmp_path / "logs" / "latest").mkdir()
    console = Console(record=True, width=300)
    data = write_record(make_record(tmp_path), {}, console)
    said = console.export_text()
    assert f"could not update {tmp_path / 'logs' / 'latest'}: it is a directory" in said
    assert f"could not update {tmp_path / 'logs' / 'history.jsonl'}: it is a directory" in said
    assert (tmp_path / "logs" / "runs" / data["run_id"] / "results.json").is_file()
