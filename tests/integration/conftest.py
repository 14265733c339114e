"""Fixtures for the HTTP-only integration suites (the harness's pytest plugin supplies the rest)."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.integration.support import Stack

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def stack(service_client: Callable[..., httpx.Client], stack_env: dict[str, str]) -> Stack:
    return Stack(service_client, stack_env)


@pytest.fixture(autouse=True)
def _stack_lock(request: pytest.FixtureRequest, stack_env: dict[str, str]) -> Iterator[None]:
    """Tests that stop services (``disruptive``) run alone, even under ``pytest -n 2``.

    Every test takes a shared lock; a disruptive one takes it exclusively, so across xdist
    workers it waits for running tests to finish and holds new ones back until it is done.
    """
    path = Path(stack_env["HARNESS_STATE_DIR"]) / "tests.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        mode = fcntl.LOCK_EX if request.node.get_closest_marker("disruptive") else fcntl.LOCK_SH
        fcntl.flock(fh, mode)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@pytest.fixture
def harness_cli(stack_env: dict[str, str]) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run a harness command on this run's instance (to stop and restart one service)."""

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        cmd = [
            sys.executable,
            "-m",
            "harness",
            "--stack",
            stack_env["HARNESS_STACK_FILE"],
            "--instance",
            stack_env["HARNESS_INSTANCE"],
            *args,
        ]
        env = {k: v for k, v in os.environ.items() if k != "HARNESS_EXIT_FILE"}
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=180, env=env, cwd=ROOT)
        assert res.returncode == 0, f"{' '.join(args)} failed: {res.stderr}"
        return res

    return run
