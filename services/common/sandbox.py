"""Run an untrusted program (session code, ngspice) as an unprivileged uid in a sandbox of its own.

The services call :func:`start`; it runs this file as a script (with only the standard library,
so it works under any interpreter) which, when the service runs as root:

- enters new mount, network and IPC namespaces: the program has no network at all (not even the
  host's loopback, so no Postgres, S3, Temporal or the stack's own HTTP services), and abstract
  Unix sockets (X11's among them) are out of reach;
- builds a new root on a tmpfs holding only ``/usr`` and ``/etc`` (read-only, no setuid), a
  minimal ``/dev``, ``/proc`` (its own processes only), a private ``/tmp`` and the directories it
  is given (each at its own path, read-only unless it is writable), and chroots into it: the
  project's checkout (its ``.env``, logs, ``.harness`` state), other sessions' workspaces and
  every other directory of the machine are simply not there;
- sets hard resource limits, drops every group and switches to the uid (``no_new_privs``, so no
  setuid program gives root back), then executes the program with the environment it is given.

Not run as root, it cannot do any of that: it only sets the limits and runs the program as the
service's own user. A setup that fails is reported on a pipe (``SandboxError``) and the program
never runs: the sandbox fails closed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import subprocess

CLONE_NEWNS, CLONE_NEWIPC, CLONE_NEWNET = 0x00020000, 0x08000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
SYSTEM_DIRS = ("usr", "etc")  # bound read-only; /bin, /lib... are symlinks into /usr on Debian 12
MERGED = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEVICES = ("null", "zero", "full", "random", "urandom")
STAGE = "/tmp"  # where the new root is built, in the private mount namespace only


class SandboxError(RuntimeError):
    """The sandbox could not be set up; the program did not run."""


def command(spec: dict[str, object]) -> list[str]:
    """The argv that runs ``spec`` (see :func:`start`) through this file."""
    return [sys.executable, "-I", "-S", os.path.abspath(__file__), json.dumps(spec)]


def start(
    argv: list[str],
    *,
    uid: int | None,
    env: dict[str, str],
    cwd: str,
    binds: dict[str, bool],
    limits: dict[str, int],
    **popen: Any,
) -> subprocess.Popen[bytes]:
    """Popen ``argv`` in the sandbox; ``binds`` maps host directories to "writable".

    With ``uid`` None (the service is not root) only the limits apply. Raises SandboxError when the
    setup failed (the program did not start).
    """
    import subprocess

    read_end, write_end = os.pipe()
    spec = {
        "argv": argv,
        "uid": uid,
        "env": env,
        "cwd": cwd,
        "binds": binds,
        "limits": limits,
        "status_fd": write_end,
    }
    try:
        # Not root: the program starts in its directory. Root: the script chdirs once in its new root.
        proc = subprocess.Popen(command(spec), cwd=cwd if uid is None else "/", env={}, pass_fds=(write_end,), **popen)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as status:
        problem = status.read().decode("utf-8", "replace")  # empty once the program was executed
    if problem:
        if proc.stdin is not None:
            proc.stdin.close()
        proc.wait()
        raise SandboxError(problem)
    return proc


# -- the script (runs as root, before the program) -----------------------------------------------
_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _mount(source: str | None, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    enc = [None if v is None else v.encode() for v in (source, target, fstype, data)]
    _check(_libc.mount(enc[0], enc[1], enc[2], ctypes.c_ulong(flags), enc[3]), f"mount {target}")


def _bind(source: str, target: str, *, writable: bool, recursive: bool = False) -> None:
    _mount(source, target, None, MS_BIND | (MS_REC if recursive else 0))
    flags = MS_REMOUNT | MS_BIND | MS_NOSUID | MS_NODEV | (0 if writable else MS_RDONLY)
    _mount(None, target, None, flags)


def _makedirs(root: str, path: str) -> str:
    """``path`` inside ``root``, its missing parents made root-owned and enterable (0711)."""
    target = root
    for part in [p for p in path.split("/") if p]:
        target = os.path.join(target, part)
        if not os.path.isdir(target):
            os.mkdir(target, 0o711)
    return target


def _build_root(binds: dict[str, bool]) -> str:
    _check(_libc.unshare(CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWIPC), "unshare")
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # The bound directories are opened before anything is hidden (one may live under STAGE), in
    # the new namespace (a bind's source must be one of its mounts).
    sources = {path: os.open(path, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC) for path in binds}
    root = STAGE
    _mount("tmpfs", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m")
    for name in SYSTEM_DIRS:
        os.mkdir(os.path.join(root, name), 0o755)
        _bind(f"/{name}", os.path.join(root, name), writable=False, recursive=True)
    for name in MERGED:
        host = f"/{name}"
        if os.path.islink(host):
            os.symlink(os.readlink(host), os.path.join(root, name))
        elif os.path.isdir(host):
            os.mkdir(os.path.join(root, name), 0o755)
            _bind(host, os.path.join(root, name), writable=False, recursive=True)
    dev = os.path.join(root, "dev")
    os.mkdir(dev, 0o755)
    _mount("tmpfs", dev, "tmpfs", MS_NOSUID, "mode=0755,size=64k")
    for name in DEVICES:
        open(os.path.join(dev, name), "w").close()
        _mount(f"/dev/{name}", os.path.join(dev, name), None, MS_BIND)
    for name, target in (
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ):
        os.symlink(target, os.path.join(dev, name))
    os.mkdir(os.path.join(dev, "shm"), 0o1777)
    _mount("tmpfs", os.path.join(dev, "shm"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=16m")
    os.mkdir(os.path.join(root, "proc"), 0o555)
    # Other users' processes are invisible (per mount since Linux 5.8; before, the option would
    # change the host's /proc too, so it is left out there).
    per_mount = tuple(int(n) for n in os.uname().release.split(".")[:2] if n.isdigit()) >= (5, 8)
    _mount("proc", os.path.join(root, "proc"), "proc", MS_NOSUID | MS_NODEV, "hidepid=invisible" if per_mount else None)
    os.mkdir(os.path.join(root, "tmp"), 0o1777)
    _mount("tmpfs", os.path.join(root, "tmp"), "tmpfs", MS_NOSUID | MS_NODEV, "mode=1777,size=64m")
    for path, writable in binds.items():
        target = _makedirs(root, path)
        _bind(f"/proc/self/fd/{sources[path]}", target, writable=writable)
        os.close(sources[path])
    _mount(None, root, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    return root


def main(spec: dict[str, Any]) -> None:
    status_fd = int(spec["status_fd"])
    try:
        uid = spec["uid"]
        for name, value in spec["limits"].items():
            resource.setrlimit(getattr(resource, name), (value, value))
        if uid is not None:
            root = _build_root(spec["binds"])
            os.chroot(root)
            os.chdir(spec["cwd"])
            os.setgroups([])
            os.setresgid(uid, uid, uid)
            os.setresuid(uid, uid, uid)
            _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "prctl(no_new_privs)")
            if 0 in (*os.getresuid(), *os.getresgid()):
                raise OSError("still root after dropping privileges")
        argv = [str(a) for a in spec["argv"]]
        os.set_inheritable(status_fd, False)  # closed by the exec: the service reads EOF, "started"
        os.execve(argv[0], argv, spec["env"])
    except Exception as exc:  # reported to the service, which answers with it; nothing ran
        os.write(status_fd, f"{type(exc).__name__}: {exc}".encode())
        os._exit(125)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
