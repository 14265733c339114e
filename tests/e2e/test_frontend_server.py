"""The frontend's static server against hostile paths (INT-309), answered with a 4xx, never dropped, and
clients that hang up (INT-310), which are not errors."""

from __future__ import annotations

import re
import socket
import struct
from pathlib import Path
from urllib.parse import urlparse

import httpx
import pytest

from tests.integration.support import poll

pytestmark = pytest.mark.integration_frontend


def raw_get(url: str, path: str) -> bytes:
    """The request line exactly as written (a client library might normalise the path)."""
    where = urlparse(url)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(4096):
            answer += chunk
    return answer


@pytest.mark.int_id("INT-309")
def test_int_309_hostile_paths_get_an_answer(app_url):
    for path, status in [("/%00", b"400"), ("/a%00.js", b"400"), ("/" + "a" * 5000, b"414")]:
        answer = raw_get(app_url, path)
        assert answer.split(b" ")[1:2] == [status], (path[:12], answer[:120])
    page = httpx.get(app_url, timeout=10)
    assert page.status_code == 200 and '<div id="root">' in page.text.replace("'", '"')


def hang_up_after_asking(url: str, path: str) -> None:
    """Ask for ``path``, then reset the connection at once (SO_LINGER 0), before the answer."""
    where = urlparse(url)
    sock = socket.create_connection((where.hostname, where.port), timeout=10)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    sock.close()


@pytest.mark.int_id("INT-310")
def test_int_310_clients_hanging_up_are_not_errors(app_url, stack_env):
    log = Path(stack_env["FRONTEND_LOG"])
    start = log.stat().st_size
    index = httpx.get(app_url, timeout=10).text
    assets = re.findall(r'(?:src|href)="(/assets/[^"]+)"', index)
    largest = max(assets, key=lambda a: len(httpx.get(app_url + a, timeout=10).content)) if assets else "/"
    for i in range(20):
        hang_up_after_asking(app_url, largest if i % 2 else "/")

    def new_lines() -> list[str]:
        """What the frontend logged since, but its ordinary request lines."""
        with open(log, "rb") as fh:
            fh.seek(start)
            return [ln for ln in fh.read().decode(errors="replace").splitlines() if '" 200 -' not in ln]

    # The server noticed (at least one answer hit the reset), and said so in one INFO line.
    lines = poll(
        new_lines, lambda ls: any("hung up" in ln for ln in ls), timeout=15, what="the frontend to log a hang-up"
    )
    assert not [ln for ln in lines if "Traceback" in ln or " ERROR " in ln or "Error" in ln], lines[-20:]
    page = httpx.get(app_url, timeout=10)
    assert page.status_code == 200 and '<div id="root">' in page.text.replace("'", '"')
