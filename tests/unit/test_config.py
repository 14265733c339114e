"""stack.toml validation: every error kind is one line naming the file and the key."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from harness.errors import ConfigError

from .helpers import plan_of

ROOT = Path(__file__).resolve().parents[2]

GOOD = """
[stack]
name = "demo"

[services.db]
kind = "postgres"
port = 25432
password = "${DEMO_DB_PASSWORD:-pw}"

[services.api]
command = "python -m demo --port {port} --db {db.dsn}"
port = 28000
after = ["db", "migrate"]
ready = { http = "/health" }

[steps.migrate]
run = "alembic upgrade head"
after = ["db"]

[profiles.all]
services = ["api"]

[suites.smoke]
profile = "all"
paths = ["tests"]
"""


def load_stack_file(path: Path):
    """What the CLI does with a stack file: settings (``.env`` included), then instance 0's plan."""
    return plan_of(path).stack


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "stack.toml"
    path.write_text(textwrap.dedent(text))
    return path


def test_good_stack_loads(tmp_path):
    stack = load_stack_file(write(tmp_path, GOOD))
    assert list(stack.services) == ["db", "api"]
    assert stack.task_of("db") == "infra" and stack.task_of("api") == "start"
    assert stack.task_of("migrate") == "migrate"
    assert stack.profile_nodes("all") == ["db", "api", "migrate"]


def test_env_interpolation_uses_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("DEMO_DB_PASSWORD", "from-env")
    assert load_stack_file(write(tmp_path, GOOD)).services["db"].password == "from-env"


def test_env_interpolation_reads_dotenv(tmp_path, monkeypatch):
    monkeypatch.delenv("DEMO_DB_PASSWORD", raising=False)
    (tmp_path / ".env").write_text("DEMO_DB_PASSWORD=from-dotenv\n")
    assert load_stack_file(write(tmp_path, GOOD)).services["db"].password == "from-dotenv"


BAD = {
    "unknown key": (GOOD.replace('name = "demo"', 'name = "demo"\ncolour = "red"'), "stack.colour", "unknown key"),
    "unknown service key": (GOOD.replace("port = 28000", "port = 28000\nprot = 1"), "services.api.prot", "unknown key"),
    "unknown dependency": (
        GOOD.replace('after = ["db", "migrate"]', 'after = ["db", "cache"]'),
        "services.api.after",
        "unknown dependency 'cache'",
    ),
    "cycle": (
        GOOD.replace('run = "alembic upgrade head"\nafter = ["db"]', 'run = "alembic upgrade head"\nafter = ["api"]'),
        "after",
        "dependency cycle",
    ),
    "port clash": (
        GOOD.replace("port = 28000", "port = 25432"),
        "services.api.port",
        "port 25432 is also used by services.db",
    ),
    "missing command": (
        GOOD.replace('command = "python -m demo --port {port} --db {db.dsn}"\n', ""),
        "services.api.command",
        "required key is missing",
    ),
    "step without action": (
        GOOD.replace('run = "alembic upgrade head"\n', ""),
        "steps.migrate",
        "exactly one of 'run'",
    ),
    "unknown kind": (GOOD.replace('kind = "postgres"', 'kind = "nosuch"'), "services.db.kind", "unknown kind 'nosuch'"),
    "unknown placeholder": (GOOD.replace("{db.dsn}", "{db.nope}"), "services.api.command", "unknown placeholder"),
    "unset variable": (
        GOOD.replace("${DEMO_DB_PASSWORD:-pw}", "${HARNESS_TEST_UNSET_VAR}"),
        "services.db.password",
        "HARNESS_TEST_UNSET_VAR",
    ),
    "unknown profile in suite": (
        GOOD.replace('profile = "all"', 'profile = "everything"'),
        "suites.smoke.profile",
        "unknown profile",
    ),
    "snapshot without inputs": (
        GOOD.replace('after = ["db"]\n', 'after = ["db"]\nsnapshot = "db"\n'),
        "steps.migrate",
        "'snapshot' needs 'inputs'",
    ),
    "snapshot of a service not depended on": (
        GOOD.replace('after = ["db"]\n', 'after = ["db"]\ninputs = ["m.py"]\nsnapshot = "api"\n'),
        "steps.migrate.snapshot",
        "'api' is not a service this step runs after",
    ),
    "snapshot of a kind that cannot": (
        GOOD.replace('after = ["db"]\n', 'after = ["db", "cache"]\ninputs = ["m.py"]\nsnapshot = "cache"\n')
        + '[services.cache]\nkind = "redis"\nport = 26379\n',
        "steps.migrate.snapshot",
        "cannot snapshot its data (postgres can)",
    ),
    "bad toml": ("[services\n", "", "not valid TOML"),
    "wrong type": (GOOD.replace("port = 28000", 'port = "eighty"'), "services.api.port", "integer"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_stack_names_file_and_key(tmp_path, case):
    text, key, fragment = BAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_stack_file(path)
    message = str(info.value)
    assert message.startswith(str(path)), message
    assert key in info.value.key or key in message, message
    assert fragment in message, message
    assert "\n" not in message


@pytest.mark.parametrize("case", ["unknown dependency", "cycle", "port clash", "missing command", "unknown key"])
def test_cli_reports_config_errors_as_one_line_and_exit_2(tmp_path, case):
    path = write(tmp_path, BAD[case][0])
    res = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(path), "up"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"COLUMNS": "300", "PATH": "/usr/bin:/bin"},
    )
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], res.stderr


def test_missing_stack_file(tmp_path):
    with pytest.raises(ConfigError, match="no such file"):
        load_stack_file(tmp_path / "nope.toml")


def test_reference_stack_is_valid():
    stack = load_stack_file(ROOT / "stack.toml")
    assert {"postgres", "s3", "temporal", "xvfb"} <= set(stack.services)


UNREADABLE = {
    "not utf-8": (b'[stack]\nname = "x"\n# caf\xe9\n', "line 3: not UTF-8"),
    "nested too deep": (b"x = " + b"[" * 100_000 + b"]" * 100_000 + b"\n", "nested too deeply"),
    "empty": (b"  \n", "the file is empty"),
}


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_stack_files_are_one_line_naming_the_file(tmp_path, case):
    data, fragment = UNREADABLE[case]
    path = tmp_path / "stack.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load_stack_file(path)
    assert str(info.value).startswith(str(path)) and fragment in str(info.value), str(info.value)
    assert "\n" not in str(info.value)


def test_a_directory_is_named_as_such(tmp_path):
    with pytest.raises(ConfigError, match="is a directory, not a stack file"):
        load_stack_file(tmp_path)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any file: a permission error cannot be produced as root")
def test_an_unreadable_file_is_named_as_such(tmp_path):
    path = write(tmp_path, GOOD)
    path.chmod(0)
    try:
        with pytest.raises(ConfigError, match="cannot read it: Permission denied"):
            load_stack_file(path)
    finally:
        path.chmod(0o644)


@pytest.mark.parametrize("command", ['""', '"   "'])
def test_an_empty_command_is_refused_before_anything_starts(tmp_path, command):
    path = write(tmp_path, GOOD.replace('"python -m demo --port {port} --db {db.dsn}"', command))
    with pytest.raises(ConfigError, match=r"services\.api\.command: the command is empty"):
        load_stack_file(path)


def test_an_unknown_placeholder_field_names_what_the_service_has(tmp_path):
    path = write(tmp_path, GOOD.replace("{db.dsn}", "{db.nosuch}"))
    with pytest.raises(ConfigError) as info:
        load_stack_file(path)
    message = str(info.value)
    assert "services.api.command: unknown placeholder {db.nosuch}: db has" in message, message
    for field in ("host", "port", "user", "password", "dsn"):
        assert field in message
    assert "SimpleNamespace" not in message


@pytest.mark.parametrize(
    ("template", "fragment"),
    [("{nosuch}", "unknown placeholder {nosuch} (known:"), ("{db.ports.http}", "db.ports has no named ports")],
)
def test_other_placeholder_mistakes_are_named(tmp_path, template, fragment):
    path = write(tmp_path, GOOD.replace("{db.dsn}", template))
    with pytest.raises(ConfigError, match=re.escape(fragment)):
        load_stack_file(path)


def test_a_kind_whose_extra_is_missing_names_the_extra(tmp_path, monkeypatch):
    from harness.kinds import KINDS

    monkeypatch.setattr(KINDS["postgres"], "requires", ("harness_no_such_module",))
    said = r"services.db.kind: kind 'postgres' needs pip install 'stack-harness\[postgres\]'"
    with pytest.raises(ConfigError, match=said):
        load_stack_file(write(tmp_path, GOOD))


@pytest.mark.parametrize(
    ("edit", "key"),
    [
        ('[stack]\nname = "demo"\nstate_dir = "../../../tmp/x"', "stack.state_dir"),
        ('[stack]\nname = "demo"\nlog_dir = "logs/../../elsewhere"', "stack.log_dir"),
        ('run = "alembic upgrade head"\noutputs = ["../out.txt"]', "steps.migrate.outputs[0]"),
        ('run = "alembic upgrade head"\ncwd = "../.."', "steps.migrate.cwd"),
    ],
)
def test_paths_that_leave_the_project_are_refused(tmp_path, edit, key):
    text = (
        GOOD.replace('[stack]\nname = "demo"', edit)
        if edit.startswith("[stack]")
        else GOOD.replace('run = "alembic upgrade head"', edit)
    )
    with pytest.raises(ConfigError) as info:
        load_stack_file(write(tmp_path, text))
    assert info.value.key == key and "leads outside the project" in str(info.value)


def test_absolute_paths_are_the_users_deliberate_choice(tmp_path):
    text = GOOD.replace('[stack]\nname = "demo"', f'[stack]\nname = "demo"\nstate_dir = "{tmp_path}/state"')
    assert load_stack_file(write(tmp_path, text)).stack.state_dir == f"{tmp_path}/state"


def test_ports_that_collide_at_some_instance_are_refused_at_load(tmp_path):
    text = GOOD.replace('[stack]\nname = "demo"', '[stack]\nname = "demo"\nport_offset = 100\nmax_instance = 5')
    text = text.replace("port = 28000", "port = 25732")  # 25432 + 3 * 100: db of instance 3 is api of instance 0
    with pytest.raises(ConfigError) as info:
        load_stack_file(write(tmp_path, text))
    assert info.value.key == "stack.max_instance" and "collide at instance 3" in str(info.value)
    fine = text.replace("max_instance = 5", "max_instance = 2")
    assert load_stack_file(write(tmp_path, fine)).stack.max_instance == 2


@pytest.mark.parametrize(
    ("extra", "key", "said"),
    [
        ('[tests]\nallow_backend_errors = [{ pattern = "(oops" }]', "tests.allow_backend_errors[0].pattern", "valid"),
        ('[tests]\nallow_backend_errors = [{ pattern = "" }]', "tests.allow_backend_errors[0].pattern", "every error"),
        (
            '[tests]\nallow_backend_errors = [{ pattern = "x", service = "nope" }]',
            "tests.allow_backend_errors[0].service",
            "unknown service 'nope'",
        ),
        ("[services.api.live]\ninterval = 0", "services.api.live", "greater than 0"),
        ('[services.api.ready]\nhttp = "/h"\npasses = 0', "services.api.ready.passes", "greater than or equal to 1"),
    ],
)
def test_watch_and_allowance_settings_are_checked_naming_the_key(tmp_path, extra, key, said):
    text = GOOD.replace('ready = { http = "/health" }\n', "") + "\n" + extra + "\n"
    with pytest.raises(ConfigError) as info:
        load_stack_file(write(tmp_path, text))
    message = str(info.value)
    assert key in message and said in message, message


def _cli(path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(path), "--instance", "15", *args],
        capture_output=True,
        text=True,
        timeout=30,  # a FIFO once hung here for good
        env={**os.environ, "COLUMNS": "300"},
    )


@pytest.mark.parametrize("case", ["link loop", "link to /dev/zero", "fifo"])
def test_a_stack_path_that_is_no_file_is_one_line_at_once(tmp_path, case):
    path = tmp_path / "stack.toml"
    if case == "link loop":
        (tmp_path / "other.toml").symlink_to(path)
        path.symlink_to(tmp_path / "other.toml")
    elif case == "fifo":
        os.mkfifo(path)
    else:
        path.symlink_to("/dev/zero")
    for command in ("status", "up"):
        res = _cli(path, command)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
        lines = [line for line in res.stderr.splitlines() if line.strip()]
        assert len(lines) == 1 and str(path) in lines[0], res.stderr


NUL = "\\u0000"
PAST_LOAD = {
    "NUL in a command": (GOOD.replace("--port {port}", f"--port{NUL} {{port}}"), "services.api.command", "NUL"),
    "NUL in an env value": (GOOD + f'\n[env]\nTOKEN = "a{NUL}b"\n', "env.TOKEN", "NUL"),
    "unbalanced quote in a command": (
        GOOD.replace("--port {port}", "--port '{port}"),
        "services.api.command",
        "no closing quotation",
    ),
    "unbalanced quote in a ready command": (
        GOOD.replace('ready = { http = "/health" }', 'ready = { command = "curl \'{url}" }'),
        "services.api.ready.command",
        "no closing quotation",
    ),
    "unbalanced quote in a step": (
        GOOD.replace('run = "alembic upgrade head"', 'run = "alembic \'upgrade head"'),
        "steps.migrate",
        "'run' cannot be split",
    ),
    "port past 65535 at the highest instance": (
        GOOD.replace('[stack]\nname = "demo"', '[stack]\nname = "demo"\nmax_instance = 20\nport_offset = 100')
        + '\n[services.high]\ncommand = "x {port}"\nport = 64000\n',
        "services.high.port",
        "becomes 66000 at instance 20",
    ),
    "2 MB env value": (
        GOOD + '\n[services.api.env]\nBLOB = "' + "x" * 2_000_000 + '"\n',
        "services.api.env.BLOB",
        "KiB",
    ),
    "suite cwd outside": (
        GOOD.replace('paths = ["tests"]', 'paths = ["tests"]\ncwd = "../../.."'),
        "suites.smoke.cwd",
        "leads outside the project",
    ),
    "durations outside": (GOOD + '\n[tests]\ndurations = "../x"\n', "tests.durations", "leads outside the project"),
    "log_dir a device": (
        GOOD.replace('[stack]\nname = "demo"', '[stack]\nname = "demo"\nlog_dir = "/dev/null"'),
        "stack.log_dir",
        "exists and is not a directory",
    ),
    "redis password with a line break": (
        GOOD + '\n[services.cache]\nkind = "redis"\nport = 26379\npassword = "pw\\nreplicaof 10.0.0.1 6379"\n',
        "services.cache.password",
        "line break",
    ),
    "redis setting with a line break": (
        GOOD + '\n[services.cache]\nkind = "redis"\nport = 26379\nsettings = { maxmemory = "1mb\\nsave 1 1" }\n',
        "services.cache.settings.maxmemory",
        "line break",
    ),
}


@pytest.mark.parametrize("case", sorted(PAST_LOAD))
def test_values_that_would_fail_only_at_start_are_refused_at_load_naming_the_key(tmp_path, case):
    text, key, fragment = PAST_LOAD[case]
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_stack_file(path)
    message = str(info.value)
    assert message.startswith(str(path)) and key in message and fragment in message, message
    assert "\n" not in message
