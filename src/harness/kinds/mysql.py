"""MySQL as Debian's MariaDB server (``mariadb-server``): a private server per instance.

``mariadb-install-db`` runs once into ``.harness/<instance>/<service>/data`` (or its directory is
copied from the install cache, ``dircache.py``). As root, the server runs as an unprivileged user
(``run_as``, else the ``mysql`` system user). It reads only its own option file
(``--defaults-file``, so ``/etc/mysql`` plays no part), listens on 127.0.0.1 alone, keeps its
socket and pid file in the data dir, and trades durability for speed (no binary log, the redo log
flushed once a second). An init file, readable only by the server's user, sets the root password
at every start, before the first connection is accepted; once a ``SELECT 1`` as root answers over
TCP, the app user and its databases are made.
"""

from __future__ import annotations

import os
import pwd
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote

from pydantic import Field, model_validator

from harness.config.endpoints import DatabaseEndpoint, Endpoint
from harness.config.models import Port, ServiceModel
from harness.errors import HarnessError
from harness.host.dircache import chown_tree, materialize
from harness.host.probes import Probe
from harness.host.users import server_dir, server_user
from harness.kinds.base import Kind, Launch, ServiceContext

Scalar = str | int | float | bool
HINT = "install Debian's MariaDB server (apt-get install mariadb-server)"
# What the harness sets itself: a setting may not move the server off its data dir or address.
OWNED = {
    "datadir",
    "port",
    "bind_address",
    "socket",
    "pid_file",
    "init_file",
    "skip_networking",
    "user",
    "basedir",
    "tmpdir",
}
# Speed over durability: a test database is thrown away; settings may override any of these.
FAST = {
    "skip-log-bin": None,
    "skip-name-resolve": None,
    "innodb_flush_log_at_trx_commit": "2",
    "innodb_doublewrite": "OFF",
    "innodb_log_file_size": "16M",
    "character-set-server": "utf8mb4",
    "collation-server": "utf8mb4_general_ci",
}
SOCKET_MAX = 107  # sun_path, less its terminating NUL
INSTALLED = ".harness-installed"


class MysqlService(ServiceModel):
    kind: Literal["mysql"] = "mysql"
    port: Port = Field(...)
    user: str = "app"
    password: str = "app"
    database: str = "app"
    databases: list[str] = []
    root_password: str = "root"
    run_as: str | None = None
    settings: dict[str, Scalar] = {}

    @model_validator(mode="after")
    def _checked(self) -> MysqlService:
        if self.user == "root" and self.password != self.root_password:
            raise ValueError(
                "user 'root' is the server's root: its password is root_password; give password the same value, "
                "or use another user"
            )
        taken = sorted(k for k in self.settings if k.replace("-", "_").lower() in OWNED)
        if taken:
            raise ValueError(f"settings.{taken[0]} is set by the harness (data dir, address and socket are its own)")
        return self


@dataclass(frozen=True)
class MysqlEndpoint(DatabaseEndpoint):
    root_password: str = ""


Ctx = ServiceContext[MysqlService, MysqlEndpoint]


@dataclass
class MysqlProbe:
    """``SELECT 1`` over TCP as ``user`` (the root account for readiness and status)."""

    host: str
    port: int
    user: str
    password: str

    @property
    def what(self) -> str:
        return f"SELECT 1 on mysql {self.host}:{self.port}"

    def check(self, timeout: float) -> str | None:
        import pymysql

        try:
            seconds = max(1, int(timeout))
            with (
                pymysql.connect(
                    host=self.host,
                    port=self.port,
                    user=self.user,
                    password=self.password,
                    connect_timeout=seconds,
                    read_timeout=seconds,
                ) as conn,
                conn.cursor() as cur,
            ):
                cur.execute("SELECT 1")
                row = cur.fetchone()
        except pymysql.Error as exc:
            args = exc.args
            return str(args[1] if len(args) > 1 else args[0] if args else type(exc).__name__).strip()
        return None if row == (1,) else f"SELECT 1 answered {row!r}"


def server_bin(binary: str, env_path: str | None) -> str:
    found = shutil.which(binary, path=env_path) or shutil.which(binary, path="/usr/sbin:/usr/bin")
    if not found:
        raise HarnessError(f"mysql: '{binary}' not found on PATH or in /usr/sbin; {HINT}")
    return found


def sql_string(value: str) -> str:
    """A string literal (the init file first clears sql_mode, so backslashes escape)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def ident(name: str) -> str:
    """A name as an identifier (backquoted, backquotes doubled)."""
    return "`" + name.replace("`", "``") + "`"


def grant_target(db: str) -> str:
    """``db``'s tables in a GRANT: its wildcards (``_``, ``%``) escaped, ``%`` doubled for the driver."""
    return ident(db.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%")).replace("%", "%%") + ".*"


def option_text(value: object) -> str:
    return ("ON" if value else "OFF") if isinstance(value, bool) else str(value)


def option_file(ctx: Ctx, data: Path, init_file: Path, as_root: bool) -> str:
    """The server's whole configuration: what the harness owns, the speed defaults, then ``settings``."""
    ep = ctx.endpoint
    owned = {
        "datadir": str(data),
        "port": str(ep.port),
        "bind-address": ep.host,
        "socket": str(data / "mysqld.sock"),
        "pid-file": str(data / "mysqld.pid"),
        "init-file": str(init_file),
        # Its own: the inherited TMPDIR (nox's, a CI job's) may be closed to the server's user.
        "tmpdir": str(data.parent / "tmp"),
    }
    if as_root:
        owned["user"] = "root"  # run_as = "root": mariadbd refuses root unless told so
    chosen: dict[str, str | None] = {**FAST, **{k: option_text(v) for k, v in ctx.svc.settings.items()}}
    lines = ["[mariadbd]", *(f"{k} = {v}" for k, v in owned.items())]
    lines += [k if v is None else f"{k} = {v}" for k, v in chosen.items()]
    return "\n".join(lines) + "\n"


def init_sql(root_password: str) -> str:
    """Run by the server at every start, before it accepts connections: root's password, as set."""
    pw = sql_string(root_password)
    return "\n".join(
        [
            "SET SESSION sql_mode = '';",
            f"CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY {pw};",
            *(f"ALTER USER IF EXISTS 'root'@'{h}' IDENTIFIED BY {pw};" for h in ("localhost", "127.0.0.1", "::1")),
            "GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;",
            "",
        ]
    )


def _run_as(ctx: Ctx) -> pwd.struct_passwd | None:
    where = f"services.{ctx.name}.run_as in {ctx.stack_file}"
    return server_user(ctx.svc.run_as, "mysql", ctx.name, where, f"{HINT} (it makes the 'mysql' user)")


INSTALL_OPTIONS = [
    "--auth-root-authentication-method=normal",
    "--skip-test-db",
    "--skip-name-resolve",
    "--skip-log-bin",
    "--innodb-log-file-size=16M",
    "--innodb-flush-log-at-trx-commit=2",
]
# mariadb-install-db also makes root@<this machine's hostname>, which skip-name-resolve ignores
# with a warning at every start (and which would travel in the install cache): gone.
INSTALL_SQL = """
DELETE FROM mysql.global_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
DELETE FROM mysql.proxies_priv WHERE Host NOT IN ('localhost', '127.0.0.1', '::1');
"""


def _write_private(path: Path, text: str, user: pwd.struct_passwd | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)
    if user is not None:
        os.chown(path, user.pw_uid, user.pw_gid)


class MysqlKind(Kind[MysqlService, MysqlEndpoint]):
    name = "mysql"
    starter = ("mysql", 23306)
    compose_images = ("mysql", "mariadb")
    compose_port = 3306
    model = MysqlService
    extra = "mysql"
    requires = ("pymysql",)

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """The official images' MARIADB_* / MYSQL_* root password, database, user and password."""

        def get(name: str) -> str:
            return environment.get(f"MARIADB_{name}") or environment.get(f"MYSQL_{name}") or ""

        root = get("ROOT_PASSWORD") or "root"
        user = get("USER") or "root"
        password = get("PASSWORD") if user != "root" else root
        return {
            "user": user,
            "password": password or "app",
            "database": get("DATABASE") or "app",
            "root_password": root,
        }

    def endpoint(self, svc: MysqlService, base: Endpoint, instance: int) -> MysqlEndpoint:
        where = f"{base.host}:{base.port}/{quote(svc.database, safe='')}"
        user = quote(svc.user, safe="")
        return MysqlEndpoint.extend(
            base,
            url=f"mysql://{user}@{where}",
            user=svc.user,
            password=svc.password,
            database=svc.database,
            dsn=f"mysql://{user}:{quote(svc.password, safe='')}@{where}",
            root_password=svc.root_password,
        )

    def exports(self, prefix: str, ep: MysqlEndpoint) -> dict[str, str]:
        return {
            f"{prefix}_USER": ep.user,
            f"{prefix}_PASSWORD": ep.password,
            f"{prefix}_DB": ep.database,
            f"{prefix}_DSN": ep.dsn,
        }

    def launch(self, ctx: Ctx) -> Launch:
        mariadbd = server_bin("mariadbd", ctx.env.get("PATH"))
        user = _run_as(ctx)
        root, moved = server_dir(ctx.data_dir, user, ctx.name)
        data = root / "data"
        if len(str(data / "mysqld.sock")) > SOCKET_MAX:
            raise HarnessError(
                f"{ctx.name}: the socket path {data / 'mysqld.sock'} is longer than {SOCKET_MAX} bytes; "
                "set stack.state_dir to a shorter path"
            )
        if user is not None:
            os.chown(root, user.pw_uid, user.pw_gid)
        root.chmod(0o700)
        done = root / INSTALLED  # a data dir whose install was cut short (a killed harness) is made anew
        note = ""
        if not (done.exists() and (data / "mysql").is_dir()):
            done.unlink(missing_ok=True)
            note = self._install(ctx, root, user)
            os.close(os.open(done, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, 0o644))
        (root / "tmp").mkdir(mode=0o700, exist_ok=True)
        if user is not None:
            os.chown(root / "tmp", user.pw_uid, user.pw_gid)
        init_file = root / "init.sql"
        _write_private(init_file, init_sql(ctx.svc.root_password), user)
        as_root = user is not None and user.pw_uid == 0
        cnf = root / "my.cnf"
        _write_private(cnf, option_file(ctx, data, init_file, as_root), user)
        note = "; ".join(filter(None, [note, moved]))
        return Launch(argv=[mariadbd, f"--defaults-file={cnf}"], user=user.pw_name if user else None, note=note)

    def _install(self, ctx: Ctx, root: Path, user: pwd.struct_passwd | None) -> str:
        """mariadb-install-db's data dir, or a copy of the one it made before with the same binaries."""
        data = root / "data"
        shutil.rmtree(data, ignore_errors=True)
        install = server_bin("mariadb-install-db", ctx.env.get("PATH"))
        binaries = [Path(install), Path(server_bin("mariadbd", ctx.env.get("PATH")))]
        key = {str(b): f"{b.stat().st_size}:{b.stat().st_mtime_ns}" for b in binaries}
        key.update(options=" ".join(INSTALL_OPTIONS), sql=INSTALL_SQL)

        def make(target: Path) -> None:
            extra = root / "install.sql"
            _write_private(extra, INSTALL_SQL, user)
            argv = [install, "--no-defaults", f"--datadir={target}", *INSTALL_OPTIONS, f"--extra-file={extra}"]
            if user is not None and user.pw_uid == 0:
                argv.append("--user=root")
            try:
                code = ctx.run_helper(argv, user=user.pw_name if user else None)
            finally:
                extra.unlink(missing_ok=True)
            if code:
                from harness.host.processes import log_tail

                raise HarnessError(
                    f"{ctx.name}: mariadb-install-db failed (exit {code}); last lines of {ctx.log_path}:\n"
                    f"{log_tail(ctx.log_path)}"
                )

        how = materialize("mysql-install-db", key, data, make, ctx.cache)
        if user is not None and how == "restored":
            chown_tree(data, user.pw_uid, user.pw_gid)
        note = "data dir copied from the install cache" if how == "restored" else "data dir made by mariadb-install-db"
        with open(ctx.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- harness: {note} ---\n")
        return note

    def probe(self, ctx: Ctx) -> Probe | None:
        ep = ctx.endpoint
        assert ep.port is not None  # the model requires one
        return MysqlProbe(ep.host, ep.port, "root", ctx.svc.root_password)

    def after_ready(self, ctx: Ctx) -> None:
        import pymysql

        svc, ep = ctx.svc, ctx.endpoint
        with (
            pymysql.connect(host=ep.host, port=ep.port or 0, user="root", password=svc.root_password) as conn,
            conn.cursor() as cur,
        ):
            for db in dict.fromkeys([svc.database, *svc.databases]):
                cur.execute(f"CREATE DATABASE IF NOT EXISTS {ident(db)}")
            if svc.user == "root":  # root keeps root_password (checked at load) and every privilege
                return
            # Any host: the server listens on 127.0.0.1 only, and skip-name-resolve leaves
            # 'localhost' to socket connections.
            account = (svc.user, "%")
            cur.execute("CREATE USER IF NOT EXISTS %s@%s IDENTIFIED BY %s", (*account, svc.password))
            cur.execute("ALTER USER %s@%s IDENTIFIED BY %s", (*account, svc.password))
            for db in dict.fromkeys([svc.database, *svc.databases]):
                cur.execute(f"GRANT ALL PRIVILEGES ON {grant_target(db)} TO %s@%s", account)
            conn.commit()


MYSQL = MysqlKind()
