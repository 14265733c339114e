"""PostgreSQL from the machine's server binaries: a private cluster per instance.

``initdb`` runs once into ``.harness/<instance>/<service>/data`` (or its cluster is copied from the
initdb cache, ``dircache.py``), built under another name and renamed when whole, so a harness killed
half-way leaves nothing the next ``up`` takes for a cluster. As root, the server runs as an
unprivileged user (``run_as``, else the ``postgres`` system user), since PostgreSQL refuses to run
as root; its data and socket directories are handed to that user, the socket directory closed to
everyone else. Once it answers, the app role and its databases are created through the superuser.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from harness.config.endpoints import DatabaseEndpoint, Endpoint
from harness.config.models import ContainerModel, Port
from harness.errors import HarnessError, command_hint
from harness.host.dircache import chown_tree, materialize
from harness.host.files import write_private
from harness.host.probes import Probe, ProbeFailed
from harness.host.users import server_dir, server_user
from harness.kinds.base import Kind, Launch, ServiceContext

Scalar = str | int | float | bool
Method = Literal["trust", "scram"]


class PostgresService(ContainerModel):
    kind: Literal["postgres"] = "postgres"
    port: Port = Field(...)
    user: str = "app"
    password: str = "app"
    database: str = "app"
    databases: list[str] = []
    superuser_password: str = "postgres"
    run_as: str | None = None
    settings: dict[str, Scalar] = {}
    # How connections authenticate: one method for both, or {local = ..., host = ...}.
    auth: Method | dict[Literal["local", "host"], Method] = "scram"
    superuser: bool = False  # the app role's privileges
    createdb: bool = True

    @model_validator(mode="after")
    def _app_role_is_not_the_superuser_with_another_password(self) -> PostgresService:
        if self.user == "postgres" and self.password != self.superuser_password:
            raise ValueError(
                "user 'postgres' is the superuser: its password is superuser_password; give password the same "
                "value, or use another user (superuser = true gives it every privilege)"
            )
        return self

    def method(self, connection: str) -> str:
        chosen = self.auth if isinstance(self.auth, str) else self.auth.get(connection, "scram")  # type: ignore[call-overload]
        return "scram-sha-256" if chosen == "scram" else "trust"


@dataclass(frozen=True)
class PostgresEndpoint(DatabaseEndpoint):
    superuser_password: str = ""


Ctx = ServiceContext[PostgresService, PostgresEndpoint]


@dataclass
class PostgresProbe:
    dsn: str
    label: str

    @property
    def what(self) -> str:
        return f"SELECT 1 on {self.label}"

    def check(self, timeout: float) -> str | None:
        import psycopg

        try:
            with psycopg.connect(self.dsn, connect_timeout=max(1, int(timeout))) as conn:
                conn.execute("SELECT 1").fetchone()
            return None
        except psycopg.Error as exc:
            text = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            if "password authentication failed" in text:
                # Waiting cannot help: say so at once, and what does.
                raise ProbeFailed(
                    f"{self.label}: {text}: the cluster's superuser password differs from superuser_password "
                    "(set when its cluster was made); `harness down --clean` makes a new cluster"
                ) from None
            return text


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


def _run_as(ctx: Ctx) -> pwd.struct_passwd | None:
    return server_user(
        ctx.svc.run_as,
        "postgres",
        ctx.name,
        f"services.{ctx.name}.run_as in {ctx.stack_file}",
        "PostgreSQL refuses to run as root; install the PostgreSQL server (it makes the 'postgres' user)",
    )


def _apply_auth(hba: Path, svc: PostgresService) -> None:
    """pg_hba.conf's methods as the settings say, also for a cluster made with other ones."""
    try:
        text = hba.read_text()
    except OSError:
        return
    lines = []
    for line in text.splitlines():
        kind = line.split()[:1]
        if kind in (["local"], ["host"]):
            line = re.sub(r"\b(trust|scram-sha-256|md5|peer)\s*$", svc.method(kind[0]), line)
        lines.append(line)
    if lines != text.splitlines():
        write_private(hba, "\n".join(lines) + "\n")


MADE_WITH = ".harness-initdb.json"  # what initdb fixed for good: a later change needs a new cluster
PARTIAL = "data.partial"  # a cluster being made or copied; renamed to data once whole
PW_FILE = ".initdb-pw-"  # the superuser password, for initdb only


def _fixed_at_initdb(svc: PostgresService) -> dict[str, str]:
    return {"superuser_password": hashlib.sha256(svc.superuser_password.encode()).hexdigest()}


def _initdb_key(ctx: Ctx) -> dict[str, str]:
    """What shapes the cluster initdb makes: the server's binary and the settings fixed at initdb."""
    binary = Path(server_bin("initdb", ctx.env.get("PATH")))
    made = {"initdb": str(binary), "size": str(binary.stat().st_size), "mtime": str(binary.stat().st_mtime_ns)}
    return {**made, **_fixed_at_initdb(ctx.svc)}


def _check_unchanged(ctx: Ctx, data: Path) -> None:
    try:
        made_with = json.loads((data / MADE_WITH).read_text())
    except (OSError, ValueError):
        return  # a cluster from before this check: nothing recorded to compare
    changed = [k for k, v in _fixed_at_initdb(ctx.svc).items() if made_with.get(k) != v]
    if changed:
        raise HarnessError(
            f"{ctx.name}: {', '.join(f'services.{ctx.name}.{k}' for k in changed)} changed since its cluster was "
            f"made in {data}, and an existing cluster keeps the old value; "
            f"{command_hint('down --clean', ctx.instance)} deletes the instance's data so the next up makes "
            "a new cluster"
        )


def ident(name: str) -> str:
    """A name as an SQL identifier (quoted, quotes doubled)."""
    return '"' + name.replace('"', '""') + '"'


@dataclass
class TemplateDatabases:
    """The service's databases copied inside the cluster (``CREATE DATABASE ... TEMPLATE``: a file
    copy, milliseconds for a migrated schema): a data step's snapshots, and each test worker's copies.

    Snapshots (``snap_<tag>_<db>``, closed to connections) are taken right after the step; restoring
    drops each database (its sessions ended) and makes it again from its snapshot. They live in the
    cluster, so a new cluster (``down --clean``) has none and the step runs. A worker's copy
    (``<db>_iso_gw0``) is made from the snapshot when there is one, so it never waits on the services
    using the database; else from the database, which PostgreSQL copies only while no one else is
    connected to it (said, with the fix).
    """

    dsn: str
    databases: list[str]
    owner: str
    endpoint: PostgresEndpoint
    service: str

    def sql(self, *statements: str, args: tuple[Any, ...] = ()) -> list[Any]:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            cursors = [conn.execute(st.encode(), args or None) for st in statements]
            return [row[0] for cur in cursors if cur.description for row in cur.fetchall()]

    def snapshot_name(self, tag: str, db: str) -> str:
        """The name of ``db``'s snapshot for ``tag`` (a database name holds at most 63 bytes)."""
        return f"snap_{tag[:12]}_{db}"[:63]

    def has(self, tag: str) -> bool:
        copies = [self.snapshot_name(tag, db) for db in self.databases]
        return len(self.sql("SELECT datname FROM pg_database WHERE datname = ANY(%s)", args=(copies,))) == len(copies)

    def save(self, tag: str) -> str | None:
        import psycopg

        stale = self.sql(r"SELECT datname FROM pg_database WHERE datname LIKE 'snap\_%'")
        try:
            self.sql(*(f"DROP DATABASE {ident(name)}" for name in stale))
            for db in self.databases:
                copy, source = ident(self.snapshot_name(tag, db)), ident(db)
                self.sql(f"CREATE DATABASE {copy} TEMPLATE {source}", f"ALTER DATABASE {copy} ALLOW_CONNECTIONS false")
        except psycopg.errors.ObjectInUse as exc:
            return str(exc).strip().splitlines()[0]
        return None

    def restore(self, tag: str) -> None:
        self._remake(tag)

    def empty(self) -> None:
        self._remake(None)

    def _remake(self, tag: str | None) -> None:
        """Each database dropped (its sessions ended) and made again: from its snapshot, or empty."""
        for db in self.databases:
            template = f" TEMPLATE {ident(self.snapshot_name(tag, db))}" if tag else ""
            drop = f"DROP DATABASE IF EXISTS {ident(db)} WITH (FORCE)"
            self.sql(drop, f"CREATE DATABASE {ident(db)} OWNER {ident(self.owner)}{template}")

    @staticmethod
    def copy_name(db: str, tag: str) -> str:
        return db[: 63 - len(f"_iso_{tag}")] + f"_iso_{tag}"

    def make(self, tag: str, workers: int) -> PostgresEndpoint:
        import psycopg

        saved = self.sql(r"SELECT datname FROM pg_database WHERE datname LIKE 'snap\_%'")  # one tag: save drops others
        for db in self.databases:
            template = next((name for name in saved if name == self.snapshot_name(name[5:17], db)), db)
            copy = ident(self.copy_name(db, tag))
            try:
                drop = f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)"
                self.sql(drop, f"CREATE DATABASE {copy} OWNER {ident(self.owner)} TEMPLATE {ident(template)}")
            except psycopg.errors.ObjectInUse:
                raise HarnessError(
                    f"{self.service}: database '{db}' has other sessions (the services using it), and PostgreSQL "
                    "copies a database only while no one else is connected; give the step that sets it up "
                    f'snapshot = "{self.service}" so the workers\' copies come from its snapshot, or take '
                    f"'{self.service}' out of the suite's isolate"
                ) from None
        ep, copy = self.endpoint, self.copy_name(self.endpoint.database, tag)
        url, dsn = (f"{u.rsplit('/', 1)[0]}/{copy}" for u in (ep.url, ep.dsn))
        return dataclasses.replace(ep, database=copy, url=url, dsn=dsn)

    def drop(self, tag: str) -> None:
        self.sql(*(f"DROP DATABASE IF EXISTS {ident(self.copy_name(db, tag))} WITH (FORCE)" for db in self.databases))

    def describe(self, tag: str) -> str:
        names = [self.copy_name(db, tag) for db in self.databases]
        return f"database{'s' if len(names) > 1 else ''} {', '.join(names)}"


class PostgresKind(Kind[PostgresService, PostgresEndpoint]):
    name = "postgres"
    starter = ("db", 25432)
    compose_images = ("postgres", "postgis/postgis")
    compose_port = 5432
    model = PostgresService
    extra = "postgres"
    requires = ("psycopg",)
    can_snapshot = True
    can_isolate = True

    def from_compose(self, environment: Mapping[str, str], command: Sequence[str]) -> dict[str, Any]:
        """The official image's POSTGRES_USER (default postgres), POSTGRES_PASSWORD and POSTGRES_DB."""
        user = environment.get("POSTGRES_USER") or "postgres"
        password = environment.get("POSTGRES_PASSWORD") or "postgres"
        # Its one role is the superuser: the harness's superuser gets the same password.
        database = environment.get("POSTGRES_DB") or user
        return {"user": user, "password": password, "database": database, "superuser_password": password}

    def endpoint(self, svc: PostgresService, base: Endpoint, instance: int) -> PostgresEndpoint:
        where = f"{base.host}:{base.port}/{svc.database}"
        return PostgresEndpoint.extend(
            base,
            url=f"postgresql://{svc.user}@{where}",
            user=svc.user,
            password=svc.password,
            database=svc.database,
            dsn=f"postgresql://{svc.user}:{svc.password}@{where}",
            superuser_password=svc.superuser_password,
        )

    def exports(self, prefix: str, ep: PostgresEndpoint) -> dict[str, str]:
        return {
            f"{prefix}_USER": ep.user,
            f"{prefix}_PASSWORD": ep.password,
            f"{prefix}_DB": ep.database,
            f"{prefix}_DSN": ep.dsn,
        }

    def compose_env(self, svc: PostgresService, ep: PostgresEndpoint) -> dict[str, str]:
        return {
            "SUPERUSER_PASSWORD": svc.superuser_password,
            "SETTINGS": " ".join(f"-c {k}={setting_text(v)}" for k, v in svc.settings.items()),
        }

    def launch(self, ctx: Ctx) -> Launch:
        user = _run_as(ctx)
        root, moved = server_dir(ctx.data_dir, user, ctx.name)
        data, sockets = root / "data", root / "run"
        sockets.mkdir(exist_ok=True)
        if user is not None:
            for d in (root, sockets):
                os.chown(d, user.pw_uid, user.pw_gid)
        sockets.chmod(0o700)
        made = self._new_cluster(ctx, root, user) if not (data / "PG_VERSION").exists() else ""
        note = "; ".join(filter(None, [made, moved]))
        _check_unchanged(ctx, data)
        _apply_auth(data / "pg_hba.conf", ctx.svc)
        ep = ctx.endpoint
        postgres = server_bin("postgres", ctx.env.get("PATH"))
        argv = [postgres, "-D", str(data), "-p", str(ep.port), "-h", ep.host, "-k", str(sockets)]
        for key, value in ctx.svc.settings.items():
            argv += ["-c", f"{key}={setting_text(value)}"]
        # SIGINT is PostgreSQL's "fast" shutdown; SIGTERM would wait for clients to leave.
        return Launch(argv=argv, user=user.pw_name if user else None, stop_signal=signal.SIGINT, note=note)

    def _new_cluster(self, ctx: Ctx, root: Path, user: pwd.struct_passwd | None) -> str:
        """initdb's cluster, or a copy of the one it made before with the same binary and settings."""
        data, partial = root / "data", root / PARTIAL
        shutil.rmtree(data, ignore_errors=True)
        shutil.rmtree(partial, ignore_errors=True)  # what a killed harness left of the last attempt
        for stale in root.glob(f"{PW_FILE}*"):  # with the password file it gave initdb
            stale.unlink()
        make = lambda d: self._initdb(ctx, root, d, user)  # noqa: E731
        how = materialize("postgres-initdb", _initdb_key(ctx), partial, make, ctx.cache)
        if user is not None and how == "restored":
            chown_tree(partial, user.pw_uid, user.pw_gid)
        os.rename(partial, data)  # only a whole cluster, owned by its server's user, is ever called data
        with open(ctx.log_path, "a", encoding="utf-8") as log:
            note = "cluster copied from the initdb cache" if how == "restored" else "cluster made by initdb"
            log.write(f"--- harness: {note.replace(' by initdb', '')} ---\n")
        return note

    def _initdb(self, ctx: Ctx, root: Path, data: Path, user: pwd.struct_passwd | None) -> None:
        with tempfile.NamedTemporaryFile("w", dir=root, prefix=PW_FILE, delete=False) as pw:
            pw.write(ctx.svc.superuser_password + "\n")
        try:
            if user is not None:
                os.chown(pw.name, user.pw_uid, user.pw_gid)
            argv = [server_bin("initdb", ctx.env.get("PATH")), "-D", str(data), "-U", "postgres", f"--pwfile={pw.name}"]
            argv += ["--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
            code = ctx.run_helper(argv, user=user.pw_name if user else None)
        finally:
            os.unlink(pw.name)
        if code:
            from harness.host.processes import log_tail

            raise HarnessError(
                f"{ctx.name}: initdb failed (exit {code}); last lines of {ctx.log_path}:\n{log_tail(ctx.log_path)}"
            )
        write_private(data / MADE_WITH, json.dumps(_fixed_at_initdb(ctx.svc)), 0o644)

    def _dsn(self, ctx: Ctx, database: str = "postgres") -> str:
        ep = ctx.endpoint
        return f"postgresql://postgres:{ctx.svc.superuser_password}@{ep.host}:{ep.port}/{database}"

    def probe(self, ctx: Ctx) -> Probe | None:
        return PostgresProbe(self._dsn(ctx), f"{ctx.endpoint.host}:{ctx.endpoint.port}")

    def snapshots(self, ctx: Ctx) -> TemplateDatabases:
        databases = list(dict.fromkeys([ctx.svc.database, *ctx.svc.databases]))
        return TemplateDatabases(self._dsn(ctx), databases, ctx.svc.user, ctx.endpoint, ctx.name)

    copies = snapshots

    def after_ready(self, ctx: Ctx) -> None:
        import psycopg
        from psycopg import sql

        svc = ctx.svc
        with psycopg.connect(self._dsn(ctx), autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (svc.user,)).fetchone()
            verb = "ALTER" if exists else "CREATE"
            if svc.user != "postgres":  # the superuser keeps superuser_password (checked at load)
                privileges = ["LOGIN", "SUPERUSER" if svc.superuser else "NOSUPERUSER"]
                privileges.append("CREATEDB" if svc.createdb else "NOCREATEDB")
                conn.execute(
                    sql.SQL(verb + " ROLE {} " + " ".join(privileges) + " PASSWORD {}").format(
                        sql.Identifier(svc.user), sql.Literal(svc.password)
                    )
                )
            for db in dict.fromkeys([svc.database, *svc.databases]):
                if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db,)).fetchone():
                    conn.execute(
                        sql.SQL("CREATE DATABASE {} OWNER {}").format(sql.Identifier(db), sql.Identifier(svc.user))
                    )


POSTGRES = PostgresKind()
