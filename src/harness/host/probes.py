"""Readiness probes, one small class per way of asking, and the one loop that waits on them.

A probe's ``check`` answers ``None`` when ready, or a short reason when not ("connection
refused", "HTTP 503"). :func:`wait_ready` polls with one monotonic deadline, a poll interval
that starts at 20 ms and backs off, and a liveness check on every round, so a process that dies
during its wait fails the run at once instead of after the timeout.
"""

from __future__ import annotations

import http.client
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from harness.errors import Interrupted, ServiceFailed
from harness.host.processes import log_tail

FIRST_INTERVAL = 0.02
MAX_INTERVAL = 0.5
PASS_INTERVAL = 0.1  # between the consecutive passes `ready.passes` asks for


class ProbeFailed(Exception):
    """A probe's answer that waiting cannot change (a wrong password): the wait ends at once."""


class Probe(Protocol):
    @property
    def what(self) -> str: ...

    def check(self, timeout: float) -> str | None: ...


@dataclass
class TcpProbe:
    host: str
    port: int

    @property
    def what(self) -> str:
        return f"{self.host}:{self.port} accepting connections"

    def check(self, timeout: float) -> str | None:
        try:
            with socket.create_connection((self.host, self.port), timeout=timeout):
                return None
        except OSError as exc:
            return exc.strerror or str(exc)


@dataclass
class HttpProbe:
    url: str
    status: int = 200
    expect: str | None = None

    @property
    def what(self) -> str:
        body = f" with {self.expect!r} in the body" if self.expect else ""
        return f"GET {self.url} answering {self.status}{body}"

    def check(self, timeout: float) -> str | None:
        # The standard library, not httpx: importing httpx costs ~0.3 s, paid by every command
        # that probes (up, status, wait, suite --reuse). No proxies: services listen on loopback.
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        try:
            with opener.open(self.url, timeout=timeout) as resp:
                status, body = resp.status, resp.read(64 * 1024).decode("utf-8", "replace")
        except urllib.error.HTTPError as exc:
            status, body = exc.code, exc.read(64 * 1024).decode("utf-8", "replace")
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", None) or exc
            return f"{type(exc).__name__}: {reason}"
        if status != self.status:
            return f"HTTP {status}: {body[:200]}"
        if self.expect and self.expect not in body:
            return f"body lacks {self.expect!r}: {body[:200]}"
        return None


@dataclass
class CommandProbe:
    argv: Sequence[str]
    cwd: str | None = None
    env: dict[str, str] | None = None

    @property
    def what(self) -> str:
        return f"`{' '.join(self.argv)}` exiting 0"

    def check(self, timeout: float) -> str | None:
        try:
            res = subprocess.run(
                self.argv, cwd=self.cwd, env=self.env, capture_output=True, timeout=max(timeout, 1), check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return str(exc)
        if res.returncode:
            out = (res.stdout + res.stderr).decode(errors="replace").strip().splitlines()
            return f"exit {res.returncode}" + (f": {out[-1]}" if out else "")
        return None


@dataclass
class AllOf:
    """Several probes under one shared deadline (not one full timeout each)."""

    probes: Sequence[Probe]

    @property
    def what(self) -> str:
        return " and ".join(p.what for p in self.probes)

    def check(self, timeout: float) -> str | None:
        for probe in self.probes:
            reason = probe.check(timeout)
            if reason is not None:
                return reason
        return None


def wait_ready(
    name: str,
    probe: Probe,
    *,
    timeout: float,
    alive: Callable[[], bool] | None = None,
    pid: int | None = None,
    log_path: str | None = None,
    cancel: threading.Event | None = None,
    passes: int = 1,
) -> float:
    """Poll ``probe`` until it passes ``passes`` times in a row; return the seconds it took.

    Raises :class:`ServiceFailed` naming the service, what was checked, for how long, whether
    the process is alive and the last lines of its log.
    """
    start = time.monotonic()
    deadline = start + timeout
    interval = FIRST_INTERVAL
    reason = "not checked"
    streak = best = 0
    while True:
        if cancel is not None and cancel.is_set():
            raise Interrupted(f"{name}: stopped waiting (the run is being cancelled)")
        if alive is not None and not alive():
            raise ServiceFailed(
                name,
                f"exited while waiting for {probe.what} (after {time.monotonic() - start:.1f} s)",
                log_tail(log_path) if log_path else "",
            )
        remaining = deadline - time.monotonic()
        try:
            reason_now = probe.check(max(0.2, min(remaining, 5.0)))
        except ProbeFailed as exc:
            raise ServiceFailed(name, str(exc), log_tail(log_path) if log_path else "") from None
        if reason_now is None:
            streak += 1
            best = max(best, streak)
            if streak >= passes:
                return time.monotonic() - start
            interval = max(interval, PASS_INTERVAL)
        else:
            streak = 0
            reason = reason_now
        if time.monotonic() >= deadline:
            state = ""
            if pid is not None and alive is not None:
                state = f" (pid {pid} {'alive' if alive() else 'exited'})"
            if passes > 1:
                state += f"; it passed {best} of the {passes} consecutive checks required"
            raise ServiceFailed(
                name,
                f"{probe.what}: not ready after {timeout:.1f} s{state}; last answer: {reason}",
                log_tail(log_path) if log_path else "",
            )
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))
        interval = min(interval * 1.5, MAX_INTERVAL)
