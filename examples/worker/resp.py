"""Just enough of Redis's protocol (RESP) for a queue: AUTH, RPUSH, BLPOP."""

import socket
from urllib.parse import unquote, urlparse


class Redis:
    def __init__(self, url: str) -> None:
        where = urlparse(url)
        self.sock = socket.create_connection((where.hostname, where.port), timeout=30)
        self.reader = self.sock.makefile("rb")
        if where.password:
            assert self.call("AUTH", unquote(where.password)) == "OK"

    def call(self, *parts: str):
        out = [f"*{len(parts)}\r\n".encode()]
        for part in parts:
            data = part.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(data), data))
        self.sock.sendall(b"".join(out))
        return self._read()

    def _read(self):
        line = self.reader.readline().rstrip(b"\r\n")
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self.reader.read(int(rest) + 2)[:-2].decode()
        if kind == b"*":
            return None if int(rest) < 0 else [self._read() for _ in range(int(rest))]
        raise RuntimeError(f"unexpected answer {line!r}")
