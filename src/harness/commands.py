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

from harness.errors import EXIT_INTERRUPTED, HarnessError
from harness.settings import Settings

if TYPE_CHECKING:
    from harness.orchestrator import Orchestrator
    from harness.plan import Plan


class App:
    """What a command works with: its settings, and the plan and orchestrator built from them."""

    def __init__(self, settings: Settings, console: Console) -> None:
        self.settings, self.console = settings, console

    @cached_property
    def plan(self) -> Plan:
        from harness.plan import load_plan

        plan = load_plan(self.settings)
        if self.settings.instance == "auto":
            self.console.print(f"--instance auto: instance {plan.instance}")
        return plan

    @cached_property
    def orch(self) -> Orchestrator:
        from harness.orchestrator import Orchestrator

        return Orchestrator(self.plan, self.console)


def _bring_up(app: App, names: list[str], keep: bool, what: str, fresh: bool = False) -> int:
    from harness.session import Session
    from harness.ui import service_table

    t0 = time.monotonic()
    try:
        with Session(app.orch, what) as session:
            session.up(names, keep_on_failure=keep, fresh=fresh)
        if app.settings.environ.get("HARNESS_TIMELINE"):  # each stage to the millisecond, for tools
            timeline = [dataclasses.asdict(s) for s in session.run.timeline.stages]
            Path(app.settings.environ["HARNESS_TIMELINE"]).write_text(json.dumps(timeline, indent=1))
        rows = [r for r in app.orch.status(health=False) if r.service in names or r.state == "running"]
        app.console.print(service_table(rows, f"{what}: ready in {time.monotonic() - t0:.1f} s"))
    except KeyboardInterrupt:
        # An interrupt during `up` itself runs the trap and arrives as Interrupted; this one came
        # after everything was up.
        app.console.print(
            f"[yellow]interrupted after the stack came up: it is running on instance {app.plan.instance}; "
            "`invoke down` stops it[/yellow]"
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
    from harness.session import Session
    from harness.ui import say_stopped

    with Session(app.orch, "down", reap_unreadable=False) as session:
        report = session.orch.down(clean=args.clean)
    say_stopped(app.console, report)
    if args.clean:
        app.console.print(f"removed the instance's data under {app.plan.state_dir}")
    return 0


def stop(app: App, args: argparse.Namespace) -> int:
    from harness.session import Session

    with Session(app.orch, "stop") as session:
        report = session.orch.stop(args.services)
    app.console.print(f"stopped {', '.join(report.items) or 'nothing (not running)'}")
    return 0


def status(app: App, args: argparse.Namespace) -> int:
    from harness.session import Session
    from harness.ui import service_table

    try:
        with Session(app.orch, "status", reap_unreadable=False):
            pass  # reaps what a killed run left, when no other run holds the instance
    except HarnessError as exc:
        app.console.print(f"[yellow]{exc}[/yellow]")
    if app.orch.ledger.problem:
        app.console.print(
            f"[yellow]the state file is unreadable ({app.orch.ledger.problem}); `down` still finds and stops "
            "the instance's processes by their HARNESS_OWNER marker[/yellow]"
        )
    rows = app.orch.status()
    title = f"{app.plan.stack.stack.name} (instance {app.plan.instance}, {app.orch.backend} backend)"
    app.console.print(service_table(rows, title, health=True))
    return 0


def watch(app: App, args: argparse.Namespace) -> int:
    from harness.live_view import watch as live

    return live(app.orch, app.console, interval=args.interval, count=args.count)


def wait(app: App, args: argparse.Namespace) -> int:
    took = app.orch.wait(list(args.services) or app.plan.services, args.timeout)
    for name, seconds in took.items():
        app.console.print(f"  {name:<18} healthy ({seconds:.1f} s)")
    return 0


def logs(app: App, args: argparse.Namespace) -> int:
    from harness.logs import show_logs

    service = None if args.service in (None, "all") else args.service
    return show_logs(app.plan, app.console, service, lines=args.lines, follow=args.follow)


def suite_switches(passthrough: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The suite's own options among the arguments after ``--`` (nox passes only those), and the rest
    for pytest: ``--reuse``, ``--keep``, ``--shard K/N``, ``--group-id X``."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--keep", action="store_true")
    parser.add_argument("--shard")
    parser.add_argument("--group-id", dest="group_id")
    parser.add_argument("--stop-on-death", dest="stop_on_death", action="store_true")
    parser.add_argument("--no-stop-on-death", dest="no_stop_on_death", action="store_true")
    parser.add_argument("--workers")
    parser.add_argument("--fresh", action="store_true")
    parser.add_argument("--no-cache", dest="no_cache", action="store_true")
    return parser.parse_known_args(passthrough)


def suite(app: App, args: argparse.Namespace) -> int:
    from harness.session import Session
    from harness.suites import run_suite
    from harness.ui import suite_summary

    plan = app.plan
    if args.suite not in plan.stack.suites:
        raise HarnessError(f"unknown suite '{args.suite}' (known: {', '.join(plan.stack.suites) or 'none'})")
    own, pytest_args = suite_switches(list(args.pytest_args))
    reuse = args.reuse or own.reuse or app.settings.reuse
    keep = args.keep or own.keep or app.settings.keep
    shard, group_id = args.shard or own.shard, args.group_id or own.group_id
    stop_on_death = None
    if args.stop_on_death or own.stop_on_death:
        stop_on_death = True
    if args.no_stop_on_death or own.no_stop_on_death:
        stop_on_death = False
    if shard:
        from harness.shards import parse

        try:
            parse(shard)
        except ValueError as exc:
            raise HarnessError(str(exc)) from None
    with Session(app.orch, f"suite {args.suite}") as session:
        record = run_suite(
            session,
            args.suite,
            pytest_args,
            reuse=reuse,
            keep=keep,
            shard=shard,
            group_id=group_id,
            stop_on_death=stop_on_death,
            workers=args.workers or own.workers,
            fresh=args.fresh or own.fresh,
        )
    suite_summary(app.console, record.data, plan.stack.stack.log_dir)
    return record.exit_code


def env(app: App, args: argparse.Namespace) -> int:
    """JSON on stdout: what a test process needs (the pytest entry point reads it)."""
    import json
    import sys

    from harness.suites import conventions_env

    plan = app.plan
    services = [n for n in plan.profile_nodes(args.profile) if plan.node(n).is_service]
    running = {r.service for r in app.orch.status(health=False) if r.state == "running"}
    payload = {
        "env": {**plan.derived_env, **conventions_env(plan)},
        "services": services,
        "running": sorted(running & set(services)),
    }
    sys.stdout.write(json.dumps(payload) + "\n")
    return 0


def merge(app: App, args: argparse.Namespace) -> int:
    import json
    from pathlib import Path

    from harness import sinks
    from harness.merge import merge as merged_record
    from harness.merge import merged_junit, shard_records
    from harness.report import write_html_report
    from harness.results import append_history

    records = shard_records(args.records)
    data = merged_record(records)
    out = Path(args.out) if args.out else app.plan.runs_dir / data["run_id"]
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(data, indent=2))
    merged_junit([d for d, _ in records], out / "junit.xml")
    write_html_report(data, out / "report.html")
    append_history(app.plan.history_file, data)
    sinks.send(data, out, app.settings.environ, app.console)
    app.console.print(f"merged {len(records)} shard(s) into {out}: {data['status']} (exit {data['exit_code']})")
    return int(data["exit_code"])


def summary(app: App, args: argparse.Namespace) -> int:
    import json
    import sys
    from pathlib import Path

    from harness.merge import markdown

    path = Path(args.run) / "results.json"
    if not path.is_file():
        raise HarnessError(f"summary: no results.json in {args.run}")
    sys.stdout.write(markdown(json.loads(path.read_text())))
    return 0


def durations(app: App, args: argparse.Namespace) -> int:
    import json
    import statistics

    plan = app.plan
    if not plan.stack.tests.durations:
        raise HarnessError(f"durations: set [tests] durations (a file path) in {plan.file}")
    seen: dict[str, list[float]] = {}
    for results in sorted(plan.runs_dir.glob("*/results.json")):
        try:
            cases = json.loads(results.read_text())["tests"]["cases"]
        except (OSError, ValueError, KeyError):
            continue
        for case in cases:
            if case["outcome"] in ("passed", "failed"):
                seen.setdefault(case["nodeid"], []).append(case["duration_s"])
    target = plan.root / plan.stack.tests.durations
    recorded = {k: round(statistics.median(v), 3) for k, v in sorted(seen.items())}
    target.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    app.console.print(f"wrote {len(recorded)} test durations to {target}")
    return 0


def init(app: App, args: argparse.Namespace) -> int:
    from harness.init import init as write
    from harness.kinds import KINDS

    kinds = [kind for kind in KINDS if kind != "process" and getattr(args, kind, False)]
    target = write(app.settings.stack_file, kinds, force=args.force)
    app.console.print(f"wrote {target}: edit the app's command, the migrate step and the suite's paths")
    return 0


def history(app: App, args: argparse.Namespace) -> int:
    from harness.history import show_history

    return show_history(app.plan.history_file, app.console, limit=args.limit)


def vfs_fix(app: App, args: argparse.Namespace) -> int:
    from harness.backends import vfs_fix as check

    return check(app.console, app.settings.chosen_backend, apply=args.apply)
