"""What a suite run takes from the CI it runs under, and what it tells it back.

From it: the shard (``--shard auto``) and the group id its shards share; the tests to run again
(``--failed-from``, a CI's rerun step, or a developer rerunning what failed there). Back to it:
annotations of each failure under GitHub Actions. The decisions are in ``config/ci.py``,
``record/rerun.py`` and ``record/github.py``; here they meet the settings and the terminal.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, TextIO

from rich.console import Console

from harness.config.ci import GROUP_VAR, ci_group, resolve_shard
from harness.config.settings import Settings
from harness.errors import HarnessError
from harness.record.github import under_github, workflow_commands

if TYPE_CHECKING:
    from harness.runtime.plan import Plan


class App(Protocol):
    """What these need of a command's ``commands.App``."""

    settings: Settings
    console: Console

    @property
    def plan(self) -> Plan: ...


def shard_and_group(app: App, args: argparse.Namespace) -> tuple[str | None, str | None]:
    """``--shard`` as ``K/N`` (``auto`` read from the CI's variables), and the group id: ``--group-id``,
    else the CI's run, else (shards run by hand) one derived from the code, the suite and N."""
    if not args.shard or args.failed_from:  # the two together are refused by tests_to_run, unrecorded
        return None, args.group_id
    environ = app.settings.environ
    shard = resolve_shard(args.shard, environ)
    group, said = args.group_id, "--group-id"
    if not group:
        found = ci_group(environ)
        if found is not None:
            group, said = found
        elif shard.parallel is not None and not shard.parallel.own_run:
            raise HarnessError(
                f"--shard {args.shard}: {shard.parallel.ci} names no run its shards share: "
                f"pass --group-id or set {GROUP_VAR} (the same for every shard)"
            )
        else:
            from harness.record.groups import local_group_id

            plan = app.plan
            own = [plan.root / plan.stack.stack.state_dir, plan.runs_dir.parent]
            group, said = local_group_id(plan.root, own, args.suite, shard.n), "derived from the commit and changes"
    source = f" ({shard.source})" if shard.source else ""
    app.console.print(f"shard {shard}{source}, group {group} ({said})", highlight=False, markup=False, soft_wrap=True)
    return str(shard), group


def tests_to_run(app: App, args: argparse.Namespace) -> tuple[list[str], dict[str, Any] | None] | None:
    """pytest's arguments, and what results.json records of ``--failed-from``'s run: with it, the
    tests that failed or errored in that run (None, said, when none did) before the options."""
    from harness.record.rerun import read_failed
    from harness.suite.command import looks_like_selection

    if getattr(args, "changed", None):
        return _changed(app, args)
    if not args.failed_from:
        return list(args.pytest_args), None
    plan = app.plan
    if args.shard:
        raise HarnessError("--failed-from runs the tests that failed in one run: it does not take --shard")
    cwd = plan.suites[args.suite].cwd
    named = [a for a in args.pytest_args if looks_like_selection(a, cwd)]
    if named:
        raise HarnessError(
            f"--failed-from chooses the tests; after -- give options only (such as -x), not {' '.join(named)}"
        )
    run = read_failed(args.failed_from, plan.runs_dir.parent / "latest", args.suite)
    if not run.nodeids:
        said = f"--failed-from: no test failed or errored in {run.run_id}: nothing to run"
        app.console.print(said, highlight=False, markup=False, soft_wrap=True)
        return None
    unreached = f"; the {run.not_reached} it never reached are not among them" if run.not_reached else ""
    app.console.print(
        f"--failed-from {run.run_id}: {len(run.nodeids)} test(s) that failed or errored there{unreached}",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return [*run.arguments(plan.root, cwd), *args.pytest_args], run.provenance()


def _changed(app: App, args: argparse.Namespace) -> tuple[list[str], dict[str, Any] | None] | None:
    """``--changed <ref>``: the tests the change can affect (``suite/impact.py``), said with why."""
    from harness.suite import impact
    from harness.suite.command import looks_like_selection

    plan = app.plan
    if args.failed_from or args.shard:
        raise HarnessError(
            f"--changed chooses the tests: it does not take {'--failed-from' if args.failed_from else '--shard'}"
        )
    cwd = plan.suites[args.suite].cwd
    named = [a for a in args.pytest_args if looks_like_selection(a, cwd)]
    if named:
        raise HarnessError(
            f"--changed chooses the tests; after -- give options only (such as -x), not {' '.join(named)}"
        )
    rules = [(rule.paths, rule.tests) for rule in plan.stack.tests.impact]
    profile = plan.stack.suites[args.suite].profile  # --profile's, when given (commands.suite)
    selection = impact.for_change(plan.root, plan.runs_dir.parent, args.suite, args.changed, rules, profile)
    for line in selection.describe():
        app.console.print(line, highlight=False, markup=False, soft_wrap=True)
    if selection.everything:
        return list(args.pytest_args), None
    if not selection.chosen:
        app.console.print(f"--changed {args.changed}: no test ran the changed code: nothing to run", highlight=False)
        return None
    return [*impact.arguments(selection, plan.root, cwd), *args.pytest_args], None


def annotate(data: Mapping[str, Any], environ: Mapping[str, str], where: str, out: TextIO | None = None) -> None:
    """Under GitHub Actions, the record's failures as annotations: workflow commands, on stdout
    (the commands' own output is on stderr)."""
    if not under_github(environ) or not data:
        return
    lines = workflow_commands(data, where)
    stream = out or sys.stdout
    if lines:
        stream.write("\n".join(lines) + "\n")
        stream.flush()


def record_place(run_dir: str, environ: Mapping[str, str]) -> str:
    """Where a run's record is, for a reader of its summary: the directory, and under GitHub
    Actions the workflow run, whose page lists the artifacts the record was uploaded as."""
    parts = [environ.get(v, "") for v in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    if not all(parts):
        return run_dir
    return f"{run_dir} (this workflow run's artifacts: {parts[0]}/{parts[1]}/actions/runs/{parts[2]})"
