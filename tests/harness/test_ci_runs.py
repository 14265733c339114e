"""A suite run as CI uses it: rerunning what failed (``--failed-from``), annotations under GitHub
Actions, and shards run by hand that merge without a group id. Real runs on throwaway stacks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap

STACK = """
[stack]
name = "ci"

[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }
live = { interval = 0.3, failures = 2 }

[profiles.api]
services = ["api"]

[suites.checks]
profile = "api"
paths = ["checks"]

[suites.other]
profile = "api"
paths = ["checks"]
"""

FAILING = """
import pytest


def test_passes():
    pass


def test_fails():
    assert 1 + 1 == 3, "arithmetic"


@pytest.fixture
def broken():
    raise RuntimeError("the fixture breaks")


def test_errors(broken):
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    assert n == 1
"""

FIXED = FAILING.replace('1 + 1 == 3, "arithmetic"', "1 + 1 == 2").replace("    raise RuntimeError", "    return 1  #")
FIXED = FIXED.replace("assert n == 1", "assert n in (1, 2)")

# The names of CI variables a run here must not see: the shards below run "by hand".
CI_VARS = re.compile(r"^(GITHUB_|BUILDKITE|CIRCLE_|CI_|JOB_COMPLETION_INDEX$|HARNESS_GROUP_ID$|HARNESS_SHARD_)")


def stack_with(make_stack, tests: str, *, nested: bool = False):
    """A stack whose suite's tests are ``tests``; ``nested``: pytest's rootdir is the stack's
    parent directory (a pytest.ini there), so node ids are not relative to where pytest starts."""
    sd = make_stack(STACK)
    (sd.root / "checks").mkdir()
    (sd.root / "checks" / "test_checks.py").write_text(textwrap.dedent(tests))
    if nested:
        (sd.root.parent / "pytest.ini").write_text("[pytest]\n")
    return sd


def record(sd) -> dict:
    return json.loads((sd.root / "logs" / "latest" / "results.json").read_text())


def outcomes(data: dict) -> dict[str, str]:
    return {c["nodeid"].split("::", 1)[1]: c["outcome"] for c in data["tests"]["cases"]}


def without_ci(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not CI_VARS.match(k)} | {"COLUMNS": "200", **extra}


def harness(sd, *args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "harness", "--stack", str(sd.file), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, cwd=sd.root, env=env)


def test_failed_from_runs_exactly_the_tests_that_failed_or_errored(make_stack):
    sd = stack_with(make_stack, FAILING, nested=True)
    first = sd.cli("suite", "checks")
    assert first.returncode == 1, first.stderr
    source = record(sd)
    assert source["rootdir"] == "..", "pytest's rootdir, relative to the stack's directory"
    assert all(c["nodeid"].startswith("stack0/checks/") for c in source["tests"]["cases"])

    again = sd.cli("suite", "checks", "--failed-from", "latest")
    assert again.returncode == 1, again.stderr
    assert "3 test(s) that failed or errored there" in again.stderr
    rerun = record(sd)
    assert outcomes(rerun) == {"test_fails": "failed", "test_errors": "error", "test_param[2]": "failed"}
    assert rerun["failed_from"]["run_id"] == source["run_id"] and rerun["failed_from"]["tests"] == 3
    assert rerun["argv"] == [
        "checks/test_checks.py::test_fails",
        "checks/test_checks.py::test_errors",
        "checks/test_checks.py::test_param[2]",
    ], "node ids from where pytest starts, not from its rootdir"

    (sd.root / "checks" / "test_checks.py").write_text(textwrap.dedent(FIXED))
    fixed = sd.cli("suite", "checks", "--failed-from", str(sd.root / "logs" / "runs" / rerun["run_id"]), "--", "-x")
    assert fixed.returncode == 0, fixed.stderr
    assert outcomes(record(sd)) == {"test_fails": "passed", "test_errors": "passed", "test_param[2]": "passed"}
    assert record(sd)["argv"][-1] == "-x", "options after -- still reach pytest"

    passed = record(sd)["run_id"]
    nothing = sd.cli("suite", "checks", "--failed-from", "latest")
    assert nothing.returncode == 0 and f"no test failed or errored in {passed}: nothing to run" in nothing.stderr
    assert record(sd)["run_id"] == passed, "nothing ran, nothing recorded: latest is still that run"

    results = str(sd.root / "logs" / "runs" / source["run_id"] / "results.json")
    other = sd.cli("suite", "other", "--failed-from", results)
    assert other.returncode == 2
    said = " ".join(other.stderr.split())
    assert f"{source['run_id']} is a run of suite 'checks', not of 'other'" in said, said
    assert record(sd)["run_id"] == passed, "a refused --failed-from leaves latest alone"


ANNOTATED = """
import os, signal, time

import httpx
from helpers import check_total


def test_fails():
    assert 1 + 1 == 3, "arithmetic"


def test_fails_in_a_helper():
    check_total(2)


def test_fails_inside_an_installed_package():
    httpx.get("http://127.0.0.1:9/", timeout=2)


def test_kills_the_api():
    pid = httpx.get(os.environ["API_URL"] + "/health", timeout=5).json()["pid"]
    os.kill(pid, signal.SIGKILL)
    time.sleep(30)  # the watch ends this test long before
"""

HELPERS = """
def check_total(n):
    assert n == 3, f"total {n}, not 3"
"""


def line_of(path, text: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_under_github_actions_the_run_annotates_each_failure_on_its_line_and_each_death(make_stack):
    sd = stack_with(make_stack, ANNOTATED)
    (sd.root / "checks" / "helpers.py").write_text(textwrap.dedent(HELPERS))
    (sd.root / "checks" / "conftest.py").write_text("import sys, os\nsys.path.insert(0, os.path.dirname(__file__))\n")
    res = sd.cli("suite", "checks", env={"GITHUB_ACTIONS": "true"})
    assert res.returncode == 1, res.stderr
    tests = sd.root / "checks" / "test_checks.py"
    errors = [line for line in res.stdout.splitlines() if line.startswith("::error")]
    expected = [
        "::error title=service api died::service api died: pid ",
        f"::error file=checks/test_checks.py,line={line_of(tests, '1 + 1 == 3')},title=test_fails failed::"
        "checks/test_checks.py::test_fails failed: AssertionError: arithmetic%0Aassert (1 + 1) == 3",
        f"::error file=checks/helpers.py,line={line_of(sd.root / 'checks' / 'helpers.py', 'assert n == 3')},"
        "title=test_fails_in_a_helper failed::",
        f"::error file=checks/test_checks.py,line={line_of(tests, 'http://127.0.0.1:9/')},"
        "title=test_fails_inside_an_installed_package failed::",
        f"::error file=checks/test_checks.py,line={line_of(tests, 'def test_kills_the_api')},"
        "title=test_kills_the_api failed::checks/test_checks.py::test_kills_the_api failed: service 'api' died",
    ]
    assert len(errors) == len(expected), res.stdout
    for line, start in zip(errors, expected, strict=True):
        assert line.startswith(start), (line, start)
    assert "during checks/test_checks.py::test_kills_the_api" in errors[0]
    located = {c["nodeid"].split("::")[1]: c["location"] for c in record(sd)["tests"]["cases"]}
    assert located["test_fails"] == {"file": "checks/test_checks.py", "line": line_of(tests, "1 + 1 == 3")}

    quiet = sd.cli("suite", "checks", env={"GITHUB_ACTIONS": "false"})
    assert quiet.returncode == 1 and "::error" not in quiet.stdout + quiet.stderr, "only under GitHub Actions"


TWO_FILES = {
    "test_a.py": "def test_a1():\n    pass\n\n\ndef test_a2():\n    assert False, 'a2 fails'\n",
    "test_b.py": "def test_b1():\n    pass\n\n\ndef test_b2():\n    pass\n",
}


def git(root, *args: str) -> None:
    ident = ["-c", "user.name=t", "-c", "user.email=t@example.com", "-c", "commit.gpgsign=false"]
    subprocess.run(["git", *ident, *args], cwd=root, check=True, capture_output=True)


def test_shards_run_by_hand_without_a_group_id_merge_and_the_merge_annotates(make_stack):
    sd = make_stack(STACK)
    (sd.root / "checks").mkdir()
    for name, text in TWO_FILES.items():
        (sd.root / "checks" / name).write_text(text)
    (sd.root / ".gitignore").write_text("__pycache__/\n")
    git(sd.root, "init", "-q")
    git(sd.root, "add", ".")
    git(sd.root, "commit", "-q", "-m", "first")
    by_auto = harness(
        sd, "suite", "checks", "--shard", "auto", env=without_ci(HARNESS_SHARD_INDEX="1", HARNESS_SHARD_TOTAL="2")
    )
    assert by_auto.returncode in (0, 1), by_auto.stderr
    assert "shard 1/2 (HARNESS_SHARD_INDEX=1 of HARNESS_SHARD_TOTAL=2)" in by_auto.stderr
    first = record(sd)
    by_hand = harness(sd, "suite", "checks", "--shard", "2/2", env=without_ci())
    assert by_hand.returncode in (0, 1), by_hand.stderr
    second = record(sd)
    assert (first["shard"], second["shard"]) == ("1/2", "2/2")
    assert first["group_id"] == second["group_id"] and first["group_id"].startswith("local-")
    assert first["group_id"].startswith(f"local-{first['git_commit'][:12]}-")

    runs = [str(sd.root / "logs" / "runs" / r["run_id"]) for r in (first, second)]
    merged = harness(sd, "merge", *runs, "--out", str(sd.root / "merged"), env=without_ci(GITHUB_ACTIONS="true"))
    assert merged.returncode == 1, merged.stderr
    data = json.loads((sd.root / "merged" / "results.json").read_text())
    assert sorted(c["nodeid"] for c in data["tests"]["cases"]) == [
        f"checks/{f}::{t}" for f, t in [("test_a.py", "test_a1"), ("test_a.py", "test_a2"),
                                        ("test_b.py", "test_b1"), ("test_b.py", "test_b2")]
    ]  # fmt: skip
    failed = next(c for c in data["tests"]["cases"] if c["outcome"] == "failed")
    assert merged.stdout.splitlines() == [
        f"::error file=checks/test_a.py,line=6,title=test_a2 failed::checks/test_a.py::test_a2 failed "
        f"(shard {failed['shard']}): AssertionError: a2 fails%0Aassert False"
    ]
    summary = harness(sd, "summary", str(sd.root / "merged"), env=without_ci(GITHUB_ACTIONS="true"))
    assert summary.returncode == 0 and "::error" not in summary.stdout, "annotated once, by the merge"
