"""What another project's first hour ran into, each kept fixed: tables read in a CI log, a record
that counts what pytest and JUnit count (and says why they differ), a run from a dirty tree said
as such, `invoke suite NAME -- ...` handing its arguments on, and messages naming the commands of
the front door in use."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from harness.record.history import read_history

STACK = """
[stack]
name = "first"

[services.a_service_with_a_name_longer_than_a_terminal_column]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }

[profiles.api]
services = ["a_service_with_a_name_longer_than_a_terminal_column"]

[suites.checks]
profile = "api"
paths = ["checks"]
"""

COUNTED = """
import pytest


def test_three_subtests_one_fails(subtests):
    for i in range(3):
        with subtests.test(msg="case", i=i):
            assert i != 1


def test_plain():
    pass


@pytest.fixture
def breaks_at_teardown():
    yield
    raise RuntimeError("teardown breaks")


def test_passes_then_its_teardown_errors(breaks_at_teardown):
    pass


def test_left_out_by_k():
    pass
"""

TWO = """
def test_one():
    pass


def test_two():
    pass
"""


def stack_with(make_stack, tests: str):
    sd = make_stack(STACK)
    (sd.root / "checks").mkdir()
    (sd.root / "checks" / "test_checks.py").write_text(textwrap.dedent(tests))
    return sd


def record(sd) -> dict:
    return json.loads((sd.root / "logs" / "latest" / "results.json").read_text())


def without_terminal(sd, *args: str) -> str:
    """What a command prints into a file (a CI log): no TTY, no COLUMNS."""
    out = sd.root / "out.txt"
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    with out.open("w") as fh:
        subprocess.run(
            [sys.executable, "-m", "harness", "--stack", str(sd.file), *args],
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=sd.root,
            timeout=120,
        )
    return out.read_text()


def test_tables_in_a_file_keep_every_cell_whole(make_stack):
    sd = stack_with(make_stack, TWO)
    assert sd.cli("suite", "checks").returncode == 0
    run_id = record(sd)["run_id"]
    status = without_terminal(sd, "status")
    name = "a_service_with_a_name_longer_than_a_terminal_column"
    rows = [line for line in status.splitlines() if name in line]
    assert len(rows) == 1 and "stopped" in rows[0] and str(sd.root / "logs") in rows[0], status
    history = without_terminal(sd, "history")
    assert any(run_id in line and "passed" in line for line in history.splitlines()), history


@pytest.mark.parametrize("workers", [None, "2"])
def test_the_record_counts_what_pytest_and_junit_count_and_says_why_they_differ(make_stack, workers):
    sd = stack_with(make_stack, COUNTED)
    extra = ["-n", workers] if workers else []
    res = sd.cli("suite", "checks", "--", "-k", "not left_out", *extra)
    assert res.returncode == 1, res.stderr
    tests = record(sd)["tests"]
    outcomes = {c["nodeid"].split("::")[1]: c["outcome"] for c in tests["cases"]}
    assert outcomes == {
        "test_three_subtests_one_fails": "failed",
        "test_plain": "passed",
        "test_passes_then_its_teardown_errors": "error",
    }
    sub = next(c for c in tests["cases"] if "subtests" in c["nodeid"])
    assert [s["outcome"] for s in sub["subtests"]] == ["passed", "failed", "passed"]
    # pytest 9.2 under xdist shows the subtest's parameters as reprs: (i='1').
    assert sub["subtests"][1]["name"] in ("[case] (i=1)", "[case] (i='1')") and "assert 1 != 1" in sub["message"]
    assert tests["subtests"] == {"passed": 2, "failed": 1}
    assert tests["deselected"] == 1 and tests["deselected_ids"] == ["checks/test_checks.py::test_left_out_by_k"]
    counted = tests["counted"]
    # At pytest's default verbosity its last line leaves out passing subtests: "2 failed, 2 passed, 1 error".
    pytest_said = {"failed": 2, "passed": 2, "error": 1}
    assert {k: counted["pytest"].get(k) for k in pytest_said} == pytest_said
    assert "subtests passed" not in counted["pytest"]
    # 3 tests and 3 subtests; before pytest 9.2 the teardown error after a pass is counted apart too.
    assert counted["junit"]["tests"] in (6, 7)
    notes = "\n".join(counted["notes"])
    assert "unexplained" not in notes, notes
    assert "3 subtests (1 failed, 2 passed)" in notes and "teardown errored after its call" in notes
    assert "leaves out passing subtests" in notes
    if workers:
        assert "pytest said 0 deselected, the record 1" in notes, "under xdist pytest does not count them"
    else:
        assert counted["pytest"]["deselected"] == 1 and "deselected" not in notes


def git(root, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *ident, *args], cwd=root, check=True, capture_output=True)


def test_a_run_from_a_tree_with_uncommitted_changes_names_them(make_stack):
    sd = stack_with(make_stack, TWO)
    git(sd.root, "init", "-q")
    git(sd.root, "add", "stack.toml", "checks")
    git(sd.root, "commit", "-q", "-m", "first")
    assert sd.cli("suite", "checks").returncode == 0
    clean = record(sd)
    assert clean["git_changes"] == {"files": [], "count": 0, "tree": ""}, "its own logs/ and .harness/ are no change"
    (sd.root / "checks" / "test_checks.py").write_text(textwrap.dedent(TWO) + "\n\ndef test_three():\n    pass\n")
    (sd.root / "notes.txt").write_text("not committed\n")
    assert sd.cli("suite", "checks").returncode == 0
    dirty = record(sd)
    assert dirty["git_commit"] == clean["git_commit"]
    assert sorted(dirty["git_changes"]["files"]) == [" M checks/test_checks.py", "?? notes.txt"]
    assert dirty["git_changes"]["count"] == 2 and len(dirty["git_changes"]["tree"]) == 16
    runs = read_history(sd.root / "logs" / "history.jsonl")
    assert [r["git_tree"] for r in runs] == ["", dirty["git_changes"]["tree"]]
    shown = sd.cli("history").stderr
    assert f"{clean['git_commit'][:10]}+{dirty['git_changes']['tree'][:8]}" in shown, shown
    assert "with uncommitted changes (2 files)" in (sd.root / "logs" / "latest" / "report.html").read_text()


def test_invoke_suite_hands_what_follows_the_double_dash_to_pytest(make_stack):
    sd = stack_with(make_stack, TWO)
    (sd.root / "tasks.py").write_text("from harness.cli.invoke_tasks import namespace\n\nns = namespace()\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")} | {"COLUMNS": "200"}
    res = subprocess.run(
        [sys.executable, "-m", "invoke", "suite", "checks", "--keep", "--", "-k", "one and not two"],
        cwd=sd.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode == 0, res.stdout + res.stderr
    data = record(sd)
    assert data["argv"] == ["-k", "one and not two"], "each argument as it was given, quoting kept"
    assert [c["nodeid"] for c in data["tests"]["cases"]] == ["checks/test_checks.py::test_one"]
    assert data["tests"]["deselected_ids"] == ["checks/test_checks.py::test_two"]
    said = res.stdout + res.stderr
    assert "`invoke down` stops it" in said and "harness down" not in said, "the command of the door in use"
    down = subprocess.run([sys.executable, "-m", "invoke", "down"], cwd=sd.root, env=env, capture_output=True)
    assert down.returncode == 0
    assert "`harness down` stops it" in sd.cli("suite", "checks", "--keep").stderr


def test_a_nox_session_whose_venv_lacks_the_harness_still_leaves_a_record(make_stack):
    sd = stack_with(make_stack, TWO)
    assert sd.cli("suite", "checks").returncode == 0
    passed = record(sd)["run_id"]
    # The mistake the first hour made: an install that puts the project, not the harness, in the venv.
    noxfile = "from harness.cli.nox_sessions import suite_sessions\n\nsuite_sessions(lambda session: None)\n"
    (sd.root / "noxfile.py").write_text(noxfile)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_")}
    res = subprocess.run(
        [sys.executable, "-m", "nox", "-s", "integration_checks", "--reuse-venv=no"],
        cwd=sd.root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert res.returncode != 0
    data = record(sd)
    assert data["run_id"] != passed and data["status"] == "error", "latest is this run, not the one that passed"
    assert "did not run in this session's venv" in data["failure"] and "No module named" in data["failure"]
    assert "the record is in logs/latest/" in res.stderr, res.stderr[-2000:]
