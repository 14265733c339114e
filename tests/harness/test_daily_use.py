"""What a new team trips over, each kept fixed: a wrong interpreter named at load, short secrets
masked in every file of a run and on the terminal, pytest's usage errors reported as the
configuration errors they are, the hint that names every switch, and a checkout its database's
user cannot enter."""

from __future__ import annotations

import json
import os
import sys
import textwrap
from pathlib import Path

import pytest

from .conftest import owned_processes

SUITE = """
[profiles.api]
services = ["api"]

[suites.checks]
profile = "api"
paths = ["checks"]
"""

API = """
[stack]
name = "daily"
{extra}

[services.api]
command = "{{app}} --port {{port}}"
port = {{p0}}
ready = {{ http = "/health", timeout = 20 }}

[env]
API_PASSWORD = "${{DAILY_API_PASSWORD:-app-pw}}"
"""


def suite_stack(make_stack, test: str, extra: str = "", checks: dict[str, str] | None = None):
    sd = make_stack(API.format(extra=extra) + SUITE)
    (sd.root / "checks").mkdir()
    (sd.root / "checks" / "test_checks.py").write_text(textwrap.dedent(test))
    for name, text in (checks or {}).items():
        (sd.root / "checks" / name).write_text(textwrap.dedent(text))
    return sd


def test_a_python_that_does_not_exist_is_named_at_load_with_its_key(make_stack):
    sd = make_stack(API.format(extra='python = "{root}/../venv/bin/pyhton"'))
    res = sd.cli("up")
    assert res.returncode == 2
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "stack.python" in lines[0] and "does not exist" in lines[0], res.stderr
    assert os.path.abspath(sd.root / ".." / "venv" / "bin" / "pyhton") in lines[0], "the path, {root} rendered"


def test_a_python_with_placeholders_is_rendered_and_recorded(make_stack, tmp_path):
    venv = tmp_path / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").symlink_to(sys.executable)
    sd = suite_stack(
        make_stack,
        """
        import sys

        def test_which_python():
            assert sys.executable
        """,
        extra=f'python = "{{root}}/../../{tmp_path.name}/venv/bin/python"',
    )
    res = sd.cli("suite", "checks", timeout=120)
    assert res.returncode == 0, res.stderr
    shown = next(line for line in res.stderr.splitlines() if line.startswith("$ "))
    assert shown.startswith(f"$ {venv / 'python'} -m pytest"), "the echoed command names the interpreter in full"
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["python"] == str(venv / "python")
    env = json.loads(sd.cli("env").stdout)
    assert env["python"] == str(venv / "python")


def test_a_six_character_password_is_masked_in_every_file_of_the_run_and_on_the_terminal(make_stack):
    sd = suite_stack(
        make_stack,
        """
        import os
        import urllib.request

        def test_leaks_the_password(stack_env):
            url = stack_env["API_URL"] + "/log/ERROR%20login%20failed%20for%20app-pw"
            urllib.request.urlopen(url).read()
            print("the password is", os.environ["API_PASSWORD"])
            assert os.environ["API_PASSWORD"] == "something else"
        """,
    )
    res = sd.cli("suite", "checks", timeout=120, env={"DAILY_API_PASSWORD": "app-pw"})
    assert res.returncode == 1, res.stderr
    assert "app-pw" not in res.stdout + res.stderr, "what the harness relays of pytest's output is masked"
    run = (sd.root / "logs" / "latest").resolve()
    leaked = [str(p.relative_to(run)) for p in run.rglob("*") if p.is_file() and b"app-pw" in p.read_bytes()]
    assert leaked == [], f"files of the run directory holding the password: {leaked}"
    assert len([p for p in run.rglob("*") if p.is_file()]) >= 5, "results.json, junit.xml, the plugin's, logs..."
    assert "***" in (run / "junit.xml").read_text()
    masked = json.loads(sd.cli("env", env={"DAILY_API_PASSWORD": "app-pw"}).stdout)["env"]
    assert masked["API_PASSWORD"] == "***", "harness env masks what it prints"
    shown = json.loads(sd.cli("env", "--show-secrets", env={"DAILY_API_PASSWORD": "app-pw"}).stdout)["env"]
    assert shown["API_PASSWORD"] == "app-pw", "--show-secrets shows them (pytest --harness-stack needs them)"


def test_a_pytest_usage_error_is_a_configuration_error_naming_the_argument(make_stack):
    sd = suite_stack(make_stack, "def test_fine():\n    pass\n")
    res = sd.cli("suite", "checks", "--", "--randomly-seed=1", timeout=120)
    assert res.returncode == 2, res.stderr
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["status"] == "configuration error" and record["exit_code"] == 2
    assert "usage error" in record["failure"] and "--randomly-seed=1" in record["failure"], record["failure"]
    assert owned_processes(sd.state_dir()) == [], "the stack it brought up is down again"


def test_a_collection_error_is_a_configuration_error_naming_the_file(make_stack):
    sd = suite_stack(make_stack, "import not_installed_anywhere\n\ndef test_never():\n    pass\n")
    res = sd.cli("suite", "checks", timeout=120)
    assert res.returncode == 2, res.stderr
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    assert record["status"] == "configuration error"
    assert "not_installed_anywhere" in record["failure"] or "test_checks.py" in record["failure"], record["failure"]


def test_the_backend_error_hint_names_the_marker_the_service_switch_and_the_suite_switch(make_stack):
    tests = "\n".join(
        f"""
def test_{n}(stack_env):
    import urllib.request
    urllib.request.urlopen(stack_env["API_URL"] + "/log/ERROR%20duplicate%20key%20{n}").read()
"""
        for n in range(4)
    )
    sd = suite_stack(make_stack, tests)
    res = sd.cli("suite", "checks", timeout=120)
    assert res.returncode == 1
    record = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    message = record["tests"]["cases"][0]["message"]
    said = " ".join((sd.root / "logs" / "latest" / "junit.xml").read_text().split())
    assert "allow_backend_errors" in said and "backend_errors = false under [services.api]" in said
    assert "[suites.checks]" in said
    assert message.startswith("backend error during the test: api logged")
    summary = " ".join(res.stderr.split())
    assert summary.count("4 of the 4 failures are ERROR lines in api's log") == 1, "said once"
    assert "backend_errors = false under [services.api]" in summary


@pytest.mark.skipif(os.geteuid() != 0, reason="only root runs Postgres as another user, whose reach this is about")
def test_as_root_a_database_in_a_closed_directory_is_kept_where_its_user_can_reach_it(make_stack, tmp_path):
    closed = tmp_path  # pytest's tmp dirs are 0700: the postgres user cannot enter them
    assert not (closed.stat().st_mode & 0o001)
    sd = make_stack("""
    [stack]
    name = "closed"

    [services.db]
    kind = "postgres"
    port = {p0}
    password = "closed-pw"
    """)
    res = sd.cli("up", timeout=120)
    assert res.returncode == 0, res.stderr
    record = sd.state_dir() / "db"
    assert record.is_symlink() and str(os.readlink(record)).startswith("/var/tmp/harness-data/")
    assert "data in /var/tmp/harness-data/" in " ".join(res.stderr.split()) and "cannot enter" in res.stderr
    target = Path(os.readlink(record))
    assert (target / "data" / "PG_VERSION").exists()
    down = sd.cli("down", "--clean")
    assert down.returncode == 0, down.stderr
    assert not target.exists() and not record.exists(), "down --clean removes the data where it was kept"


def test_a_broken_history_or_latest_link_costs_no_run_and_no_line(make_stack):
    sd = suite_stack(make_stack, "def test_fine():\n    pass\n")
    logs = sd.root / "logs"
    (logs / "latest").mkdir(parents=True)
    (logs / "history.jsonl").mkdir()
    res = sd.cli("suite", "checks", timeout=120)
    assert res.returncode == 0, res.stderr
    assert "Traceback" not in res.stdout + res.stderr
    warnings = [line for line in res.stderr.splitlines() if line.startswith("warning: could not update")]
    assert len(warnings) == 2 and all("it is a directory" in w for w in warnings), res.stderr
    said = sd.cli("history")
    assert said.returncode == 2 and "Traceback" not in said.stderr
    assert f"{logs / 'history.jsonl'}: cannot read the run history: is a directory" in said.stderr
    (logs / "latest").rmdir()
    (logs / "history.jsonl").rmdir()
    # A hand-edited line, one not UTF-8, and the torn last line of a run killed while writing it.
    (logs / "history.jsonl").write_bytes(b'["edited"]\n{"run_id": "\xff"}\n{"run_id": "killed", "sui')
    assert sd.cli("suite", "checks", timeout=120).returncode == 0
    run_id = json.loads((logs / "latest" / "results.json").read_text())["run_id"]
    said = sd.cli("history")
    assert said.returncode == 0 and "Traceback" not in said.stdout + said.stderr, said.stderr
    out = " ".join((said.stdout + said.stderr).split())
    assert run_id[:10] in out and "skipped 3 lines" in out, out
