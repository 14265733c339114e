"""Waits (bounded) for a file that never appears: lets the harness's tests interrupt a suite mid-run."""

import os
import time
from pathlib import Path


def test_waits_for_a_signal_file():
    run_dir = Path(os.environ["HARNESS_RUN_DIR"])
    (run_dir / "slow-test-started").touch()  # the harness's test interrupts the run from here on
    flag = run_dir / "never"
    deadline = time.monotonic() + 60
    while not flag.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert flag.exists()
