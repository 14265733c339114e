"""A suite run: the lifecycle tasks composed (up the profile, test, down), always recorded.

Exit codes: 0 every selected test passed; 1 a test failed or errored, or none was selected;
2 the stack could not be brought up (nothing ran); 130 interrupted. The record in
``logs/runs/<run_id>/`` is written in every case, including Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

from harness.backends import requested_backend
from harness.environment import mask_text, node_template
from harness.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_STACK_FAILED, EXIT_TESTS_FAILED, HarnessError
from harness.lifecycle import Harness, sigterm_as_interrupt, stage_dicts
from harness.results import RunRecord, collect_logs, log_offsets, utc_now, write_record
from harness.state import LOCK_TOKEN_VAR

PYTEST_EXIT = {
    0: "passed",
    1: "tests failed",
    2: "interrupted",
    3: "pytest internal error",
    4: "pytest usage error",
    5: "no tests were selected",
}


def looks_like_selection(arg: str, root: Path) -> bool:
    """A pytest argument naming a file, directory or node id (which replaces the suite's paths)."""
    if arg.startswith("-"):
        return False
    return "::" in arg or (root / arg).exists()


def test_command(h: Harness, suite_name: str, pytest_args: Sequence[str], junit: Path) -> list[str]:
    suite = h.stack.suites[suite_name]
    argv = [
        node_template(h.inst, suite_name, part, f"suites.{suite_name}.command") if "{" in part else part
        for part in suite.command
    ]
    if suite.markers:
        argv += ["-m", suite.markers]
    if not any(looks_like_selection(a, h.stack.root) for a in pytest_args):
        argv += list(suite.paths)
    argv += [*suite.args, f"--junitxml={junit}", "-p", "harness.pytest_plugin", *pytest_args]
    return argv


def run_tests(h: Harness, suite_name: str, argv: list[str], env: dict[str, str]) -> int:
    """Run the test command in the foreground; Ctrl-C reaches it, SIGTERM is passed on as SIGINT."""
    suite = h.stack.suites[suite_name]
    cwd = (h.stack.root / suite.cwd) if suite.cwd else h.stack.root
    extra = [str((h.stack.root / p).resolve()) for p in suite.path]
    if extra:
        env["PATH"] = os.pathsep.join([*extra, env.get("PATH", os.defpath)])
    h.console.print(f"[bold]$ {mask_text(' '.join(argv), env)}[/bold]", highlight=False)
    try:
        proc = subprocess.Popen(argv, cwd=cwd, env=env)
    except OSError as exc:
        raise HarnessError(f"suite {suite_name}: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    try:
        return proc.wait()
    except KeyboardInterrupt:
        # The terminal's Ctrl-C reached pytest too; a SIGTERM to us did not: pass it on.
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=8)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        raise


def run_suite(
    h: Harness, suite_name: str, pytest_args: Sequence[str], *, reuse: bool = False, keep: bool = False
) -> int:
    stack = h.stack
    if suite_name not in stack.suites:
        raise HarnessError(f"unknown suite '{suite_name}' (known: {', '.join(stack.suites) or 'none'})")
    suite = stack.suites[suite_name]
    try:
        backend = h.backend
    except HarnessError:
        backend = requested_backend()  # the same error comes back from `up`, and is recorded there
    record = RunRecord(h.inst, suite_name, backend, argv=list(pytest_args))
    record.dir.mkdir(parents=True, exist_ok=True)
    offsets = log_offsets(h.inst)
    env = h.env()
    env.update(HARNESS_RUN_ID=record.run_id, HARNESS_RUN_DIR=str(record.dir), HARNESS_SUITE=suite_name)
    env.update({k: v for k, v in suite.env.items()})
    nodes = stack.profile_nodes(suite.profile)
    started_by_us = False
    stage = "up"
    t0 = time.monotonic()
    locked = False
    try:
        with sigterm_as_interrupt():
            h.lock.acquire(f"suite {suite_name}")
            locked = True
            env[LOCK_TOKEN_VAR] = h.lock.token
            if reuse:
                stage = "reuse"
                h.console.print(f"--reuse: testing the stack already up on instance {h.inst.number}")
                h.wait([n for n in nodes if n in stack.services], timeout=30)
                h.timeline.add("reuse check", "ok", t0)
            else:
                started_by_us = True
                h.up(nodes, what=f"suite {suite_name}")
            stage = "tests"
            t_tests = time.monotonic()
            argv = test_command(h, suite_name, pytest_args, record.dir / "junit.xml")
            code = run_tests(h, suite_name, argv, env)
            h.timeline.add("tests", "ok" if code == 0 else "failed", t_tests, PYTEST_EXIT.get(code, f"exit {code}"))
            record.exit_code = EXIT_OK if code == 0 else EXIT_TESTS_FAILED
            record.status = "passed" if code == 0 else "failed"
            if code not in (0, 1):
                # 2 here is not our Ctrl-C (that raises KeyboardInterrupt): collection errors.
                reason = (
                    "pytest stopped early (collection errors?)" if code == 2 else PYTEST_EXIT.get(code, f"exit {code}")
                )
                record.failure = f"pytest: {reason}"
                h.console.print(f"[red]{record.failure}[/red]")
    except HarnessError as exc:
        record.exit_code = EXIT_INTERRUPTED if exc.exit_code == EXIT_INTERRUPTED else EXIT_STACK_FAILED
        record.status = "interrupted" if record.exit_code == EXIT_INTERRUPTED else "error"
        record.failure, record.failed_stage = str(exc), _failed_stage(h, stage)
        h.console.print(f"[red]error:[/red] {mask_text(str(exc), env)}", highlight=False)
    except KeyboardInterrupt:
        record.exit_code, record.status, record.failed_stage = EXIT_INTERRUPTED, "interrupted", stage
        record.failure = f"interrupted during {stage}"
        h.console.print(f"[yellow]interrupted during {stage}; tearing down[/yellow]")
    finally:
        try:
            _finish(h, record, env, offsets, teardown=started_by_us and not keep, kept=started_by_us and keep)
        finally:
            if locked:
                h.lock.release()
    return record.exit_code


def _failed_stage(h: Harness, default: str) -> str:
    failed = [s.name for s in h.timeline.stages if s.status == "failed"]
    return failed[0] if failed else default


def _finish(
    h: Harness, record: RunRecord, env: dict[str, str], offsets: dict[str, int], *, teardown: bool, kept: bool
) -> None:
    """Tear down (unless kept), then write the record; a second Ctrl-C cannot skip the record."""
    from harness import sinks

    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        if teardown:
            t0 = time.monotonic()
            try:
                h.stop_started()
                h.timeline.add("teardown", "ok", t0)
            except HarnessError as exc:
                h.timeline.add("teardown", "failed", t0, str(exc))
            kept_up = h.preexisting()
            if kept_up:
                h.console.print(f"left running (they were up before this run): {', '.join(kept_up)}")
        elif kept:
            h.console.print(f"stack left running on instance {h.inst.number}: `invoke down` stops it")
        collect_logs(record, env, offsets)  # after teardown, so shutdown messages are in the copy
        pytest_json = record.dir / "pytest-results.json"
        if pytest_json.exists():
            record.pytest = json.loads(pytest_json.read_text())
        record.stages = stage_dicts(h.timeline)
        record.completed_at = utc_now()
        data = write_record(record, env)
        sinks.send(data, record.dir, env, h.console)
        _summary(h, data)
    finally:
        signal.signal(signal.SIGINT, old)


def _summary(h: Harness, data: dict[str, object]) -> None:
    tests = data["tests"]
    assert isinstance(tests, dict)
    h.console.print(
        f"[bold]{data['suite']}: {data['status']}[/bold] (exit {data['exit_code']}) - "
        f"{tests['passed']} passed, {tests['failed']} failed, {tests['errors']} errors, "
        f"{tests['skipped']} skipped; results in {h.stack.stack.log_dir}/runs/{data['run_id']}/"
    )
