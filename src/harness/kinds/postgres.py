"""PostgreSQL from the machine's server binaries: a private cluster per instance.

``initdb`` runs once into ``.harness/<instance>/<service>/data``. As root, the server runs as
an unprivileged user (``run_as``, else the ``postgres`` system user), since PostgreSQL refuses
to run as root; its data and socket directories are handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from harness.errors import HarnessError
from harness.kinds.base import Launch, LaunchContext
from harness.probes import PostgresProbe, Probe


def server_bin(binary: str, path: str | None) -> str:
    found = shutil.which(binary, path=path)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{binary}"),
        key=lambda p: int(p.split("/")[4]) if p.split("/")[4].isdigit() else 0,
    )
    if candidates:
        return candidates[-1]
    raise HarnessError(
        f"postgres: '{binary}' not found on PATH or in /usr/lib/postgresql/*/bin; "
        "install the PostgreSQL server (apt-get install postgresql)"
    )


def setting_text(value: object) -> str:
    """A stack.toml value as PostgreSQL spells it (booleans are on/off)."""
    return ("on" if value else "off") if isinstance(value, bool) else str(value)


def _run_as(ctx: LaunchContext) -> pwd.struct_passwd | None:
    name = ctx.svc.run_as
    if name is None:
        if os.geteuid() != 0:
            return None
        name = "postgres"
    try:
        return pwd.getpwnam(name)
    except KeyError:
        raise HarnessError(
            f"{ctx.name}: PostgreSQL refuses to run as root and user '{name}' does not exist; "
            f"create it or set services.{ctx.name}.run_as in {ctx.inst.stack.file}"
        ) from None


def _check_reachable(path: Path, user: pwd.struct_passwd, service: str) -> None:
    """Every parent must be searchable by the server's user, or initdb fails obscurely."""
    for parent in reversed(path.parents):
        st = parent.stat()
        if not (st.st_mode & 0o001 or (st.st_uid == user.pw_uid and st.st_mode & 0o100)):
            raise HarnessError(
                f"{service}: user '{user.pw_name}' cannot enter {parent} (mode {oct(st.st_mode)[-3:]}); "
                "put the checkout somewhere world-searchable or set stack.state_dir"
            )


class PostgresKind:
    def launch(self, ctx: LaunchContext) -> Launch:
        user = _run_as(ctx)
        root = ctx.data_dir
        data, sockets = root / "data", root / "run"
        for d in (root, sockets):
            d.mkdir(parents=True, exist_ok=True)
        if user is not None:
            _check_reachable(root, user, ctx.name)
            for d in (root, sockets):
                os.chown(d, user.pw_uid, user.pw_gid)
        if not (data / "PG_VERSION").exists():
            self._initdb(ctx, data, user)
        argv = [
            server_bin("postgres", ctx.env.get("PATH")),
            "-D",
            str(data),
            "-p",
            str(ctx.view.port),
            "-h",
            ctx.view.host,
            "-k",
            str(sockets),
        ]
        for key, value in ctx.svc.settings.items():
            argv += ["-c", f"{key}={setting_text(value)}"]
        # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for clients to leave.
        return Launch(argv=argv, user=user.pw_name if user else None, stop_signal=signal.SIGINT)

    def _initdb(self, ctx: LaunchContext, data: Path, user: pwd.struct_passwd | None) -> None:
        if data.exists():
            shutil.rmtree(data)
        with tempfile.NamedTemporaryFile("w", dir=ctx.data_dir, delete=False) as pw:
            pw.write(ctx.svc.superuser_password + "\n")
        try:
            if user is not None:
                os.chown(pw.name, user.pw_uid, user.pw_gid)
            argv = [
                server_bin("initdb", ctx.env.get("PATH")),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                f"--pwfile={pw.name}",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ]
            with open(ctx.log_path, "ab") as log:
                res = subprocess.run(
                    argv,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    cwd=ctx.data_dir,
                    user=user.pw_name if user else None,
                    check=False,
                    timeout=120,
                )
        finally:
            os.unlink(pw.name)
        if res.returncode:
            from harness.processes import log_tail

            raise HarnessError(
                f"{ctx.name}: initdb failed (exit {res.returncode}); "
                f"last lines of {ctx.log_path}:\n{log_tail(ctx.log_path)}"
            )

    def _dsn(self, ctx: LaunchContext, database: str = "postgres") -> str:
        v = ctx.view
        return f"postgresql://postgres:{ctx.svc.superuser_password}@{v.host}:{v.port}/{database}"

    def probe(self, ctx: LaunchContext) -> Probe | None:
        return PostgresProbe(self._dsn(ctx), f"{ctx.view.host}:{ctx.view.port}")

    def after_ready(self, ctx: LaunchContext) -> None:
        import psycopg
        from psycopg import sql

        svc = ctx.svc
        with psycopg.connect(self._dsn(ctx), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (svc.user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            conn.execute(
                sql.SQL(verb + " ROLE {} LOGIN CREATEDB PASSWORD {}").format(
                    sql.Identifier(svc.user), sql.Literal(svc.password)
                )
            )
            for db in dict.fromkeys([svc.database, *svc.databases]):
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(svc.user))
                    )


POSTGRES = PostgresKind()
