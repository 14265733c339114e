"""The command line (``python -m harness`` / ``harness``), which tasks.py and noxfile.py call too.

``main(argv) -> int`` is the one place exceptions become exit codes: a :class:`HarnessError`
prints its message (secrets masked) and returns its code; nothing a user did wrong shows a
traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from harness.config import Stack, load_stack
from harness.environment import mask_text, resolve_instance
from harness.errors import EXIT_INTERRUPTED, HarnessError
from harness.lifecycle import Harness
from harness.ui import service_table

LIFECYCLE_TASKS = ("ngspice", "cots-db", "infra", "migrate", "xvfb", "start", "frontend")


def stack_path(value: str | None) -> str:
    return value or os.environ.get("HARNESS_STACK") or "stack.toml"


def make_harness(stack_file: str | None, instance: int | str | None, console: Console) -> Harness:
    stack = load_stack(stack_path(stack_file))
    return Harness(resolve_instance(stack, instance), console)


def nodes_for_task(stack: Stack, task: str) -> list[str]:
    return [n for n in [*stack.services, *stack.steps] if stack.task_of(n) == task]


def cmd_up(h: Harness, args: argparse.Namespace) -> int:
    stack = h.stack
    if args.profile and args.profile not in stack.profiles:
        raise HarnessError(f"unknown profile '{args.profile}' (known: {', '.join(stack.profiles) or 'none'})")
    names = args.nodes or stack.profile_nodes(args.profile)
    unknown = [n for n in names if n not in stack.services and n not in stack.steps]
    if unknown:
        raise HarnessError(f"unknown service or step: {', '.join(unknown)}")
    return bring_up(h, names, args.keep_on_failure, "up")


def bring_up(h: Harness, names: list[str], keep: bool, what: str) -> int:
    t0 = time.monotonic()
    h.up(names, keep_on_failure=keep, what=what)
    shown = [r for r in h.describe_up() if r["service"] in names or r["state"] == "running"]
    h.console.print(service_table(shown, f"{what}: ready in {time.monotonic() - t0:.1f} s"))
    return 0


def cmd_task(h: Harness, args: argparse.Namespace) -> int:
    names = nodes_for_task(h.stack, args.task)
    if not names:
        h.console.print(f"nothing in {h.stack.file} belongs to task '{args.task}'; nothing to do")
        return 0
    return bring_up(h, names, args.keep_on_failure, args.task)


def cmd_down(h: Harness, args: argparse.Namespace) -> int:
    stopped = h.down(clean=args.clean)
    procs = sum("(pid " in s or s.startswith("stray pid") for s in stopped)
    other = len(stopped) - procs
    summary = f"stopped {procs} process(es)" + (f" and removed {other} container(s)/volume(s)" if other else "")
    h.console.print(summary + (": " + ", ".join(stopped) if stopped else ""))
    if args.clean:
        h.console.print(f"removed the instance's data under {h.inst.state_dir}")
    return 0


def cmd_stop(h: Harness, args: argparse.Namespace) -> int:
    stopped = h.stop(args.services)
    h.console.print(f"stopped {', '.join(stopped) or 'nothing (not running)'}")
    return 0


def cmd_status(h: Harness, args: argparse.Namespace) -> int:
    rows = h.status()
    title = f"{h.stack.stack.name} (instance {h.inst.number}, {h.backend} backend)"
    h.console.print(service_table(rows, title, health=True))
    return 0


def cmd_wait(h: Harness, args: argparse.Namespace) -> int:
    names = args.services or list(h.stack.services)
    took = h.wait(names, args.timeout)
    for name, seconds in took.items():
        h.console.print(f"  {name:<18} healthy ({seconds:.1f} s)")
    return 0


def cmd_logs(h: Harness, args: argparse.Namespace) -> int:
    from harness.logs import show_logs

    return show_logs(h, args.service, lines=args.lines, follow=args.follow)


def cmd_vfs_fix(h: Harness, args: argparse.Namespace) -> int:
    from harness.backends import vfs_fix

    return vfs_fix(h.console, apply=args.apply)


SUITE_SWITCHES = {"--reuse": "reuse", "--keep": "keep"}


def cmd_suite(h: Harness, args: argparse.Namespace) -> int:
    from harness.suites import run_suite

    pytest_args = [a for a in args.pytest_args if a not in SUITE_SWITCHES]
    reuse = args.reuse or "--reuse" in args.pytest_args or os.environ.get("HARNESS_REUSE") == "1"
    keep = args.keep or "--keep" in args.pytest_args or os.environ.get("HARNESS_KEEP") == "1"
    return run_suite(h, args.suite, pytest_args, reuse=reuse, keep=keep)


def cmd_history(h: Harness, args: argparse.Namespace) -> int:
    from harness.history import show_history

    return show_history(h, limit=args.limit)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=__doc__.splitlines()[0])
    parser.add_argument("--stack", help="stack file (default: $HARNESS_STACK or ./stack.toml)")
    parser.add_argument("--instance", help="instance number (default: $HARNESS_INSTANCE or 0)")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="bring the stack (or a profile, or some nodes) up and leave it running")
    up.add_argument("nodes", nargs="*", help="services or steps (default: the profile's)")
    up.add_argument("--profile", help="a profile from stack.toml")
    up.add_argument("--keep-on-failure", action="store_true", help="leave started services up on failure")
    up.set_defaults(func=cmd_up)

    task = sub.add_parser("task", help="run one lifecycle task (and what it depends on)")
    task.add_argument("task", choices=LIFECYCLE_TASKS)
    task.add_argument("--keep-on-failure", action="store_true")
    task.set_defaults(func=cmd_task)

    down = sub.add_parser("down", help="stop everything of this instance")
    down.add_argument("--clean", action="store_true", help="also delete its data (databases, workspaces)")
    down.set_defaults(func=cmd_down)
    sub.add_parser("status", help="show services with a live health check").set_defaults(func=cmd_status)

    stop = sub.add_parser("stop", help="stop some services only")
    stop.add_argument("services", nargs="+")
    stop.set_defaults(func=cmd_stop)

    wait = sub.add_parser("wait", help="wait until running services are healthy")
    wait.add_argument("services", nargs="*")
    wait.add_argument("--timeout", type=float, default=60.0)
    wait.set_defaults(func=cmd_wait)

    logs = sub.add_parser("logs", help="show (or follow) service logs")
    logs.add_argument("service", nargs="?")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=40)
    logs.set_defaults(func=cmd_logs)

    suite = sub.add_parser("suite", help="bring up a suite's profile, run its tests, record, tear down")
    suite.add_argument("suite")
    suite.add_argument("--reuse", action="store_true", help="test the stack `invoke up` started; start/stop nothing")
    suite.add_argument("--keep", action="store_true", help="leave the stack up afterwards")
    suite.set_defaults(func=cmd_suite, pytest_args=[])

    history = sub.add_parser("history", help="recent runs and tests whose outcome flipped")
    history.add_argument("-n", "--limit", type=int, default=10)
    history.set_defaults(func=cmd_history)

    vfs = sub.add_parser("vfs-fix", help="docker backend: make the engine's storage driver work")
    vfs.add_argument("--apply", action="store_true", help="switch the daemon to vfs if needed")
    vfs.set_defaults(func=cmd_vfs_fix)
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run one command; writes the exit code to ``$HARNESS_EXIT_FILE`` too (nox reads it)."""
    code = _main(list(sys.argv[1:] if argv is None else argv), console or Console(stderr=True))
    exit_file = os.environ.get("HARNESS_EXIT_FILE")
    if exit_file:
        with open(exit_file, "w") as fh:
            fh.write(str(code))
    return code


def _main(argv: list[str], console: Console) -> int:
    # Everything after "--" belongs to the test command, verbatim.
    passthrough: list[str] = []
    if "--" in argv:
        cut = argv.index("--")
        argv, passthrough = argv[:cut], argv[cut + 1 :]
    args = build_parser().parse_args(argv)
    if passthrough:
        if args.command != "suite":
            build_parser().error("arguments after -- are only for `suite`")
        args.pytest_args = passthrough
    try:
        h = make_harness(args.stack, args.instance, console)
        return int(args.func(h, args))
    except HarnessError as exc:
        env = dict(os.environ)
        console.print("[red]error:[/red]", escape(mask_text(str(exc), env)), highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return EXIT_INTERRUPTED


def entry() -> None:
    raise SystemExit(main())


if __name__ == "__main__":
    entry()
