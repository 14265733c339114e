"""A timed WebSocket client for tests (the ``service_ws`` fixture), on the ``websockets`` package.

Like ``service_client``, it feeds the latency table: the handshake as a ``WS <route>`` row, and,
where the test says after what (``since=`` the moment of the request that caused it), each
message's arrival as a ``WS message <route>`` row, routes folded by the same rules. Every frame
received during a test is kept, so a failing test carries them (per service, like backend log
lines) in the terminal, JUnit and results.json.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from typing import Any

from .latency import Call, LatencyLog, route_of

KEPT_FRAMES = 200  # per test: the newest are attached to a failure
_frames: dict[str, list[str]] = {}  # service: frames received during the current test
_lock = threading.Lock()


def start_test() -> None:
    if _frames:  # most tests opened no socket: nothing to clear
        with _lock:
            _frames.clear()


def frames_of_test() -> dict[str, list[str]]:
    with _lock:
        return {service: list(frames) for service, frames in _frames.items()}


def _keep(service: str, frame: str) -> None:
    with _lock:
        kept = _frames.setdefault(service, [])
        kept.append(frame)
        del kept[:-KEPT_FRAMES]


class TimedSocket:
    """One WebSocket to a service. ``receive_json``/``receive_until`` wait with a deadline;
    ``closed()`` waits for the server's close and gives its code and reason."""

    def __init__(self, service: str, url: str, path: str, log: LatencyLog, open_timeout: float) -> None:
        from websockets.sync.client import connect

        self.service, self.route, self.log = service, route_of(path), log
        t0 = time.perf_counter()
        self._open = contextlib.ExitStack()  # websockets wants its connect() entered as a context
        self.conn = self._open.enter_context(connect(url, open_timeout=open_timeout, max_size=2**24))
        log.add(Call(service, "WS", self.route, 101, (time.perf_counter() - t0) * 1000))

    def receive(self, timeout: float = 10.0, *, since: float | None = None) -> str:
        """The next frame as text; ``TimeoutError`` after ``timeout``; ``since`` (a
        ``time.perf_counter()`` taken at the request that caused it) records its arrival time."""
        frame = self.conn.recv(timeout=timeout)
        arrived = time.perf_counter()
        text = frame if isinstance(frame, str) else frame.decode("utf-8", "replace")
        _keep(self.service, text)
        if since is not None:
            self.log.add(Call(self.service, "WS message", self.route, 200, (arrived - since) * 1000))
        return text

    def receive_json(self, timeout: float = 10.0, *, since: float | None = None) -> Any:
        return json.loads(self.receive(timeout, since=since))

    def receive_until(
        self, done: Callable[[Any], bool], timeout: float = 30.0, *, since: float | None = None
    ) -> list[Any]:
        """JSON messages until one satisfies ``done`` (included), all within ``timeout``."""
        deadline = time.monotonic() + timeout
        got: list[Any] = []
        while not got or not done(got[-1]):
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"{self.service} {self.route}: no message ended the wait in {timeout} s; got {got}")
            got.append(self.receive_json(left, since=since))
        return got

    def closed(self, timeout: float = 10.0) -> tuple[int | None, str]:
        """Wait for the server to close (frames meanwhile are kept); its close code and reason."""
        from websockets.exceptions import ConnectionClosed

        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.receive(max(0.01, deadline - time.monotonic()))
        except (ConnectionClosed, TimeoutError):
            pass
        return self.close_code, self.close_reason

    @property
    def close_code(self) -> int | None:
        code = self.conn.close_code
        return None if code is None else int(code)

    @property
    def close_reason(self) -> str:
        return str(self.conn.close_reason or "")

    def close(self) -> None:
        self._open.close()

    def __enter__(self) -> TimedSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def attach_frames(item: Any, report: Any) -> None:
    """A failing test's frames, per service, on its report (terminal and JUnit) as its backend
    log lines are (``websocket.<service>`` properties, read into results.json)."""
    for service, frames in frames_of_test().items():
        text = "\n".join(frames[-60:])
        report.sections.append((f"websocket frames: {service}", text))
        report.user_properties.append((f"websocket.{service}", text))
        item.user_properties.append((f"websocket.{service}", text))
