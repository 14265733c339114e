"""A suite run: the lifecycle composed (up the profile, test, tear down), always recorded.

Exit codes: 0 every selected test passed; 1 a test failed or errored, or none was selected;
2 the stack could not be brought up, or pytest refused the suite's arguments or files (a usage or
collection error: status "configuration error"); 130 interrupted. The record in
``logs/runs/<run_id>/`` is written in every case, including Ctrl-C and SIGTERM: the run fills
in its :class:`RunRecord` and hands it, in its last protected step, to ``persist`` (the
caller's: ``record.results.persist_run``), so this package needs nothing of how records are kept.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import os
import re
import signal
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.config.masking import mask_text
from harness.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_STACK_FAILED, EXIT_TESTS_FAILED, HarnessError, command_hint
from harness.plugin.protocol import COVERAGE_TESTS_VAR, DISRUPTIVE, GATE_FILE, WORKER_ENV_VAR
from harness.runtime.inspection import wait
from harness.runtime.lock import LOCK_TOKEN_VAR
from harness.runtime.session import Session
from harness.suite import coverage, isolation, plugin_copy
from harness.suite.command import PYTEST_EXIT, few_tests, looks_like_selection, plugin_config, test_command
from harness.suite.outcome import RunRecord, log_offsets, utc_now
from harness.suite.phases import (
    NO_TESTS,
    Phase,
    combine,
    disruptive_left,
    overall_exit,
    plan_phases,
    plugin_results,
    take_workers,
    worker_count,
)
from harness.suite.pytest_process import TestRun
from harness.suite.reruns import rerun_failed, verdict
from harness.suite.watch import Watch

# What pytest says when it refuses to run: "pytest: error: unrecognized arguments: ...", the
# summary's "ERROR tests/x.py - ModuleNotFoundError: ...", a traceback's "E   ImportError: ...".
ERROR_LINE = re.compile(r"^(ERROR\b|E\s+\w*(Error|Exception)\b)")
# argparse's own complaint ("python -m pytest: error: unrecognized arguments: ..."), which names the
# argument at fault: preferred over pytest's "ERROR: usage: ..." line, whichever pytest prints last.
USAGE_LINE = re.compile(r"^[^:]+: error: ")
Persist = Callable[[RunRecord, Mapping[str, str]], dict[str, Any]]


def start_watch(session: Session, services: Sequence[str], run_dir: Path) -> Watch:
    """Watch ``services`` while the tests run; restarts by policy go through the session's run."""
    orch = session.orch

    def restart(name: str) -> None:
        orch.up(session.run, [name], title=f"restart {name} (restart policy)", keep_on_failure=True)

    return Watch(
        services,
        entries=orch.ledger.entries,
        stopping=lambda: orch.ledger.read(lambda s: dict(s.stopping)),
        settings=lambda name: orch.plan.node(name).model,
        probe=lambda name, rec: orch.supervisor(name, rec).healthy(),
        restart=restart,
        count_restart=orch.ledger.count_restart,
        depends_on=lambda name: set(orch.plan.closure([name])) - {name},
        run_dir=run_dir,
    ).start()


def run_suite(
    session: Session,
    suite_name: str,
    pytest_args: Sequence[str],
    *,
    persist: Persist,
    shard: str | None = None,
    group_id: str | None = None,
    workers: str | None = None,
    fresh: bool = False,
    reruns: int | None = None,
    fail_on_flaky: bool = False,
    coverage_on: bool = False,
    failed_from: dict[str, Any] | None = None,
    impact_map: bool = True,
) -> RunRecord:
    """Run one suite inside an entered session; ``persist`` writes its record whatever happens.
    ``impact_map``: a full run with coverage on may make the suite's test impact map anew (not when
    it runs against another profile than its own: the map describes the suite as declared)."""
    orch, plan = session.orch, session.orch.plan
    suite = plan.stack.suites[suite_name]
    reuse, keep = plan.settings.reuse, plan.settings.keep
    try:
        backend = orch.backend
    except HarnessError:  # the same error comes back from `up`, and is recorded there
        backend = plan.settings.backend_for(plan.stack.stack.backend)
    record = RunRecord(
        plan.root, plan.runs_dir, plan.instance, suite_name, backend, suite.profile, argv=list(pytest_args)
    )
    record.own_dirs = [plan.root / plan.stack.stack.state_dir, plan.runs_dir.parent]
    record.failed_from = failed_from
    given, pytest_args = take_workers(pytest_args)  # `-n N` after `--` is the phases' worker count
    workers = given if given is not None else workers
    if workers is None and few_tests(pytest_args, plan.suites[suite_name].cwd):
        workers = "0"  # starting xdist workers would cost more than they save
    # A bad worker count is refused here, before a run directory exists.
    phases = plan_phases(suite.markers, worker_count(workers if workers is not None else suite.workers))
    reruns = suite.reruns if reruns is None else reruns
    if not 0 <= reruns <= 10:
        raise HarnessError(f"--reruns {reruns}: give 0 to 10 (reruns of the failed tests, on the same stack)")
    fail_on_flaky = fail_on_flaky or suite.fail_on_flaky
    covered = coverage.for_run(plan, suite_name, coverage_on, reuse=reuse, keep=keep)
    # Every test of the suite runs: its coverage makes the test impact map anew (suite/impact.py).
    narrowed = coverage.narrows(pytest_args, plan.suites[suite_name].cwd)
    full = impact_map and not shard and failed_from is None and not narrowed
    if shard:
        record.shard = shard
        record.group_id = group_id or record.run_id  # the CLI resolves it (cli/ci.py)
    record.dir.mkdir(parents=True, exist_ok=True)
    record.log_dir = plan.log_dir
    record.log_offsets = log_offsets(plan.log_dir)
    config = plugin_config(
        plan,
        suite_name,
        run_dir=str(record.dir),
        run_id=record.run_id,
        suite=suite_name,
        shard=shard or "",
        durations=str(plan.root / plan.stack.tests.durations) if shard and plan.stack.tests.durations else "",
    )
    # The suite's pytest is not an xdist worker of whatever pytest ran the harness (its own
    # workers set these again): inherited, they made the plugin blame errors by session id only.
    env = {k: v for k, v in plan.env.items() if not k.startswith("PYTEST_XDIST_")}
    env.update(config.to_env())
    env.update(plan.suites[suite_name].env)
    env[LOCK_TOKEN_VAR] = session.lock_token
    if suite.plugin:
        where = str(plugin_copy.plugin_dir(plan.state_dir))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (where, env.get("PYTHONPATH", "")) if p)
    env["PATH"] = os.pathsep.join([*plan.suites[suite_name].path, env.get("PATH", os.defpath)])
    isolate = isolation.for_run(suite.isolate, phases[0].workers, orch.console)
    if isolate:
        env[WORKER_ENV_VAR] = str(isolation.env_file(orch, record.run_id))
    isolated: isolation.Isolation | None = None
    measured: coverage.Measured | None = None
    if covered:  # the services start with coverage.py's start-up hook: the session's plan says so
        orch.plan, measured = coverage.prepare(plan, suite_name, covered, record.dir, plan.state_dir)
        env[COVERAGE_TESTS_VAR] = str(measured.tests_dir)  # the plugin names the running test there
    nodes = plan.profile_nodes(suite.profile)
    started_by_us = False
    stage = "up"
    timeline = session.run.timeline
    watch: Watch | None = None
    last_lines: collections.deque[str] = collections.deque(maxlen=5)

    def test_run(phase: Phase, gate_file: Path | None = None, args: Sequence[str] | None = None) -> TestRun:
        given = pytest_args if args is None else args
        argv = test_command(plan, suite_name, given, phase.junit(record.dir), phase)
        phase_env = {**env, **dataclasses.replace(config, phase=phase.name).to_env()}
        return TestRun(suite_name, argv, plan.suites[suite_name].cwd, phase_env, orch.console, last_lines, gate_file)

    # pytest starts (interpreter, plugins, conftest) while the stack comes up; tests wait for it.
    early: TestRun | None = None
    ran: list[Phase] = []  # phases whose pytest started: an interrupted run still records what they finished
    t0 = t_tests = time.monotonic()
    try:
        if suite.plugin and suite.early_start and not reuse:
            early = test_run(phases[0], record.dir / GATE_FILE)
            early.start()
        if reuse:
            stage = "reuse"
            orch.console.print(f"--reuse: testing the stack already up on instance {plan.instance}")
            wait(orch, [n for n in nodes if plan.node(n).is_service], timeout=30)
            timeline.add("reuse check", "ok", t0)
        else:
            started_by_us = True
            session.up(nodes, fresh=fresh, complete=keep)  # until the teardown: a killed harness's are reaped
        if isolate:
            stage = "isolate"
            isolated = isolation.prepare(session, suite_name, isolate, phases[0].workers, Path(env[WORKER_ENV_VAR]))
            record.isolation = {"services": isolate, "workers": isolated.workers}
        stage = "tests"
        if suite.watch:
            watch = start_watch(session, [n for n in nodes if plan.node(n).is_service], record.dir)
        t_tests = t_tests if early is not None else time.monotonic()
        codes = []
        for n, phase in enumerate(phases):
            if phase.name == DISRUPTIVE and not disruptive_left(record.dir):
                phases = phases[:n]  # none to run alone: no pytest started for nothing
                break
            ran.append(phase)
            codes.append((early if n == 0 and early is not None else test_run(phase)).wait())
            if codes[-1] not in (0, 1, NO_TESTS) or _stopped_early(record.dir, phase.name):
                break  # collection errors, or a service died with stop-on-death: not the next phase
        combine(record.dir, phases)
        ran = []  # combined: what follows (reruns, quarantine) builds on it
        code = overall_exit(codes) if len(phases) > 1 else codes[0]
        if code == 1 and reruns and not _stopped_early(record.dir):
            own = [a for a in pytest_args if not looks_like_selection(a, plan.suites[suite_name].cwd)]
            rerun_failed(reruns, watch, record.dir, lambda phase, ids: test_run(phase, args=[*own, *ids]).wait())
        if code == 1:
            code = verdict(record.dir, plan.stack.tests.quarantine, fail_on_flaky, orch.console)
        timeline.add("tests", "ok" if code == 0 else "failed", t_tests, PYTEST_EXIT.get(code, f"exit {code}"))
        record.exit_code = EXIT_OK if code == 0 else EXIT_TESTS_FAILED
        record.status = "passed" if code == 0 else "failed"
        stopped = _stopped_early(record.dir)
        if stopped:
            record.failure = f"pytest: {stopped}; the remaining tests are listed as not run"
            orch.console.print(f"[red]{record.failure}[/red]")
        elif code not in (0, 1):
            said = (
                [ln for ln in last_lines if USAGE_LINE.search(ln)]
                or [ln for ln in last_lines if ERROR_LINE.search(ln)]
                or list(last_lines)
            )
            cause = said[-1] if said else ""
            # 2 here is not our Ctrl-C (that raises KeyboardInterrupt): errors while collecting.
            reason = {2: "collection errors", 4: "usage error"}.get(code) or PYTEST_EXIT.get(code, f"exit {code}")
            record.failure = f"pytest: {reason}" + (f": {cause.strip()}" if cause else "")
            if code in (2, 4):  # the suite's arguments or files are at fault, not a test
                record.exit_code, record.status = EXIT_STACK_FAILED, "configuration error"
            elif code == 3:  # pytest or a plugin crashed: no test's verdict either
                record.exit_code, record.status = EXIT_STACK_FAILED, "error"
            orch.console.print(f"[red]{record.failure}[/red]", highlight=False)
    except HarnessError as exc:
        record.exit_code = EXIT_INTERRUPTED if exc.exit_code == EXIT_INTERRUPTED else EXIT_STACK_FAILED
        record.status = "interrupted" if record.exit_code == EXIT_INTERRUPTED else "error"
        record.failure, record.failed_stage = str(exc), timeline.first_failed() or stage
        orch.console.print(f"[red]error:[/red] {mask_text(str(exc), env)}", highlight=False)
    except KeyboardInterrupt:
        record.exit_code, record.status, record.failed_stage = EXIT_INTERRUPTED, "interrupted", stage
        record.failure = f"interrupted during {stage}"
        orch.console.print(f"[yellow]interrupted during {stage}; tearing down[/yellow]")
    finally:
        closing = mask_text(record.failure or f"stopped during {stage}", env)
        _finish(
            session,
            record,
            env,
            persist,
            teardown=started_by_us and not keep,
            kept=started_by_us and keep,
            first=lambda: _wind_down(early, closing, watch, record, ran, session, isolated),
            then=lambda: coverage.finish(record, measured, session, phases, full=full) if measured else None,
        )
    return record


def _wind_down(
    early: TestRun | None,
    reason: str,
    watch: Watch | None,
    record: RunRecord,
    uncombined: Sequence[Phase],
    session: Session,
    isolated: isolation.Isolation | None,
) -> None:
    """A pytest still waiting at the gate is told why and seen gone; the workers' copies dropped;
    the watch's findings kept; the phases an interrupt cut short combined, so the record holds
    every test they finished."""
    if early is not None:
        early.close(reason)
    if isolated is not None:
        try:
            isolation.drop(session.orch, isolated)
        except HarnessError as exc:
            session.orch.console.print(f"[yellow]{exc}[/yellow]", highlight=False)
    if uncombined:  # a file pytest left half-written costs only itself: the rest is still recorded
        with contextlib.suppress(OSError, ValueError, SyntaxError):
            combine(record.dir, uncombined)
    if watch is not None:
        watch.stop()
        watch.attribute()
        record.events = [asdict(e) for e in watch.events]
        record.resources = watch.resources()


def _stopped_early(run_dir: Path, phase: str = "") -> str:
    """Why the plugin stopped the run (or the phase) before its end (a service died...), or ''."""
    stopped = plugin_results(run_dir, phase).get("stopped") or []
    return str(stopped[0]) if stopped else ""


def _finish(
    session: Session,
    record: RunRecord,
    env: dict[str, str],
    persist: Persist,
    *,
    teardown: bool,
    kept: bool,
    first: Callable[[], None],
    then: Callable[[], None],
) -> None:
    """``first``, tear down (unless kept), ``then``, write the record; a second Ctrl-C cannot skip any of it."""
    orch, timeline = session.orch, session.run.timeline
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        first()
        if teardown:
            t0 = time.monotonic()
            try:
                session.teardown()
                timeline.add("teardown", "ok", t0)
                session.finish()  # what it could not stop stays the run's: the next command reaps it
            except HarnessError as exc:
                timeline.add("teardown", "failed", t0, str(exc))
            kept_up = session.preexisting()
            if kept_up:
                orch.console.print(f"left running (they were up before this run): {', '.join(kept_up)}")
        elif kept:
            orch.console.print(
                f"stack left running on instance {orch.plan.instance}: "
                f"{command_hint('down', orch.plan.instance)} stops it"
            )
        record.pytest = plugin_results(record.dir)  # the tests' pytest processes have all ended
        then()
        record.stages = [asdict(s) for s in timeline.stages]
        record.completed_at = utc_now()
        record.data = persist(record, env)
    finally:
        signal.signal(signal.SIGINT, old)
