"""worker_light: per-session workspaces over HTTP, and Python execution inside them.

The session is chosen by the ``X-Session-ID`` header; every path is checked to stay inside that
session's workspace (no ``..``, no absolute paths, no symlink that leads out), so one session
never sees another's files.

Code sent to ``/runtime/execute`` is untrusted. When the service runs as root, each session's code
runs as its own unprivileged uid (derived from the session id), in its workspace (owned by that
uid, mode 0700, so other sessions' workspaces are closed to it), with a clean environment and
resource limits (CPU time, address space, file size, processes, open files). It cannot read the
service's environment (``/proc/<ppid>/environ`` belongs to root), ``/etc/shadow`` or other
sessions' files. Request bodies are capped (``WORKER_MAX_BODY``, 413 beyond it).
"""

from __future__ import annotations

import base64
import contextlib
import io
import mimetypes
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import tarfile
import tempfile
import time
import zlib
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.common import settings, web
from services.common.web import Rejected

SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
MAX_OUTPUT = 64 * 1024
MAX_BODY = int(settings.get("WORKER_MAX_BODY", str(32 * 1024 * 1024)))
# Session code runs as uid BASE + crc32(session) % SPAN: unprivileged ids no account uses.
UID_BASE, UID_SPAN = 200_000, 100_000
LIMITS = {  # resource.setrlimit names -> (soft = hard) values; CPU is the request's timeout + 2 s
    "RLIMIT_AS": 1024 * 1024 * 1024,
    "RLIMIT_FSIZE": 64 * 1024 * 1024,
    "RLIMIT_NPROC": 64,
    "RLIMIT_NOFILE": 256,
}

app = FastAPI(title="worker_light", version="1.0")
web.install(app, "worker_light", max_body=MAX_BODY)


def sessions_dir() -> Path:
    return Path(settings.need("WORKER_SESSIONS_DIR"))


def isolated() -> bool:
    """Session code gets its own uid only when the service may hand one out (runs as root)."""
    return os.geteuid() == 0


def session_uid(session_id: str) -> int:
    return UID_BASE + zlib.crc32(session_id.encode()) % UID_SPAN


def _own(path: Path, session_id: str) -> None:
    """Hand a workspace path to the session's uid (when isolated), so its code can use it."""
    if isolated():
        uid = session_uid(session_id)
        if path.lstat().st_uid != uid:
            os.chown(path, uid, uid, follow_symlinks=False)


def workspace(session_id: str | None) -> Path:
    if not session_id:
        raise Rejected(400, "the X-Session-ID header is required", "X-Session-ID")
    if not SESSION_RE.match(session_id):
        raise Rejected(400, "X-Session-ID must be 3-64 letters, digits, '-' or '_'", "X-Session-ID")
    root = sessions_dir()
    root.mkdir(parents=True, exist_ok=True)
    if isolated():
        root.chmod(0o711)  # enterable, not listable: a session cannot find the others by name
    path = root / session_id
    path.mkdir(mode=0o700, exist_ok=True)
    _own(path, session_id)
    return path


def inside(ws: Path, rel: str, *, must_exist: bool = False) -> Path:
    """Resolve ``rel`` in the workspace or refuse with 403 (escape), 404 (missing) or 400 (bad)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        raise Rejected(403, f"path {rel!r} is not a relative path inside the workspace", "path")
    if any(part == ".." for part in Path(rel).parts):
        raise Rejected(403, f"path {rel!r} escapes the workspace", "path")
    too_long = [p for p in Path(rel).parts if len(p.encode()) > 255]
    if too_long:
        raise Rejected(400, f"path {rel[:80]!r}: a name is longer than 255 bytes", "path")
    try:
        target = (ws / rel).resolve()
    except (RuntimeError, OSError) as exc:  # a symlink loop (RuntimeError before 3.13), ELOOP
        raise Rejected(400, f"path {rel!r} cannot be resolved: symlink loop", "path") from exc
    root = ws.resolve()
    if target != root and root not in target.parents:
        raise Rejected(403, f"path {rel!r} leads outside the workspace (symlink)", "path")
    if must_exist and not target.is_file():
        raise Rejected(404, f"no file {rel!r} in this session's workspace", "path")
    return target


def _conflict(rel: str, ws: Path, target: Path) -> None:
    """A write whose target is a directory, or whose parent is a file, is 409 naming the path."""
    if target.is_dir():
        raise Rejected(409, f"path {rel!r} is a directory", "path")
    for parent in target.parents:
        if parent == ws:
            break
        if parent.exists() and not parent.is_dir():
            raise Rejected(409, f"path {rel!r}: {parent.relative_to(ws)} is a file, not a directory", "path")


class WriteRequest(BaseModel):
    path: str = Field(min_length=1, max_length=512)
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"


class ReadRequest(BaseModel):
    path: str = Field(min_length=1, max_length=512)


class ExecuteRequest(BaseModel):
    code: str = Field(min_length=1, max_length=200_000)
    timeout_s: float = Field(10.0, gt=0, le=120)


@app.get("/health")
def health() -> JSONResponse:
    def writable() -> str | None:
        directory = sessions_dir()
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            return None

    return web.health({"sessions_dir": writable}, service="worker_light")


@app.post("/fs/write")
def write(body: WriteRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    ws = workspace(x_session_id)
    target = inside(ws, body.path)
    try:
        data = base64.b64decode(body.content, validate=True) if body.encoding == "base64" else body.content.encode()
    except ValueError:
        raise Rejected(422, "content is not valid base64", "content") from None
    _conflict(body.path, ws, target)
    made = [p for p in reversed(target.parents) if ws in p.parents and not p.exists()]
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, target)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise Rejected(409, f"path {body.path!r} cannot be written: {exc.strerror}", "path") from None
    for path in [*made, target]:
        _own(path, x_session_id or "")
    return {"path": body.path, "size": len(data)}


@app.post("/fs/read")
def read(body: ReadRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    target = inside(workspace(x_session_id), body.path, must_exist=True)
    data = target.read_bytes()
    try:
        return {"path": body.path, "content": data.decode("utf-8"), "encoding": "utf-8", "size": len(data)}
    except UnicodeDecodeError:
        return {"path": body.path, "content": base64.b64encode(data).decode(), "encoding": "base64", "size": len(data)}


@app.get("/fs/raw")
def raw(path: str = Query(..., min_length=1, max_length=512), x_session_id: str | None = Header(None)) -> Response:
    target = inside(workspace(x_session_id), path, must_exist=True)
    mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return Response(target.read_bytes(), media_type=mime)


@app.get("/fs/list")
def list_files(x_session_id: str | None = Header(None)) -> dict[str, object]:
    ws = workspace(x_session_id)
    files = []
    for path in sorted(ws.rglob("*")):
        if path.is_file() and not path.is_symlink():
            # A name that is not UTF-8 is shown with its bytes escaped rather than failing the list.
            name = os.fsencode(path.relative_to(ws)).decode("utf-8", "backslashreplace")
            files.append({"path": name, "size": path.stat().st_size})
    return {"session_id": x_session_id, "files": files}


@app.post("/fs/bundle")
def bundle(x_session_id: str | None = Header(None)) -> Response:
    """A gzipped tar of the workspace; symlinks are left out rather than followed."""
    ws = workspace(x_session_id)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for path in sorted(ws.rglob("*")):
            if path.is_file() and not path.is_symlink():
                tar.add(path, arcname=str(path.relative_to(ws)), recursive=False)
    return Response(
        buf.getvalue(),
        media_type="application/gzip",
        headers={"Content-Disposition": f'attachment; filename="{x_session_id}.tar.gz"'},
    )


def _child_env(ws: Path) -> dict[str, str]:
    """A minimal environment: no credentials of this service leak into user code."""
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ws), "LANG": "C.UTF-8"}
    if "HARNESS_OWNER" in os.environ:  # lets the harness find anything the code leaves running
        env["HARNESS_OWNER"] = os.environ["HARNESS_OWNER"]
    return env


def _clip(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n[output truncated]"


def _runnable_by_anyone(path: str) -> bool:
    """Every directory above ``path`` can be entered, and the file run, by an unrelated uid."""
    p = Path(path).resolve()
    return all(d.stat().st_mode & stat.S_IXOTH for d in [*p.parents, p])


def interpreter() -> str:
    """A Python the session's uid may run: this one, unless it sits in a closed directory (/root)."""
    if not isolated() or _runnable_by_anyone(sys.executable):
        return sys.executable
    system = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
    if system is None or not _runnable_by_anyone(system):
        raise Rejected(503, "no Python interpreter that an unprivileged user may run (install python3)")
    return system


# Runs first in the child: limits it cannot raise again, then the user's code as __main__.
LAUNCHER = (
    "import resource, sys\n"
    "for name, value in {limits!r}.items():\n"
    "    resource.setrlimit(getattr(resource, name), (value, value))\n"
    "code = sys.argv.pop(1)\n"
    "del resource\n"
    "exec(compile(code, '<string>', 'exec'), {{'__name__': '__main__', '__builtins__': __builtins__}})\n"
)


@app.post("/runtime/execute")
def execute(body: ExecuteRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    """Run the code in the workspace, in its own process group, as the session's own uid.

    On timeout the whole group (and anything it spawned) is killed and ``timed_out`` is true.
    """
    ws = workspace(x_session_id)
    limits = {**LIMITS, "RLIMIT_CPU": int(body.timeout_s) + 2}
    uid = session_uid(x_session_id or "") if isolated() else None
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [interpreter(), "-I", "-c", LAUNCHER.format(limits=limits), body.code],
            cwd=ws,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_child_env(ws),
            user=uid,
            group=uid,
            extra_groups=[] if uid is not None else None,
            umask=0o077,
        )
        timed_out = False
        try:
            proc.wait(timeout=body.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    return {
        "exit_code": None if timed_out else proc.returncode,
        "timed_out": timed_out,
        "stdout": _clip(stdout),
        "stderr": _clip(stderr),
        "duration_s": round(time.monotonic() - t0, 3),
    }
