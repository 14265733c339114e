"""``invoke logs [SERVICE] [-f]``: the tail of one or every service log, optionally followed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.errors import HarnessError
from harness.host.processes import log_tail

if TYPE_CHECKING:
    from harness.runtime.plan import Plan


def show_logs(
    plan: Plan, console: Console, service: str | None, *, lines: int, follow: bool, max_seconds: float | None = None
) -> int:
    known = list(plan.nodes)
    if service is not None and service not in known:
        raise HarnessError(f"unknown service '{service}' (known: {', '.join(known)})")
    names = [service] if service else [n for n in known if plan.node(n).log_path.exists()]
    paths = {n: plan.node(n).log_path for n in names}
    if service and not paths[service].exists():
        raise HarnessError(f"{service}: no log yet at {paths[service]}")
    for name, path in paths.items():
        if len(paths) > 1:
            # Not console.rule: off a terminal the console is as wide as a line needs.
            console.print(f"[bold]── {name}  ({path}) ──[/]", highlight=False)
        console.out(log_tail(path, lines), highlight=False)
    if follow:
        _follow(console, paths, prefix=len(paths) > 1, max_seconds=max_seconds)
    return 0


def _follow(console: Console, paths: dict[str, Path], *, prefix: bool, max_seconds: float | None) -> None:
    """Print what is appended to the logs until Ctrl-C (or ``max_seconds``, for tests)."""
    offsets = {n: p.stat().st_size if p.exists() else 0 for n, p in paths.items()}
    end = time.monotonic() + max_seconds if max_seconds else None
    try:
        while end is None or time.monotonic() < end:
            for name, path in paths.items():
                try:
                    with open(path, "rb") as fh:
                        fh.seek(offsets[name])
                        data = fh.read()
                except OSError:
                    continue
                if data:
                    offsets[name] += len(data)
                    for line in data.decode("utf-8", "replace").splitlines():
                        console.out(f"{name} | {line}" if prefix else line, highlight=False)
            time.sleep(0.2)
    except KeyboardInterrupt:
        return
