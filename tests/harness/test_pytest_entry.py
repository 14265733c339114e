"""``pytest --harness-stack stack.toml``: plain pytest brings the stack up once, shares it with
xdist workers, and takes down only what it started."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx

from harness.host.ports import port_free

from .conftest import owned_processes

STACK = """
[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }

[profiles.web]
services = ["api"]
"""

TESTS = """
import os
import urllib.request

import pytest


@pytest.mark.parametrize("n", range(4))
def test_the_stack_is_up_and_its_env_exported(n):
    assert os.environ["HARNESS_STACK_FILE"].endswith("stack.toml")
    with urllib.request.urlopen(os.environ["API_URL"] + "/health", timeout=5) as resp:
        assert resp.status == 200
"""


def run_pytest(sd, *extra: str) -> subprocess.CompletedProcess[str]:
    (sd.root / "test_api.py").write_text(TESTS)
    env = {k: v for k, v in os.environ.items() if not k.startswith("HARNESS_") or k == "HARNESS_BACKEND"}
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "-q",
            "--harness-stack",
            str(sd.file),
            "--harness-profile",
            "web",
            *extra,
            "test_api.py",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=sd.root,
        env=env,
    )


def test_plain_pytest_brings_the_stack_up_once_for_all_workers_and_down_after(make_stack):
    sd = make_stack(STACK)
    res = run_pytest(sd, "-n", "2")
    assert res.returncode == 0, res.stdout + res.stderr
    assert "4 passed" in res.stdout
    assert owned_processes(sd.state_dir()) == [] and port_free(sd.ports[0]), "taken down: it started it"


def test_a_stack_already_up_is_reused_and_left_up(make_stack):
    sd = make_stack(STACK)
    assert sd.cli("up").returncode == 0
    pid = httpx.get(f"http://127.0.0.1:{sd.ports[0]}/health").json()["pid"]
    res = run_pytest(sd)
    assert res.returncode == 0, res.stdout + res.stderr
    assert httpx.get(f"http://127.0.0.1:{sd.ports[0]}/health").json()["pid"] == pid, "reused, not restarted"
