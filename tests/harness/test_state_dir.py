"""A state directory is trusted only as far as the harness made it: a link planted in it is not
followed, a directory another user owns is refused, a forged state file cannot make it signal a
process that is not the instance's, and a lock it cannot use is one line naming it."""

from __future__ import annotations

import json
import os
import subprocess

import psutil
import pytest

STACK = """
[stack]
name = "trust"
{extra}

[services.api]
command = "{app} --port {port}"
port = {p0}
ready = { http = "/health", timeout = 20 }
"""


def one_line_naming(res: subprocess.CompletedProcess[str], what: str) -> None:
    said = res.stdout + res.stderr
    assert "Traceback" not in said, said
    lines = [line for line in said.splitlines() if what in line]
    assert len(lines) == 1, said


def test_a_lock_link_planted_in_an_absolute_state_dir_is_not_followed(make_stack, tmp_path):
    shared = tmp_path / "shared-state"
    (shared / "0").mkdir(parents=True)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (shared / "0" / "lock").symlink_to(victim)
    sd = make_stack(STACK.replace("{extra}", f'state_dir = "{shared}"'))
    for command in ("status", "up", "down"):
        res = sd.cli(command)
        assert victim.read_text() == "precious\n", f"`{command}` wrote through the link"
        one_line_naming(res, f"{shared / '0' / 'lock'}: it is a symbolic link")
        assert command == "status" or res.returncode == 2


@pytest.mark.skipif(os.geteuid() != 0, reason="only root can give a directory to another user")
def test_a_state_dir_another_user_owns_is_refused_naming_it(make_stack, tmp_path):
    shared = tmp_path / "shared-state"
    (shared / "0").mkdir(parents=True)
    (shared / "0" / "state.json").write_text(json.dumps({"complete": False, "processes": {}}))
    os.chown(shared / "0", 65534, 65534)
    sd = make_stack(STACK.replace("{extra}", f'state_dir = "{shared}"'))
    try:
        for command in ("status", "up", "down"):
            res = sd.cli(command)
            assert res.returncode == 2, res.stderr
            one_line_naming(res, f"state directory {shared / '0'} is owned by user")
        assert sorted(p.name for p in (shared / "0").iterdir()) == ["state.json"], "nothing written there"
    finally:
        os.chown(shared / "0", 0, 0)


def test_a_forged_state_file_cannot_make_status_or_down_signal_another_process(make_stack):
    sd = make_stack(STACK.replace("{extra}", ""))
    stranger = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        entry = {
            "name": "api",
            "pid": stranger.pid,
            "create_time": psutil.Process(stranger.pid).create_time(),  # its true start time
            "argv": ["sleep", "60"],
            "log": "/dev/null",
            "started_at": 0.0,
            "stop_signal": 9,
        }
        sd.state_dir().mkdir(parents=True)
        forged = {"owner_pid": 0, "complete": False, "processes": {"api": entry}}  # a "killed run" to reap
        (sd.state_dir() / "state.json").write_text(json.dumps(forged))
        for command in ("status", "down"):
            res = sd.cli(command)
            assert res.returncode == 0, res.stderr
            assert stranger.poll() is None, f"`{command}` signalled pid {stranger.pid}, which is not the instance's"
        assert f"pid {stranger.pid}" not in res.stderr
    finally:
        stranger.kill()
        stranger.wait()


def test_a_lock_that_is_a_directory_is_named_by_status_up_and_stop(make_stack):
    sd = make_stack(STACK.replace("{extra}", ""))
    lock = sd.state_dir() / "lock"
    lock.mkdir(parents=True)
    for command in (["status"], ["up"], ["stop", "api"]):
        res = sd.cli(*command)
        one_line_naming(res, f"cannot use the lock file {lock}: it is a directory")
        assert command == ["status"] or res.returncode == 2, res.stderr
    lock.rmdir()
