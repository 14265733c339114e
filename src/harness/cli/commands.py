"""What each command does: a session over the orchestrator, and the typed result turned into text.

These are the edges: the only place a :class:`StopReport` or :class:`StatusRow` becomes a line on
the terminal, and an outcome becomes an exit code.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console

from harness.config.settings import Settings
from harness.errors import EXIT_INTERRUPTED, HarnessError, command_hint
from harness.host.files import write_json

if TYPE_CHECKING:
    from harness.runtime.orchestrator import Orchestrator
    from harness.runtime.plan import Plan


class App:
    """What a command works with: its settings, and the plan and orchestrator built from them."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings, self.console = settings, console

    @cached_property
    def plan(self) -> Plan:
        from harness.runtime.plan import load_plan

        plan = load_plan(self.settings)
        if self.settings.instance == "auto":
            self.console.print(f"--instance auto: instance {plan.instance}")
        return plan

    @cached_property
    def orch(self) -> Orchestrator:
        from harness.runtime.orchestrator import Orchestrator

        return Orchestrator(self.plan, self.console)


def _bring_up(app: App, names: list[str], keep: bool, what: str, fresh: bool = False) -> int:
    from harness.cli.terminal import service_table
    from harness.runtime.inspection import status as status_rows
    from harness.runtime.session import Session

    t0 = time.monotonic()
    try:
        with Session(app.orch, what) as session:
            session.up(names, keep_on_failure=keep, fresh=fresh)
        if app.settings.environ.get("HARNESS_TIMELINE"):  # each stage to the millisecond, for tools
            timeline = [dataclasses.asdict(s) for s in session.run.timeline.stages]
            write_json(Path(app.settings.environ["HARNESS_TIMELINE"]), timeline)
        rows = [r for r in status_rows(app.orch, health=False) if r.service in names or r.state == "running"]
        app.console.print(service_table(rows, f"{what}: ready in {time.monotonic() - t0:.1f} s"))
    except KeyboardInterrupt:
        # An interrupt during `up` itself runs the trap and arrives as Interrupted; this one came
        # after everything was up.
        app.console.print(
            f"[yellow]interrupted after the stack came up: it is running on instance {app.plan.instance}; "
            f"{command_hint('down', app.plan.instance)} stops it[/yellow]"
        )
        return EXIT_INTERRUPTED
    return 0


def up(app: App, args: argparse.Namespace) -> int:
    names = list(args.nodes) or app.plan.profile_nodes(args.profile)
    app.plan.check_names(names)
    return _bring_up(app, names, args.keep_on_failure, "up", args.fresh)


def task(app: App, args: argparse.Namespace) -> int:
    tasks = app.plan.tasks()
    if args.task not in tasks:
        raise HarnessError(f"unknown task '{args.task}' (the stack's tasks: {', '.join(tasks)})")
    return _bring_up(app, tasks[args.task], args.keep_on_failure, args.task, args.fresh)


def down(app: App, args: argparse.Namespace) -> int:
    from harness.cli.terminal import say_stopped
    from harness.runtime.session import Session

    with Session(app.orch, "down", reap_unreadable=False) as session:
        report = session.orch.down(clean=args.clean)
    say_stopped(app.console, report)
    if args.clean:
        app.console.print(f"removed the instance's data under {app.plan.state_dir}")
    return 0


def stop(app: App, args: argparse.Namespace) -> int:
    from harness.runtime.session import Session

    with Session(app.orch, "stop") as session:
        report = session.orch.stop(args.services)
    app.console.print(f"stopped {', '.join(report.items) or 'nothing (not running)'}")
    return 0


def status(app: App, args: argparse.Namespace) -> int:
    from harness.cli.terminal import service_table
    from harness.runtime.inspection import status as status_rows
    from harness.runtime.session import Session

    orch = app.orch  # a state dir it must not use (another user's) is refused here, not just warned of
    try:
        with Session(orch, "status", reap_unreadable=False):
            pass  # reaps what a killed run left, when no other run holds the instance
    except HarnessError as exc:
        app.console.print(f"[yellow]{exc}[/yellow]")
    if app.orch.ledger.problem:
        app.console.print(
            f"[yellow]the state file is unreadable ({app.orch.ledger.problem}); `down` still finds and stops "
            "the instance's processes by their HARNESS_OWNER tag[/yellow]"
        )
    rows = status_rows(app.orch)
    title = f"{app.plan.stack.stack.name} (instance {app.plan.instance}, {app.orch.backend} backend)"
    app.console.print(service_table(rows, title, health=True))
    return 0


def watch(app: App, args: argparse.Namespace) -> int:
    from harness.cli.live_view import watch as live

    return live(app.orch, app.console, interval=args.interval, count=args.count)


def wait(app: App, args: argparse.Namespace) -> int:
    from harness.runtime.inspection import wait as wait_healthy

    took = wait_healthy(app.orch, list(args.services) or app.plan.services, args.timeout)
    for name, seconds in took.items():
        app.console.print(f"  {name:<18} healthy ({seconds:.1f} s)")
    return 0


def logs(app: App, args: argparse.Namespace) -> int:
    from harness.cli.service_logs import show_logs

    service = None if args.service in (None, "all") else args.service
    return show_logs(app.plan, app.console, service, lines=args.lines, follow=args.follow)


def suite(app: App, args: argparse.Namespace) -> int:
    from harness.cli.ci import annotate, shard_and_group, tests_to_run
    from harness.cli.terminal import suite_summary
    from harness.record.results import persist_run
    from harness.runtime.overrides import with_suite
    from harness.runtime.session import Session
    from harness.suite.run import run_suite

    try:
        plan = app.plan
        if args.suite not in plan.stack.suites:
            raise HarnessError(f"unknown suite '{args.suite}' (known: {', '.join(plan.stack.suites) or 'none'})")
        declared = plan.stack.suites[args.suite].profile
        plan = app.plan = with_suite(plan, args.suite, profile=args.profile, isolate=args.isolate)
        shard, group_id = shard_and_group(app, args)
    except HarnessError as exc:
        _record_unstarted(app, args.suite, str(exc))
        raise
    chosen = tests_to_run(app, args)  # --failed-from refused is not recorded: `latest` still names that run
    if chosen is None:
        return 0  # --failed-from a run where none failed
    pytest_args, failed_from = chosen
    with Session(app.orch, f"suite {args.suite}") as session:
        record = run_suite(
            session,
            args.suite,
            pytest_args,
            persist=lambda rec, env: persist_run(rec, env, app.console),
            shard=shard,
            group_id=group_id,
            workers=args.workers,
            fresh=args.fresh,
            reruns=args.reruns,
            fail_on_flaky=args.fail_on_flaky,
            coverage_on=args.coverage,
            failed_from=failed_from,
            impact_map=args.profile in (None, declared),
        )
    suite_summary(app.console, record.data, plan.stack.stack.log_dir)
    annotate(record.data, app.settings.environ, str(record.dir))
    return record.exit_code


def _record_unstarted(app: App, suite: str, failure: str) -> None:
    """A suite that could not start still leaves a record saying why (logs/latest is this run's)."""
    from harness.record.results import record_failure

    try:
        plan = app.plan
        root, runs_dir = plan.root, plan.runs_dir
    except HarnessError:  # the stack file itself is at fault: its directory's default log dir
        root = app.settings.stack_file.resolve().parent
        runs_dir = root / "logs" / "runs"
    if root.is_dir():
        record_failure(root, runs_dir, suite, failure, app.settings.environ)


def env(app: App, args: argparse.Namespace) -> int:
    """JSON on stdout: what a test process needs (the pytest entry point reads it)."""
    import sys

    from harness.config.masking import mask_env
    from harness.runtime.inspection import status
    from harness.suite.command import plugin_config

    plan = app.plan
    services = [n for n in plan.profile_nodes(args.profile) if plan.node(n).is_service]
    running = {r.service for r in status(app.orch, health=False) if r.state == "running"}
    derived = {**plan.derived_env, **plugin_config(plan).to_env()}
    payload = {
        "env": derived if args.show_secrets else mask_env(derived),
        "python": plan.python,  # {python}: the interpreter commands, steps and the suites run
        "services": services,
        "running": sorted(running & set(services)),
    }
    sys.stdout.write(json.dumps(payload) + "\n")
    return 0


def merge(app: App, args: argparse.Namespace) -> int:
    from harness.cli.ci import annotate
    from harness.record import sinks
    from harness.record.merge import shard_records, write_merged

    records = shard_records(args.records)
    out = Path(args.out) if args.out else None
    out, data = write_merged(records, out, app.plan.runs_dir, app.plan.history_file, app.console)
    sinks.send(data, out, app.settings.environ, app.console)
    app.console.print(f"merged {len(records)} shard(s) into {out}: {data['status']} (exit {data['exit_code']})")
    annotate(data, app.settings.environ, str(out))  # here, not in `summary`: its stdout is Markdown
    return int(data["exit_code"])


def summary(app: App, args: argparse.Namespace) -> int:
    import sys

    from harness.cli.ci import record_place
    from harness.record.reading import read_record
    from harness.record.summary import markdown

    path = Path(args.run) / "results.json"
    if not path.is_file():
        raise HarnessError(f"summary: no results.json in {args.run}")
    where = record_place(args.run, app.settings.environ)  # where a shortened summary sends the reader
    sys.stdout.write(markdown(read_record(path, "summary"), where=where))
    return 0


def durations(app: App, args: argparse.Namespace) -> int:
    from harness.record.durations import write_durations

    plan = app.plan
    if not plan.stack.tests.durations:
        raise HarnessError(f"durations: set [tests] durations (a file path) in {plan.file}")
    target = plan.root / plan.stack.tests.durations
    written = write_durations(plan.runs_dir, target)
    app.console.print(
        f"{target}: {written.tests} test durations, {written.measured} of them from the recorded runs"
        + (
            f" ({len(written.skipped)} unreadable record(s) skipped, first {written.skipped[0]})"
            if written.skipped
            else ""
        )
    )
    return 0


def impact(app: App, args: argparse.Namespace) -> int:
    """``harness impact refresh SUITE``: the suite in full with coverage on, which makes its test
    impact map (``--changed`` reads it) anew."""
    if args.action != "refresh":
        raise HarnessError(f"impact {args.action}: the one action is refresh (harness impact refresh SUITE)")
    if args.changed or args.failed_from or args.shard or args.pytest_args or args.profile:
        raise HarnessError(
            "impact refresh runs the whole suite, against its own profile: it takes no --changed, "
            "--failed-from, --shard, --profile or tests"
        )
    args.coverage = True  # the suite's own switches (--workers 0 for exact contexts...) stand
    return suite(app, args)


def history(app: App, args: argparse.Namespace) -> int:
    from harness.cli.history_view import show_history

    return show_history(app.plan.history_file, app.console, limit=args.limit)


def vfs_fix(app: App, args: argparse.Namespace) -> int:
    from harness.cli.storage_check import vfs_fix as check

    return check(app.console, app.settings.backend_for(app.plan.stack.stack.backend), apply=args.apply)
