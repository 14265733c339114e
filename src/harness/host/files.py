"""Writing files whole or not at all, and never through a link someone else planted.

A reader (a CI job uploading the run directory, ``harness summary``, a person, the harness
itself after a crash) never sees half a file: it is written to a temporary name beside the
target and renamed over it.

In a state directory the harness writes and truncates files as whoever runs it, root included,
so a symbolic link planted at one of those names must not redirect the write to the link's
target: such files are opened with ``O_NOFOLLOW`` (:func:`open_nofollow`), and a state
directory another user owns is refused outright (:func:`refuse_foreign`).
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import threading
from pathlib import Path
from typing import Any

from harness.errors import HarnessError

# Never through a link, never kept open across exec, never blocked on a FIFO planted there.
NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


def open_nofollow(path: Path, flags: int, mode: int = 0o644) -> int:
    """``os.open`` that refuses a link or anything but a regular file at ``path``.

    An ``OSError`` says why (ELOOP for a link, EISDIR for a directory); :func:`why_not` words it.
    """
    fd = os.open(path, flags | NOFOLLOW, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(21, "not a regular file", str(path))
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def why_not(path: Path, exc: OSError) -> str:
    """An ``OSError`` from :func:`open_nofollow` as the few words a person needs."""
    if path.is_symlink():
        return "it is a symbolic link (the harness does not follow links in its state directory)"
    if path.is_dir():
        return "it is a directory"
    if path.exists() and not path.is_file():
        return "it is not a regular file"
    return str(exc.strerror or exc).lower()


def write_private(path: Path, text: str, mode: int = 0o600) -> None:
    """``text`` into ``path`` (created or truncated), never through a link at that name."""
    fd = open_nofollow(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_atomic(path: Path, text: str) -> Path:
    """``text`` into ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    tmp.unlink(missing_ok=True)  # our own leftover (a killed run of this pid), or a planted link
    fd = open_nofollow(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, path)  # a link at ``path`` itself is replaced, not followed
    return path


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON, atomically (results.json, merged records, durations)."""
    return write_atomic(path, json.dumps(data, indent=2) + "\n")


def _user(uid: int) -> str:
    try:
        return f"'{pwd.getpwuid(uid).pw_name}' (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def refuse_foreign(*directories: Path, what: str) -> None:
    """Each directory that exists must belong to whoever runs the harness, or to root.

    Another user who owns a state directory can plant links and forged records in it, and
    the harness (root, often, in CI) would write through them or signal the pids they name.
    """
    me = os.geteuid()
    for directory in directories:
        try:
            owner = directory.lstat().st_uid
        except FileNotFoundError:
            continue
        if owner not in (me, 0):
            raise HarnessError(
                f"{what} {directory} is owned by user {_user(owner)}, not by {_user(me)}: the harness does not use "
                "a directory another user can change; remove it, or choose another stack.state_dir"
            )
