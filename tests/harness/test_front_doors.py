"""Invoke tasks and nox sessions come from the command table and stack.toml, with no code change."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.table import COMMANDS

ROOT = Path(__file__).resolve().parents[2]

SEED = """
[steps.seed]
task = "seed"
run = "true"
after = ["migrate"]

[suites.smoke]
description = "a suite added in stack.toml alone"
profile = "backend"
paths = ["tests/integration/architecture_p0/test_health.py"]
"""


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """A copy of the repository's stack.toml (and noxfile.py) with a new step and a new suite."""
    shutil.copy(ROOT / "noxfile.py", tmp_path / "noxfile.py")
    (tmp_path / "stack.toml").write_text((ROOT / "stack.toml").read_text() + SEED)
    return tmp_path


def run(*argv: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=120, cwd=cwd, env={**os.environ, "COLUMNS": "200", **(env or {})}
    )


def invoke_tasks(cwd: Path, env: dict[str, str] | None = None) -> set[str]:
    res = run(sys.executable, "-m", "invoke", "--list", "--list-format", "json", cwd=cwd, env=env)
    assert res.returncode == 0, res.stderr
    return {task["name"] for task in json.loads(res.stdout)["tasks"]}


def test_a_new_task_name_in_stack_toml_is_an_invoke_task(edited):
    before = invoke_tasks(ROOT)
    after = invoke_tasks(ROOT, env={"HARNESS_STACK": str(edited / "stack.toml")})
    assert "seed" not in before and after - before == {"seed"}
    res = run(sys.executable, "-m", "harness", "--stack", str(edited / "stack.toml"), "task", "nosuch", cwd=ROOT)
    assert res.returncode == 2 and "unknown task 'nosuch'" in res.stderr and "seed" in res.stderr


def test_invoke_and_the_cli_describe_the_same_commands():
    tasks = invoke_tasks(ROOT)
    helped = run(sys.executable, "-m", "harness", "--help", cwd=ROOT).stdout
    listed = set(re.search(r"\{([a-z,-]+)\}", helped).group(1).split(","))
    assert listed == {c.name for c in COMMANDS}
    assert {c.name for c in COMMANDS if c.invoke} <= tasks
    lifecycle = {"ngspice", "cots-db", "infra", "migrate", "xvfb", "start", "frontend"}
    assert lifecycle <= tasks, "the reference stack's lifecycle tasks, named in its stack.toml"
    assert tasks <= {c.name for c in COMMANDS} | lifecycle


def test_a_new_suite_in_stack_toml_is_a_nox_session(edited):
    res = run(sys.executable, "-m", "nox", "-l", "-f", str(edited / "noxfile.py"), cwd=edited)
    assert res.returncode == 0, res.stderr
    assert re.search(r"^- integration_smoke \[integration\] -> a suite added in stack.toml alone$", res.stdout, re.M)
    for name in ("integration_p0", "integration_p1", "integration_p2", "integration_frontend"):
        assert re.search(rf"^- {name} \[integration\]", res.stdout, re.M), res.stdout
    assert re.search(r"^\* integration \[integration\] -> every tier", res.stdout, re.M), "what `nox` runs"


def test_invoke_passes_no_stack_unless_configured_so_harness_stack_applies(tmp_path):
    res = run(sys.executable, "-m", "invoke", "status", cwd=ROOT, env={"HARNESS_STACK": str(tmp_path / "none.toml")})
    assert res.returncode == 2
    assert f"{tmp_path / 'none.toml'}: no such file" in res.stderr


BROKEN = """
[services.api]
command = "{python} -c 'raise SystemExit(3)'"
port = {p0}
ready = { http = "/health", timeout = 20 }

[profiles.app]
services = ["api"]

[suites.first]
description = "cannot come up"
profile = "app"

[suites.second]
description = "cannot come up either"
profile = "app"
"""

NOXFILE = """
import nox

from harness.cli.nox_sessions import suite_sessions

nox.options.default_venv_backend = "none"
suite_sessions(lambda session: None)
"""


def test_exit_2_reaches_ci_and_nox_still_runs_every_session(make_stack):
    sd = make_stack(BROKEN)
    (sd.root / "noxfile.py").write_text(NOXFILE)
    res = run(sys.executable, "-m", "nox", "-s", "integration_first", "integration_second", cwd=sd.root)
    out = res.stdout + res.stderr
    assert res.returncode == 2, out
    assert "harness exited 2: the stack could not come up" in out
    assert re.search(r"\* integration_first: aborted", out) and re.search(r"\* integration_second: aborted", out), out
