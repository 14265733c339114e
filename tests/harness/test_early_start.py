"""A suite's pytest starts while its stack comes up (``early_start``), and no test runs before it is up.

The stack's service takes 1.5 s to listen. The suite's conftest notes, when pytest imports it,
whether the service answered yet; its test calls the service and notes when it ran.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import psutil

STACK = """
[stack]
name = "early"

[services.api]
command = "{app} --port {port} {flags}"
port = {p0}
ready = { http = "/health", timeout = 30 }

[profiles.app]
services = ["api"]

[suites.t]
profile = "app"
paths = ["tests"]
early_start = {early}
"""

CONFTEST = """
import json, os, time, urllib.request

def answers():
    try:
        return urllib.request.urlopen(os.environ["API_URL"] + "/health", timeout=1).status == 200
    except OSError:
        return False

with open("imported.json", "w") as fh:
    json.dump({"at": time.time(), "answered": answers()}, fh)
"""

TEST = """
import json, os, time, urllib.request

def test_the_service_answers():
    with urllib.request.urlopen(os.environ["API_URL"] + "/health", timeout=5) as resp:
        assert resp.status == 200
    with open("ran.json", "w") as fh:
        json.dump({"at": time.time()}, fh)
"""


def project(make_stack, *, early: bool = True, flags: str = "--delay 1.5"):
    template = STACK.replace("{early}", "true" if early else "false").replace("{flags}", flags)
    sd = make_stack(template, n_ports=1)  # it fills {p0} and {app}; {port} is the harness's
    tests = sd.root / "tests"
    tests.mkdir()
    (tests / "conftest.py").write_text(CONFTEST)
    (tests / "test_api.py").write_text(TEST)
    return sd


def no_pytest_in(root: Path) -> bool:
    for proc in psutil.process_iter(["cmdline", "cwd"]):
        try:
            if proc.info["cwd"] == str(root) and "pytest" in " ".join(proc.info["cmdline"] or []):
                return False
        except psutil.Error:
            continue
    return True


def test_pytest_starts_before_the_stack_is_up_and_its_tests_wait_for_it(make_stack):
    sd = project(make_stack)
    t0 = time.time()
    res = sd.cli("suite", "t", instance=3)
    assert res.returncode == 0, res.stdout + res.stderr
    imported = json.loads((sd.root / "imported.json").read_text())
    ran = json.loads((sd.root / "ran.json").read_text())
    assert imported["answered"] is False, "pytest was started (conftest imported) before the service answered"
    assert ran["at"] - imported["at"] > 1.0 and imported["at"] - t0 < 1.5
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["tests"]["passed"] == 1 and record["status"] == "passed"


def test_without_early_start_pytest_starts_once_the_stack_is_up(make_stack):
    sd = project(make_stack, early=False)
    res = sd.cli("suite", "t", instance=3)
    assert res.returncode == 0, res.stdout + res.stderr
    assert json.loads((sd.root / "imported.json").read_text())["answered"] is True


def test_a_stack_that_fails_ends_the_waiting_pytest_with_the_reason(make_stack):
    sd = project(make_stack, flags="--delay 0.5 --crash")
    res = sd.cli("suite", "t", instance=3)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "no test ran" in out and "api" in out.split("no test ran", 1)[1].splitlines()[0], out
    assert (sd.root / "imported.json").exists(), "pytest had started"
    assert not (sd.root / "ran.json").exists(), "and ran nothing"
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["status"] == "error" and record["failed_stage"] == "api" and record["tests"]["total"] == 0
    assert no_pytest_in(sd.root)


DISRUPTIVE_TEST = """
import pytest

@pytest.mark.disruptive
def test_alone():
    pass
"""


def test_the_disruptive_phase_runs_only_when_there_are_disruptive_tests(make_stack):
    sd = project(make_stack, flags="")
    (sd.root / "tests" / "test_more.py").write_text("def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    (sd.root / "tests" / "conftest.py").write_text(
        CONFTEST + "\ndef pytest_configure(config):\n    config.addinivalue_line('markers', 'disruptive: alone')\n"
    )
    (sd.root / "tests" / "test_disruptive.py").write_text(DISRUPTIVE_TEST)

    def phases() -> tuple[list[str], list[str]]:
        res = sd.cli("suite", "t", "--workers", "2", instance=3)
        assert res.returncode == 0, res.stdout + res.stderr
        results = json.loads((sd.root / "logs" / "latest" / "pytest-results.json").read_text())
        commands = [line for line in (res.stdout + res.stderr).splitlines() if line.startswith("$ ")]
        return [p["phase"] for p in results["phases"]], commands

    ran, commands = phases()
    assert ran == ["parallel", "disruptive"] and len(commands) == 2
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["tests"]["passed"] == 4
    (sd.root / "tests" / "test_disruptive.py").unlink()
    ran, commands = phases()
    assert ran == ["parallel"] and len(commands) == 1, "no pytest started for an empty disruptive phase"
