"""What commands print when they are done: the service tables, what down stopped, a suite's summary.

The progress of ``up`` itself is the runtime's (``runtime/progress.py``); this is the edge.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from harness.config.masking import mask_text
from harness.record.rates import executed, percent
from harness.runtime.outcomes import StatusRow, StopReport
from harness.runtime.progress import STYLES, styled


def service_table(rows: Iterable[StatusRow], title: str, health: bool = False) -> Table:
    """The services' table; with ``health`` (status, watch) also live health, CPU, memory, restarts."""
    table = Table(title=title, title_justify="left")
    live = ["health", "cpu", "memory", "restarts"] if health else []
    for col in ("service", "state", *live, "url", "pid", "log"):
        table.add_column(col, overflow="fold")
    for row in rows:
        cells = [row.service, styled(row.state)]
        if health:
            cells.append(styled(row.health) if row.health in STYLES else row.health)
            cells += [row.cpu, row.memory, str(row.restarts) if row.restarts else ""]
        cells += [mask_text(row.url, {}), row.pid, row.log]
        table.add_row(*cells)
    return table


def say_stopped(console: Console, report: StopReport) -> None:
    """``down``'s summary: processes, then containers and volumes, and how they were found."""
    procs = len(report.processes) + len(report.strays)
    other = len(report.containers) + len(report.volumes)
    summary = f"stopped {procs} process(es)" + (f" and removed {other} from the engine" if other else "")
    console.print(summary + (": " + ", ".join(report.items) if report.items else ""), highlight=False)
    if report.without_state:
        console.print(
            f"[yellow]without the state file ({escape(report.without_state)}): found by their HARNESS_OWNER "
            "marker instead[/yellow]"
        )


UNBOUNDED = 100_000  # the width of a console that is not a terminal: no table cell is wrapped or cut


def make_console() -> Console:
    """The console commands print on (stderr). On a terminal, its width; elsewhere (a CI log, a
    file) as wide as each line needs, unless ``COLUMNS`` says otherwise: a table wrapped at 80
    columns split identifiers ("runnin g") and cut run ids short."""
    console = Console(stderr=True)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console = Console(stderr=True, width=UNBOUNDED)
    return console


BACKEND_ERROR = re.compile(r"^backend error during the test: (\S+) logged")


def noisy_service(cases: Iterable[dict[str, Any]]) -> tuple[str, int, int] | None:
    """(service, its failures, all failures) when one service's log lines failed most of them."""
    failed = [c for c in cases if c["outcome"] in ("failed", "error")]
    blamed = Counter(m.group(1) for c in failed if (m := BACKEND_ERROR.match(c.get("message") or "")))
    if not blamed:
        return None
    service, count = blamed.most_common(1)[0]
    return (service, count, len(failed)) if count >= 3 and count * 2 >= len(failed) else None


def suite_summary(console: Console, data: dict[str, Any], log_dir: str) -> None:
    tests = data["tests"]
    noisy = noisy_service(tests.get("cases", []))
    if noisy:
        service, count, failed = noisy
        console.print(
            f"{count} of the {failed} failures are ERROR lines in {service}'s log: if {service} logs errors "
            f"that are no failure of the system, set backend_errors = false under [services.{service}] "
            "in stack.toml",
            style="yellow",
            markup=False,
            highlight=False,
        )
    for case in tests.get("cases", []):
        if case["outcome"] == "flaky":
            tries = " -> ".join(a["outcome"] for a in case.get("attempts", []))
            console.print(f"  flaky: {case['nodeid']} ({tries})", style="yellow", markup=False, highlight=False)
        elif case["outcome"] == "quarantined":
            q = case["quarantine"]
            said = f"  quarantined: {case['nodeid']} failed; forgiven until {q['until']} ({q['reason']})"
            console.print(said, style="yellow", markup=False, highlight=False)
    for tier, rate in tests.get("by_tier", {}).items():
        ran = executed(rate)
        console.print(f"  {tier}: {rate['passed']}/{ran} passed ({percent(rate['pass_rate'])})", highlight=False)
    console.print(
        f"[bold]{data['suite']}: {data['status']}[/bold] (exit {data['exit_code']}) - "
        f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
        f"{tests['skipped']} skipped"
        + "".join(
            f", {tests[k]} {k.replace('_', ' ')}"
            for k in ("xfailed", "xpassed", "not_run", "flaky", "quarantined")
            if tests.get(k)
        )
        + f"; results in {log_dir}/runs/{data['run_id']}/"
    )
