"""The frontend's static server against hostile paths (INT-309): answered with a 4xx, never dropped."""

from __future__ import annotations

import socket
from urllib.parse import urlparse

import httpx
import pytest

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
