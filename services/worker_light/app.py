"""worker_light: per-session workspaces over HTTP, and Python execution inside them.

The session is chosen by the ``X-Session-ID`` header; every path is checked to stay inside that
session's workspace (no ``..``, no absolute paths, no symlink that leads out), so one session
never sees another's files.
"""

from __future__ import annotations

import base64
import contextlib
import io
import mimetypes
import os
import re
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.common import settings, web
from services.common.web import Rejected

SESSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{2,63}$")
MAX_OUTPUT = 64 * 1024

app = FastAPI(title="worker_light", version="1.0")
web.install(app, "worker_light")


def sessions_dir() -> Path:
    return Path(settings.need("WORKER_SESSIONS_DIR"))


def workspace(session_id: str | None) -> Path:
    if not session_id:
        raise Rejected(400, "the X-Session-ID header is required", "X-Session-ID")
    if not SESSION_RE.match(session_id):
        raise Rejected(400, "X-Session-ID must be 3-64 letters, digits, '-' or '_'", "X-Session-ID")
    path = sessions_dir() / session_id
    path.mkdir(parents=True, exist_ok=True)
    return path


def inside(ws: Path, rel: str, *, must_exist: bool = False) -> Path:
    """Resolve ``rel`` in the workspace or refuse with 403 (escape) / 404 (missing)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        raise Rejected(403, f"path {rel!r} is not a relative path inside the workspace", "path")
    if any(part == ".." for part in Path(rel).parts):
        raise Rejected(403, f"path {rel!r} escapes the workspace", "path")
    target = (ws / rel).resolve()
    root = ws.resolve()
    if target != root and root not in target.parents:
        raise Rejected(403, f"path {rel!r} leads outside the workspace (symlink)", "path")
    if must_exist and not target.is_file():
        raise Rejected(404, f"no file {rel!r} in this session's workspace", "path")
    return target


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
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, target)
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
def raw(path: str = Query(..., min_length=1), x_session_id: str | None = Header(None)) -> Response:
    target = inside(workspace(x_session_id), path, must_exist=True)
    mime = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    return Response(target.read_bytes(), media_type=mime)


@app.get("/fs/list")
def list_files(x_session_id: str | None = Header(None)) -> dict[str, object]:
    ws = workspace(x_session_id)
    files = []
    for path in sorted(ws.rglob("*")):
        if path.is_file() and not path.is_symlink():
            files.append({"path": str(path.relative_to(ws)), "size": path.stat().st_size})
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
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ws), "LANG": "C.UTF-8"}
    if "HARNESS_OWNER" in os.environ:  # lets the harness find anything the code leaves running
        env["HARNESS_OWNER"] = os.environ["HARNESS_OWNER"]
    return env


def _clip(data: bytes) -> str:
    text = data.decode("utf-8", "replace")
    return text if len(text) <= MAX_OUTPUT else text[:MAX_OUTPUT] + "\n[output truncated]"


@app.post("/runtime/execute")
def execute(body: ExecuteRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    """Run the code with this Python in the workspace, in its own process group.

    On timeout the whole group (and anything it spawned) is killed and ``timed_out`` is true.
    """
    ws = workspace(x_session_id)
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-c", body.code],
            cwd=ws,
            stdout=out,
            stderr=err,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            env=_child_env(ws),
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
