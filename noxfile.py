"""Sessions for the harness and the stack it tests.

Tags: ``integration`` marks the sessions that bring a stack up. ``nox`` with no arguments runs
what CI runs (``lint``, ``tests`` and ``integration``). Arguments after ``--`` reach pytest verbatim, except
``--reuse`` (test the stack ``invoke up`` started; start and stop nothing) and ``--keep`` (leave
the stack up afterwards).
Exit codes of the integration sessions: 0 passed, 1 tests failed, 2 the stack could not come up.
"""

from __future__ import annotations

from pathlib import Path

import nox

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
    install(session, extras=("services", "test"))
    session.run("pytest", *(session.posargs or ("tests/unit", "tests/harness")))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff and strict mypy over src/harness."""
    install(session, extras=("lint",))
    session.run("ruff", "check", "src", "services", "scripts", "tests", "noxfile.py", "tasks.py")
    session.run("mypy", *session.posargs)


def run_suite(session: nox.Session, suite: str) -> None:
    """Bring up the suite's profile, run it, record it, tear down; keep the harness's exit code."""
    install(session, extras=("services", "test", "e2e"))
    exit_file = Path(session.create_tmp()) / "harness-exit-code"
    exit_file.unlink(missing_ok=True)
    session.run(
        "python",
        "-m",
        "harness",
        "suite",
        suite,
        "--",
        *session.posargs,
        env={"HARNESS_EXIT_FILE": str(exit_file)},
        success_codes=[0, 1, 2, 130],
        # The harness tears the stack down on Ctrl-C: give it time before nox escalates.
        interrupt_timeout=60,
        terminate_timeout=30,
    )
    code = int(exit_file.read_text()) if exit_file.exists() else 2
    if code == 1:
        session.error("tests failed (exit 1); the record is in logs/latest/")
    if code:
        session.log(f"harness exited {code}: " + ("the stack could not come up" if code == 2 else "interrupted"))
        raise SystemExit(code)  # nox itself only knows exit 1; CI needs the 2


@nox.session(tags=["integration"])
def integration_p0(session: nox.Session) -> None:
    """P0 integration suite: must pass before merging to main."""
    run_suite(session, "p0")


@nox.session(tags=["integration"])
def integration_p1(session: nox.Session) -> None:
    """P1 integration suite (nightly)."""
    run_suite(session, "p1")


@nox.session(tags=["integration"])
def integration_p2(session: nox.Session) -> None:
    """P2 integration suite: concurrency, restarts, large bundles, latency."""
    run_suite(session, "p2")


@nox.session(tags=["integration"])
def integration_frontend(session: nox.Session) -> None:
    """Frontend suite: Playwright on Debian's Chromium against the full stack."""
    run_suite(session, "frontend")


@nox.session(tags=["integration"])
def integration(session: nox.Session) -> None:
    """Every integration tier against one stack."""
    run_suite(session, "all")
