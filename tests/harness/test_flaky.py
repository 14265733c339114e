"""Living with flaky tests without hiding them: reruns on the live stack (a test that passes on a
rerun is flaky, everywhere the run is recorded), and quarantine with a reason and an expiry."""

from __future__ import annotations

import datetime as dt
import json
import textwrap

from junit2htmlreport.parser import Junit
from junitparser import JUnitXml

from .test_watch import TESTS, WATCHED

# Fails the first time it runs in a stack directory, passes after (a counter file beside it).
ONCE = """
from pathlib import Path

COUNT = Path(__file__).with_name("attempts.txt")


def test_fails_once_then_passes():
    n = int(COUNT.read_text()) if COUNT.exists() else 0
    COUNT.write_text(str(n + 1))
    assert n > 0, "first attempt fails on purpose"


def test_always_fails():
    assert False, "always"


def test_fine():
    pass
"""

KILLS = """
def test_kills_the_service():
    os.kill(api_pid(), signal.SIGKILL)
    time.sleep(30)  # the watch fails this test long before
"""


def stack(make_stack, body: str, *, conventions: str = "", restart: str = ""):
    sd = make_stack(WATCHED.replace("RESTART", restart).replace("SUITE", "") + conventions)
    (sd.root / "tests").mkdir()
    (sd.root / "tests" / "test_it.py").write_text(TESTS + textwrap.dedent(body))
    return sd


def attempts_of(case) -> list[str]:
    """The JUnit elements of a test case that say how its attempts went."""
    return [e.tag for e in case._elem if e.tag not in ("properties", "system-out", "system-err")]


def record_of(sd) -> dict:
    return json.loads((sd.root / "logs" / "latest" / "results.json").read_text())


def cases(data: dict) -> dict[str, dict]:
    return {c["nodeid"].split("::")[-1]: c for c in data["tests"]["cases"]}


def test_a_test_that_passes_on_a_rerun_is_flaky_and_the_run_passes(make_stack):
    sd = stack(make_stack, ONCE.replace("test_always_fails", "_not_collected"))
    res = sd.cli("suite", "s", "--reruns", "1")
    assert res.returncode == 0, res.stdout + res.stderr
    data = record_of(sd)
    once = cases(data)["test_fails_once_then_passes"]
    assert once["outcome"] == "flaky" and [a["outcome"] for a in once["attempts"]] == ["failed", "passed"]
    assert "first attempt fails on purpose" in once["attempts"][0]["message"]
    assert data["tests"]["flaky"] == 1 and data["tests"]["failed"] == 0 and data["tests"]["pass_rate"] == 1.0
    assert "unexplained" not in " ".join(data["tests"]["counted"]["notes"])
    assert "flaky: tests/test_it.py::test_fails_once_then_passes (failed -> passed)" in res.stderr
    # JUnit: a passed case with its failed attempt kept (Surefire's flakyFailure), as junitparser reads it.
    junit = JUnitXml.fromfile(str(sd.root / "logs" / "latest" / "junit.xml"))
    (case,) = [c for suite in junit for c in suite if c.name == "test_fails_once_then_passes"]
    assert case.is_passed and attempts_of(case) == ["flakyFailure"]
    assert "first attempt fails on purpose" in case._elem.find("flakyFailure").get("message")
    assert sum(s.failures for s in junit) == 0
    history = (sd.root / "logs" / "history.jsonl").read_text().splitlines()
    assert json.loads(history[-1])["flaky"] == 1
    # junit2html (a CI report renderer) reads it the same: the flaky test passed, nothing failed.
    report = Junit(str(sd.root / "logs" / "latest" / "junit.xml"))
    assert {c.name: c.outcome() for suite in report for c in suite.all()}["test_fails_once_then_passes"] == "passed"
    shown = sd.cli("history").stderr
    assert "tests/test_it.py::test_fails_once_then_passes" in shown and "failed -> passed" not in shown
    assert "flaky" in (sd.root / "logs" / "latest" / "report.html").read_text()
    # The same test without reruns fails the run; with --fail-on-flaky a flaky test fails it too.
    (sd.root / "tests" / "attempts.txt").unlink()
    assert sd.cli("suite", "s").returncode == 1
    (sd.root / "tests" / "attempts.txt").unlink()
    assert sd.cli("suite", "s", "--reruns", "1", "--fail-on-flaky").returncode == 1
    assert cases(record_of(sd))["test_fails_once_then_passes"]["outcome"] == "flaky"


def test_a_test_failing_every_attempt_keeps_each_one(make_stack):
    sd = stack(make_stack, ONCE)
    res = sd.cli("suite", "s", "--reruns", "2")
    assert res.returncode == 1
    always = cases(record_of(sd))["test_always_fails"]
    assert always["outcome"] == "failed" and [a["outcome"] for a in always["attempts"]] == ["failed"] * 3
    junit = JUnitXml.fromfile(str(sd.root / "logs" / "latest" / "junit.xml"))
    (case,) = [c for suite in junit for c in suite if c.name == "test_always_fails"]
    assert attempts_of(case) == ["failure", "rerunFailure", "rerunFailure"]
    report = Junit(str(sd.root / "logs" / "latest" / "junit.xml"))
    assert {c.name: c.outcome() for suite in report for c in suite.all()}["test_always_fails"] == "failed"
    assert cases(record_of(sd))["test_fails_once_then_passes"]["outcome"] == "flaky"


def test_a_failure_a_service_death_caused_is_not_rerun(make_stack):
    sd = stack(make_stack, KILLS)
    res = sd.cli("suite", "s", "--reruns", "2", "--no-stop-on-death")
    assert res.returncode == 1, res.stderr
    killed = cases(record_of(sd))["test_kills_the_service"]
    assert killed["outcome"] == "failed" and "died during the test" in killed["message"]
    assert "attempts" not in killed, "the stack, not the test, was at fault"
    assert not list((sd.root / "logs" / "latest").glob("junit-rerun*.xml"))


QUARANTINE = """
[tests]
quarantine = [
  {{ test = "tests/test_it.py::test_always_fails", reason = "known, #12", until = {until} }},
  {{ test = "tests/test_it.py::test_fine", reason = "was flaky", until = {until} }},
  {{ test = "tests/test_gone.py::*", reason = "removed long ago", until = {until} }},
]
"""


def test_a_quarantined_failure_does_not_fail_the_run_until_its_date(make_stack):
    later = (dt.date.today() + dt.timedelta(days=30)).isoformat()
    sd = stack(
        make_stack,
        ONCE.replace("test_fails_once_then_passes", "_not_collected"),
        conventions=QUARANTINE.format(until=later),
    )
    res = sd.cli("suite", "s")
    assert res.returncode == 0, res.stdout + res.stderr
    data = record_of(sd)
    always, fine = cases(data)["test_always_fails"], cases(data)["test_fine"]
    assert always["outcome"] == "quarantined" and always["message"].startswith(
        f"quarantined: known, #12 (until {later})"
    )
    assert fine["outcome"] == "passed" and fine["quarantine"]["reason"] == "was flaky"
    assert data["tests"]["quarantined"] == 1 and data["tests"]["failed"] == 0
    assert "'tests/test_gone.py::*' matches no test of this run" in res.stderr
    assert "quarantined: tests/test_it.py::test_always_fails failed; forgiven until" in res.stderr
    junit = JUnitXml.fromfile(str(sd.root / "logs" / "latest" / "junit.xml"))
    (case,) = [c for suite in junit for c in suite if c.name == "test_always_fails"]
    assert not case.is_passed, "JUnit keeps what happened"
    assert case._elem.find("properties/property[@name='quarantined']").get("value").startswith("known, #12")
    assert "quarantined until" in (sd.root / "logs" / "latest" / "report.html").read_text()
    assert json.loads((sd.root / "logs" / "history.jsonl").read_text().splitlines()[-1])["quarantined"] == 1


def test_past_its_date_a_quarantine_forgives_nothing(make_stack):
    earlier = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    sd = stack(
        make_stack,
        ONCE.replace("test_fails_once_then_passes", "_not_collected"),
        conventions=QUARANTINE.format(until=earlier),
    )
    assert sd.cli("suite", "s").returncode == 1
    always = cases(record_of(sd))["test_always_fails"]
    assert always["outcome"] == "failed" and always["message"].startswith(
        f"quarantine expired on {earlier} (known, #12)"
    )


def test_a_grouped_test_under_xdist_is_rerun_and_its_failures_rerun_from_the_record(make_stack):
    # pytest-xdist's loadgroup records `test@group`: reruns and --failed-from select it without the suffix.
    grouped = "import pytest\n\npytestmark = pytest.mark.xdist_group('serial')\n" + ONCE
    sd = stack(make_stack, grouped.replace("test_always_fails", "_not_collected"))
    res = sd.cli("suite", "s", "--workers", "2", "--reruns", "1", "--", "--dist", "loadgroup")
    assert res.returncode == 0, res.stdout + res.stderr
    # Recorded as `test@serial` by the pytest-xdist versions that add the suffix, plain by the others.
    (once,) = [c for n, c in cases(record_of(sd)).items() if n.split("@")[0] == "test_fails_once_then_passes"]
    assert once["outcome"] == "flaky" and [a["outcome"] for a in once["attempts"]] == ["failed", "passed"]
    junit = JUnitXml.fromfile(str(sd.root / "logs" / "latest" / "junit.xml"))
    (case,) = [c for suite in junit for c in suite if c.name.startswith("test_fails_once_then_passes")]
    assert case.is_passed and attempts_of(case) == ["flakyFailure"]
    # Without reruns it fails; --failed-from then runs exactly it (found without its @serial).
    (sd.root / "tests" / "attempts.txt").unlink()
    assert sd.cli("suite", "s", "--workers", "2", "--", "--dist", "loadgroup").returncode == 1
    again = sd.cli("suite", "s", "--failed-from", "latest")
    assert again.returncode == 0, again.stdout + again.stderr
    assert [c["nodeid"] for c in record_of(sd)["tests"]["cases"]] == ["tests/test_it.py::test_fails_once_then_passes"]
