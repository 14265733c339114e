"""Sessions for the harness and the stack it tests.

Tags: ``integration`` marks the sessions that bring a stack up. ``nox`` with no arguments runs
what CI runs (``tests``). Arguments after ``--`` reach pytest verbatim.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.sessions = ["tests"]



def install(session: nox.Session, *, extras: tuple[str, ...] = ()) -> None:
    """The harness itself (editable) with the named extras from pyproject.toml."""
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the engine's end-to-end tests on throwaway stacks."""
    install(session, extras=("services", "test"))
    session.run("pytest", *(session.posargs or ("tests/unit", "tests/harness")))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and strict mypy over src/harness."""
    install(session, extras=("lint",))
    session.run("ruff", "check", "src", "tests", "noxfile.py", "tasks.py")
    session.run("mypy", *session.posargs)
