"""Running ngspice in batch mode, reading what it produced, and classifying the outcome.

Outcomes: ``success``, ``objective_failed``, ``invalid_netlist``, ``non_convergence``, ``timeout``.

ngspice runs on a netlist already screened (``netlist.validate``: no commands, no includes from
outside the bundle), and besides: when the service is root, as an unprivileged uid of its own in
a sandbox (``services.common.sandbox``: no network, only ``/usr``, ``/etc`` and this run's
directories), with only the netlist and the files it includes (read-only) and a directory for its
output (its only writable place). It reads no start-up file but the one written here (``-n``
skips ``.spiceinit``/``spice.rc`` in the working directory and in ``$HOME``; ``SPICE_SCRIPTS``
points away from the distribution's ``spinit``), which only loads the code models.
"""

from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import signal
import stat
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.common import sandbox

OUTCOMES = ("success", "objective_failed", "invalid_netlist", "non_convergence", "timeout")
MEASURE_RE = re.compile(r"^\s*([A-Za-z_][\w]*)\s*=\s*([-+]?\d[\d.]*(?:[eE][-+]?\d+)?)", re.M)
MEASURE_FAILED_RE = re.compile(r"meas(?:ure)?\s+(?:\w+\s+)?([A-Za-z_]\w*)\s+failed", re.I)
NON_CONVERGENCE = re.compile(
    r"timestep too small|singular matrix|gmin stepping failed|source stepping failed"
    r"|no convergence|iteration limit reached|simulation\(s\) aborted",
    re.I,
)
INVALID = re.compile(
    r"^\s*error[: ]|unknown (?:subckt|model|device)|could not find|syntax error"
    r"|no such vector|circuit not parsed",
    re.I | re.M,
)


@dataclass
class Run:
    output: str
    returncode: int | None
    timed_out: bool
    raw_path: Path
    duration_s: float
    vectors: dict[str, list[float]] = field(default_factory=dict)


def with_control(netlist: str, raw_name: str) -> str:
    """Append a control block that runs the analyses and writes an ASCII raw file.

    ``.meas`` results need ``run`` inside a control block (ngspice skips them with ``-r``).
    """
    lines = [line for line in netlist.splitlines() if line.strip().lower() != ".end"]
    return "\n".join([*lines, ".control", "set filetype=ascii", "run", f"write {raw_name}", ".endc", ".end", ""])


# ngspice's only start-up file: the code models (XSPICE; POLY sources need spice2poly) from fixed
# paths, no search path for includes but the working directory and the including file's.
SPINIT = """* worker_heavy's ngspice start-up file: the only one ngspice reads (-n, SPICE_SCRIPTS)
alias exit quit
unset sourcepath
if $?xspice_enabled
{codemodels}
end
"""
LIMITS = {"RLIMIT_AS": 4 * 1024**3, "RLIMIT_FSIZE": 1024**3, "RLIMIT_NPROC": 256, "RLIMIT_NOFILE": 256}
SYSTEM = ("/usr/",)  # what the sandbox holds of the machine (besides /etc)


def spinit() -> str:
    models = sorted(glob.glob("/usr/lib/*/ngspice/*.cm") + glob.glob("/usr/lib/ngspice/*.cm"))
    return SPINIT.format(codemodels="\n".join(f" codemodel {m}" for m in models))


def layout(workdir: Path, netlist: str, path: str, files: dict[str, str], uid: int | None) -> dict[str, Path]:
    """This run's directories: ``bundle`` (the netlist, with the control block, at its own path,
    and the files it includes; root's, read-only to ngspice), ``out`` (ngspice's, for the raw
    file) and ``init`` (the start-up file; also ngspice's ``$HOME``, with nothing else in it)."""
    dirs = {name: workdir / name for name in ("bundle", "out", "init")}
    for directory in dirs.values():
        directory.mkdir(mode=0o755)
    if uid is not None:
        os.chown(dirs["out"], uid, uid)
        dirs["out"].chmod(0o700)
    (dirs["init"] / "spinit").write_text(spinit())
    raw = dirs["out"] / "output.raw"
    for name, text in {**files, path: with_control(netlist, str(raw))}.items():
        target = dirs["bundle"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return {**dirs, "netlist": dirs["bundle"] / path, "raw": raw}


def run_ngspice(
    netlist: str,
    workdir: Path,
    timeout_s: float,
    binary: str = "ngspice",
    on_start: Any = None,
    *,
    path: str = "circuit.cir",
    files: dict[str, str] | None = None,
    uid: int | None = None,
) -> Run:
    """Run the (validated) netlist, placed at ``path`` among the ``files`` it includes; as ``uid``
    in the sandbox when given (the service is root), else as the service's user."""
    workdir.mkdir(parents=True, exist_ok=True)
    where = layout(workdir, netlist, path, files or {}, uid)
    executable = shutil.which(binary)
    if executable is None:
        raise sandbox.SandboxError(f"{binary} is not installed")
    binds = {str(where["bundle"]): False, str(where["out"]): True, str(where["init"]): False}
    if not os.path.realpath(executable).startswith(SYSTEM):
        binds[os.path.dirname(os.path.realpath(executable))] = False
    env = {"PATH": "/usr/bin:/bin", "HOME": str(where["init"]), "SPICE_SCRIPTS": str(where["init"]), "LANG": "C"}
    if "HARNESS_OWNER" in os.environ:  # lets the harness find an ngspice left running
        env["HARNESS_OWNER"] = os.environ["HARNESS_OWNER"]
    log = workdir / "ngspice.log"
    t0 = time.monotonic()
    with open(log, "wb") as out:
        proc = sandbox.start(
            [os.path.realpath(executable), "-b", "-n", str(where["netlist"])],
            uid=uid,
            env=env,
            cwd=str(where["netlist"].parent),
            binds=binds,
            limits=LIMITS,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        if on_start is not None:
            on_start(proc)
        timed_out = False
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    raw = where["raw"]
    with contextlib.suppress(OSError):  # ngspice's own directory: a symlink there is not followed
        if not stat.S_ISREG(os.lstat(raw).st_mode):
            raw = workdir / "no-output.raw"
    run = Run(
        log.read_text(errors="replace"),
        None if timed_out else proc.returncode,
        timed_out,
        raw,
        round(time.monotonic() - t0, 3),
    )
    if run.raw_path.exists():
        run.vectors = read_ascii_raw(run.raw_path)
    return run


def read_ascii_raw(path: Path) -> dict[str, list[float]]:
    """The real vectors of an ngspice ASCII raw file (first plot only)."""
    names: list[str] = []
    values: list[list[float]] = []
    lines = path.read_text(errors="replace").splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("Variables:"):
            i += 1
            while i < len(lines) and lines[i].startswith(("\t", " ")) and not lines[i].startswith("Values"):
                parts = lines[i].split()
                if len(parts) >= 2:
                    names.append(parts[1])
                i += 1
            continue
        if line.startswith("Values:"):
            values = [[] for _ in names]
            i += 1
            column = 0
            while i < len(lines) and not lines[i].startswith(("Title:", "Plotname:")):
                parts = lines[i].split()
                if parts:
                    token = parts[-1].split(",")[0]
                    with contextlib.suppress(ValueError):
                        values[column].append(float(token))
                    column = (column + 1) % len(names)
                i += 1
            break
        i += 1
    return dict(zip(names, values, strict=False))


def measurements(output: str, declared: list[str]) -> tuple[dict[str, float], list[str]]:
    """Values of the netlist's own ``.meas`` names (other ``x = 1`` lines in the log are ignored)."""
    found = {
        m.group(1).lower(): float(m.group(2)) for m in MEASURE_RE.finditer(output) if m.group(1).lower() in declared
    }
    failed = sorted({m.group(1).lower() for m in MEASURE_FAILED_RE.finditer(output)})
    return found, failed


def evaluate(objectives: list[dict[str, Any]], found: dict[str, float]) -> list[dict[str, Any]]:
    results = []
    for obj in objectives:
        name = obj["measure"].lower()
        value = found.get(name)
        ok = (
            value is not None
            and (obj.get("min") is None or value >= obj["min"])
            and (obj.get("max") is None or value <= obj["max"])
        )
        reason = (
            ""
            if ok
            else (
                "not measured"
                if value is None
                else f"{value:g} outside [{obj.get('min', '-inf')}, {obj.get('max', 'inf')}]"
            )
        )
        results.append({**obj, "value": value, "passed": ok, "reason": reason})
    return results


def invalid_reason(output: str) -> str:
    """ngspice's error line with the lines that say what it is about: "Error on line 6 or its
    substitute:" alone names nothing; the offending line and "could not find a valid modelname"
    after it name the part or model."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for i, line in enumerate(lines):
        if INVALID.search(line):
            noise = ("simulation interrupted", "note:")
            context = [ln for ln in lines[i + 1 : i + 3] if not ln.lower().startswith(noise)]
            return " ".join([line, *context])[:500]
    return ""


def classify(run: Run, objective_results: list[dict[str, Any]]) -> tuple[str, str]:
    """(outcome, reason) from what ngspice printed and what the objectives say."""
    if run.timed_out:
        return "timeout", f"ngspice did not finish within the time limit ({run.duration_s:.1f} s)"
    converge = NON_CONVERGENCE.search(run.output)
    if converge:
        return "non_convergence", converge.group(0)
    invalid = INVALID.search(run.output)
    if invalid or not run.vectors:
        return "invalid_netlist", invalid_reason(run.output) or f"ngspice produced no results (exit {run.returncode})"
    failed = [r for r in objective_results if not r["passed"]]
    if failed:
        return "objective_failed", "; ".join(f"{r['measure']}: {r['reason']}" for r in failed)
    return "success", ""
