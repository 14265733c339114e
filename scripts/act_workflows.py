"""Run the pull-request workflow for real under act, offline, on this machine (``nox -s workflows``).

    python scripts/act_workflows.py [--act PATH] [--out DIR] [--scenario pass|fail|both] [--job JOB]
        [--skip-job JOB ...] [--keep]

Two runs of .github/workflows/pull-request.yml, each in act's self-hosted mode (the jobs run on
this machine: a Debian 12 host, where the workflow leaves its ``container:`` out, since the event
handed to act says ``act: true``):

- ``pass``: every job (lint, tests, the P0 shards, frontend, the merge), less any ``--skip-job``.
  Each job must succeed, and the merge job's step summary must hold every test of the shards'
  records exactly once.
- ``fail``: the P0 shards and the merge, with a test that fails on purpose added to P0
  (tests/harness/failing/test_deliberate_failure.py). The workflow must fail, the shard that ran
  it too, and both that shard's job and the merge job must annotate the test at its file and line
  (``::error file=...,line=...``, which the harness prints under GitHub Actions).

What act is given, and why:

- a snapshot of this working tree (git's tracked and untracked files, ignored ones left out) as
  its repository: act's checkout copies it into each job's workspace;
- ``-P ubuntu-24.04=-self-hosted``, ``--concurrent-jobs 1``, and the workflow with
  ``max-parallel: 1`` added to each matrix (the only change made to it): one job at a time, since
  the jobs share this machine's Python and ports (on GitHub each job has its own container);
- a Python of its own (a venv first on PATH): what the jobs' ``setup-machine.sh`` installs goes
  there, not into the machine's Python;
- actions/upload-artifact@v4 and actions/download-artifact@v4 mapped to the stand-ins in
  .github/act/ (``--local-repository``), with scripts/act_artifacts.py beside each; checkout is
  act's own (a copy of the repository); nothing is fetched from GitHub;
- its artifact server on 127.0.0.1 at a free port, storing under the run's work dir;
- ``--json`` logs, kept in ``--out`` (one file per run) and read for the checks above.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKFLOW = ".github/workflows/pull-request.yml"
STAND_INS = {"actions/upload-artifact@v4": "upload-artifact", "actions/download-artifact@v4": "download-artifact"}
FAILING_TEST = "tests/harness/failing/test_deliberate_failure.py"
FAILING_COPY = "tests/integration/architecture_p0/test_zz_deliberate_failure.py"
FAILING_NAME = "test_deliberate_failure_shows_backend_logs"


@dataclass
class Run:
    """What one act run said: its exit code, each job's result, summaries, annotations."""

    code: int
    seconds: float
    results: dict[str, str] = field(default_factory=dict)  # job (with matrix suffix) -> success/failure
    summaries: dict[str, str] = field(default_factory=dict)
    errors: list[tuple[str, str]] = field(default_factory=list)  # (job, raw ::error line)
    artifacts: Path = Path()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def snapshot(dest: Path, *, failing: bool, skipped: tuple[str, ...] = ()) -> None:
    """The working tree's files as a repository of one commit (act reads its sha and ref).

    ``skipped`` jobs are taken out of the workflow (no other job needs them): act has no option
    to leave a job out, only ``-j`` to run one.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        src = ROOT / name
        if src.is_file():  # deleted but still tracked: left out
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / name, follow_symlinks=False)
    workflow = (dest / WORKFLOW).read_text()
    serial, count = re.subn(r"^(\s+)strategy:\n", r"\1strategy:\n\1  max-parallel: 1\n", workflow, flags=re.M)
    assert count, f"no strategy in {WORKFLOW}: the act run would run matrix jobs side by side"
    for job in skipped:
        serial, count = re.subn(rf"^  {re.escape(job)}:\n(?:(?:    .*)?\n)*", "", serial, flags=re.M)
        assert count == 1, f"no job {job!r} in {WORKFLOW}"
        assert not re.search(rf"^\s+needs:.*\b{re.escape(job)}\b", serial, flags=re.M), f"a job needs {job!r}"
    (dest / WORKFLOW).write_text(serial)
    if failing:
        shutil.copy2(ROOT / FAILING_TEST, dest / FAILING_COPY)
    git = ["git", "-c", "user.name=act", "-c", "user.email=act@localhost", "-c", "init.defaultBranch=main"]
    for argv in (["init", "-q"], ["add", "-A"], ["commit", "-q", "--no-verify", "-m", "snapshot for act"]):
        subprocess.run([*git, *argv], cwd=dest, check=True)


def stand_ins(dest: Path) -> list[str]:
    """The --local-repository arguments: each stand-in's action.yml with act_artifacts.py beside it."""
    args = []
    for action, folder in STAND_INS.items():
        where = dest / folder
        where.mkdir(parents=True)
        shutil.copy2(ROOT / ".github" / "act" / folder / "action.yml", where / "action.yml")
        shutil.copy2(ROOT / "scripts" / "act_artifacts.py", where / "act_artifacts.py")
        args += ["--local-repository", f"{action}={where}"]
    return args


def runner_python(dest: Path) -> Path:
    """A venv for the jobs' own installs (setup-machine.sh's pip), its bin/ first on their PATH."""
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(dest)], check=True)
    return dest / "bin"


def job_env(python_bin: Path) -> dict[str, str]:
    """This process's environment, less what a surrounding nox session or harness run set."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NOX_", "HARNESS_", "GITHUB_", "RUNNER_", "ACTIONS_"))
        # nox's TMPDIR is its session's tmp dir, deep in this checkout; a PYTHONPATH would import
        # this checkout's code in the jobs instead of their workspace's
        and k not in ("VIRTUAL_ENV", "TMPDIR", "PYTHONPATH")
    }
    venv = os.environ.get("VIRTUAL_ENV")
    path = [p for p in env.get("PATH", "").split(os.pathsep) if not (venv and p.startswith(venv))]
    env["PATH"] = os.pathsep.join([str(python_bin), *path])
    env["ACT_DISABLE_VERSION_CHECK"] = "1"  # act would ask its notices service
    return env


def run_act(act: str, work: Path, name: str, repo: Path, out: Path, job: str, run_id: int) -> Run:
    """One act run of the workflow; its JSON log kept in ``out/<name>.jsonl`` and echoed as text."""
    event = work / f"{name}-event.json"
    pull_request = {"number": 1, "head": {"ref": "act"}, "base": {"ref": "main"}}
    event.write_text(json.dumps({"act": True, "pull_request": pull_request}))
    artifacts = work / f"{name}-artifacts"
    port = free_port()
    argv = [
        act, "pull_request",
        "-C", str(repo), "-W", str(repo / WORKFLOW), "-e", str(event),
        "-P", "ubuntu-24.04=-self-hosted",
        "--concurrent-jobs", "1",
        "--action-cache-path", str(work / "cache"),
        "--artifact-server-path", str(artifacts),
        "--artifact-server-addr", "127.0.0.1",
        "--artifact-server-port", str(port),
        "--no-cache-server",
        "--env", f"GITHUB_RUN_ID={run_id}",
        *stand_ins(work / f"{name}-actions"),
        *(["-j", job] if job else []),
        "--json",
    ]  # fmt: skip
    print(f"act ({name}): {' '.join(argv)}", flush=True)
    log = out / f"{name}.jsonl"
    started = time.monotonic()
    run = Run(code=0, seconds=0.0, artifacts=artifacts / str(run_id))
    env = job_env(work / "python" / "bin")
    with (
        log.open("w") as kept,
        subprocess.Popen(argv, cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as proc,
    ):
        assert proc.stdout is not None
        for line in proc.stdout:
            kept.write(line)
            read(line, run)
        run.code = proc.wait()
    run.seconds = time.monotonic() - started
    return run


def read(line: str, run: Run) -> None:
    """Echo one line of act's JSON log as text, and keep what the checks need."""
    try:
        entry: dict[str, Any] = json.loads(line)
    except ValueError:
        print(line.rstrip(), flush=True)
        return
    matrix = entry.get("matrix") or {}
    job = str(entry.get("jobID") or "act") + "".join(f"-{v}" for v in matrix.values())
    msg = str(entry.get("msg", "")).rstrip()
    print(f"[{job}] {msg}", flush=True)
    if entry.get("jobResult"):
        run.results[job] = str(entry["jobResult"])
    if entry.get("command") == "summary":
        run.summaries[job] = run.summaries.get(job, "") + str(entry.get("content", ""))
    if entry.get("command") == "error":
        run.errors.append((job, str(entry.get("raw", msg)).strip()))


def shard_cases(run: Run) -> list[str]:
    """The node ids in the P0 shards' records, as uploaded to act's artifact server."""
    ids = []
    for archive in sorted(run.artifacts.glob("p0-shard-*/*.zip")):
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                if member.endswith("/results.json") and member.count("/") == 1:
                    ids += [c["nodeid"] for c in json.loads(zf.read(member))["tests"]["cases"]]
    return ids


def check_pass(run: Run, skipped: tuple[str, ...]) -> list[str]:
    problems = []
    if run.code != 0:
        problems.append(f"act exited {run.code}")
    failed = sorted(job for job, result in run.results.items() if result != "success")
    if failed:
        problems.append(f"jobs not successful: {', '.join(f'{j} ({run.results[j]})' for j in failed)}")
    for needed in ("lint", "tests", "p0-1", "p0-2", "frontend", "p0-merge"):
        if needed not in run.results and needed not in skipped:
            problems.append(f"job {needed} did not run")
    summary = next((text for job, text in run.summaries.items() if job.startswith("p0-merge")), "")
    ids = shard_cases(run)
    if not ids:
        problems.append("no test in the shards' artifacts")
    if not summary:
        problems.append("the merge job wrote no step summary")
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        problems.append(f"tests in both shards: {twice}")
    wrong = {i: summary.count(f"`{i}`") for i in set(ids) if summary.count(f"`{i}`") != 1}
    if wrong:
        problems.append(f"tests not in the merge job's summary exactly once: {wrong}")
    if not wrong:
        print(f"check pass: {len(set(ids))} tests across the shards, each once in the merge job's summary", flush=True)
    return problems


def check_fail(run: Run) -> list[str]:
    problems = []
    if run.code == 0:
        problems.append("act exited 0 with a failing test in P0")
    if run.results.get("p0-merge") != "failure":
        problems.append(f"the merge job did not fail: {run.results.get('p0-merge')}")
    if not any(job.startswith("p0-") and job != "p0-merge" and r == "failure" for job, r in run.results.items()):
        problems.append(f"no P0 shard failed: {run.results}")
    # The harness annotates: the shard's suite run its own failure, the merge every shard's.
    named = [(job, raw) for job, raw in run.errors if FAILING_NAME in raw and f"file={FAILING_COPY},line=" in raw]
    jobs = {job for job, _ in named}
    if not any(job.startswith("p0-merge") for job in jobs):
        problems.append(f"the merge job has no ::error annotation of {FAILING_NAME} at its file and line: {run.errors}")
    if not any(job.startswith("p0-") and not job.startswith("p0-merge") for job in jobs):
        problems.append(f"the shard that ran {FAILING_NAME} did not annotate it with its file and line: {run.errors}")
    for job, raw in named:
        print(f"check fail: {job} annotated: {raw}", flush=True)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--act", default=shutil.which("act") or "act")
    parser.add_argument("--out", type=Path, default=ROOT / "logs" / "act")
    parser.add_argument("--scenario", choices=("pass", "fail", "both"), default="both")
    parser.add_argument("--job", default="", help="the pass run: only this job and those it needs, unchecked")
    parser.add_argument(
        "--skip-job", action="append", default=[], metavar="JOB",
        help="the pass run: leave this job out of the workflow (repeatable)",
    )  # fmt: skip
    parser.add_argument("--keep", action="store_true", help="keep the work dir (snapshots, artifacts, act's cache)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    # Short and world-readable: the jobs' workspaces are below it, and PostgreSQL (run as its own
    # user) needs to reach its data and socket there (a unix socket path fits 107 bytes).
    work = Path(tempfile.mkdtemp(prefix="act-", dir="/tmp"))
    work.chmod(0o755)
    problems: dict[str, list[str]] = {}
    timings: dict[str, float] = {}
    try:
        started = time.monotonic()
        runner_python(work / "python")
        run_id = int(time.time())
        scenarios = ["pass", "fail"] if args.scenario == "both" else [args.scenario]
        for n, name in enumerate(scenarios):
            repo = work / f"{name}-repo"
            repo.mkdir()
            skipped = tuple(args.skip_job) if name == "pass" else ()
            snapshot(repo, failing=name == "fail", skipped=skipped)
            job = args.job if name == "pass" else "p0-merge"
            run = run_act(args.act, work, name, repo, args.out, job, run_id + n)
            timings[name] = run.seconds
            for job, text in run.summaries.items():
                (args.out / f"{name}-{job.replace(' ', '_')}-summary.md").write_text(text)
            if name == "pass" and args.job:
                problems[name] = [f"act exited {run.code}"] if run.code else []
            else:
                problems[name] = check_pass(run, skipped) if name == "pass" else check_fail(run)
            print(f"act ({name}): exit {run.code} in {run.seconds:.0f} s; jobs: {run.results}", flush=True)
        timings["total"] = time.monotonic() - started
    finally:
        if args.keep:
            print(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    print("timings: " + ", ".join(f"{k} {v:.0f} s" for k, v in timings.items()), flush=True)
    bad = {k: v for k, v in problems.items() if v}
    for name, found in bad.items():
        for problem in found:
            print(f"workflows ({name}): {problem}", file=sys.stderr, flush=True)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
