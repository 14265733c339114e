"""worker_light: per-session workspaces over HTTP, and Python execution inside them.

The session is chosen by the ``X-Session-ID`` header; every path is resolved one component at a
time from a descriptor of the session's workspace (``openat`` style: no component is ever looked
up by the kernel through a symlink, and the service follows a symlink itself only while it stays
inside the workspace), so no ``..``, absolute path, symlink or directory swapped for a symlink
mid-request reaches a file outside it, and one session never sees another's files. When isolated
(below), only files and directories owned by the session's uid are read or written into.

Code sent to ``/runtime/execute`` is untrusted. When the service runs as root, each session's code
runs as its own unprivileged uid (derived from the session id) in a sandbox
(``services.common.sandbox``): no network, a root holding only ``/usr``, ``/etc``, ``/dev``,
``/proc`` (its own processes only), a private ``/tmp`` and its workspace (owned by that uid, mode
0700), a clean environment and resource limits (CPU time, address space, file size, processes,
open files). The project's checkout, its logs and state, other sessions' workspaces and the
stack's services are out of its reach. Request bodies are capped (``WORKER_MAX_BODY``, 413
beyond it).
"""

from __future__ import annotations

import base64
import contextlib
import errno
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
import uuid
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from fastapi import FastAPI, Header, Query
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field

from services.common import sandbox, settings, web
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
# Opening a directory of the workspace: never through a symlink, never kept across an exec.
O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# Opening a file to read: not through a symlink, and a FIFO the code left does not block the read.
O_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
MAX_LINKS = 40  # symlinks followed in one path, as the kernel allows (ELOOP beyond)
RETRIES = 20  # a component that changes between its lstat and its open is looked at again, this often

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
    """Hand the workspace directory to the session's uid (when isolated), so its code can use it."""
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


class Workspace:
    """A session's workspace held open: every path in it is resolved from this descriptor.

    ``owner`` is the session's uid when isolated: then nothing owned by anyone else (a directory
    or file the code could only have reached by a trick) is read, listed or written into.
    """

    def __init__(self, session_id: str | None) -> None:
        self.path = workspace(session_id)
        self.owner = session_uid(session_id or "") if isolated() else None
        self.fd = os.open(self.path, O_DIR)
        if not self.owns(os.fstat(self.fd)):
            os.close(self.fd)
            raise Rejected(409, "the session's workspace is not the session's own", "X-Session-ID")

    def owns(self, st: os.stat_result) -> bool:
        return self.owner is None or st.st_uid == self.owner

    def close(self) -> None:
        os.close(self.fd)

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def check_path(rel: str) -> list[str]:
    """The components of ``rel``, or a 403 (escape) or 400 (bad) naming ``path``."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel:
        raise Rejected(403, f"path {rel!r} is not a relative path inside the workspace", "path")
    parts = [p for p in rel.split("/") if p not in ("", ".")]
    if any(part == ".." for part in parts):
        raise Rejected(403, f"path {rel!r} escapes the workspace", "path")
    if any(len(p.encode(errors="surrogateescape")) > 255 for p in parts):
        raise Rejected(400, f"path {rel[:80]!r}: a name is longer than 255 bytes", "path")
    if not parts:
        raise Rejected(403, f"path {rel!r} is the workspace itself, not a file in it", "path")
    return parts


@contextlib.contextmanager
def resolved(ws: Workspace, rel: str, *, make_dirs: bool = False) -> Iterator[tuple[int, str | None]]:
    """The directory (an open descriptor) holding ``rel``, and the name in it: not a symlink, maybe
    not there yet; None when ``rel`` names a directory (through a symlink to ``.`` or ``..``).

    One component at a time, ``openat`` style: each directory is opened with ``O_NOFOLLOW``
    relative to the one before, so a directory swapped for a symlink mid-walk fails the open
    instead of leading elsewhere. A symlink is followed by the service itself, its target's
    components walked the same way from the directory holding it; ``..`` pops back to a directory
    already opened; going past the workspace, or an absolute target, is a 403. ``make_dirs``
    creates missing directories (handed to the session), for a write.
    """
    stack = [os.dup(ws.fd)]
    try:
        name = _walk(ws, rel, stack, make_dirs=make_dirs)
        yield stack[-1], name
    finally:
        for fd in stack:
            os.close(fd)


def _walk(ws: Workspace, rel: str, stack: list[int], *, make_dirs: bool) -> str | None:
    """Walk ``rel`` from ``stack[-1]``, pushing each directory opened; the last name, or None."""
    pending = check_path(rel)
    walked: list[str] = []  # the components of the directory on top of the stack, for messages
    links = retries = 0
    made: str | None = None  # the directory this walk has just created, at the current level

    def again(part: str) -> None:
        """The component changed between two looks (the session's code is racing): look again, a
        bounded number of times."""
        nonlocal retries
        retries += 1
        if retries > RETRIES:
            raise Rejected(409, f"path {rel!r} keeps changing while it is resolved", "path")
        pending.insert(0, part)

    while pending:
        part = pending.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if len(stack) == 1:
                raise Rejected(403, f"path {rel!r} leads outside the workspace (symlink)", "path")
            os.close(stack.pop())
            walked.pop()
            made = None
            continue
        try:
            st = os.stat(part, dir_fd=stack[-1], follow_symlinks=False)
        except FileNotFoundError:
            if not pending:
                return part
            if not make_dirs:
                raise Rejected(404, f"no file {rel!r} in this session's workspace", "path") from None
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, 0o755, dir_fd=stack[-1])
                made = part
            again(part)  # it is a directory now (or something else, if the code swapped it)
            continue
        if stat.S_ISLNK(st.st_mode):
            made = None
            links += 1
            if links > MAX_LINKS:
                raise Rejected(400, f"path {rel!r} cannot be resolved: symlink loop", "path")
            try:
                target = os.readlink(part, dir_fd=stack[-1])
            except OSError:  # no longer a symlink
                again(part)
                continue
            if target.startswith("/"):
                raise Rejected(403, f"path {rel!r} leads outside the workspace (symlink)", "path")
            pending[:0] = target.split("/")
            continue
        if not pending:
            return part
        if not stat.S_ISDIR(st.st_mode):
            if make_dirs:
                where = "/".join([*walked, part])
                raise Rejected(409, f"path {rel!r}: {where} is a file, not a directory", "path")
            raise Rejected(404, f"no file {rel!r} in this session's workspace", "path")
        try:
            fd = os.open(part, O_DIR, dir_fd=stack[-1])
        except OSError as exc:  # swapped (for a symlink, a file) since its lstat
            if exc.errno not in (errno.ELOOP, errno.ENOTDIR, errno.ENOENT):
                raise Rejected(409, f"path {rel!r} cannot be opened: {exc.strerror}", "path") from None
            again(part)
            continue
        stack.append(fd)
        walked.append(part)
        st = os.fstat(fd)
        if not ws.owns(st):
            # The directory this walk has just made (root's: the session's code cannot have put
            # one of root's there) is handed to the session; anything else is refused.
            if ws.owner is None or made != part or st.st_uid != os.geteuid():
                raise Rejected(403, f"path {rel!r} leads to a directory that is not the session's", "path")
            os.fchown(fd, ws.owner, ws.owner)
        made = None
    return None


def read_file(ws: Workspace, rel: str) -> tuple[str, bytes]:
    """The name and bytes of the regular file ``rel`` (404 when there is none)."""
    for _ in range(RETRIES):
        with resolved(ws, rel) as (directory, name):
            if name is None:
                break
            try:
                fd = os.open(name, O_READ, dir_fd=directory)
            except FileNotFoundError:
                break
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):  # became a symlink since: resolve again
                    continue
                raise Rejected(409, f"path {rel!r} cannot be read: {exc.strerror}", "path") from None
            with os.fdopen(fd, "rb") as fh:
                st = os.fstat(fh.fileno())
                if not stat.S_ISREG(st.st_mode):
                    break
                if not ws.owns(st):
                    raise Rejected(403, f"path {rel!r} is not the session's file", "path")
                return name, fh.read()
    raise Rejected(404, f"no file {rel!r} in this session's workspace", "path")


def write_file(ws: Workspace, rel: str, data: bytes) -> None:
    """Write through a temporary file made in the resolved directory itself (``O_EXCL``, never
    through a symlink), renamed over ``rel``; a directory removed meanwhile means: again."""
    for _ in range(RETRIES):
        with resolved(ws, rel, make_dirs=True) as (directory, name):
            if name is None:
                raise Rejected(409, f"path {rel!r} is a directory", "path")
            with contextlib.suppress(FileNotFoundError):
                if stat.S_ISDIR(os.stat(name, dir_fd=directory, follow_symlinks=False).st_mode):
                    raise Rejected(409, f"path {rel!r} is a directory", "path")
            tmp = f".wl-{uuid.uuid4().hex}.tmp"
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
            try:
                fd = os.open(tmp, flags, 0o644, dir_fd=directory)
            except FileNotFoundError:  # the directory was removed since it was opened
                continue
            try:
                with os.fdopen(fd, "wb") as fh:
                    if ws.owner is not None:
                        os.fchown(fh.fileno(), ws.owner, ws.owner)
                    fh.write(data)
                os.replace(tmp, name, src_dir_fd=directory, dst_dir_fd=directory)
                return
            except OSError as exc:
                with contextlib.suppress(OSError):
                    os.unlink(tmp, dir_fd=directory)
                raise Rejected(409, f"path {rel!r} cannot be written: {exc.strerror}", "path") from None
    raise Rejected(409, f"path {rel!r} keeps changing while it is written", "path")


def walk_files(ws: Workspace, *, read: bool) -> list[tuple[str, os.stat_result, bytes]]:
    """(relative path, stat, contents when ``read``) of every regular file of the session, sorted
    as paths are. ``os.fwalk`` descends through descriptors and never into a symlink (nor into a
    directory swapped for one while it walks); files are opened ``O_NOFOLLOW`` from them."""
    found = []
    for dirpath, dirnames, filenames, dirfd in os.fwalk(".", dir_fd=ws.fd, follow_symlinks=False):
        dirnames[:] = [d for d in dirnames if ws.owns(os.stat(d, dir_fd=dirfd, follow_symlinks=False))]
        for name in filenames:
            rel = os.path.normpath(os.path.join(dirpath, name))
            try:
                if not read:
                    st, data = os.stat(name, dir_fd=dirfd, follow_symlinks=False), b""
                else:
                    with os.fdopen(os.open(name, O_READ, dir_fd=dirfd), "rb") as fh:
                        st = os.fstat(fh.fileno())
                        data = fh.read() if stat.S_ISREG(st.st_mode) and ws.owns(st) else b""
            except OSError:  # a symlink (O_NOFOLLOW), or gone since
                continue
            if stat.S_ISREG(st.st_mode) and ws.owns(st):
                found.append((rel, st, data))
    return sorted(found, key=lambda f: tuple(f[0].split("/")))


class WriteRequest(BaseModel):
    path: str = Field(min_length=1, max_length=512)
    content: str
    encoding: Literal["utf-8", "base64"] = "utf-8"


class ReadRequest(BaseModel):
    path: str = Field(min_length=1, max_length=512)


class ExecuteRequest(BaseModel):
    # Python source cannot hold a NUL byte: 422 naming ``code`` (not a failed launch).
    code: str = Field(min_length=1, max_length=200_000, pattern=web.NO_NUL)
    timeout_s: float = Field(10.0, gt=0, le=120)


@app.get("/health")
def health() -> JSONResponse:
    def writable() -> str | None:
        directory = sessions_dir()
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory):
            return None

    return web.health({"sessions_dir": writable, "sandbox": sandbox_works}, service="worker_light")


_SANDBOX_OK: list[bool] = []


def sandbox_works() -> str | None:
    """Session code can be started in its sandbox here (checked once, then remembered)."""
    if _SANDBOX_OK:
        return None
    with tempfile.TemporaryDirectory(dir=sessions_dir(), prefix=".probe-") as probe:
        uid = UID_BASE + UID_SPAN - 1 if isolated() else None
        if uid is not None:
            os.chown(probe, uid, uid)
        try:
            proc = sandbox.start(
                [interpreter(), "-I", "-c", "pass"],
                uid=uid,
                env={"PATH": "/usr/bin:/bin"},
                cwd=probe,
                binds={probe: True},
                limits=LIMITS,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
            )
        except sandbox.SandboxError as exc:
            return f"session code cannot be isolated here: {exc}"
        _, err = proc.communicate(timeout=30)
    if proc.returncode:
        return f"the sandbox's interpreter failed: {err.decode(errors='replace')[-300:]}"
    _SANDBOX_OK.append(True)
    return None


@app.post("/fs/write")
def write(body: WriteRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    with Workspace(x_session_id) as ws:
        check_path(body.path)
        try:
            data = base64.b64decode(body.content, validate=True) if body.encoding == "base64" else body.content.encode()
        except ValueError:
            raise Rejected(422, "content is not valid base64", "content") from None
        write_file(ws, body.path, data)
    return {"path": body.path, "size": len(data)}


def _read(rel: str, x_session_id: str | None) -> tuple[str, bytes]:
    with Workspace(x_session_id) as ws:
        return read_file(ws, rel)


@app.post("/fs/read")
def read(body: ReadRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    _, data = _read(body.path, x_session_id)
    try:
        return {"path": body.path, "content": data.decode("utf-8"), "encoding": "utf-8", "size": len(data)}
    except UnicodeDecodeError:
        return {"path": body.path, "content": base64.b64encode(data).decode(), "encoding": "base64", "size": len(data)}


@app.get("/fs/raw")
def raw(path: str = Query(..., min_length=1, max_length=512), x_session_id: str | None = Header(None)) -> Response:
    name, data = _read(path, x_session_id)
    mime = mimetypes.guess_type(name)[0] or "application/octet-stream"
    return Response(data, media_type=mime)


@app.get("/fs/list")
def list_files(x_session_id: str | None = Header(None)) -> dict[str, object]:
    with Workspace(x_session_id) as ws:
        found = walk_files(ws, read=False)
    # A name that is not UTF-8 is shown with its bytes escaped rather than failing the list.
    listed = [
        {"path": os.fsencode(rel).decode("utf-8", "backslashreplace"), "size": st.st_size} for rel, st, _ in found
    ]
    return {"session_id": x_session_id, "files": listed}


@app.post("/fs/bundle")
def bundle(x_session_id: str | None = Header(None)) -> Response:
    """A gzipped tar of the workspace's regular files; symlinks are left out rather than followed."""
    with Workspace(x_session_id) as ws:
        found = walk_files(ws, read=True)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for rel, st, data in found:
            info = tarfile.TarInfo(rel)
            info.size, info.mtime, info.mode = len(data), int(st.st_mtime), stat.S_IMODE(st.st_mode)
            tar.addfile(info, io.BytesIO(data))
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


def interpreter() -> str:
    """A Python the session may run: this one, or (isolated, in a sandbox holding only /usr of the
    system) one under /usr, Debian's ``/usr/bin/python3``."""
    if not isolated():
        return sys.executable
    for candidate in (sys.executable, shutil.which("python3", path="/usr/bin:/bin")):
        if candidate and os.path.realpath(candidate).startswith("/usr/"):
            return os.path.realpath(candidate)
    raise Rejected(503, "no Python interpreter under /usr for the sandbox (install python3)")


# The child's first lines: the code arrives on stdin (any size, no argv limit), which is then
# /dev/null for the code itself, run as __main__. The limits are set before (services.common.sandbox).
LAUNCHER = (
    "import os, sys\n"
    "code = sys.stdin.buffer.read()\n"
    "null = os.open(os.devnull, os.O_RDONLY)\n"
    "os.dup2(null, 0)\n"
    "os.close(null)\n"
    "del os, null\n"
    "exec(compile(code, '<string>', 'exec'), {'__name__': '__main__', '__builtins__': __builtins__})\n"
)


@app.post("/runtime/execute")
def execute(body: ExecuteRequest, x_session_id: str | None = Header(None)) -> dict[str, object]:
    """Run the code in the workspace, in its own process group, as the session's own uid.

    On timeout the whole group (and anything it spawned) is killed and ``timed_out`` is true.
    """
    ws = workspace(x_session_id)
    limits = {**LIMITS, "RLIMIT_CPU": int(body.timeout_s) + 2}
    uid = session_uid(x_session_id or "") if isolated() else None
    source = body.code.encode("utf-8", "surrogatepass")  # a lone surrogate: the child's SyntaxError
    t0 = time.monotonic()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            proc = sandbox.start(
                [interpreter(), "-I", "-c", LAUNCHER],
                uid=uid,
                env=_child_env(ws),
                cwd=str(ws),
                binds={str(ws): True},
                limits=limits,
                stdin=subprocess.PIPE,
                stdout=out,
                stderr=err,
                start_new_session=True,
            )
        except sandbox.SandboxError as exc:
            raise Rejected(503, f"session code cannot be isolated here, so it is not run: {exc}") from None
        timed_out = False
        try:
            proc.communicate(source, timeout=body.timeout_s)
        except subprocess.TimeoutExpired:
            timed_out = True
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        finally:
            if proc.stdin is not None:
                with contextlib.suppress(OSError):
                    proc.stdin.close()
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
