"""`harness init`: the file it writes loads, each commented line loads uncommented, its shape is the project's."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness.cli.scaffold import STARTERS, Shape, ignore_in_git, init, written_dirs
from harness.config.settings import resolve_settings
from harness.errors import HarnessError
from harness.runtime.plan import read_stack

COMMENTED = re.compile(r"^# (\w+) = ", re.M)


def load(path: Path):
    return read_stack(resolve_settings(stack=str(path), environ={}))


@pytest.mark.parametrize(
    ("kinds", "shape"),
    [
        (["postgres", "redis"], Shape()),
        (list(STARTERS), Shape()),
        (["postgres", "redis"], Shape.of(library=True, app=None, migrate=None)),
        ([], Shape.of(library=True, app=None, migrate=None)),
        (["mysql"], Shape.of(library=False, app="{python} app.py --port {port}", migrate=None)),
    ],
)
def test_every_commented_line_loads_when_uncommented(tmp_path, kinds, shape):
    target = init(tmp_path / "stack.toml", kinds, shape=shape)
    text = target.read_text()
    load(target)
    lines = text.splitlines()
    commented = [i for i, line in enumerate(lines) if COMMENTED.match(line)]
    assert len(commented) > 30, "every key the harness reads, written out"
    for i in commented:
        target.write_text("\n".join([*lines[:i], lines[i][2:], *lines[i + 1 :]]) + "\n")
        try:
            load(target)
        except HarnessError as exc:
            pytest.fail(f"uncommented, line {i + 1} ({lines[i]!r}) does not load: {exc}")


def test_a_library_has_no_app_and_no_migration_and_its_profile_is_its_services(tmp_path):
    stack = load(
        init(tmp_path / "stack.toml", ["postgres", "redis"], shape=Shape.of(library=True, app=None, migrate=None))
    )
    assert set(stack.services) == {"db", "cache"} and stack.steps == {}
    assert stack.suites["tests"].profile == "deps" and stack.profiles["deps"].services == ["db", "cache"]


def test_the_app_and_migration_commands_are_the_ones_given(tmp_path):
    shape = Shape.of(library=False, app="{python} -m shop --port {port}", migrate="{python} manage.py migrate")
    stack = load(init(tmp_path / "stack.toml", ["postgres"], shape=shape))
    assert stack.services["app"].command == "{python} -m shop --port {port}"
    assert stack.steps["migrate"].run == "{python} manage.py migrate" and stack.services["app"].after == [
        "db",
        "migrate",
    ]


def test_a_library_with_an_app_is_refused():
    with pytest.raises(HarnessError, match="--library has no app"):
        Shape.of(library=True, app="x", migrate=None)


def test_gitignore_gets_the_state_and_the_records_once(tmp_path):
    (tmp_path / ".gitignore").write_text("node_modules/\nlogs")
    assert ignore_in_git(tmp_path, [".harness/", "logs/"]) == [".harness/"], "logs is already ignored"
    assert ignore_in_git(tmp_path, [".harness/", "logs/"]) == []
    assert (tmp_path / ".gitignore").read_text() == "node_modules/\nlogs\n.harness/\n"


def test_what_init_writes_keeps_everything_in_one_directory_to_ignore(tmp_path):
    stack = load(init(tmp_path / "stack.toml", ["postgres"])).stack
    assert written_dirs(stack) == [".harness/"]
    assert written_dirs(stack.model_copy(update={"log_dir": "logs", "state_dir": "/var/tmp/x"})) == ["logs/"]


def test_init_gitignore_beside_an_existing_file_only_adds_the_lines(tmp_path):
    from io import StringIO

    from rich.console import Console

    from harness.cli.main import main

    stack = tmp_path / "stack.toml"
    out = StringIO()
    assert main(["--stack", str(stack), "init", "--library", "--postgres"], Console(file=out)) == 0
    before = stack.read_text()
    assert "harness init --gitignore does" in out.getvalue()
    assert main(["--stack", str(stack), "init", "--gitignore"], Console(file=out)) == 0
    assert stack.read_text() == before and (tmp_path / ".gitignore").read_text() == ".harness/\n"
    assert main(["--stack", str(stack), "init", "--redis"], Console(file=out)) == 2, "kept unless --force"
    assert "exists; move it away, or pass --force" in out.getvalue()
