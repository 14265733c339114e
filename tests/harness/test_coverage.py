"""Coverage of the services under test: two Python services, each called by its own test."""

from __future__ import annotations

import json
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import coverage

SERVICE = """
import http.server, sys


def hello():
    return b"hello from {name}"


def never_called():
    return b"this line is never run"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = hello()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()
"""

TESTS = """
import os, urllib.request


def test_{name}():
    with urllib.request.urlopen(os.environ["{upper}_URL"], timeout=10) as answer:
        assert answer.read() == b"hello from {name}"
"""

STACK = """
[services.alpha]
command = "{python} alpha.py {port}"
port = {p0}
ready = { http = "/" }

[services.beta]
command = "{python} beta.py {port}"
port = {p1}
ready = { http = "/" }

[services.plain]
command = "sleep 600"

[profiles.both]
services = ["alpha", "beta", "plain"]

[profiles.pair]
services = ["alpha", "beta"]

[suites.covered]
profile = "both"
paths = ["tests"]
coverage = true

[suites.named]
profile = "both"
paths = ["tests"]
coverage = ["beta"]

[suites.wrong]
profile = "both"
paths = ["tests"]
coverage = ["plain"]
"""


def _project(make_stack):
    sd = make_stack(STACK)
    for name in ("alpha", "beta"):
        (sd.root / f"{name}.py").write_text(SERVICE.replace("{name}", name))
    (sd.root / "tests").mkdir()
    for name in ("alpha", "beta"):
        (sd.root / "tests" / f"test_{name}.py").write_text(
            TESTS.replace("{name}", name).replace("{upper}", name.upper())
        )
    return sd


def test_each_python_service_is_measured_and_the_reports_are_in_the_run(make_stack):
    sd = _project(make_stack)
    res = sd.cli("suite", "covered", timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    run = sd.root / "logs" / "latest"
    data = json.loads((run / "results.json").read_text())
    result = data["coverage"]
    # `plain` (sleep) is no Python program: `coverage = true` leaves it out.
    assert sorted(result["services"]) == ["alpha", "beta"] and result["missing"] == {}
    assert 50 < result["services"]["alpha"] < 100, result  # never_called() is not run
    assert result["total"] is not None and result["html"] == "coverage-html/index.html"
    files = {c.get("filename"): c for c in ET.parse(run / "coverage.xml").getroot().iter("class")}
    assert {"alpha.py", "beta.py"} <= {name.rsplit("/", 1)[-1] for name in files}, files
    alpha = next(c for name, c in files.items() if name.endswith("alpha.py"))
    hits = {int(line.get("number")): int(line.get("hits")) for line in alpha.iter("line")}
    source = (sd.root / "alpha.py").read_text().splitlines()
    hello = source.index('    return b"hello from alpha"') + 1
    never = source.index('    return b"this line is never run"') + 1
    assert hits[hello] == 1 and hits[never] == 0, hits  # what the test called, and what it did not
    # Each line a service ran is attributed to the test running then (one at a time: exactly).
    assert result["contexts"].startswith("exact")
    data = coverage.CoverageData(basename=str(run / "coverage" / ".coverage"))
    data.read()
    by_file = {Path(f).name: f for f in data.measured_files()}
    # "": outside every test (the readiness probe's GET ran it before the tests).
    assert sorted(data.contexts_by_lineno(by_file["alpha.py"])[hello]) == ["", "tests/test_alpha.py::test_alpha"]
    assert sorted(data.contexts_by_lineno(by_file["beta.py"])[hello]) == ["", "tests/test_beta.py::test_beta"]
    assert (run / "coverage-html" / "index.html").is_file()
    assert "coverage-html/index.html" in (run / "report.html").read_text()
    said = res.stdout + res.stderr
    assert f"coverage: {result['total']:.1f}% (alpha " in said, said
    history = [json.loads(line) for line in (sd.root / "logs" / "history.jsonl").read_text().splitlines()]
    assert history[-1]["coverage"] == result["total"]


def test_only_the_named_services_and_no_reuse(make_stack):
    sd = _project(make_stack)
    res = sd.cli("suite", "named", timeout=180)
    assert res.returncode == 0, res.stdout + res.stderr
    result = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())["coverage"]
    assert list(result["services"]) == ["beta"]
    assert sd.cli("up", "--profile", "both").returncode == 0
    try:
        reused = sd.cli("suite", "named", "--reuse")
        assert reused.returncode == 2 and "--reuse: suites.named.coverage measures the services" in reused.stderr
    finally:
        sd.cli("down")
    wrong = sd.cli("suite", "wrong")
    assert wrong.returncode == 2
    assert "suites.wrong.coverage[0]: 'plain' is not a Python program" in wrong.stderr
    assert "Traceback" not in wrong.stderr


def _git(root, *args):
    subprocess.run(
        ["git", "-c", "user.email=t@example.com", "-c", "user.name=t", *args], cwd=root, check=True, capture_output=True
    )


def _ran(sd) -> list[str]:
    cases = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())["tests"]["cases"]
    return sorted(c["nodeid"] for c in cases)


def test_changed_runs_the_tests_that_ran_the_changed_lines(make_stack):
    sd = _project(make_stack)
    (sd.root / ".gitignore").write_text(".harness/\nlogs/\n")
    _git(sd.root, "init", "-q")
    _git(sd.root, "add", "-A")
    _git(sd.root, "commit", "-q", "-m", "start")
    # No map yet: every test, and why.
    first = sd.cli("suite", "covered", "--changed", "HEAD", timeout=180)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "every test runs: no impact map for this suite yet" in first.stdout + first.stderr
    full = sd.cli("impact", "refresh", "covered", timeout=180)  # a full covered run makes the map
    assert full.returncode == 0, full.stdout + full.stderr
    made = json.loads((sd.root / "logs" / "impact" / "covered.json").read_text())
    assert sorted(made["tests"]) == ["tests/test_alpha.py::test_alpha", "tests/test_beta.py::test_beta"]
    # One line of one service changes: only the test that ran it.
    alpha = sd.root / "alpha.py"
    alpha.write_text(alpha.read_text().replace('b"hello from alpha"', 'b"hello from alpha"  # reworded'))
    one = sd.cli("suite", "covered", "--changed", "HEAD", timeout=180)
    said = one.stdout + one.stderr
    assert one.returncode == 0, said
    assert _ran(sd) == ["tests/test_alpha.py::test_alpha"], said
    assert (
        "tests/test_alpha.py::test_alpha: ran alpha.py:" in said and "1 of the 2 tests the map knows left out" in said
    )
    # Against another profile the map cannot tell (other services ran): every test; and a covered
    # run against it leaves the suite's own map as it was.
    other = sd.cli("suite", "covered", "--changed", "HEAD", "--profile", "pair", timeout=180)
    said = other.stdout + other.stderr
    assert other.returncode == 0 and "the map was made against profile 'both'; this run's is 'pair'" in said, said
    kept = (sd.root / "logs" / "impact" / "covered.json").read_text()
    assert sd.cli("suite", "covered", "--profile", "pair", timeout=180).returncode == 0
    assert (sd.root / "logs" / "impact" / "covered.json").read_text() == kept
    assert json.loads(kept)["profile"] == "both"
    # A line no test ran: nothing to run.
    _git(sd.root, "checkout", "-q", "--", "alpha.py")
    alpha.write_text(alpha.read_text().replace('b"this line is never run"', 'b"still never run"'))
    none = sd.cli("suite", "covered", "--changed", "HEAD", timeout=180)
    assert none.returncode == 0 and "no test ran the changed code: nothing to run" in none.stdout + none.stderr
    # The file changed since the map was made (its lines moved): every test that ran it.
    _git(sd.root, "commit", "-q", "-am", "alpha reworded")
    alpha.write_text(alpha.read_text().replace('b"still never run"', 'b"never, still"'))
    moved = sd.cli("suite", "covered", "--changed", "HEAD", timeout=180)
    assert moved.returncode == 0 and _ran(sd) == ["tests/test_alpha.py::test_alpha"], moved.stdout + moved.stderr
    assert "ran alpha.py, which changed since the map was made" in moved.stdout + moved.stderr
    # The stack file changes: every test (the map cannot tell what it affects).
    _git(sd.root, "checkout", "-q", "--", "alpha.py")
    (sd.root / "stack.toml").write_text((sd.root / "stack.toml").read_text() + "\n# a comment\n")
    both = sd.cli("suite", "covered", "--changed", "HEAD", timeout=180)
    assert both.returncode == 0, both.stdout + both.stderr
    assert "every test runs: stack.toml changed" in both.stdout + both.stderr
    assert _ran(sd) == ["tests/test_alpha.py::test_alpha", "tests/test_beta.py::test_beta"]
    # A ref git does not know is said, without a traceback.
    wrong = sd.cli("suite", "covered", "--changed", "no-such-ref")
    assert wrong.returncode == 2 and "no-such-ref" in wrong.stderr and "Traceback" not in wrong.stderr
