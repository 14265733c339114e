"""What another team's stack file needs: templated suite env, its own Python and PATH, its own .env
choice, test selection relative to the suite, and results that read like pytest's."""

from __future__ import annotations

import os
import sys
import textwrap

import pytest

from harness.errors import ConfigError
from harness.suite.command import test_command as suite_command

from .helpers import plan_of

STACK = """
[stack]
name = "other"
{stack_extra}

[services.db]
kind = "postgres"
port = 25432
password = "${{OTHER_DB_PASSWORD:-pw-from-default}}"

[steps.migrate]
run = "{{python}} -m alembic upgrade head"
after = ["db"]

[profiles.app]
services = ["migrate"]

[suites.api]
profile = "app"
cwd = "backend"
paths = ["tests"]
command = ["{{python}}", "-m", "pytest"]
env = {{ TEST_DB_HOST = "{{db.host}}", TEST_DB_URL = "{{db.dsn}}" }}
"""


def write(tmp_path, stack_extra: str = "", **replace: str):
    text = textwrap.dedent(STACK.format(stack_extra=stack_extra))
    for old, new in replace.items():
        text = text.replace(old, new)
    path = tmp_path / "stack.toml"
    path.write_text(text)
    return path


def test_a_suites_env_is_templated_and_checked_at_load(tmp_path):
    plan = plan_of(write(tmp_path), 1)
    env = plan.suites["api"].env
    assert env["TEST_DB_HOST"] == "127.0.0.1" and env["TEST_DB_URL"].endswith(":25532/app")
    with pytest.raises(ConfigError) as info:
        plan_of(write(tmp_path, **{"{db.host}": "{db.nosuch}"}), 0)
    assert info.value.key == "suites.api.env.TEST_DB_HOST" and "db has" in str(info.value)


def test_a_stack_wide_python_and_path(tmp_path):
    venv_python = tmp_path / "venv" / "bin" / "python"
    venv_python.parent.mkdir(parents=True)
    venv_python.symlink_to(sys.executable)  # as a venv has it: following the link would leave the venv
    plan = plan_of(write(tmp_path, 'python = "venv/bin/python"\npath = ["tools"]'), 0)
    assert plan.python == str(venv_python)
    assert plan.node("migrate").rendered["run"].startswith(f"{venv_python} -m alembic")
    path = plan.node("migrate").env["PATH"].split(os.pathsep)
    assert path[:2] == [str(tmp_path / "tools"), str(venv_python.parent)]
    argv = suite_command(plan, "api", [], tmp_path / "junit.xml")
    assert argv[0] == str(venv_python)
    default = plan_of(write(tmp_path), 0)
    assert default.python == sys.executable


def test_paths_after_the_double_dash_are_the_suites_own_and_replace_its_paths(tmp_path):
    plan = plan_of(write(tmp_path), 0)
    (tmp_path / "backend" / "tests" / "crud").mkdir(parents=True)
    (tmp_path / "backend" / "tests" / "crud" / "test_user.py").write_text("")
    argv = suite_command(plan, "api", ["tests/crud/test_user.py", "-x"], tmp_path / "junit.xml")
    assert "tests/crud/test_user.py" in argv and argv.count("tests") == 0, argv
    whole = suite_command(plan, "api", ["-k", "user"], tmp_path / "junit.xml")
    assert "tests" in whole, "no selection: the suite's own paths"


@pytest.mark.parametrize(
    ("setting", "expected"), [(None, "from-dotenv"), ("false", "pw-from-default"), ('"ci.env"', "from-ci-env")]
)
def test_the_stacks_dotenv_setting_decides_which_file_counts(tmp_path, monkeypatch, setting, expected):
    monkeypatch.delenv("OTHER_DB_PASSWORD", raising=False)
    (tmp_path / ".env").write_text("OTHER_DB_PASSWORD=from-dotenv\n")
    (tmp_path / "ci.env").write_text("OTHER_DB_PASSWORD=from-ci-env\n")
    extra = f"dotenv = {setting}" if setting else ""
    plan = plan_of(write(tmp_path, extra), 0)
    assert plan.stack.services["db"].password == expected
    assert ("OTHER_DB_PASSWORD" in plan.env) == (expected != "pw-from-default")


def test_the_process_environment_wins_over_dotenv(tmp_path, monkeypatch):
    (tmp_path / ".env").write_text("OTHER_DB_PASSWORD=from-dotenv\n")
    monkeypatch.setenv("OTHER_DB_PASSWORD", "from-the-environment")
    assert plan_of(write(tmp_path), 0).stack.services["db"].password == "from-the-environment"


def test_report_and_history_for_suites_without_catalog_ids(tmp_path):
    from rich.console import Console

    from harness.cli.history_view import show_history
    from harness.record.history import append_history
    from harness.record.report import render_html

    case = {
        "nodeid": "t.py::test_a[x-1]",
        "int_id": None,
        "markers": [],
        "outcome": "failed",
        "duration_s": 0.5,
        "message": "boom",
        "backend_logs": {},
    }
    data = {
        "run_id": "r1",
        "suite": "s",
        "git_commit": "c" * 40,
        "started_at": "2026-01-01T00:00:00.000Z",
        "completed_at": "2026-01-01T00:00:01.250Z",
        "duration_s": 1.25,
        "exit_code": 1,
        "status": "failed",
        "backend": "native",
        "failure": "",
        "stages": [],
        "latency": {"endpoints": {}},
        "tests": {"total": 1, "passed": 0, "failed": 1, "errors": 0, "skipped": 0, "cases": [case]},
    }
    html = render_html(data)
    assert "t.py::test_a[x-1]</h3>" in html and "(None)" not in html
    assert "only calls made through the plugin" in html, "says why the latency table is empty"
    append_history(tmp_path / "history.jsonl", data)
    append_history(
        tmp_path / "history.jsonl",
        {**data, "run_id": "r2", "tests": {**data["tests"], "cases": [{**case, "outcome": "passed"}]}},
    )
    console = Console(record=True, width=200)
    show_history(tmp_path / "history.jsonl", console, limit=5)
    assert "t.py::test_a[x-1] @" in console.export_text(), "parametrize ids survive the terminal's markup"


def test_the_suites_own_options_after_the_double_dash_are_taken_out():
    from harness.cli.table import command, own_switches

    args = ["--shard", "1/2", "-k", "x", "--reuse", "tests/a.py", "--group-id", "g", "--sh"]
    own, rest = own_switches(command("suite"), args)
    assert (own.shard, own.reuse, own.keep, own.group_id) == ("1/2", True, False, "g")
    assert rest == ["-k", "x", "tests/a.py", "--sh"], "pytest's own arguments pass through, no abbreviations taken"
