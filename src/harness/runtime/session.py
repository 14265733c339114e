"""``with Session(orchestrator, "up") as s:``: one run's hold on an instance.

A session owns the instance lock (re-entrant, so a suite holds it across up, tests and
teardown), reaps what a killed harness left before doing anything, turns SIGTERM and SIGHUP
into the same interrupt as Ctrl-C so the cleanup trap runs for all three, and knows what it
started, so its teardown stops exactly that.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator, Sequence
from types import TracebackType

from harness.runtime.orchestrator import Orchestrator
from harness.runtime.outcomes import StopReport
from harness.runtime.progress import say_reaped
from harness.runtime.run import Run

TRAPPED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_received: list[int] = []


def last_signal() -> int | None:
    """The signal behind the latest interrupt: SIGINT (a terminal's Ctrl-C), SIGTERM or SIGHUP."""
    return _received[-1] if _received else None


@contextlib.contextmanager
def signals_as_interrupt() -> Iterator[None]:
    """SIGTERM and SIGHUP raise KeyboardInterrupt, like Ctrl-C, for the duration.

    A SIGINT that is ignored (a job a shell started in the background) stays ignored.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: object) -> None:
        _received.append(signum)
        raise KeyboardInterrupt

    trapped = [s for s in TRAPPED if signal.getsignal(s) is not signal.SIG_IGN]
    previous = {sig: signal.signal(sig, handler) for sig in trapped}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


class Session:
    def __init__(self, orchestrator: Orchestrator, what: str, *, reap_unreadable: bool = True) -> None:
        self.orch = orchestrator
        self.what = what
        self.reap_unreadable = reap_unreadable  # status only looks: it never stops a stack it cannot see
        self.run = Run()
        self._signals: contextlib.ExitStack | None = None

    @property
    def lock_token(self) -> str:
        return self.orch.ledger.lock.token

    def __enter__(self) -> Session:
        ledger = self.orch.ledger
        console = self.orch.console
        ledger.lock.acquire(
            self.what,
            wait=self.orch.plan.settings.queue,
            waiting=lambda line: console.print(f"[yellow]{line}[/yellow]"),
        )
        try:
            ledger.reload()
            reaped = self.orch.reap(unreadable_too=self.reap_unreadable)
            if reaped is not None:
                say_reaped(self.orch.console, reaped)
            self._signals = contextlib.ExitStack()
            self._signals.enter_context(signals_as_interrupt())
        except BaseException:
            ledger.lock.release()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        try:
            if self._signals is not None:
                self._signals.close()
        finally:
            self.orch.ledger.lock.release()

    def up(
        self, names: Sequence[str], *, keep_on_failure: bool = False, fresh: bool = False, complete: bool = True
    ) -> None:
        """Bring ``names`` up as part of this session (the run is marked incomplete until done).

        ``complete=False``: the run is not done once they are up (a suite tears them down after its
        tests): a harness killed before :meth:`finish` leaves them to be reaped by the next command.
        """
        self.run.fresh = fresh
        # The backend first: one refused (docker asked for, no engine) starts and records nothing.
        title = f"{self.orch.plan.stack.stack.name} (instance {self.orch.plan.instance}, "
        title += f"{self.orch.backend} backend): {self.what}"
        if not self.run.token:
            self.run.token = self.orch.ledger.begin_run()
        try:
            self.orch.up(self.run, names, title=title, keep_on_failure=keep_on_failure)
        finally:
            if complete:
                self.orch.ledger.finish_run()

    def finish(self) -> None:
        """The run is done (what it started is stopped, or left up on purpose)."""
        self.orch.ledger.finish_run()

    def teardown(self) -> StopReport:
        return self.orch.teardown(self.run)

    def preexisting(self) -> list[str]:
        return self.orch.preexisting(self.run)
