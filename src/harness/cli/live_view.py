"""``harness watch``: the services' state, health, CPU, memory and restarts, redrawn in place.

It also shows the newest events of the latest suite run (its ``EVENTS_FILE``),
so a developer watching a suite sees a service die or restart as it happens. Read-only: it
starts, stops and locks nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from harness.cli.terminal import service_table
from harness.plugin.protocol import EVENTS_FILE
from harness.runtime.inspection import status
from harness.runtime.orchestrator import Orchestrator

EVENTS_SHOWN = 8


def latest_events(runs_dir: Path, limit: int = EVENTS_SHOWN) -> tuple[str, list[dict[str, object]]]:
    """(run id, its last events) of the newest run that has an events file."""
    runs = sorted(runs_dir.glob(f"*/{EVENTS_FILE}"), key=lambda p: p.parent.name)
    if not runs:
        return "", []
    try:
        lines = runs[-1].read_text(encoding="utf-8").splitlines()
    except OSError:
        return "", []
    return runs[-1].parent.name, [json.loads(line) for line in lines[-limit:] if line.strip()]


def _events_table(run_id: str, events: list[dict[str, object]]) -> Table | Text:
    if not run_id:
        return Text("no suite run has recorded events yet", style="dim")
    table = Table(title=f"events of run {run_id}", title_justify="left")
    for col in ("time", "service", "event", "detail"):
        table.add_column(col, overflow="fold")
    for e in events:
        at = dt.datetime.fromtimestamp(float(str(e["time"]))).strftime("%H:%M:%S")
        style = "red" if e.get("fails") else ("cyan" if e.get("intended") else "")
        table.add_row(at, str(e["service"]), Text(str(e["event"]), style=style), str(e["detail"])[:160])
    return table


def render(orch: Orchestrator) -> Group:
    plan = orch.plan
    title = f"{plan.stack.stack.name} (instance {plan.instance}, {orch.backend} backend) at {time.strftime('%H:%M:%S')}"
    run_id, events = latest_events(plan.runs_dir)
    return Group(service_table(status(orch), title, health=True), _events_table(run_id, events))


def watch(orch: Orchestrator, console: Console, *, interval: float, count: int | None) -> int:
    """Redraw every ``interval`` s, ``count`` times (None: until Ctrl-C)."""
    shown = 0
    try:
        with Live(render(orch), console=console, refresh_per_second=4, transient=False) as live:
            shown = 1
            while count is None or shown < count:
                time.sleep(interval)
                live.update(render(orch))
                shown += 1
    except KeyboardInterrupt:
        pass
    return 0
