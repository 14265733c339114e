"""What the benchmark scripts share: running the harness timed, and reading what a run recorded.

Every script runs ``python -m harness`` as a user would (a process of its own, its output kept),
times it with ``perf_counter`` and reads the run's record from ``logs/latest``; a failure ends the
script with the command and its output, never a figure measured from a failed run.
"""

from __future__ import annotations

import json
import os
import signal
import statistics
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Ran:
    """One harness command: its wall time and what it printed."""

    seconds: float
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr

    def tail(self, chars: int = 3000) -> str:
        return self.output[-chars:]


def harness(
    instance: str,
    *args: str,
    stack: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
    timeout: float = 900,
) -> Ran:
    """``python -m harness --instance N ARGS`` (on ``stack``, run from its directory; else this
    checkout's), timed. ``check``: a non-zero exit ends the script, saying which command failed."""
    argv = [sys.executable, "-m", "harness", *(("--stack", str(stack)) if stack else ()), "--instance", instance]
    said = f"`harness {' '.join(args)}`"
    t0 = time.perf_counter()
    with subprocess.Popen(
        [*argv, *args],
        cwd=stack.parent if stack else ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    ) as proc:
        try:
            out, err = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            # Ctrl-C, as a user would: the harness tears down what it started before it exits.
            proc.send_signal(signal.SIGINT)
            try:
                out, err = proc.communicate(timeout=120)
            except subprocess.TimeoutExpired:
                proc.kill()
                out, err = proc.communicate()
            raise SystemExit(f"{said} took over {timeout:.0f} s: interrupted\n{(out + err)[-3000:]}") from None
    ran = Ran(time.perf_counter() - t0, proc.returncode, out, err)
    if check and ran.code:
        raise SystemExit(f"{said} failed ({ran.code}):\n{ran.tail()}")
    return ran


def latest_record(root: Path = ROOT) -> dict[str, Any]:
    """results.json of the latest suite run under ``root``'s logs."""
    data: dict[str, Any] = json.loads((root / "logs" / "latest" / "results.json").read_text())
    return data


def outcomes(record: Mapping[str, Any]) -> dict[str, str]:
    """Each test's outcome in a run record, by node id."""
    return {c["nodeid"]: c["outcome"] for c in record["tests"]["cases"]}


def session_time(junit: Path) -> float:
    """pytest's own session time, as junit.xml records it."""
    root = ET.parse(junit).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None, f"{junit}: no testsuite"
    return float(suite.get("time", "nan"))


def serial_tail(record: Mapping[str, Any]) -> float:
    """The seconds a run spends on tests that cannot run beside others: grouped and disruptive."""
    cases = record["tests"]["cases"]
    return float(sum(c["duration_s"] for c in cases if "@" in c["nodeid"] or "disruptive" in c.get("markers", [])))


def medians(runs: Mapping[str, Sequence[tuple[float, float]]]) -> dict[str, tuple[float, float]]:
    """Each way's rounds of two figures (wall time and pytest's, say): the median of each figure."""
    return {k: (statistics.median(a for a, _ in v), statistics.median(b for _, b in v)) for k, v in runs.items()}
