"""A suite's test command as a child process: started early behind a gate, waited in the foreground.

The first phase's pytest can start while the stack comes up (``plugin/gate.py``): :meth:`TestRun.start`
with a gate, then :meth:`TestRun.open` once the stack is up, or :meth:`TestRun.close` with the
reason it will not be. Its output is relayed as it comes, secrets masked (pytest prints what a
failing assertion compared, DSNs included), its last lines kept for the record.
"""

from __future__ import annotations

import collections
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, BinaryIO

from rich.console import Console

from harness.config.masking import mask_text
from harness.errors import HarnessError
from harness.plugin import gate
from harness.plugin.protocol import GATE_PID_VAR, GATE_VAR, GO
from harness.runtime.session import last_signal

CLOSE_WAIT = 8.0  # how long a test command behind a closed gate gets to exit before it is killed


IDLE = 0.1  # a partial line (pytest's progress dots) is shown after this long without more


def _relay(source: IO[bytes], target: BinaryIO, env: Mapping[str, str], last: collections.deque[str]) -> None:
    """One output stream of the test command to ours as it comes, masked; its last lines kept.

    Whole lines are masked and shown at once; a partial line waits for its end, or ``IDLE``
    seconds, so a secret is never shown in two halves that each look harmless.
    """

    def emit(data: bytes) -> None:
        if not data:
            return
        text = mask_text(data.decode(errors="replace"), env)
        target.write(text.encode())
        target.flush()
        last.extend(line.rstrip() for line in text.splitlines() if line.strip())

    fd, pending = source.fileno(), b""
    while True:
        ready, _, _ = select.select([fd], [], [], IDLE if pending else None)
        if not ready:
            emit(pending)
            pending = b""
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            emit(pending)
            return
        whole, newline, pending = (pending + chunk).rpartition(b"\n")
        emit(whole + newline)


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
        self.relays: list[threading.Thread] = []

    def start(self) -> None:
        shown = mask_text(shlex.join(self.argv), self.env)
        self.console.print(f"$ {shown}", highlight=False, markup=False, style="bold")
        env = dict(self.env)
        if sys.stdout.isatty():  # relayed through a pipe: pytest is told what the terminal is like
            env.setdefault("PY_COLORS", "1")
            env.setdefault("COLUMNS", str(shutil.get_terminal_size().columns))
        try:
            proc = subprocess.Popen(self.argv, cwd=self.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            raise HarnessError(f"suite {self.name}: cannot run {self.argv[0]!r}: {exc.strerror or exc}") from None
        self.proc = proc
        assert proc.stdout is not None and proc.stderr is not None
        self.relays = [
            threading.Thread(target=_relay, args=(stream, out, self.env, self.last_lines), daemon=True)
            for stream, out in ((proc.stdout, sys.stdout.buffer), (proc.stderr, sys.stderr.buffer))
        ]
        for relay in self.relays:
            relay.start()

    @property
    def waiting(self) -> bool:
        """Started behind a gate that has no verdict yet."""
        return self.proc is not None and self.gate_file is not None and not self.gate_file.exists()

    def open(self) -> None:
        if self.waiting:
            assert self.gate_file is not None
            gate.write(self.gate_file, GO)

    def _drain(self, timeout: float = 5.0) -> None:
        """The rest of its output shown before the harness says more (a process a test left running
        may hold the pipe open: then it is not waited for longer than ``timeout``)."""
        for relay in self.relays:
            relay.join(timeout=timeout)

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
            code = proc.wait()
            self._drain()
            return code
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
