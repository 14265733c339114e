"""Servers that must not run as root: which system user runs them, and whether it can reach its data.

PostgreSQL refuses root, and MariaDB and RabbitMQ should not have it. As root, the harness runs
such a server as a system user (the package's own, or ``run_as``); that user must be able to
enter every directory above its data, or the server fails with an error that names none of them.
"""

from __future__ import annotations

import os
import pwd
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


def check_reachable(path: Path, user: pwd.struct_passwd, service: str) -> None:
    """Every parent of ``path`` must be searchable by ``user``, or its server fails obscurely."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == user.pw_uid and st.st_mode & 0o100)):
            raise HarnessError(
                f"{service}: user '{user.pw_name}' cannot enter {parent} (mode {oct(st.st_mode)[-3:]}); "
                "put the checkout somewhere world-searchable or set stack.state_dir"
            )
