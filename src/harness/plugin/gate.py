"""The gate between a suite's pytest and its stack: pytest starts while the stack comes up.

Starting pytest (the interpreter, its plugins, the suite's conftest) takes 0.5-1.5 s, as long as
bringing a small stack up. The harness starts it at once with ``HARNESS_GATE`` (a file that does
not exist yet) and ``HARNESS_GATE_PID`` (its own pid); the plugin waits at the start of the
session, before its header and before any worker or test, until the file says ``go`` (the stack
is up) or gives the reason nothing will run. Pure Python: both the harness and the suite's own interpreter import it.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .protocol import GATE_PID_VAR, GATE_VAR, GO


def write(path: Path, text: str) -> None:
    """Write the verdict atomically: a reader sees nothing or all of it."""
    part = path.with_name(path.name + ".part")
    part.write_text(text, encoding="utf-8")
    os.replace(part, path)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def wait(path: Path, harness_pid: int, poll: float = 0.01) -> str | None:
    """None once the gate says go; else why the tests will not run (the harness's verdict, or its end).

    Bounded by the harness: it writes a verdict on every path out of ``up``, and if it was killed
    before it could, its pid is gone and the wait ends.
    """
    while True:
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            text = ""
        if text:
            return None if text == GO else text
        if not _alive(harness_pid):
            return f"the harness (pid {harness_pid}) ended before the stack was up"
        time.sleep(poll)


def wait_from_env() -> str | None:
    """The gate this process was started behind, if any (None: go, or no gate)."""
    where, pid = os.environ.get(GATE_VAR), os.environ.get(GATE_PID_VAR)
    if not where or not pid:
        return None
    return wait(Path(where), int(pid))
