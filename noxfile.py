"""Sessions for the harness and the stack it tests.

``nox`` with no arguments runs what CI runs: ``lint``, ``tests`` and ``integration`` (every tier
against one stack). The integration sessions are generated from stack.toml's ``[suites]`` and
tagged ``integration``; arguments after ``--`` reach the suite (``--reuse``, ``--keep``, pytest's).
Exit codes of the integration sessions reach CI as the harness gives them: 0 passed, 1 tests
failed, 2 the stack could not come up, 130 interrupted.
"""

from __future__ import annotations

from pathlib import Path

import nox

from harness.nox import suite_sessions

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
nox.options.sessions = ["lint", "tests", "integration"]


def install(session: nox.Session, *, extras: tuple[str, ...] = ()) -> None:
    """The harness itself (editable) with the named extras from pyproject.toml."""
    session.install("-e", f".[{','.join(extras)}]" if extras else ".")


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the engine's end-to-end tests on throwaway stacks."""
    install(session, extras=("all", "services", "test", "tasks"))
    session.run("pytest", *(session.posargs or ("tests/unit", "tests/harness")))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, strict mypy over src/harness, actionlint on the workflows, the k8s manifests' schemas."""
    install(session, extras=("lint",))
    session.run("ruff", "check", "src", "services", "scripts", "tests", "examples", "noxfile.py", "tasks.py")
    session.run("mypy", *session.posargs)
    session.run("actionlint", *sorted(str(p) for p in Path(".github/workflows").glob("*.yml")))
    # Offline: the schemas ship in the package; the recipe has not run on a live cluster.
    session.run("kubernetes-validate", *sorted(str(p) for p in Path("deploy/k8s").glob("*.yaml")))


suite_sessions(lambda session: install(session, extras=("all", "services", "test", "e2e")))
