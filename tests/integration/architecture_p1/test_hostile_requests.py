"""The reference system as a hostile or careless client finds it: sandboxed code, 4xx not 500.

During every test here the plugin also fails the test if any service logs a traceback or an
ERROR line, so "no traceback" is checked for each request, not only the status code.
"""

from __future__ import annotations

import json
import socket

import httpx
import pytest

from tests.integration.support import Execution

pytestmark = pytest.mark.integration_p1

PROBE = """
import json, os, resource
out = {"uid": os.getuid(), "gid": os.getgid(), "cwd": os.getcwd(), "env": sorted(os.environ)}
for name, path in [("parent_environ", f"/proc/{os.getppid()}/environ"), ("shadow", "/etc/shadow"),
                   ("other_session", os.path.join("..", OTHER, "secret.txt"))]:
    try:
        open(path, "rb").read()
        out[name] = "read"
    except OSError as exc:
        out[name] = type(exc).__name__
try:
    os.listdir("..")
    out["sessions_listing"] = "listed"
except OSError as exc:
    out["sessions_listing"] = type(exc).__name__
out["limits"] = {n: resource.getrlimit(getattr(resource, n)) for n in
                 ("RLIMIT_CPU", "RLIMIT_AS", "RLIMIT_FSIZE", "RLIMIT_NPROC", "RLIMIT_NOFILE")}
try:
    with open("huge.bin", "wb") as fh:
        fh.write(b"x" * (out["limits"]["RLIMIT_FSIZE"][0] + 1))
    out["huge_write"] = "written"
except OSError as exc:
    out["huge_write"] = type(exc).__name__
print(json.dumps(out))
"""


def hdr(session: str) -> dict[str, str]:
    return {"X-Session-ID": session}


def execute(stack, session: str, code: str, timeout_s: float = 10) -> Execution:
    resp = stack.light.post("/runtime/execute", headers=hdr(session), json={"code": code, "timeout_s": timeout_s})
    assert resp.status_code == 200, resp.text
    return Execution.model_validate(resp.json())


@pytest.mark.int_id("INT-115")
def test_int_115_executed_code_is_sandboxed(stack, session_id):
    import os

    other = f"{session_id}-other"
    stack.write(other, "secret.txt", "the other session's secret")
    stack.write(session_id, "mine.txt", "mine")
    result = execute(stack, session_id, f"OTHER = {other!r}\n" + PROBE)
    assert result.exit_code == 0, result.stderr
    seen = json.loads(result.stdout)
    assert seen["uid"] not in (0, os.getuid()) and seen["uid"] >= 1000, "not root, not the service's user"
    assert seen["cwd"].endswith(f"/sessions/{session_id}")
    assert seen["env"] == ["HARNESS_OWNER", "HOME", "LANG", "PATH"]
    # Not readable, or (the sandbox's /proc shows only the session's processes, its root only
    # its own workspace) not even there.
    unreadable = ("PermissionError", "FileNotFoundError")
    assert seen["parent_environ"] in unreadable, "the service's environment holds its secrets"
    assert seen["shadow"] == "PermissionError"
    assert seen["other_session"] in unreadable
    assert seen["sessions_listing"] == "PermissionError"
    limits = seen["limits"]
    assert all(soft == hard and soft > 0 for soft, hard in limits.values()), limits
    assert limits["RLIMIT_CPU"][0] <= 12 and limits["RLIMIT_NPROC"][0] <= 64 and limits["RLIMIT_NOFILE"][0] <= 256
    assert limits["RLIMIT_FSIZE"][0] <= 64 * 1024 * 1024 and limits["RLIMIT_AS"][0] <= 1024**3
    assert seen["huge_write"] != "written"
    # The session's own files stay usable through the API and by its code.
    assert execute(stack, session_id, "print(open('mine.txt').read())").stdout == "mine\n"


@pytest.mark.int_id("INT-116")
def test_int_116_hostile_workspace_requests_are_4xx_naming_path(stack, session_id):
    stack.write(session_id, "d/f", "x")
    execute(stack, session_id, "import os\nos.symlink('loop', 'loop')\nopen(b'bad\\xff.txt', 'w').write('x')")
    for body, status in [
        ({"path": "d", "content": "x"}, 409),
        ({"path": "d/f/child", "content": "x"}, 409),
        ({"path": "n" * 300, "content": "x"}, 400),
        ({"path": "loop", "content": "x"}, 400),
    ]:
        resp = stack.light.post("/fs/write", json=body, headers=hdr(session_id))
        assert resp.status_code == status, (body["path"][:20], resp.text)
        assert resp.json()["field"] == "path"
    read = stack.light.post("/fs/read", json={"path": "loop"}, headers=hdr(session_id))
    assert read.status_code == 400 and read.json()["field"] == "path"
    raw = stack.light.get("/fs/raw", params={"path": "r" * 5000}, headers=hdr(session_id))
    assert raw.status_code == 422 and raw.json()["field"] == "query.path"
    listing = stack.light.get("/fs/list", headers=hdr(session_id))
    assert listing.status_code == 200
    names = [f["path"] for f in listing.json()["files"]]
    assert sorted(names) == ["bad\\xff.txt", "d/f"], "the non-UTF-8 name escaped, no temporary file left"


@pytest.mark.int_id("INT-117")
def test_int_117_bodies_over_the_limit_are_413(stack, session_id):
    limit = 32 * 1024 * 1024
    big = b'{"path": "big.txt", "content": "' + b"x" * (limit + 1) + b'"}'
    declared = stack.light.post(
        "/fs/write", content=big, headers={**hdr(session_id), "Content-Type": "application/json"}
    )
    assert declared.status_code == 413 and str(limit) in declared.json()["error"]

    def chunks():
        yield big[: limit // 2]
        yield big[limit // 2 :]

    streamed = stack.light.post(
        "/fs/write", content=chunks(), headers={**hdr(session_id), "Content-Type": "application/json"}
    )
    assert streamed.status_code == 413 and str(limit) in streamed.json()["error"]
    listed = [f["path"] for f in stack.light.get("/fs/list", headers=hdr(session_id)).json()["files"]]
    assert "big.txt" not in listed


@pytest.mark.int_id("INT-118")
def test_int_118_nul_bytes_to_the_controller_are_4xx(stack, session_id):
    in_path = stack.controller.get("/episodes/abc%00def")
    assert in_path.status_code == 400 and in_path.json()["field"] == "path"
    in_query = stack.controller.get("/episodes", params={"status": "\x00"})
    assert in_query.status_code == 400 and in_query.json()["field"] == "query"
    in_body = stack.controller.post("/episodes", json={"name": "a\u0000b", "session_id": session_id}, headers=stack.key)
    assert in_body.status_code == 422 and in_body.json()["field"] == "name"
    episodes = stack.controller.get("/episodes", params={"limit": 500}).json()["episodes"]
    assert not any(e["session_id"] == session_id for e in episodes), "nothing was created"


@pytest.mark.int_id("INT-119")
def test_int_119_temporal_worker_health_answers_an_oversized_request_line(stack_env):
    port = int(stack_env["TEMPORAL_WORKER_PORT"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 414 "), answer[:200]
    health = httpx.get(f"http://127.0.0.1:{port}/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "healthy"


@pytest.mark.int_id("INT-128")
def test_int_128_execute_code_with_a_nul_byte_or_over_an_arguments_size(stack, session_id):
    nul = stack.light.post("/runtime/execute", headers=hdr(session_id), json={"code": "print(1)\x00"})
    assert nul.status_code == 422 and nul.json()["field"] == "code", nul.text
    # One argument of a command may hold 128 KiB: code is not passed as one.
    big = "x = 0\n" * 25_000 + "print('ran', x)\n"
    assert 128 * 1024 < len(big) <= 200_000
    result = execute(stack, session_id, big)
    assert (result.exit_code, result.stdout) == (0, "ran 0\n"), result.stderr


def raw_exchange(port: int, request: bytes) -> bytes:
    """Send ``request`` whole, then read the answer to the end (a reset raises)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.int_id("INT-129")
@pytest.mark.parametrize("service", ["controller", "worker_light", "worker_heavy"])
def test_int_129_oversized_headers_are_answered_431(stack, service, service_client):
    port = int(stack.env[f"{service.upper()}_PORT"])
    request = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 200_000 + b"\r\n\r\n"
    answer = raw_exchange(port, request)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert "header" in json.loads(body)["error"]
    health = service_client(service).get("/health")
    assert health.status_code == 200 and health.json()["status"] == "healthy"
