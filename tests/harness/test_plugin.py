"""The pytest plugin's backend-error check, end to end: real pytest runs writing to a service log."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from harness.plugin.protocol import LOG_DIR_VAR, PluginConfig

SUITE = """
import os, pathlib, pytest

LOG = pathlib.Path(os.environ["HARNESS_LOG_DIR"]) / "api.log"


def say(line):
    with LOG.open("a") as fh:
        fh.write(line + "\\n")


def test_clean():
    say("INFO api: GET /health 200")


def test_error_line():
    say("2026-11-24 api ERROR database went away")


@pytest.mark.allow_backend_errors(r"ERROR expected by this test$", service="api")
def test_allowed():
    say("2026-11-24 api ERROR expected by this test")


@pytest.mark.allow_backend_errors(r"ERROR expected by this test$", service="other")
def test_allowed_for_another_service_only():
    say("2026-11-24 api ERROR expected by this test")


def test_allowed_for_the_whole_stack():
    say("2026-11-24 api ERROR stack-wide known noise")


@pytest.mark.test_id("T-1")
def test_traceback_naming_this_tests_session(session_id):
    say(f"Traceback (most recent call last): while serving session={session_id}")
"""


def run(tmp_path: Path, *extra: str, **config: object) -> dict[str, dict]:
    logs, out = tmp_path / "logs", tmp_path / "run"
    logs.mkdir(exist_ok=True)
    (logs / "api.log").write_text("")
    (tmp_path / "test_suite.py").write_text(SUITE)
    told = PluginConfig(run_dir=str(out), id_marker="test_id", allowed_errors=(("known noise", "api"),))
    env = {**os.environ, LOG_DIR_VAR: str(logs), **dataclasses.replace(told, **config).to_env()}
    env.pop("PYTEST_XDIST_WORKER", None)
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "harness.plugin.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            *extra,
            str(tmp_path / "test_suite.py"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    data = json.loads((out / "pytest-results.json").read_text())
    assert data["tests"], res.stdout + res.stderr
    return {t["nodeid"].rsplit("::", 1)[1]: t for t in data["tests"]}


def test_an_error_logged_during_a_test_fails_it_naming_the_service_and_line(tmp_path):
    cases = run(tmp_path)
    assert cases["test_clean"]["outcome"] == "passed"
    failed = cases["test_error_line"]
    assert failed["outcome"] == "failed"
    assert "backend error during the test: api logged: 2026-11-24 api ERROR database went away" in failed["message"]
    assert failed["backend_logs"]["api"] == ["2026-11-24 api ERROR database went away"]
    assert cases["test_allowed"]["outcome"] == "passed"
    assert cases["test_allowed_for_the_whole_stack"]["outcome"] == "passed"
    other = cases["test_allowed_for_another_service_only"]
    assert other["outcome"] == "failed" and "api logged: 2026-11-24 api ERROR expected by this test" in other["message"]
    traceback = cases["test_traceback_naming_this_tests_session"]
    assert traceback["outcome"] == "failed" and "Traceback" in traceback["message"]
    assert traceback["int_id"] == "T-1"


def test_under_parallel_workers_only_lines_naming_the_tests_session_are_blamed(tmp_path):
    pytest.importorskip("xdist", reason="pytest-xdist is part of the test extra")
    cases = run(tmp_path, "-n", "2")
    traceback = cases["test_traceback_naming_this_tests_session"]
    assert traceback["outcome"] == "failed", "its own session id is in the traceback line"
    assert "Traceback" in traceback["message"] and traceback["backend_logs"]["api"]
    # Another worker may have written that ERROR line: without the test's session in it, no blame.
    assert cases["test_error_line"]["outcome"] == "passed"
    assert cases["test_clean"]["outcome"] == "passed" and cases["test_allowed"]["outcome"] == "passed"


def test_a_marker_that_would_allow_every_error_is_refused(tmp_path):
    (tmp_path / "test_bare.py").write_text(
        "import pytest\n\n@pytest.mark.allow_backend_errors\ndef test_anything():\n    pass\n"
    )
    env = {**os.environ, "HARNESS_RUN_DIR": str(tmp_path / "run"), "HARNESS_LOG_DIR": str(tmp_path / "none")}
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "harness.plugin.pytest_plugin", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert res.returncode == 4, res.stdout + res.stderr  # pytest's usage error: nothing ran
    said = " ".join((res.stdout + res.stderr).split())
    assert "test_bare.py::test_anything: allow_backend_errors needs at least one regular expression" in said
    assert "allowing every error is refused" in said


OUTCOMES = """
import pytest


def test_passes():
    pass


@pytest.mark.xfail(reason="known bug 12")
def test_expected_to_fail():
    raise AssertionError("still broken")


@pytest.mark.xfail(reason="maybe fixed")
def test_unexpectedly_passes():
    pass


@pytest.mark.parametrize("n", [1, 2])
def test_param(n):
    pass
"""

SKIPPED_MODULE = """
import pytest

pytest.skip("needs a GPU", allow_module_level=True)


def test_never_runs():
    pass
"""


def test_outcomes_are_counted_as_pytest_counts_them(tmp_path):
    (tmp_path / "test_outcomes.py").write_text(OUTCOMES)
    (tmp_path / "test_gpu.py").write_text(SKIPPED_MODULE)
    out = tmp_path / "run"
    env = {**os.environ, "HARNESS_RUN_DIR": str(out), "HARNESS_LOG_DIR": str(tmp_path / "none")}
    res = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "harness.plugin.pytest_plugin",
            "-p",
            "no:cacheprovider",
            "-q",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        env=env,
    )
    assert "3 passed, 1 skipped, 1 xfailed, 1 xpassed" in res.stdout, res.stdout
    cases = {t["nodeid"]: t for t in json.loads((out / "pytest-results.json").read_text())["tests"]}
    outcomes = sorted(t["outcome"] for t in cases.values())
    assert outcomes == ["passed", "passed", "passed", "skipped", "xfailed", "xpassed"]
    assert cases["test_gpu.py"]["message"].endswith("needs a GPU")
    assert "test_outcomes.py::test_param[1]" in cases
    from harness.record.rates import tally

    counted = tally(cases.values())
    assert (counted["passed"], counted["skipped"], counted["xfailed"], counted["xpassed"]) == (3, 1, 1, 1)


@pytest.mark.parametrize(
    ("config", "fails"),
    [
        ({"backend_errors": False}, False),
        ({"backend_errors_ignore": ("db", "api")}, False),
        ({"backend_errors_ignore": ("db",)}, True),
    ],
)
def test_the_backend_error_check_is_a_setting(tmp_path, config, fails):
    cases = run(tmp_path, **config)
    assert (cases["test_error_line"]["outcome"] == "failed") == fails
