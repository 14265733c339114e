"""A suite's test command as a child process: started early behind a gate, waited in the foreground.

The first phase's pytest can start while the stack comes up (``plugin/gate.py``): :meth:`TestRun.start`
with a gate, then :meth:`TestRun.open` once the stack is up, or :meth:`TestRun.close` with the
reason it will not be. Its stderr is passed through as it comes, its last lines kept for the
record.
"""

from __future__ import annotations

import collections
import os
import shlex
import signal
import subprocess
import sys
import threading
from pathlib import Path

from rich.console import Console

from harness.config.masking import mask_text
from harness.errors import HarnessError
from harness.plugin import gate
from harness.plugin.protocol import GATE_PID_VAR, GATE_VAR, GO
from harness.runtime.session import last_signal

CLOSE_WAIT = 8.0  # how long a test command behind a closed gate gets to exit before it is killed


def _tee(proc: subprocess.Popen[bytes], last: collections.deque[str]) -> None:
    """The test command's stderr to ours as it comes, keeping its last lines for the record."""
    assert proc.stderr is not None
    for raw in iter(proc.stderr.readline, b""):
        sys.stderr.buffer.write(raw)
        sys.stderr.buffer.flush()
        if raw.strip():
            last.append(raw.decode(errors="replace").rstrip())


class TestRun:
    """One test command of a suite (one phase)."""

    __test__ = False  # not a pytest test class, despite its name

    def __init__(
        self,
        name: str,
        argv: list[str],
        cwd: Path,
        env: dict[str, str],
        console: Console,
        last_lines: collections.deque[str],
        gate_file: Path | None = None,
    ) -> None:
        self.name, self.argv, self.cwd, self.console, self.last_lines = name, argv, cwd, console, last_lines
        self.env = dict(env)
        self.gate_file = gate_file
        if gate_file is not None:
            self.env.update({GATE_VAR: str(gate_file), GATE_PID_VAR: str(os.getpid())})
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        shown = mask_text(shlex.join(self.argv), self.env)
        self.console.print(f"$ {shown}", highlight=False, markup=False, style="bold")
        try:
            self.proc = subprocess.Popen(self.argv, cwd=self.cwd, env=self.env, stderr=subprocess.PIPE)
        except OSError as exc:
            raise HarnessError(f"suite {self.name}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from None
        threading.Thread(target=_tee, args=(self.proc, self.last_lines), daemon=True).start()

    @property
    def waiting(self) -> bool:
        """Started behind a gate that has no verdict yet."""
        return self.proc is not None and self.gate_file is not None and not self.gate_file.exists()

    def open(self) -> None:
        if self.waiting:
            assert self.gate_file is not None
            gate.write(self.gate_file, GO)

    def close(self, reason: str) -> None:
        """No test will run: tell the waiting command why, and see it gone (killed if it lingers)."""
        if not self.waiting:
            return
        assert self.gate_file is not None and self.proc is not None
        gate.write(self.gate_file, reason)
        try:
            self.proc.wait(timeout=CLOSE_WAIT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def wait(self) -> int:
        """Wait in the foreground; Ctrl-C reaches it, SIGTERM is passed on as SIGINT."""
        if self.proc is None:
            self.start()
        proc = self.proc
        assert proc is not None
        self.open()
        try:
            return proc.wait()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reached pytest too (same process group): let it finish its own
            # interrupt. A second SIGINT would make it print a traceback. SIGTERM or SIGHUP reached
            # only us: pass it on as the interrupt pytest understands.
            if last_signal() != signal.SIGINT:
                proc.send_signal(signal.SIGINT)
            for escalate in (lambda: proc.send_signal(signal.SIGINT), proc.kill, None):
                try:
                    proc.wait(timeout=8)
                    break
                except subprocess.TimeoutExpired:
                    if escalate is None:
                        raise
                    escalate()
            raise
