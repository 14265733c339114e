"""One-shot steps: a command or a Python callable, skipped when its cached outputs are current.

A step with ``inputs`` (globs) and ``outputs`` is up to date when every output exists and the
content hash of its inputs (plus its own definition) matches the hash recorded after its last
successful run.
"""

from __future__ import annotations

import hashlib
import importlib
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from harness.config import Step
from harness.environment import Instance, node_template
from harness.errors import Interrupted, StepFailed
from harness.processes import log_tail, spawn


@dataclass
class StepContext:
    """Handed to a ``call = "module:function"`` step."""

    inst: Instance
    name: str
    env: dict[str, str]
    cwd: Path
    log: IO[str]
    args: dict[str, Any] = field(default_factory=dict)

    @property
    def root(self) -> Path:
        return self.inst.stack.root

    def say(self, line: str) -> None:
        self.log.write(line.rstrip("\n") + "\n")
        self.log.flush()


def inputs_digest(inst: Instance, name: str, step: Step) -> str:
    h = hashlib.sha256(step.model_dump_json().encode())
    root = inst.stack.root
    files = sorted({p for pattern in step.inputs for p in root.glob(pattern) if p.is_file()})
    for path in files:
        h.update(str(path.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(path.read_bytes()).digest())
    return h.hexdigest()


def outputs_present(inst: Instance, step: Step) -> bool:
    root = inst.stack.root
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
    inst: Instance,
    name: str,
    *,
    env: dict[str, str],
    cwd: Path,
    cached_digest: str | None,
    cancel: threading.Event,
    on_spawn: Callable[[subprocess.Popen[bytes], list[str]], None],
    marker: str = "",
) -> tuple[str, str | None]:
    """Run one step; returns (outcome, digest) with outcome ``ran`` or ``up to date``."""
    step = inst.stack.steps[name]
    log_path = inst.log_path(name)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    digest = inputs_digest(inst, name, step) if step.inputs else None
    if digest and digest == cached_digest and outputs_present(inst, step):
        return "up to date", digest
    with open(log_path, "a", encoding="utf-8") as log:
        log.write(f"--- harness: step {name} at {time.strftime('%H:%M:%S')} ---\n")
        log.flush()
        if step.call:
            ctx = StepContext(inst, name, env, cwd, log, dict(step.args))
            try:
                load_callable(step.call, inst.stack.root)(ctx)
            except StepFailed:
                raise
            except Exception as exc:
                log.write(f"{type(exc).__name__}: {exc}\n")
                raise StepFailed(name, f"{step.call} failed: {exc}") from exc
            return "ran", digest
        assert step.run is not None
        command = node_template(inst, name, step.run, f"steps.{name}.run")
        argv = ["/bin/sh", "-c", command] if step.shell else shlex.split(command)
        log.flush()
        try:
            # The same spawn as services: own process group, output appended to the log, and
            # the run's HARNESS_OWNER marker, so anything the step leaves behind can be found.
            proc = spawn(argv, env=env, cwd=cwd, log_path=log_path, marker=marker)
        except OSError as exc:
            raise StepFailed(name, f"cannot run `{command}`: {exc.strerror or exc}") from None
        on_spawn(proc, argv)
        deadline = time.monotonic() + step.timeout
        while proc.poll() is None:
            if cancel.is_set():
                raise Interrupted(f"{name}: cancelled")
            if time.monotonic() > deadline:
                raise StepFailed(name, f"`{command}` did not finish within {step.timeout:.0f} s")
            try:
                proc.wait(timeout=0.05)
            except subprocess.TimeoutExpired:
                continue
    if proc.returncode:
        raise StepFailed(name, f"`{command}` exited with {proc.returncode}", log_tail(log_path))
    return "ran", digest
