"""Bring a multi-service stack up for integration tests, run its suites, record the results, tear it down.

The command line (``python -m harness`` / ``harness``); Invoke's tasks are built from the same table.

Every command and flag is declared once in ``table.py``; :func:`build_parser` turns it into
argparse, and :mod:`harness.cli.invoke_tasks` into Invoke tasks. ``main(argv) -> int`` is the one place
exceptions become exit codes: a :class:`HarnessError` prints its message (secrets masked) and
returns its code; nothing a user did wrong shows a traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape

from harness.cli import commands
from harness.cli.table import COMMANDS, GLOBAL, add_argument, command, own_switches
from harness.cli.terminal import make_console
from harness.config.masking import mask_text
from harness.config.settings import Settings, resolve_settings
from harness.errors import EXIT_INTERRUPTED, HarnessError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="harness", description=(__doc__ or "").splitlines()[0])
    for arg in GLOBAL:
        add_argument(parser, arg)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        for arg in cmd.args:
            add_argument(p, arg)
        p.set_defaults(func=cmd.run, pytest_args=[])
    return parser


def main(argv: Sequence[str] | None = None, console: Console | None = None) -> int:
    """Run one command; writes the exit code to ``$HARNESS_EXIT_FILE`` too (nox reads it)."""
    code = _main(list(sys.argv[1:] if argv is None else argv), console or make_console())
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
    parser = build_parser()
    args = parser.parse_args(argv)
    if passthrough:
        cmd = command(args.command)
        if not cmd.passthrough:
            parser.error("arguments after -- are only for `suite`")
        # The command's own switches may come after `--` too (nox passes a suite only those).
        own, args.pytest_args = own_switches(cmd, passthrough)
        for name, value in vars(own).items():
            if value not in (None, False):
                setattr(args, name, value)
    settings: Settings | None = None
    try:
        settings = resolve_settings(
            stack=args.stack,
            instance=args.instance,
            queue=args.queue_timeout if args.queue else None,
            reuse=getattr(args, "reuse", None),
            keep=getattr(args, "keep", None),
            no_cache=getattr(args, "no_cache", None),
            stop_on_death=_stop_on_death(args),
        )
        return int(args.func(commands.App(settings, console), args))
    except HarnessError as exc:
        env = dict(settings.environ if settings else os.environ)
        console.print("[red]error:[/red]", escape(mask_text(str(exc), env)), highlight=False, soft_wrap=True)
        return exc.exit_code
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]")
        return EXIT_INTERRUPTED


def _stop_on_death(args: argparse.Namespace) -> bool | None:
    """``--stop-on-death`` / ``--no-stop-on-death`` as a setting (None: neither was given)."""
    if getattr(args, "no_stop_on_death", False):
        return False
    return True if getattr(args, "stop_on_death", False) else None


def entry() -> None:
    code = main()
    # Past this point the work is done and said: a Ctrl-C while the interpreter exits must not
    # end the process silently with a KeyboardInterrupt of its own.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise SystemExit(code)


if __name__ == "__main__":
    entry()
