"""A suite's harness killed with SIGKILL while its tests run: the next command reaps what that run
started, and only that (a service a developer's `up` left running stays)."""

from __future__ import annotations

import signal
import time

from harness.host.ports import port_free

from .conftest import wait_for

STACK = """
[services.base]
command = "{python} -m http.server {port} --bind 127.0.0.1"
port = {p0}
ready = { tcp = true }

[services.extra]
command = "{python} -m http.server {port} --bind 127.0.0.1"
port = {p1}
ready = { tcp = true }

[profiles.both]
services = ["base", "extra"]

[suites.slow]
profile = "both"
paths = ["tests"]
"""

SLOW = """
import pathlib, time

def test_slow():
    pathlib.Path("running").touch()
    time.sleep(60)
"""


def test_the_next_command_reaps_what_the_killed_suite_started_and_leaves_what_was_up(make_stack):
    sd = make_stack(STACK, n_ports=2)
    (sd.root / "tests").mkdir()
    (sd.root / "tests" / "test_slow.py").write_text(SLOW)
    assert sd.cli("up", "base").returncode == 0  # a developer's stack, up before the suite
    proc = sd.popen("suite", "slow")
    try:
        wait_for(lambda: (sd.root / "running").exists() or proc.poll() is not None, 60, "the test to start")
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        status = sd.cli("status")
        said = status.stdout + status.stderr
        assert "reaped 1 process(es) left by a harness run that was killed: extra" in said, said
        deadline = time.monotonic() + 10
        while not port_free(sd.ports[1]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert port_free(sd.ports[1]), "the killed run's service is gone"
        assert not port_free(sd.ports[0]), "the service that was up before it stays"
        assert "base" in said and "running" in said.split("base", 1)[1].splitlines()[0], said
    finally:
        sd.cli("down")
        if proc.stdout:
            proc.stdout.close()
