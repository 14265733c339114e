"""``pytest --harness-stack stack.toml [--harness-profile NAME]``: the harness for teams that run plain
pytest. Installed as a pytest plugin (entry point ``pytest11``), it does nothing unless the option is
given; then it brings the stack's profile up once for the whole session (reused when already up),
exports the same environment a suite gets before any xdist worker starts (workers inherit it),
loads the harness's test plugin, and takes down at the end what it started.

The project's venv needs only pytest and this package without its dependencies (``pip install
--no-deps``): the entry point and the test plugin import nothing else. The stack is brought up
by the harness's CLI, found as ``$HARNESS_CLI`` (a command), this Python when it can run it, or
``harness`` on PATH; without one, the error says which of them to provide.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys

import pytest

STARTED_KEY = pytest.StashKey[bool]()
CLI_KEY = pytest.StashKey[list[str]]()
PLUGIN = "harness.plugin.pytest_plugin"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("harness", "bring a stack up for this test session (the harness's CLI)")
    group.addoption("--harness-stack", help="stack.toml: bring its profile up once for the whole session")
    group.addoption("--harness-profile", help="the profile to bring up (default: the stack's default)")
    group.addoption("--harness-instance", help="the instance to use (default: $HARNESS_INSTANCE or 0)")


def harness_cli() -> list[str]:
    """The command that runs the harness's CLI for this session (see the module's docstring)."""
    given = os.environ.get("HARNESS_CLI", "").strip()
    if given:
        return shlex.split(given)
    here = subprocess.run([sys.executable, "-c", "import harness.cli.main"], capture_output=True, text=True)
    if here.returncode == 0:
        return [sys.executable, "-m", "harness"]
    on_path = shutil.which("harness")
    if on_path:
        return [on_path]
    lines = here.stderr.strip().splitlines()
    why = lines[-1] if lines else f"exit {here.returncode}"
    raise pytest.UsageError(
        f"--harness-stack runs the harness's CLI, and there is none here: this Python ({sys.executable}) "
        f"cannot run it ({why}) and no `harness` is on PATH. Set HARNESS_CLI to the harness command of "
        "another environment (HARNESS_CLI=/path/to/tools/bin/harness), or install the harness with its "
        "dependencies into this venv"
    )


def _harness(config: pytest.Config, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [*config.stash[CLI_KEY], "--stack", str(config.getoption("harness_stack"))]
    if config.getoption("harness_instance"):
        argv += ["--instance", str(config.getoption("harness_instance"))]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=1800)


def _bring_up(config: pytest.Config) -> None:
    """``pytest --harness-stack stack.toml``: the stack up once (reused if it already is), its env
    exported before xdist starts workers (they inherit it), and taken down at the end if started here."""
    config.stash[CLI_KEY] = harness_cli()
    profile = config.getoption("harness_profile")
    profile_args = ["--profile", str(profile)] if profile else []
    before = _harness(config, "env", "--show-secrets", *profile_args)  # the tests need them as they are
    if before.returncode:
        raise pytest.UsageError(f"--harness-stack: {before.stderr.strip() or before.stdout.strip()}")
    state = json.loads(before.stdout)
    if set(state["running"]) != set(state["services"]):
        up = _harness(config, "up", *profile_args)
        if up.returncode:
            raise pytest.UsageError(f"--harness-stack: the stack did not come up:\n{up.stderr.strip()}")
        config.stash[STARTED_KEY] = True
    os.environ.update(state["env"])


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("harness_stack", None):
        return
    if not hasattr(config, "workerinput"):
        _bring_up(config)
    if not config.pluginmanager.has_plugin(PLUGIN):
        config.pluginmanager.import_plugin(PLUGIN)


def pytest_unconfigure(config: pytest.Config) -> None:
    if config.stash.get(STARTED_KEY, False):
        down = _harness(config, "down")
        if down.returncode:
            sys.stderr.write(f"harness: down failed: {down.stderr.strip()}\n")
