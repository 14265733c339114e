"""Invoke tasks for any stack: ``from harness.cli.invoke_tasks import namespace; ns = namespace()`` in tasks.py.

The tasks are built from the CLI's command table (each flag declared once, in ``cli/table.py``)
plus one task per lifecycle task name of the stack file (``task =`` in stack.toml, or a step's
name), so ``invoke --list`` and ``python -m harness --help`` describe the same commands.
Settings live under ``harness`` (``stack``, ``instance``), overridable from ``invoke.yaml`` or
``INVOKE_HARNESS_STACK``; unset, ``$HARNESS_STACK`` and ``$HARNESS_INSTANCE`` apply as they do
for ``python -m harness``. Teardown never relies on Invoke post-tasks: it lives in the engine.
"""

from __future__ import annotations

import inspect
import shlex
import sys
from typing import Any

from invoke.collection import Collection
from invoke.context import Context
from invoke.exceptions import Exit
from invoke.tasks import Task

from harness.cli.main import main
from harness.cli.table import COMMANDS, GLOBAL, KEEP, Arg
from harness.errors import enter_through

INSTANCE = next(a for a in GLOBAL if a.name == "instance")


def _run(c: Context, argv: list[str], instance: Any) -> None:
    """Run one harness command; a non-zero code becomes Invoke's exit code."""
    base: list[str] = []
    stack = c.config.get("harness", {}).get("stack")
    if stack:
        base += ["--stack", str(stack)]
    chosen = instance if instance is not None else c.config.get("harness", {}).get("instance")
    if chosen is not None:
        base += ["--instance", str(chosen)]
    enter_through("invoke")  # messages name `invoke down`, not `harness down`
    code = main([*base, *argv])
    if code:
        raise Exit(code=code)


def _parameter(arg: Arg) -> inspect.Parameter:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    if arg.flag:
        return inspect.Parameter(arg.name, kind, default=False)
    if arg.positional and arg.many == "+":
        return inspect.Parameter(arg.name, kind)  # required
    return inspect.Parameter(arg.name, kind, default=arg.default)


def _argv(args: tuple[Arg, ...], values: dict[str, Any]) -> list[str]:
    argv: list[str] = []
    for arg in args:
        value = values.get(arg.name)
        if arg.flag:
            argv += [arg.option] if value else []
        elif arg.positional and arg.many:
            argv += [v for v in str(value or "").split(",") if v]  # Invoke takes lists comma-separated
        elif arg.positional:
            argv += [str(value)] if value is not None else []
        elif value is not None:
            argv += [arg.option, str(value)]
    return argv


def remainder(c: Context) -> list[str]:
    """What came after ``--`` on Invoke's command line, each argument as it was given.

    Invoke keeps it joined by spaces (``c.remainder``), which loses quoting (``-k "a and b"``);
    the process's own argv still has it whole.
    """
    if "--" in sys.argv:
        return sys.argv[sys.argv.index("--") + 1 :]
    return shlex.split(c.remainder) if c.remainder else []


def make_task(name: str, doc: str, args: tuple[Arg, ...], prefix: list[str], *, passthrough: bool = False) -> Task[Any]:
    """An Invoke task running ``harness [prefix] [args]``; its signature is derived from ``args``.

    With ``passthrough``, what follows ``--`` is handed on, as ``python -m harness`` does.
    """
    every = (*args, INSTANCE)

    def body(c: Context, **values: Any) -> None:
        after = remainder(c) if passthrough else []
        _run(c, [*prefix, *_argv(args, values), *(["--", *after] if after else [])], values.get("instance"))

    params = [inspect.Parameter("c", inspect.Parameter.POSITIONAL_OR_KEYWORD), *map(_parameter, every)]
    body.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    body.__doc__ = doc
    body.__name__ = name.replace("-", "_")
    helps = {a.name: a.help + (" (comma-separated)" if a.many else "") for a in every}
    positional = [a.name for a in args if a.positional and not a.many]
    return Task(body, name=name, help=helps, positional=positional)


def lifecycle_tasks(stack: str | None = None) -> dict[str, list[str]]:
    """The stack's lifecycle task names and their nodes; empty (with a warning) if it cannot load."""
    from harness.config.settings import resolve_settings
    from harness.errors import HarnessError
    from harness.runtime.plan import load_plan

    try:
        return load_plan(resolve_settings(stack=stack)).tasks()
    except HarnessError as exc:
        print(f"harness: no lifecycle tasks: {exc}", file=sys.stderr)
        return {}


def namespace(stack: str | None = None, *, exclude: tuple[str, ...] = ()) -> Collection:
    """A Collection with the harness's commands and the stack's lifecycle tasks."""
    ns = Collection()
    taken: set[str] = set()
    for command in COMMANDS:
        if command.invoke and command.name not in exclude:
            cmd = [command.name]
            ns.add_task(make_task(command.name, command.help, command.args, cmd, passthrough=command.passthrough))
            taken.add(command.name)
    for name, nodes in lifecycle_tasks(stack).items():
        if name in taken or name in exclude:
            continue  # a command's name wins; `harness task NAME` still reaches it
        doc = f"Lifecycle task: {', '.join(nodes)} (and what they depend on)."
        ns.add_task(make_task(name, doc, (KEEP,), ["task", name]))
    ns.configure({"harness": {"stack": stack, "instance": None}})
    return ns
