"""When a suite's tests run: pytest started early behind the gate, the phases, shards under xdist.

The stack's service takes 1.5 s to listen (unless told otherwise). The suite's conftest notes, when
pytest imports it, whether the service answered yet; its test calls the service and notes when.
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
    # The test reached the service (it answers only once up): it waited at the gate. No bound on
    # how soon pytest started: on a loaded machine its start takes as long as the service's.
    assert t0 < imported["at"] < ran["at"]
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


GROUPED = """
import pytest

@pytest.mark.xdist_group("g")
def test_g1():
    pass

def test_g2():
    pass

@pytest.mark.xdist_group("g")
def test_g3():
    pass
"""


def test_shards_under_xdist_loadgroup_are_balanced_by_the_tests_own_ids(make_stack):
    """xdist renames grouped tests (``id@g``); the split must still find their recorded durations."""
    sd = project(make_stack, flags="")
    tests = sd.root / "tests"
    (tests / "test_api.py").unlink()
    (tests / "test_a_group.py").write_text(GROUPED)
    (tests / "test_more.py").write_text(
        "def test_one():\n    pass\n\ndef test_two():\n    pass\n\ndef test_three():\n    pass\n"
    )
    slow = {f"tests/test_a_group.py::test_g{n}": 5.0 for n in (1, 3)}
    fast = ["tests/test_a_group.py::test_g2"] + [f"tests/test_more.py::test_{w}" for w in ("one", "two", "three")]
    (sd.root / "durations.json").write_text(json.dumps({**slow, **dict.fromkeys(fast, 1.0)}))
    text = sd.file.read_text().replace("early_start = true", 'early_start = true\nargs = ["--dist", "loadgroup"]')
    sd.file.write_text(text + '\n[tests]\ndurations = "durations.json"\n')
    ran = []
    for k in (1, 2):
        res = sd.cli("suite", "t", "--workers", "2", "--shard", f"{k}/2", instance=3)
        assert res.returncode == 0, res.stdout + res.stderr
        record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
        ran.append({c["nodeid"].split("::")[-1].split("@")[0] for c in record["tests"]["cases"]})
    assert ran[0] | ran[1] == {"test_g1", "test_g2", "test_g3", "test_one", "test_two", "test_three"}
    assert [len(shard & {"test_g1", "test_g3"}) for shard in ran] == [1, 1], ran
