"""One-shot steps: a command or a Python callable, skipped when its cached outputs are current.

A step with ``inputs`` (globs) and ``outputs`` is up to date when every output exists and the
content hash of its inputs (plus its own definition) matches the hash recorded after its last
successful run.
"""

from __future__ import annotations

import hashlib
import importlib
import shlex
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.config.schema import Step
from harness.errors import StepFailed
from harness.host.processes import ProcessEntry, entry_for, is_running, log_tail, spawn, stop_entry, wait_exit
from harness.kinds.base import DataSnapshots
from harness.runtime.ledger import Ledger
from harness.runtime.plan import NodePlan

STEP_GRACE = 5.0


@dataclass
class StepContext:
    """Handed to a ``call = "module:function"`` step."""

    name: str
    root: Path
    env: dict[str, str]
    cwd: Path
    log: IO[str]
    log_path: Path
    args: dict[str, Any] = field(default_factory=dict)

    def say(self, line: str) -> None:
        self.log.write(line.rstrip("\n") + "\n")
        self.log.flush()


def inputs_digest(root: Path, step: Step) -> str:
    h = hashlib.sha256(step.model_dump_json().encode())
    files = sorted({p for pattern in step.inputs for p in root.glob(pattern) if p.is_file()})
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def outputs_present(root: Path, step: Step) -> bool:
    return all(
        (root / out).exists() and ((root / out).is_dir() or (root / out).stat().st_size > 0) for out in step.outputs
    )


def load_callable(spec: str, root: Path) -> Callable[[StepContext], object]:
    module_name, _, func_name = spec.partition(":")
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    module = importlib.import_module(module_name)
    func = getattr(module, func_name, None)
    if not callable(func):
        raise StepFailed(module_name, f"{spec}: no callable named '{func_name}'")
    return func  # type: ignore[no-any-return]


def run_step(
    node: NodePlan,
    root: Path,
    *,
    cached_digest: str | None,
    cancel: threading.Event,
    on_spawn: Callable[[ProcessEntry], None],
    owner: str = "",
    key: str = "",
) -> tuple[str, str | None]:
    """Run one step; returns (outcome, digest) with outcome ``ran`` or ``up to date``.

    A command step's process is handed to ``on_spawn`` (its entry named ``key``) before the
    harness waits on it, like any service's.
    """
    step, name, log_path = node.model, node.name, node.log_path
    assert isinstance(step, Step)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    digest = inputs_digest(root, step) if step.inputs else None
    if digest and digest == cached_digest and outputs_present(root, step):
        return "up to date", digest
    env = dict(node.env)
    if not node.cwd.is_dir():
        raise StepFailed(name, f"its cwd {node.cwd} does not exist (steps.{name}.cwd)")
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"--- harness: step {name} at {time.strftime('%H:%M:%S')} ---\n")
        log.flush()
        if step.call:
            ctx = StepContext(name, root, env, node.cwd, log, log_path, dict(step.args))
            try:
                load_callable(step.call, root)(ctx)
            except StepFailed:
                raise
            except Exception as exc:
                log.write(f"{type(exc).__name__}: {exc}\n")
                raise StepFailed(name, f"{step.call} failed: {exc}") from exc
            return "ran", digest
        command = node.rendered["run"]
        argv = ["/bin/sh", "-c", command] if step.shell else shlex.split(command)
        if not argv:
            raise StepFailed(name, "the command is empty")
        try:
            # The same spawn as services: own process group, output appended to the log, and
            # the run's HARNESS_OWNER tag, so anything the step leaves behind can be found.
            proc = spawn(argv, env=env, cwd=node.cwd, log_path=log_path, owner=owner)
        except OSError as exc:
            raise StepFailed(name, f"cannot run `{command}`: {exc.strerror or exc}") from None
        on_spawn(entry_for(key or f"step:{name}", proc, argv, log_path, owner=owner))
        if not wait_exit(proc, step.timeout, cancel, name):
            raise StepFailed(name, f"`{command}` did not finish within {step.timeout:.0f} s")
    if proc.returncode:
        raise StepFailed(name, f"`{command}` exited with {proc.returncode}", log_tail(log_path))
    return "ran", digest


def from_snapshot(
    node: NodePlan, root: Path, ledger: Ledger, data: DataSnapshots, *, fresh: bool, no_cache: bool
) -> str | None:
    """A data step's outcome without running it (``up to date``, ``restored``), or None: run it.

    Up to date: the snapshot of its inputs hash exists in the service's data (so the data is the
    one the step ran on) and the step last set it. Restored: the snapshot exists but the data was
    set since by other inputs, or ``fresh`` asks for the step's result as it was. With ``fresh``
    and no snapshot, the data is emptied first, so the step runs on nothing.
    """
    step = node.model
    assert isinstance(step, Step)
    digest = inputs_digest(root, step)
    if not no_cache and data.has(digest):
        if ledger.step_hash(node.name) == digest and not fresh:
            return "up to date"
        data.restore(digest)
        ledger.set_step_hash(node.name, digest)
        return "restored"
    if fresh:
        data.empty()
    return None


def run_tracked_step(
    node: NodePlan,
    root: Path,
    ledger: Ledger,
    *,
    add_entry: Callable[[ProcessEntry], None],
    cancel: threading.Event,
    owner: str,
    data: DataSnapshots | None = None,
    fresh: bool = False,
    no_cache: bool = False,
) -> str:
    """Run a step of a run: its process in the ledger while it runs, its cache hash kept there after.

    ``data``: the snapshots of the service a data step changes (``snapshot = "<service>"``);
    ``no_cache`` (``--no-cache``): every step runs, no snapshot is restored.
    """
    if data is not None:
        known = from_snapshot(node, root, ledger, data, fresh=fresh, no_cache=no_cache)
        if known:
            return known
    spawned: list[ProcessEntry] = []

    def on_spawn(entry: ProcessEntry) -> None:
        spawned.append(entry)
        add_entry(entry)

    try:
        outcome, digest = run_step(
            node,
            root,
            key=f"step:{node.name}",
            cached_digest=None if data is not None or no_cache else ledger.step_hash(node.name),
            cancel=cancel,
            on_spawn=on_spawn,
            owner=owner,
        )
    finally:
        for entry in spawned:
            if is_running(entry):
                stop_entry(entry, STEP_GRACE)
            ledger.forget(entry.name)
    if digest:
        ledger.set_step_hash(node.name, digest)
    if data is not None and digest:
        why = data.save(digest)
        return f"ran (no snapshot: {why})" if why else "ran, snapshot saved"
    return outcome
