"""Looking at an instance without changing it: each service's status, and waiting until healthy."""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from harness.errors import HarnessError, command_hint
from harness.host.probes import wait_ready
from harness.host.usage import current_usage
from harness.runtime.outcomes import StatusRow
from harness.runtime.supervisor import HEALTH_TIMEOUT

if TYPE_CHECKING:
    from harness.runtime.orchestrator import Orchestrator


def status(orch: Orchestrator, *, health: bool = True) -> list[StatusRow]:
    """One row per service: state, health, URL, pid, log."""
    entries = orch.ledger.entries()
    unreadable = orch.ledger.problem is not None
    restarts = orch.ledger.read(lambda s: dict(s.restarts))

    def row(name: str) -> StatusRow:
        node = orch.plan.node(name)
        url = node.endpoint.url if node.endpoint else ""
        rec = entries.get(name)
        sup = orch.supervisor(name, rec)
        if rec is None and unreadable:
            return StatusRow(name, "unknown", url, str(node.log_path), health="state file unreadable")
        alive = rec is not None and sup.running()
        state = "running" if alive else ("exited" if rec else "stopped")
        result = "-"
        if health and alive:
            reason = sup.healthy(HEALTH_TIMEOUT)
            result = "healthy" if reason is None else f"unhealthy: {reason}"[:80]
        pid = str(rec.pid) if alive and rec else ""
        usage = current_usage(rec.pid) if health and alive and rec else None
        cpu, memory = (f"{usage[0]:.0f}%", f"{usage[1]:.0f} MiB") if usage else ("", "")
        return StatusRow(
            name, state, url, str(node.log_path), pid, result if health else "-", cpu, memory, restarts.get(name, 0)
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        return list(pool.map(row, orch.plan.services))


def wait(orch: Orchestrator, names: Sequence[str], timeout: float | None = None) -> dict[str, float]:
    """Probe running services until healthy (all share one deadline)."""
    entries = orch.ledger.entries()
    services = [n for n in orch.plan.closure(names) if orch.plan.node(n).is_service]
    sups = {n: orch.supervisor(n, entries.get(n)) for n in services}
    missing = [n for n, s in sups.items() if not s.running()]
    if missing:
        raise HarnessError(
            f"not running: {', '.join(missing)}; start them with {command_hint('up', orch.plan.instance)}"
        )
    t_end = time.monotonic() + (timeout or 60.0)

    def one(name: str) -> float:
        probe = orch.kind(name).probe(orch.plan.context(name))
        if probe is None:
            return 0.0
        rec = entries[name]
        return wait_ready(
            name,
            probe,
            timeout=max(0.5, t_end - time.monotonic()),
            alive=sups[name].running,
            pid=rec.pid,
            log_path=rec.log,
        )

    with ThreadPoolExecutor(max_workers=8) as pool:
        return dict(zip(services, pool.map(one, services), strict=True))
