"""Suite runs end to end: exit codes, records, reuse, interrupts and results sinks."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg
import pytest

from harness.host.ports import port_free
from harness.kinds.s3 import s3_client

from .conftest import TEST_STACKS, derived_env, harness, owned_processes, wait_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = Path(__file__).parent / "examples" / "notes"
NOTES_INSTANCE = 4


@pytest.fixture
def notes(example_copy):
    return example_copy("notes", NOTES_INSTANCE)


def latest(stack: Path) -> dict:
    return json.loads((stack.parent / "run-logs" / "latest" / "results.json").read_text())


def test_failing_test_exits_1_with_its_backend_log_in_terminal_and_results():
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness",
            "--instance",
            "6",
            "suite",
            "p0",
            "--",
            "tests/harness/failing/test_deliberate_failure.py",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        env={**os.environ, "COLUMNS": "200"},
    )
    out = res.stdout + res.stderr
    assert res.returncode == 1, out
    assert "backend log: worker_light" in out and "POST /fs/read 404" in out
    run_dir = (
        ROOT
        / "logs"
        / "runs"
        / next(
            line.split("logs/runs/")[1].split("/")[0] for line in out.splitlines() if "results in logs/runs/" in line
        )
    )
    data = json.loads((run_dir / "results.json").read_text())
    assert data["exit_code"] == 1 and data["status"] == "failed" and data["tests"]["failed"] == 1
    case = data["tests"]["cases"][0]
    assert case["int_id"] == "INT-000" and "deliberate failure" in case["message"]
    assert any("POST /fs/read 404" in line for line in case["backend_logs"]["worker_light"])
    assert (run_dir / "junit.xml").read_text().count("backend_log.worker_light") == 1
    html = (run_dir / "report.html").read_text()
    assert "Stage timeline" in html and "worker_light log while the test ran" in html
    assert owned_processes(ROOT / ".harness" / "6") == []


def test_stack_that_cannot_come_up_exits_2_and_still_records(notes):
    port = 26432 + 10 * NOTES_INSTANCE
    with socket.socket() as blocker:
        # A run of this stack just before leaves the port in TIME_WAIT; the listener must bind anyway.
        blocker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        blocker.bind(("127.0.0.1", port))
        blocker.listen()
        res = harness(notes, "suite", "smoke", instance=NOTES_INSTANCE)
    assert res.returncode == 2, res.stderr
    data = latest(notes)
    assert data["exit_code"] == 2 and data["status"] == "error"
    assert f"port {port}" in data["failure"] and data["tests"]["total"] == 0
    assert data["failed_stage"] == "up"
    history = (notes.parent / "run-logs" / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["exit_code"] == 2


def test_reuse_starts_and_stops_nothing(notes):
    assert harness(notes, "up", instance=NOTES_INSTANCE).returncode == 0
    state = notes.parent / ".state" / str(NOTES_INSTANCE) / "state.json"
    before = {k: v["pid"] for k, v in json.loads(state.read_text())["processes"].items()}
    res = harness(notes, "suite", "smoke", "--reuse", instance=NOTES_INSTANCE)
    assert res.returncode == 0, res.stderr
    after = {k: v["pid"] for k, v in json.loads(state.read_text())["processes"].items()}
    assert before == after
    assert [s["name"] for s in latest(notes)["stages"]] == ["reuse check", "tests"]
    status = harness(notes, "status", instance=NOTES_INSTANCE)
    assert status.stderr.count("healthy") == 2 and "unhealthy" not in status.stderr


def test_sigint_during_tests_tears_down_and_records_interrupted(notes):
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "--stack", str(notes), "--instance", str(NOTES_INSTANCE), "suite", "slow"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=notes.parent,
        start_new_session=True,
    )
    state_dir = notes.parent / ".state" / str(NOTES_INSTANCE)
    wait_for(
        lambda: list((notes.parent / "run-logs" / "runs").glob("*/slow-test-started")),
        60,
        "the slow test to be running",
    )
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal's Ctrl-C does
    t0 = time.monotonic()
    out, _ = proc.communicate(timeout=30)
    assert time.monotonic() - t0 < 10, out
    assert proc.returncode == 130, out
    assert "Traceback" not in out, "one Ctrl-C: pytest's own interrupt summary, no traceback"
    assert owned_processes(state_dir) == []
    assert port_free(26432 + 10 * NOTES_INSTANCE) and port_free(26080 + 10 * NOTES_INSTANCE)
    data = latest(notes)
    assert data["status"] == "interrupted" and data["exit_code"] == 130


WORKERS = """
[stack]
name = "interrupted"

[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }

[profiles.api]
services = ["api"]

[suites.checks]
profile = "api"
paths = ["checks"]
workers = 2
"""

QUICK_THEN_SLOW = """
import os, pathlib, time
import pytest

@pytest.mark.parametrize("n", range(6))
def test_quick(n):
    pathlib.Path(os.environ["HARNESS_RUN_DIR"], f"quick-{n}-done").touch()

@pytest.mark.parametrize("n", range(2))
def test_slow(n):
    pathlib.Path(os.environ["HARNESS_RUN_DIR"], f"slow-{n}-started").touch()
    time.sleep(120)

@pytest.mark.disruptive
def test_alone():
    pass
"""


def test_ctrl_c_with_workers_keeps_every_finished_test_in_the_record(make_stack):
    sd = make_stack(WORKERS)
    (sd.root / "checks").mkdir()
    (sd.root / "checks" / "test_checks.py").write_text(QUICK_THEN_SLOW)
    proc = subprocess.Popen(
        [sys.executable, "-m", "harness", "--stack", str(sd.file), "suite", "checks"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=sd.root,
        env={**os.environ, "COLUMNS": "200"},
        start_new_session=True,
    )
    runs = sd.root / "logs" / "runs"
    wait_for(
        lambda: len(list(runs.glob("*/quick-*-done"))) == 6 and list(runs.glob("*/slow-*-started")),
        90,
        "the quick tests to finish and a slow one to run",
    )
    time.sleep(1.5)  # the workers' reports of the quick tests reach pytest's controller
    os.killpg(proc.pid, signal.SIGINT)  # a terminal's Ctrl-C: the harness, pytest and its workers
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, out
    assert "Traceback" not in out, out
    run = (sd.root / "logs" / "latest").resolve()
    data = json.loads((run / "results.json").read_text())
    assert data["status"] == "interrupted" and data["exit_code"] == 130
    passed = sorted(c["nodeid"] for c in data["tests"]["cases"] if c["outcome"] == "passed")
    assert passed == [f"checks/test_checks.py::test_quick[{n}]" for n in range(6)], data["tests"]
    assert data["tests"]["passed"] == 6
    junit = (run / "junit.xml").read_text()
    assert all(f'name="test_quick[{n}]"' in junit for n in range(6)), "junit.xml holds them too"
    assert "test_quick[5]" in (run / "report.html").read_text()
    assert owned_processes(sd.state_dir()) == []


STORE = """
[stack]
name = "results-store"

[services.db]
kind = "postgres"
port = {p0}
databases = ["results"]

[services.store]
kind = "s3"
port = {p1}
buckets = ["runs"]
"""


def test_results_sinks_and_a_failing_sink(notes, make_stack):
    store = make_stack(STORE)
    # As root the store's Postgres runs as the postgres user, who must reach its data dir.
    store_root = TEST_STACKS / f"store-{uuid.uuid4().hex[:8]}"
    shutil.copytree(store.root, store_root)
    store_file = store_root / "stack.toml"
    try:
        assert harness(store_file, "up", instance=0).returncode == 0
        env = derived_env(store_file, 0)
        dsn = env["DB_DSN"].rsplit("/", 1)[0] + "/results"
        sink_env = {
            "HARNESS_RESULTS_DSN": dsn,
            "HARNESS_RESULTS_S3": "s3://runs/ci",
            "HARNESS_RESULTS_S3_ENDPOINT": env["STORE_ENDPOINT"],
            "HARNESS_RESULTS_S3_ACCESS_KEY": env["STORE_ACCESS_KEY"],
            "HARNESS_RESULTS_S3_SECRET_KEY": env["STORE_SECRET_KEY"],
        }
        res = harness(notes, "suite", "smoke", instance=NOTES_INSTANCE, env=sink_env)
        assert res.returncode == 0, res.stderr
        run_id = latest(notes)["run_id"]
        with psycopg.connect(dsn) as conn:
            row = conn.execute(
                "SELECT suite, exit_code, passed FROM harness_runs WHERE run_id = %s", (run_id,)
            ).fetchone()
            tests = conn.execute("SELECT count(*) FROM harness_tests WHERE run_id = %s", (run_id,)).fetchone()[0]
        assert row == ("smoke", 0, 2) and tests == 2
        s3 = s3_client(env["STORE_ENDPOINT"], env["STORE_ACCESS_KEY"], env["STORE_SECRET_KEY"], "us-east-1")
        keys = {o["Key"] for o in s3.list_objects_v2(Bucket="runs", Prefix=f"ci/{run_id}/")["Contents"]}
        assert {f"ci/{run_id}/results.json", f"ci/{run_id}/junit.xml", f"ci/{run_id}/report.html"} <= keys

        unreachable = {"HARNESS_RESULTS_DSN": "postgresql://nobody:secret-pw@127.0.0.1:1/none"}
        res = harness(notes, "suite", "smoke", instance=NOTES_INSTANCE, env=unreachable)
        assert res.returncode == 0, res.stderr
        assert "warning: results sink postgres failed" in res.stderr
        assert "secret-pw" not in res.stderr
        assert latest(notes)["exit_code"] == 0
    finally:
        harness(store_file, "down", instance=0)
        shutil.rmtree(store_root, ignore_errors=True)


def test_suite_tears_down_only_what_it_started(notes):
    assert harness(notes, "up", "db", instance=NOTES_INSTANCE).returncode == 0
    res = harness(notes, "suite", "smoke", instance=NOTES_INSTANCE)
    assert res.returncode == 0, res.stderr
    assert "left running (they were up before this run): db" in res.stderr
    status = harness(notes, "status", instance=NOTES_INSTANCE).stderr
    db_line = next(line for line in status.splitlines() if " db " in line)
    api_line = next(line for line in status.splitlines() if " api " in line)
    assert "running" in db_line and "healthy" in db_line
    assert "stopped" in api_line
    assert port_free(26080 + 10 * NOTES_INSTANCE)


RESTARTING_SUITE = """
[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }

[profiles.app]
services = ["api"]

[suites.restart]
profile = "app"
command = ["{python}", "-m", "pytest", "-p", "no:cacheprovider", "-q"]
paths = ["test_restart.py"]
"""

RESTART_TEST = """
import os, subprocess, sys


def harness(*args):
    cmd = [sys.executable, "-m", "harness", "--stack", os.environ["HARNESS_STACK_FILE"],
           "--instance", os.environ["HARNESS_INSTANCE"], *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr


def test_stop_and_start_the_api_through_the_harness():
    harness("stop", "api")
    harness("up", "api")
"""


def test_a_service_restarted_by_the_suites_own_tests_is_still_torn_down(make_stack):
    sd = make_stack(RESTARTING_SUITE)
    (sd.root / "test_restart.py").write_text(RESTART_TEST)
    res = sd.cli("suite", "restart")
    assert res.returncode == 0, res.stdout + res.stderr
    assert owned_processes(sd.state_dir()) == [], "the api started again by the test was stopped too"
    assert port_free(sd.ports[0])
    state = json.loads((sd.state_dir() / "state.json").read_text())
    assert state["processes"] == {} and state["complete"] is True


def test_two_shards_merge_into_exactly_the_unsharded_run(notes):
    unsharded = harness(notes, "suite", "smoke", instance=NOTES_INSTANCE)
    assert unsharded.returncode == 0, unsharded.stderr
    everything = sorted(c["nodeid"] for c in latest(notes)["tests"]["cases"])
    runs = []
    for k in (1, 2):
        res = harness(notes, "suite", "smoke", "--shard", f"{k}/2", "--group-id", "ci-42", instance=NOTES_INSTANCE)
        assert res.returncode == 0, res.stderr
        data = latest(notes)
        assert data["shard"] == f"{k}/2" and data["group_id"] == "ci-42"
        runs.append(str(notes.parent / "run-logs" / "runs" / data["run_id"]))
    merged = harness(notes, "merge", *runs, instance=NOTES_INSTANCE)
    assert merged.returncode == 0, merged.stderr
    out = notes.parent / "run-logs" / "runs" / "smoke-ci-42-merged"
    data = json.loads((out / "results.json").read_text())
    assert sorted(c["nodeid"] for c in data["tests"]["cases"]) == everything, "every test once, none twice"
    assert (out / "junit.xml").read_text().count("<testcase") == len(everything)
    assert "Shards" in (out / "report.html").read_text()
    summary = harness(notes, "summary", str(out), instance=NOTES_INSTANCE)
    assert summary.returncode == 0 and summary.stdout.startswith("## smoke: passed (exit 0)")
    again = harness(notes, "merge", runs[0], runs[0], instance=NOTES_INSTANCE)
    assert again.returncode == 2 and "shard 1/2 given twice" in again.stderr and "shard 2/2 missing" in again.stderr
