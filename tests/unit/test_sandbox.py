"""services.common.sandbox: what a program started in it can see and do (no services needed)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from services.common import sandbox

ROOT = Path(__file__).resolve().parents[2]
PROBE = """
import json, os, resource, socket, sys
out = {"uid": os.getresuid(), "gid": os.getresgid(), "groups": os.getgroups(), "cwd": os.getcwd(),
       "env": sorted(os.environ), "root": sorted(os.listdir("/")),
       "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)}
for name, path in [("checkout", CHECKOUT), ("stack", CHECKOUT + "/stack.toml"), ("shadow", "/etc/shadow"),
                   ("init_environ", "/proc/1/environ")]:
    try:
        open(path, "rb").read(1) if not os.path.isdir(path) else os.listdir(path)
        out[name] = "read"
    except OSError as exc:
        out[name] = type(exc).__name__
try:
    socket.create_connection(("127.0.0.1", 22), timeout=2)
    out["tcp"] = "connected"
except OSError as exc:
    out["tcp"] = type(exc).__name__
for name, path in [("write_own", "mine.txt"), ("write_root", "/evil"), ("write_usr", "/usr/evil")]:
    try:
        open(path, "w").write("x")
        out[name] = "written"
    except OSError as exc:
        out[name] = type(exc).__name__
print(json.dumps(out))
"""


def run(tmp_path: Path, uid: int | None) -> dict:
    if uid is not None:
        os.chown(tmp_path, uid, uid)
    code = f"CHECKOUT = {str(ROOT)!r}\n" + PROBE
    proc = sandbox.start(
        ["/usr/bin/python3", "-I", "-c", "import sys; exec(sys.stdin.read())"],
        uid=uid,
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=str(tmp_path),
        binds={str(tmp_path): True},
        limits={"RLIMIT_NOFILE": 64},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = proc.communicate(code.encode(), timeout=60)
    assert proc.returncode == 0, err.decode()
    return json.loads(out)


@pytest.mark.skipif(os.geteuid() != 0 or not Path("/usr/bin/python3").exists(), reason="builds namespaces: root only")
def test_as_root_the_program_is_unprivileged_alone_and_offline(tmp_path):
    seen = run(tmp_path, 250_001)
    assert seen["uid"] == [250_001] * 3 and seen["gid"] == [250_001] * 3 and seen["groups"] == []
    assert seen["cwd"] == str(tmp_path)
    assert set(seen["env"]) <= {"HOME", "PATH", "LC_CTYPE"}, "only what it was given (and Python's locale)"
    assert set(seen["root"]) <= {"usr", "etc", "bin", "sbin", "lib", "lib32", "lib64", "libx32", "dev", "proc", "tmp"}
    assert seen["checkout"] == seen["stack"] == "FileNotFoundError", "the project is not there"
    assert seen["shadow"] == "PermissionError"
    # Other users' processes are not in its /proc (hidepid, Linux 5.8 on); their environment is closed anyway.
    assert seen["init_environ"] in ("FileNotFoundError", "PermissionError")
    assert seen["tcp"] == "OSError", "no network, not even the host's loopback"
    assert seen["write_own"] == "written" and (tmp_path / "mine.txt").stat().st_uid == 250_001
    assert seen["write_root"] == seen["write_usr"] == "OSError", "read-only"
    assert seen["nofile"] == [64, 64]
    assert not Path("/evil").exists() and not Path("/usr/evil").exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="builds namespaces: root only")
def test_a_setup_that_fails_runs_nothing(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="No such file"):
        sandbox.start(
            ["/usr/bin/true"],
            uid=250_001,
            env={},
            cwd="/",
            binds={str(tmp_path / "missing"): True},
            limits={},
            stdin=subprocess.DEVNULL,
        )


def test_without_a_uid_only_the_limits_apply(tmp_path):
    proc = sandbox.start(
        ["/bin/sh", "-c", "ulimit -n; pwd"],
        uid=None,
        env={"PATH": "/usr/bin:/bin"},
        cwd=str(tmp_path),
        binds={},
        limits={"RLIMIT_NOFILE": 32},
        stdout=subprocess.PIPE,
    )
    out, _ = proc.communicate(timeout=30)
    assert out.decode().split() == ["32", str(tmp_path)]
