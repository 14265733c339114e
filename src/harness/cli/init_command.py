"""``harness init``: a starter stack.toml for the project's shape or from its compose file, and
the .gitignore lines for what the harness writes beside it."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.markup import escape

from harness.cli.commands import App
from harness.errors import HarnessError


def init(app: App, args: argparse.Namespace) -> int:
    import tomllib

    from harness.cli.scaffold import STARTERS, Shape, ignore_in_git, written_dirs
    from harness.cli.scaffold import init as write
    from harness.config.schema import StackSettings
    from harness.config.settings import resolve_settings
    from harness.runtime.plan import read_stack

    target = app.settings.stack_file
    kinds = [kind for kind in STARTERS if getattr(args, kind, False)]
    shape = Shape.of(library=args.library, app=args.app, migrate=args.migrate, python=args.python)
    writes = bool(args.from_compose or kinds or args.library or args.app or args.migrate or args.python or args.force)
    if args.gitignore and target.exists() and not writes:
        pass  # `init --gitignore` beside an existing stack file: only the .gitignore
    elif args.from_compose:
        init_from_compose(app, Path(args.from_compose), args.force)
    else:
        write(target, kinds, force=args.force, shape=shape)
        edit = ("the app's command, " if shape.app else "") + ("the migrate step and " if shape.migrate else "")
        app.console.print(f"wrote {target}: edit {edit}the suite's paths", highlight=False)
    # What the file says (it loads, or the error names the key): where the harness writes.
    try:
        stack = read_stack(resolve_settings(stack=str(target))).stack
    except HarnessError as exc:  # say it, and still do the rest: a venv made after init, say
        app.console.print(f"[yellow]it does not load yet:[/yellow] {escape(str(exc))}")
        stack = StackSettings.model_validate(tomllib.loads(target.read_text()).get("stack", {}))
    dirs = written_dirs(stack)
    if args.gitignore:
        added = ignore_in_git(target.resolve().parent, dirs)
        said = f"added {', '.join(added)} to" if added else "already in"
        app.console.print(f"{' '.join(dirs) or 'nothing to ignore'}: {said} {target.resolve().parent / '.gitignore'}")
    elif dirs:
        app.console.print(
            f"the harness writes {' and '.join(dirs)} beside it (state, logs, run records): add "
            f"{'it' if len(dirs) == 1 else 'them'} to .gitignore (harness init --gitignore does)",
            highlight=False,
        )
    return 0


def init_from_compose(app: App, compose: Path, force: bool) -> None:
    from harness.cli.compose_import import import_compose
    from harness.cli.scaffold import write_new

    target = app.settings.stack_file
    imported = import_compose(compose, target)
    write_new(target, imported.text, force=force)
    app.console.print(f"wrote {target} from {compose}", highlight=False)
    for note in imported.notes:
        app.console.print(f"[yellow]not mapped:[/yellow] {note}", highlight=False, soft_wrap=True)
