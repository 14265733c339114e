"""Helper processes a kind runs while starting (initdb) are recorded and stopped like services."""

from __future__ import annotations

import os
import shutil
import signal
import uuid
from pathlib import Path

import pytest

from .conftest import TEST_STACKS, cmdline_of, harness, owned_processes, wait_for

ROOT = Path(__file__).resolve().parents[2]
INSTANCE = 0

STACK = """
[stack]
name = "initdb-kill"

[services.db]
kind = "postgres"
port = {port}
"""


@pytest.fixture
def stack_file():
    # Under the checkout (world-searchable): as root, Postgres runs as the postgres user.
    from .conftest import distinct_free_ports

    root = TEST_STACKS / f"initdb-{uuid.uuid4().hex[:8]}"
    root.mkdir(parents=True)
    path = root / "stack.toml"
    path.write_text(STACK.format(port=distinct_free_ports(1)[0]))
    yield path
    harness(path, "down", instance=INSTANCE)
    shutil.rmtree(root, ignore_errors=True)


def test_a_harness_killed_during_initdb_leaves_nothing_after_down_clean(stack_file):
    import subprocess
    import sys

    state_dir = stack_file.parent / ".harness" / str(INSTANCE)
    up = subprocess.Popen(
        [sys.executable, "-m", "harness", "--stack", str(stack_file), "--instance", str(INSTANCE), "up"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "HARNESS_NO_CACHE": "1"},  # initdb itself, not a copy from the initdb cache
    )

    def initdb_running() -> bool:
        # By the program's name: the stack's own directory (initdb-<id>) is in every process's argv.
        return any(Path((cmdline_of(p) or [""])[0]).name == "initdb" for p in owned_processes(state_dir))

    wait_for(initdb_running, 30, "initdb to run")
    wait_for(lambda: "helper:db" in (state_dir / "state.json").read_text(), 5, "initdb to be recorded")
    assert initdb_running(), "recorded while it runs, before the harness waits on its exit"
    up.send_signal(signal.SIGKILL)
    up.wait()
    res = harness(stack_file, "down", "--clean", instance=INSTANCE)
    assert res.returncode == 0, res.stderr
    assert owned_processes(state_dir) == [], "down returns only once initdb is gone"
    assert not (state_dir / "db").exists()
