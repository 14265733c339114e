"""Servers that must not run as root: which system user runs them, and whether it can reach its data.

PostgreSQL refuses root, and MariaDB and RabbitMQ should not have it. As root, the harness runs
such a server as a system user (the package's own, or ``run_as``); that user must be able to
enter every directory above its data, or the server fails with an error that names none of them.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
from pathlib import Path

from harness.errors import HarnessError


def server_user(run_as: str | None, default: str, service: str, where: str, hint: str) -> pwd.struct_passwd | None:
    """``run_as``, else ``default`` when the harness is root, else None (run as the harness's user).

    ``where`` names the setting (``services.X.run_as in stack.toml``); ``hint`` says what makes
    the default user (its package).
    """
    name = run_as or (default if os.geteuid() == 0 else None)
    if name is None:
        return None
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise HarnessError(f"{service}: user '{name}' does not exist to run it as; {hint}, or set {where}") from None


RELOCATED = Path("/var/tmp/harness-data")  # data of servers whose user cannot reach the state dir


def blocking_dir(path: Path, user: pwd.struct_passwd) -> Path | None:
    """The first directory above ``path`` that ``user`` cannot enter (search), or None."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == user.pw_uid and st.st_mode & 0o100)):
            return parent
    return None


def server_dir(path: Path, user: pwd.struct_passwd | None, service: str) -> tuple[Path, str]:
    """Where a server keeps its data: ``path``, unless its user cannot enter a directory above it.

    A server run as its own user (``server_user``) must reach its data dir, or it fails with an
    error naming none of the directories in the way (a checkout under ``/root``, a ``mktemp -d``
    one). As root, the harness then keeps the data in ``RELOCATED``, which that user can reach,
    and ``path`` becomes a link to it (``down --clean`` follows it); the second value says so,
    for the stage's detail. Unprivileged, nothing can be moved: the error names the directory.
    """
    if path.is_symlink():  # moved by an earlier start: the data is there
        target = Path(os.readlink(path))
        if RELOCATED not in target.parents:  # not a link of ours: it would be chowned to the server's user
            raise HarnessError(
                f"{service}: {path} is a link to {target}, which the harness did not make; remove the link"
            )
        return target, f"data in {target}"
    path.parent.mkdir(parents=True, exist_ok=True)
    blocked = blocking_dir(path, user) if user is not None else None
    if blocked is None or user is None:
        path.mkdir(exist_ok=True)
        return path, ""
    if os.geteuid() != 0:
        raise HarnessError(
            f"{service}: user '{user.pw_name}' cannot enter {blocked} (mode {oct(blocked.stat().st_mode)[-3:]}); "
            "put the checkout somewhere world-searchable or set stack.state_dir"
        )
    RELOCATED.mkdir(mode=0o711, exist_ok=True)
    target = RELOCATED / f"{hashlib.sha256(str(path).encode()).hexdigest()[:12]}-{path.name}"
    target.mkdir(exist_ok=True)
    if path.is_dir():  # made before, unreachable to its server: nothing in it it could have used
        shutil.rmtree(path)
    path.symlink_to(target)
    return target, f"data in {target} (user '{user.pw_name}' cannot enter {blocked})"


def remove_data(path: Path) -> None:
    """A state dir's entry, gone: with the data a link of ``server_dir``'s leads to."""
    if path.is_symlink():
        target = Path(os.readlink(path))
        if RELOCATED in target.parents:
            shutil.rmtree(target, ignore_errors=True)
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
