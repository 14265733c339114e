"""Coverage of the services under test: two Python services, each called by its own test."""

from __future__ import annotations

import json
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
