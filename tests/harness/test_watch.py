"""Watching the stack while tests run: readiness that must hold, liveness, events, restarts, resources.

Real processes on throwaway stacks (the test app of ``apps/app.py``); each stack is taken down
by the ``make_stack`` fixture.
"""

from __future__ import annotations

import json
import os
import pty
import re
import select
import sys
import textwrap
import time

from .conftest import owned_processes


def test_ready_passes_needs_consecutive_successes(make_stack):
    template = """
    [services.flaky]
    command = "{app} --port {port} --healthy-once"
    port = {p0}
    ready = { http = "/health", timeout = 3, passes = PASSES }
    """
    once = make_stack(template.replace("PASSES", "1"))
    assert once.cli("up").returncode == 0, "one good answer is enough by default"
    assert once.cli("down").returncode == 0
    held = make_stack(template.replace("PASSES", "3"))
    res = held.cli("up")
    assert res.returncode == 2, res.stderr
    text = " ".join(res.stderr.split())
    assert "flaky" in text and "not ready after 3.0 s" in text, text
    assert "it passed 1 of the 3 consecutive checks required" in text, text
    assert owned_processes(held.state_dir()) == []


WATCHED = """
[stack]
name = "watched"

[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }
live = { interval = 0.3, failures = 2 }
RESTART

[profiles.all]
services = ["api"]

[suites.s]
profile = "all"
paths = ["tests"]
SUITE
"""

TESTS = """
import os, signal, subprocess, sys, time

import httpx
import pytest

URL = os.environ["API_URL"]


def api_pid():
    return httpx.get(URL + "/health", timeout=5).json()["pid"]


def harness(*args):
    cmd = [sys.executable, "-m", "harness", "--stack", os.environ["HARNESS_STACK_FILE"],
           "--instance", os.environ["HARNESS_INSTANCE"], *args]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def wait_until(predicate, seconds):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False
"""


def watched(make_stack, body: str, *, restart: str = "", suite: str = ""):
    sd = make_stack(WATCHED.replace("RESTART", restart).replace("SUITE", suite))
    (sd.root / "tests").mkdir()
    (sd.root / "tests" / "test_it.py").write_text(TESTS + textwrap.dedent(body))
    return sd


def record_of(sd) -> dict:
    return json.loads((sd.root / "logs" / "latest" / "results.json").read_text())


def case(data: dict, name: str) -> dict:
    return next(c for c in data["tests"]["cases"] if c["nodeid"].endswith(name))


KILL_DURING_TEST = """
def test_kill():
    os.kill(api_pid(), signal.SIGKILL)
    time.sleep(30)  # the watch must end this test long before


def test_later():
    pass
"""


def test_a_service_killed_during_a_test_fails_that_test_and_stops_the_run(make_stack):
    sd = watched(make_stack, KILL_DURING_TEST)
    res = sd.cli("suite", "s", "--stop-on-death", timeout=120)
    assert res.returncode == 1, res.stderr
    data = record_of(sd)
    killed = case(data, "test_kill")
    assert killed["outcome"] == "failed"
    assert "service 'api' died during the test" in killed["message"] and "killed by SIGKILL" in killed["message"]
    assert killed["duration_s"] < 3, "failed within 2 s of the death (plus the kill itself)"
    later = case(data, "test_later")
    assert later["outcome"] == "not_run" and "first service failure: api died" in later["message"], later
    assert data["tests"]["not_run"] == 1
    died = [e for e in data["events"] if e["event"] == "died"]
    assert len(died) == 1 and died[0]["service"] == "api" and died[0]["fails"], data["events"]
    assert died[0]["tests"] == ["tests/test_it.py::test_kill"]
    assert "app ready" in "\n".join(died[0]["log_tail"])
    assert "not run" in data["failure"]
    html = (sd.root / "logs" / "latest" / "report.html").read_text()
    assert "Service events" in html and "killed by SIGKILL" in html
    assert owned_processes(sd.state_dir()) == []


def test_without_stop_on_death_the_rest_still_runs(make_stack):
    sd = watched(make_stack, KILL_DURING_TEST)
    res = sd.cli("suite", "s", "--no-stop-on-death", timeout=120, env={"CI": "true"})
    assert res.returncode == 1, res.stderr
    data = record_of(sd)
    assert case(data, "test_kill")["outcome"] == "failed"
    assert case(data, "test_later")["outcome"] == "passed"


def test_intended_stop_and_start_through_the_harness_are_events_not_failures(make_stack):
    sd = watched(
        make_stack,
        """
        @pytest.mark.disruptive
        def test_restart_api():
            before = api_pid()
            harness("stop", "api")
            harness("up", "api")
            assert api_pid() != before
            time.sleep(1)  # a few watch ticks and live probes on the new process
        """,
    )
    res = sd.cli("suite", "s", "--stop-on-death", timeout=120)
    assert res.returncode == 0, res.stderr + res.stdout
    events = record_of(sd)["events"]
    assert [(e["event"], e["intended"], e["fails"]) for e in events] == [
        ("stopped", True, False),
        ("started", True, False),
    ], events
    assert all(e["tests"] == ["tests/test_it.py::test_restart_api"] for e in events)


RESTART_TWICE = """
def test_survives_two_kills():
    for _ in range(2):
        old = api_pid()
        os.kill(old, signal.SIGKILL)
        assert wait_until(lambda: _answers_with_other_pid(old), 20), "restarted by its policy"


def _answers_with_other_pid(old):
    try:
        return api_pid() != old
    except httpx.HTTPError:
        return False
"""


def test_on_failure_restarts_with_backoff_and_the_suite_passes(make_stack):
    sd = watched(make_stack, RESTART_TWICE, restart='restart = "on-failure"\nbackoff = 0.2')
    res = sd.cli("suite", "s", "--stop-on-death", timeout=120)
    assert res.returncode == 0, res.stderr
    events = record_of(sd)["events"]
    restarting = [e for e in events if e["event"] == "restarting"]
    assert [e["detail"].split("; ")[1] for e in restarting] == [
        "restart 1 of 3 in 0.2 s (on-failure)",
        "restart 2 of 3 in 0.4 s (on-failure)",
    ], events
    assert [e["event"] for e in events].count("restarted") == 2
    assert not any(e["fails"] for e in events)


def test_max_restarts_reached_fails_the_run(make_stack):
    sd = watched(make_stack, RESTART_TWICE, restart='restart = "on-failure"\nmax_restarts = 1\nbackoff = 0.2')
    res = sd.cli("suite", "s", "--stop-on-death", timeout=120)
    assert res.returncode == 1, res.stderr
    data = record_of(sd)
    died = [e for e in data["events"] if e["event"] == "died"]
    assert died and "max_restarts (1) reached" in died[0]["detail"], data["events"]
    assert "max_restarts (1) reached" in case(data, "test_survives_two_kills")["message"]


def test_resources_are_sampled_per_service(make_stack):
    sd = watched(
        make_stack,
        """
        def test_some_load():
            deadline = time.monotonic() + 2.5
            while time.monotonic() < deadline:
                api_pid()
        """,
    )
    res = sd.cli("suite", "s", timeout=120)
    assert res.returncode == 0, res.stderr
    usage = record_of(sd)["resources"]["api"]
    assert usage["samples"] >= 2, usage
    assert 5 < usage["rss_mb_peak"] < 2000 and usage["rss_mb_mean"] <= usage["rss_mb_peak"], usage
    assert usage["cpu_percent_peak"] > 0, usage


def test_watch_redraws_a_live_view_under_a_terminal(make_stack):
    sd = make_stack("""
    [services.api]
    command = "{app} --port {port}"
    port = {p0}
    ready = { http = "/health", timeout = 20 }
    """)
    assert sd.cli("up").returncode == 0
    argv = [sys.executable, "-m", "harness", "--stack", str(sd.file), "watch", "--interval", "0.3", "--count", "4"]
    env = {**os.environ, "COLUMNS": "200", "LINES": "50", "TERM": "xterm-256color"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the harness on the pseudo-terminal's slave side
        os.chdir(sd.root)
        os.execvpe(argv[0], argv, env)
    raw = b""
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 0.5)
            if ready:
                try:
                    chunk = os.read(fd, 65536)
                except OSError:  # EIO: the child closed the terminal
                    break
                if not chunk:
                    break
                raw += chunk
    finally:
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    assert os.waitstatus_to_exitcode(status) == 0, raw.decode(errors="replace")
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", raw.decode(errors="replace"))
    assert "\x1b[2K" in raw.decode(errors="replace") or "\x1b[1A" in raw.decode(errors="replace"), "redrawn in place"
    for word in ("api", "healthy", "cpu", "memory", "restarts", "MiB", "no suite run has recorded events yet"):
        assert word in screen, (word, screen)


def test_backend_errors_allowed_by_pattern_pass_and_the_first_unallowed_one_can_stop_the_run(make_stack):
    sd = watched(
        make_stack,
        """
        @pytest.mark.allow_backend_errors(r"ERROR expected cache miss", service="api")
        def test_1_allowed():
            httpx.get(URL + "/log/ERROR%20expected%20cache%20miss", timeout=5)
            time.sleep(0.2)


        def test_2_unallowed():
            httpx.get(URL + "/log/ERROR%20database%20went%20away", timeout=5)
            time.sleep(0.2)


        def test_3_later():
            pass
        """,
        suite="stop_on_backend_error = true",
    )
    # As if the harness ran inside an xdist worker: the suite's own pytest must not inherit that.
    res = sd.cli("suite", "s", timeout=120, env={"PYTEST_XDIST_WORKER": "gw0"})
    assert res.returncode == 1, res.stderr
    data = record_of(sd)
    assert case(data, "test_1_allowed")["outcome"] == "passed"
    failed = case(data, "test_2_unallowed")
    assert failed["outcome"] == "failed"
    assert "backend error during the test: api logged: ERROR database went away" in failed["message"], failed
    later = case(data, "test_3_later")
    assert later["outcome"] == "not_run" and "first backend error: api logged" in later["message"], later
