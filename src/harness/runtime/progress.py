"""What the runtime says while it works: live progress while a stack comes up, and what it reaped.

On a terminal a rich ``Live`` table shows each service's state and seconds elapsed; elsewhere
(CI logs) each change is one printed line, so logs stay readable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from harness.runtime.outcomes import StopReport

STYLES = {
    "ready": "green",
    "ran": "green",
    "up to date": "green",
    "already running": "green",
    "healthy": "green",
    "failed": "red",
    "exited": "red",
    "unhealthy": "red",
    "unknown": "yellow",
    "stopped": "dim",
    "waiting": "yellow",
    "starting": "yellow",
    "restarting": "yellow",
    "running": "yellow",
    "pending": "dim",
    "cancelled": "dim",
}
DONE = {"ready", "ran", "up to date", "already running", "failed", "cancelled"}


def styled(state: str) -> str:
    style = STYLES.get(state, "")
    return f"[{style}]{state}[/{style}]" if style else state


@dataclass
class Row:
    name: str
    state: str = "pending"
    started: float | None = None
    finished: float | None = None
    detail: str = ""

    def elapsed(self, now: float) -> str:
        if self.started is None:
            return ""
        return f"{(self.finished or now) - self.started:.1f} s"


class Progress:
    """Thread-safe progress board for a set of services and steps."""

    def __init__(self, console: Console, names: Sequence[str], title: str) -> None:
        self.console = console
        self.rows = {n: Row(n) for n in names}
        self.title = title
        self._lock = threading.Lock()
        self._live: Live | None = None

    def update(self, name: str, state: str, detail: str = "") -> None:
        with self._lock:
            row = self.rows.setdefault(name, Row(name))
            now = time.monotonic()
            if row.started is None and state not in ("pending",):
                row.started = now
            if state in DONE:
                row.finished = now
            row.state, row.detail = state, detail
            if self._live is None:
                extra = f" - {detail}" if detail else ""
                self.console.print(f"  {name:<18} {styled(state)} {row.elapsed(now)}{extra}", highlight=False)

    def render(self) -> Table:
        table = Table(title=self.title, title_justify="left", box=None, pad_edge=False)
        table.add_column("service")
        table.add_column("state")
        table.add_column("elapsed", justify="right")
        table.add_column("", overflow="fold")
        now = time.monotonic()
        with self._lock:
            for row in self.rows.values():
                table.add_row(row.name, styled(row.state), row.elapsed(now), row.detail)
        return table

    def __enter__(self) -> Progress:
        if self.console.is_terminal:
            self._live = Live(get_renderable=self.render, console=self.console, refresh_per_second=8, transient=False)
            self._live.__enter__()
        else:
            self.console.print(self.title)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.__exit__(None, None, None)
            self._live = None


def say_reaped(console: Console, report: StopReport) -> None:
    if report.without_state:
        console.print(
            f"[yellow]the state file is unreadable ({escape(report.without_state)}); stopped the instance's "
            f"processes by their HARNESS_OWNER marker:[/yellow] {', '.join(report.items) or 'none were running'}"
        )
    elif report.items:
        console.print(
            f"[yellow]reaped {len(report.items)} process(es) left by a harness run that was killed:[/yellow] "
            + ", ".join(report.items)
        )
