"""worker_light: workspaces, isolation, path rules and Python execution."""

from __future__ import annotations

import base64
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from tests.integration.support import Execution, poll

pytestmark = pytest.mark.integration_p0


def hdr(session: str) -> dict[str, str]:
    return {"X-Session-ID": session}


@pytest.mark.int_id("INT-002")
def test_int_002_write_then_read_round_trip(stack, session_id):
    written = stack.write(session_id, "notes/hello.txt", "héllo wörld\n")
    assert written == {"path": "notes/hello.txt", "size": len("héllo wörld\n".encode())}, "the write says what it wrote"
    resp = stack.light.post("/fs/read", json={"path": "notes/hello.txt"}, headers=hdr(session_id))
    assert resp.status_code == 200
    assert resp.json() == {
        "path": "notes/hello.txt",
        "content": "héllo wörld\n",
        "encoding": "utf-8",
        "size": len("héllo wörld\n".encode()),
    }
    binary = bytes(range(256))
    assert stack.write(session_id, "blob.bin", binary)["size"] == 256
    read = stack.light.post("/fs/read", json={"path": "blob.bin"}, headers=hdr(session_id)).json()
    assert read["encoding"] == "base64" and read["size"] == 256
    assert base64.b64decode(read["content"]) == binary, "the bytes themselves round-trip"
    missing = stack.light.post("/fs/read", json={"path": "nope.txt"}, headers=hdr(session_id))
    assert missing.status_code == 404 and missing.json()["field"] == "path"


@pytest.mark.int_id("INT-003")
def test_int_003_list_shows_every_file_with_its_size(stack, session_id):
    # Written out of order, so only a sorted listing passes.
    for path, content in [("z.txt", "z"), ("dir/b.txt", "bbbbb"), ("a.txt", "aaa"), ("m/n.txt", "nn")]:
        stack.write(session_id, path, content)
    resp = stack.light.get("/fs/list", headers=hdr(session_id))
    assert resp.status_code == 200
    assert resp.json()["files"] == [
        {"path": "a.txt", "size": 3},
        {"path": "dir/b.txt", "size": 5},
        {"path": "m/n.txt", "size": 2},
        {"path": "z.txt", "size": 1},
    ]


@pytest.mark.int_id("INT-004")
def test_int_004_bundle_is_a_gzipped_tar_of_exactly_the_workspace(stack, session_id):
    files = {"circuit.cir": "title\n.op\n", "data/values.csv": "1,2,3\n"}
    for path, content in files.items():
        stack.write(session_id, path, content)
    resp = stack.light.post("/fs/bundle", headers=hdr(session_id))
    assert resp.status_code == 200 and resp.headers["content-type"] == "application/gzip"
    with tarfile.open(fileobj=io.BytesIO(resp.content), mode="r:gz") as tar:
        got = {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers() if m.isfile()}
    assert got == files


@pytest.mark.int_id("INT-005")
def test_int_005_concurrent_sessions_never_see_each_other(stack, session_id):
    other = f"{session_id}-b"
    errors: list[str] = []

    def fill(session: str, marker: str) -> None:
        for i in range(15):
            resp = stack.light.post("/fs/write", json={"path": f"f{i}.txt", "content": marker}, headers=hdr(session))
            if resp.status_code != 200:
                errors.append(resp.text)

    threads = [threading.Thread(target=fill, args=(s, s)) for s in (session_id, other)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    for session in (session_id, other):
        files = stack.light.get("/fs/list", headers=hdr(session)).json()["files"]
        assert [f["path"] for f in files] == sorted(f"f{i}.txt" for i in range(15))
        for i in (0, 14):
            content = stack.light.post("/fs/read", json={"path": f"f{i}.txt"}, headers=hdr(session)).json()["content"]
            assert content == session


@pytest.mark.int_id("INT-006")
@pytest.mark.parametrize("path", ["../escape.txt", "a/../../escape.txt", "/etc/passwd", "..", "a/../../../etc/hosts"])
def test_int_006_traversal_and_absolute_paths_are_403(stack, session_id, path):
    for method, url, body in (
        ("post", "/fs/write", {"path": path, "content": "x"}),
        ("post", "/fs/read", {"path": path}),
    ):
        resp = getattr(stack.light, method)(url, json=body, headers=hdr(session_id))
        assert resp.status_code == 403, (url, path, resp.text)
        assert resp.json()["field"] == "path"


@pytest.mark.int_id("INT-007")
def test_int_007_symlink_out_of_the_workspace_is_403(stack, session_id):
    out = stack.light.post(
        "/runtime/execute",
        headers=hdr(session_id),
        json={
            "code": "import os\nos.symlink('/etc', 'etc_link')\nos.symlink('/etc/hostname', 'host_link')\nprint('ok')"
        },
    )
    assert Execution.model_validate(out.json()).stdout.strip() == "ok"
    for path in ("etc_link/passwd", "host_link"):
        resp = stack.light.post("/fs/read", json={"path": path}, headers=hdr(session_id))
        assert resp.status_code == 403, resp.text
    hostname = Path("/etc/hostname").read_bytes()
    for path in ("etc_link/evil", "host_link"):  # through the directory link, and the file link
        write = stack.light.post("/fs/write", json={"path": path, "content": "x"}, headers=hdr(session_id))
        assert write.status_code == 403 and write.json()["field"] == "path", (path, write.text)
    assert Path("/etc/hostname").read_bytes() == hostname, "nothing was written through the link"
    assert not os.path.exists("/etc/evil")
    listed = [f["path"] for f in stack.light.get("/fs/list", headers=hdr(session_id)).json()["files"]]
    assert listed == [], "neither link (nor anything behind the directory link) is listed"


@pytest.mark.int_id("INT-008")
@pytest.mark.parametrize(
    "headers", [{}, {"X-Session-ID": ""}, {"X-Session-ID": "a/b"}, {"X-Session-ID": "../x"}, {"X-Session-ID": "x" * 80}]
)
def test_int_008_missing_or_malformed_session_id_is_400(stack, headers):
    resp = stack.light.get("/fs/list", headers=headers)
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == "X-Session-ID"


@pytest.mark.int_id("INT-009")
def test_int_009_execute_returns_output_and_exit_code(stack, session_id):
    stack.write(session_id, "data.txt", "41")
    resp = stack.light.post(
        "/runtime/execute",
        headers=hdr(session_id),
        json={
            "code": "import sys\nv = int(open('data.txt').read())\nprint(v + 1)\nprint('warn', file=sys.stderr)\n"
            "sys.exit(3)"
        },
    )
    result = Execution.model_validate(resp.json())
    assert (result.exit_code, result.timed_out, result.stdout, result.stderr) == (3, False, "42\n", "warn\n")


@pytest.mark.int_id("INT-010")
def test_int_010_execute_timeout_kills_the_whole_group(stack, session_id):
    code = (
        "import subprocess, sys, time\n"
        "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)'])\n"
        "open('child.pid', 'w').write(str(p.pid))\n"
        "while True:\n    time.sleep(0.05)\n"
    )
    resp = stack.light.post("/runtime/execute", headers=hdr(session_id), json={"code": code, "timeout_s": 1.5})
    result = Execution.model_validate(resp.json())
    assert result.timed_out is True and result.exit_code is None
    assert 1.5 <= result.duration_s < 10
    pid = stack.light.post("/fs/read", json={"path": "child.pid"}, headers=hdr(session_id)).json()["content"]
    check = f"import os\ntry:\n    os.kill({pid}, 0)\n    print('alive')\nexcept ProcessLookupError:\n    print('gone')"

    def child_state() -> str:
        out = stack.light.post("/runtime/execute", headers=hdr(f"{session_id}x"), json={"code": check})
        return Execution.model_validate(out.json()).stdout.strip()

    assert poll(child_state, lambda s: s == "gone", timeout=10, what=f"grandchild {pid} to be killed") == "gone"
