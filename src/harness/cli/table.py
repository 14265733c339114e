"""Every command and flag, declared once: argparse (``harness``), Invoke tasks and the suite's
switches after ``--`` (nox passes a suite only those) are all derived from this table.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from harness.cli import commands, init_command
from harness.kinds import KINDS


@dataclass(frozen=True)
class Arg:
    """One argument of one command, for argparse and Invoke alike."""

    name: str
    help: str
    flag: bool = False  # a switch (store_true)
    positional: bool = False
    many: str = ""  # "*" or "+": several values (Invoke takes them comma-separated)
    default: Any = None
    type: Callable[[str], Any] = str
    short: str = ""
    long: str = ""  # the option's spelling, when not derived from the name (``--from``)

    @property
    def option(self) -> str:
        return self.long or "--" + self.name.replace("_", "-")


@dataclass(frozen=True)
class Command:
    name: str
    help: str
    run: Callable[[commands.App, argparse.Namespace], int]
    args: tuple[Arg, ...] = ()
    passthrough: bool = False  # takes arguments after ``--``
    invoke: bool = True  # also an Invoke task


KEEP = Arg("keep_on_failure", "leave started services up when something fails", flag=True)
FRESH = Arg("fresh", "restore each data step's snapshot (e.g. the database just after migrate), always", flag=True)
NO_CACHE = Arg("no_cache", "ignore every cache: initdb's, steps' and data snapshots ($HARNESS_NO_CACHE)", flag=True)

SUITE_ARGS: tuple[Arg, ...] = (
    Arg("suite", "a suite from stack.toml", positional=True),
    Arg(
        "reuse",
        "test the stack the `up` command left running; start and stop nothing ($HARNESS_REUSE)",
        flag=True,
    ),
    Arg("keep", "leave the stack up afterwards ($HARNESS_KEEP)", flag=True),
    Arg(
        "shard",
        "run the K-th of N parts of the suite (K/N), balanced by recorded durations; auto (or auto/N): "
        "K and N from the CI's variables",
    ),
    Arg("group_id", "the id shared by all shards of one CI run (default: the CI's run id, ...)"),
    Arg(
        "failed_from",
        "run only the tests that failed or errored in a recorded run of the suite: its run directory, "
        "its results.json, or latest",
    ),
    Arg("stop_on_death", "end the run when a service dies or stops answering (default: under CI)", flag=True),
    Arg("no_stop_on_death", "run every test even after a service died", flag=True),
    Arg("workers", "pytest-xdist workers for the non-disruptive tests: N, auto, or 0 for none"),
    Arg("reruns", "run failed tests again on the same stack, up to N times: one that passes is flaky", type=int),
    Arg("fail_on_flaky", "a test that passed only on a rerun fails the run", flag=True),
    Arg(
        "changed",
        "run only the tests a change since this git ref can affect (the suite's test impact map, made "
        "by its last full run with coverage on; every test where the map cannot tell)",
    ),
    Arg(
        "coverage",
        "measure the suite's Python services with coverage.py (as [suites.X] coverage = true, "
        "where the suite does not name them)",
        flag=True,
    ),
    Arg("profile", "run the suite against this profile of stack.toml instead of its own (e.g. a bigger one)"),
    Arg(
        "isolate",
        "give each xdist worker its own copy of these services' data, comma-separated, instead of the "
        "suite's isolate (none: no copies)",
    ),
    FRESH,
    NO_CACHE,
)

COMMANDS: tuple[Command, ...] = (
    Command(
        "up",
        "bring the stack (or a profile, or some nodes) up and leave it running",
        commands.up,
        (
            Arg("nodes", "services or steps (default: the profile's)", positional=True, many="*"),
            Arg("profile", "a profile from stack.toml (default: stack.default_profile)"),
            KEEP,
            FRESH,
            NO_CACHE,
        ),
    ),
    Command(
        "task",
        "run one lifecycle task of the stack (and what it depends on)",
        commands.task,
        (
            Arg("task", "a task name from stack.toml (`task =`, or a step's name)", positional=True),
            KEEP,
            FRESH,
            NO_CACHE,
        ),
        invoke=False,  # Invoke gets one task per name instead (`invoke migrate`)
    ),
    Command(
        "down",
        "stop everything of this instance, dependents first",
        commands.down,
        (Arg("clean", "also delete the instance's data (databases, Temporal history, workspaces)", flag=True),),
    ),
    Command(
        "status", "show each service's state, live health, CPU, memory, restarts, URL, pid and log", commands.status
    ),
    Command(
        "watch",
        "a live view: status redrawn in place, with the latest suite run's service events (Ctrl-C ends it)",
        commands.watch,
        (
            Arg("interval", "seconds between redraws", default=2.0, type=float),
            Arg("count", "redraw this many times, then exit (default: until Ctrl-C)", type=int),
        ),
    ),
    Command(
        "stop",
        "stop some services only (e.g. temporal), leaving the rest up",
        commands.stop,
        (Arg("services", "service names", positional=True, many="+"),),
    ),
    Command(
        "wait",
        "wait until running services answer their readiness probes",
        commands.wait,
        (
            Arg("services", "service names (default: all)", positional=True, many="*"),
            Arg("timeout", "seconds, shared by all services", default=60.0, type=float),
        ),
    ),
    Command(
        "logs",
        "show the tail of service logs (one service, or all); -f follows them",
        commands.logs,
        (
            Arg("service", "a service or step name, or 'all'", positional=True, default="all"),
            Arg("follow", "keep printing new lines", flag=True, short="-f"),
            Arg("lines", "how many lines to show first", default=40, type=int, short="-n"),
        ),
    ),
    Command(
        "suite",
        "bring up a suite's profile, run its tests, record, tear down; arguments after -- go to pytest",
        commands.suite,
        SUITE_ARGS,
        passthrough=True,
    ),
    Command(
        "impact",
        "refresh: run a suite in full with coverage on, which makes its test impact map (--changed reads it)",
        commands.impact,
        (Arg("action", "refresh", positional=True), *SUITE_ARGS),
        invoke=False,
    ),
    Command(
        "history",
        "the last runs, and tests whose outcome flipped at the same commit",
        commands.history,
        (Arg("limit", "how many runs to show", default=10, type=int, short="-n"),),
    ),
    Command(
        "vfs-fix",
        "docker backend: check the engine can run containers here (nested Docker)",
        commands.vfs_fix,
        (Arg("apply", "switch the Docker daemon to the vfs storage driver if it needs it", flag=True),),
    ),
)
ENV = Command(
    "env",
    "print the environment the harness derives for the stack (and which services run) as JSON",
    commands.env,
    (
        Arg("profile", "a profile: which of its services are running is reported too"),
        Arg("show_secrets", "print passwords and keys as they are (masked otherwise)", flag=True),
    ),
)
MERGE = Command(
    "merge",
    "one run record (results.json, junit.xml, report.html, a history line) from a suite's shard records",
    commands.merge,
    (
        Arg("records", "shard run directories, results.json files, or globs of them", positional=True, many="+"),
        Arg("out", "where to write the merged record (default: logs/runs/<suite>-<group>-merged)"),
    ),
)
SUMMARY = Command(
    "summary",
    "print a run's Markdown summary (what a CI job writes to its step summary)",
    commands.summary,
    (Arg("run", "a run directory (default: logs/latest)", positional=True, default="logs/latest"),),
)
DURATIONS = Command(
    "durations",
    "write [tests] durations from the recorded runs (shards balance by them)",
    commands.durations,
)
INIT = Command(
    "init",
    "write a starter stack.toml (at --stack) for the kinds named, every key written out",
    init_command.init,
    (
        *(Arg(name, f"add a {name} service", flag=True) for name, kind in KINDS.items() if kind.starter),
        Arg("library", "a library: no app for the stack to run, no migration step", flag=True),
        Arg("app", "the command that starts your app (default: a placeholder to edit)"),
        Arg("migrate", "the command that migrates its database (default: alembic upgrade head)"),
        Arg("python", "the project's interpreter, relative to the file (say .venv/bin/python): it runs the suites"),
        Arg("gitignore", "add the directories the harness writes (.harness/) to the .gitignore beside it", flag=True),
        Arg("from_compose", "write it from a docker compose file (what it cannot map is listed)", long="--from"),
        Arg("force", "overwrite an existing file", flag=True),
    ),
)
COMMANDS = (*COMMANDS, ENV, MERGE, SUMMARY, DURATIONS, INIT)
GLOBAL = (
    Arg("stack", "stack file (default: $HARNESS_STACK or ./stack.toml)"),
    Arg("instance", "instance number, or 'auto' for the first free one (default: $HARNESS_INSTANCE or 0)"),
    Arg("queue", "wait for a busy instance instead of refusing ($HARNESS_QUEUE)", flag=True),
    Arg("queue_timeout", "seconds to wait with --queue", default=1800.0, type=float),
)


def command(name: str) -> Command:
    return next(c for c in COMMANDS if c.name == name)


def add_argument(parser: argparse.ArgumentParser, arg: Arg) -> None:
    if arg.positional:
        nargs = arg.many or ("?" if arg.default is not None else None)
        parser.add_argument(
            arg.name,
            nargs=nargs,
            help=arg.help,
            type=arg.type,
            **({"default": arg.default} if arg.default is not None else {}),
        )
    elif arg.flag:
        parser.add_argument(*filter(None, [arg.short, arg.option]), action="store_true", help=arg.help)
    else:
        parser.add_argument(
            *filter(None, [arg.short, arg.option]), dest=arg.name, default=arg.default, type=arg.type, help=arg.help
        )


def own_switches(cmd: Command, passthrough: Sequence[str]) -> tuple[argparse.Namespace, list[str]]:
    """The command's own options among the arguments after ``--`` (how nox hands a suite its
    switches), and the rest, for pytest; no abbreviation of an option is taken for one."""
    parser = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    for arg in cmd.args:
        if not arg.positional and not arg.short:
            add_argument(parser, arg)
    return parser.parse_known_args(list(passthrough))
