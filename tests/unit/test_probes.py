from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass

import pytest

from harness.errors import Interrupted, ServiceFailed
from harness.host.probes import AllOf, CommandProbe, HttpProbe, TcpProbe, wait_ready


@dataclass
class Countdown:
    """Ready after ``n`` checks; records the gaps between checks."""

    n: int
    what: str = "countdown"

    def __post_init__(self) -> None:
        self.times: list[float] = []

    def check(self, timeout: float) -> str | None:
        self.times.append(time.monotonic())
        self.n -= 1
        return None if self.n <= 0 else f"{self.n} to go"


def test_ready_after_a_few_polls_with_backoff():
    probe = Countdown(6)
    took = wait_ready("svc", probe, timeout=5)
    assert took < 1.0
    gaps = [b - a for a, b in zip(probe.times, probe.times[1:], strict=False)]
    assert gaps[0] < 0.1, "first poll interval must be tens of milliseconds"
    assert gaps[-1] > gaps[0], "the interval backs off"


def test_dead_process_fails_at_once_with_log_tail(tmp_path):
    log = tmp_path / "svc.log"
    log.write_text("line 1\nfatal: config missing\n")
    t0 = time.monotonic()
    with pytest.raises(ServiceFailed) as info:
        wait_ready("svc", Countdown(10_000), timeout=30, alive=lambda: False, pid=1, log_path=str(log))
    assert time.monotonic() - t0 < 1
    assert "svc: exited while waiting" in str(info.value)
    assert "fatal: config missing" in str(info.value)


def test_timeout_names_service_check_and_liveness(tmp_path):
    with pytest.raises(ServiceFailed) as info:
        wait_ready("db", TcpProbe("127.0.0.1", 1), timeout=0.3, alive=lambda: True, pid=4242)
    msg = str(info.value)
    assert msg.startswith("db: 127.0.0.1:1 accepting connections: not ready after 0.3 s (pid 4242 alive)")
    assert "refused" in msg.lower()


def test_cancel_stops_the_wait():
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Interrupted):
        wait_ready("svc", Countdown(100), timeout=10, cancel=cancel)


def test_composite_probe_shares_one_deadline():
    probe = AllOf([Countdown(1), TcpProbe("127.0.0.1", 1)])
    t0 = time.monotonic()
    with pytest.raises(ServiceFailed):
        wait_ready("both", probe, timeout=0.5)
    assert time.monotonic() - t0 < 1.5


def test_tcp_and_command_probes_against_real_things():
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        assert TcpProbe("127.0.0.1", srv.getsockname()[1]).check(1) is None
    assert CommandProbe(["true"]).check(1) is None
    assert CommandProbe(["sh", "-c", "echo nope; exit 3"]).check(1) == "exit 3: nope"
    assert HttpProbe("http://127.0.0.1:1/health").check(0.5) is not None


def test_the_log_tail_is_the_last_30_lines_of_a_longer_log(tmp_path):
    from harness.host.processes import TAIL_LINES, log_tail

    log = tmp_path / "svc.log"
    log.write_text("".join(f"line {i}\n" for i in range(1, 5001)))
    tail = log_tail(log).splitlines()
    assert TAIL_LINES == 30 and tail == [f"line {i}" for i in range(4971, 5001)]
    assert log_tail(tmp_path / "missing.log") == ""
