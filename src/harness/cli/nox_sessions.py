"""nox sessions for any stack: ``from harness.cli.nox_sessions import suite_sessions`` in a noxfile.

One session per ``[suites.NAME]`` of the stack file (``integration_NAME``, or the suite's own
``session =`` name), described by the suite's ``description`` for ``nox -l``. Arguments after
``--`` reach the suite (``--reuse``, ``--keep`` and pytest's own).

``suite_sessions()`` with no argument makes no venv: the harness runs in nox's own Python (where
the noxfile just imported it), and the suite in the project's interpreter (``[stack] python``).
``suite_sessions(install)`` makes a venv per session and runs the harness there: ``install`` must
put the harness in it (with what the stack's processes import, when they run on ``{python}``).

nox only knows exit 1 for a failed session. The harness's exit codes (1 tests failed, 2 the
stack could not come up, 130 interrupted) still reach CI: each failing session is reported to
nox as failed (so with several sessions nox runs the rest and prints its summary), and when
nox exits, the worst harness code replaces nox's own.
"""

from __future__ import annotations

import atexit
import os
import sys
from collections.abc import Callable
from pathlib import Path

import nox

from harness.config.settings import resolve_settings
from harness.errors import EXIT_STACK_FAILED, SEVERITY, worst
from harness.runtime.plan import read_stack

_worst = [0]


def _exit_with_worst() -> None:
    if _worst[0] > 1:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_worst[0])


def run_suite(session: nox.Session, suite: str, *, stack: str | None = None, own_venv: bool = True) -> None:
    """Run one suite through the harness (in the session's venv, or in nox's own Python); keep its
    exit code for CI."""
    exit_file = Path(session.create_tmp()) / "harness-exit-code"
    exit_file.unlink(missing_ok=True)
    session.run(
        "python" if own_venv else sys.executable,
        "-m",
        "harness",
        *(["--stack", stack] if stack else []),
        "suite",
        suite,
        "--",
        *session.posargs,
        env={"HARNESS_EXIT_FILE": str(exit_file)},
        success_codes=[0, 1, 2, 130],
        external=not own_venv,
        # The harness tears the stack down on Ctrl-C: give it time before nox escalates.
        interrupt_timeout=60,
        terminate_timeout=30,
    )
    if not exit_file.exists():
        _worst[0] = EXIT_STACK_FAILED
        _never_ran(session, suite, stack, own_venv)
    code = int(exit_file.read_text())
    _worst[0] = worst([_worst[0], code if code in SEVERITY else EXIT_STACK_FAILED])
    if code:
        reason = {
            1: "tests failed",
            2: "the stack could not come up, or the suite's configuration is at fault",
            130: "interrupted",
        }.get(code, f"exit {code}")
        session.error(f"harness exited {code}: {reason}; the record is in {latest(stack)}")


def latest(stack: str | None) -> str:
    """Where the stack's latest record is (``.harness/logs/latest/``), as the user would type it."""
    st = read_stack(resolve_settings(stack=stack))
    path = (st.root / st.stack.log_dir).resolve() / "latest"  # the link, not the run it points at
    try:
        return f"{path.relative_to(Path.cwd().resolve())}/"
    except ValueError:
        return f"{path}/"


def _never_ran(session: nox.Session, suite: str, stack: str | None, own_venv: bool) -> None:
    """The harness did not start: say why, in a record too (so the latest record does not keep
    pointing at an older run that passed)."""
    from harness.record.results import record_failure

    python = "python" if own_venv else sys.executable
    probe = session.run(python, "-c", "import harness.cli.main", success_codes=[0, 1], silent=True, external=True)
    said = str(probe or "").strip().splitlines()
    why = said[-1] if said else "it exited before saying why"
    where = "this session's venv" if own_venv else f"nox's own Python ({sys.executable})"
    failure = f"the harness did not run in {where} ({why}): install it there with its dependencies" + (
        ": suite_sessions(install) must install it in the session's venv (docs/adopting.md)" if own_venv else ""
    )
    settings = resolve_settings(stack=stack)
    st = read_stack(settings)
    record_failure(st.root, (st.root / st.stack.log_dir / "runs").resolve(), suite, failure, settings.environ)
    session.error(f"{failure}; the record is in {latest(stack)}")


def suite_sessions(
    install: Callable[[nox.Session], None] | None = None,
    *,
    stack: str = "stack.toml",
    tags: tuple[str, ...] = ("integration",),
) -> list[str]:
    """Register one nox session per suite of ``stack``; returns their names.

    ``install`` prepares a session's venv (the harness and what the stack's processes import);
    without it, no venv is made and the harness runs in nox's own Python.
    """
    settings = resolve_settings(stack=stack)
    suites = read_stack(settings).suites
    atexit.register(_exit_with_worst)
    names = []
    for name, suite in suites.items():
        session_name = suite.session or f"integration_{name}"
        body = _session(name, install, None if stack == "stack.toml" else stack)
        body.__doc__ = suite.description or f"The {name} suite."
        nox.session(name=session_name, tags=list(tags), venv_backend=None if install else "none")(body)
        names.append(session_name)
    return names


def _session(
    suite: str, install: Callable[[nox.Session], None] | None, stack: str | None
) -> Callable[[nox.Session], None]:
    def body(session: nox.Session) -> None:
        if install is not None:
            install(session)
        run_suite(session, suite, stack=stack, own_venv=install is not None)

    body.__name__ = f"integration_{suite}"
    return body
