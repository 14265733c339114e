"""Serve the frontend's static build with single-page fallback, and its runtime config.

    python -m services.frontend.server --port 15173 --dist frontend/dist

``/config.js`` carries the controller URL and API key from the environment (serve-time
injection, so one build serves every instance); unknown paths without a file extension get
``index.html`` so deep links like ``/episodes/<id>`` load the app.

A client that hangs up before its answer is written (a browser leaving the page, a reset) is
ordinary: one INFO line, not socketserver's traceback on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import mimetypes
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

log = logging.getLogger("frontend")
MAX_PATH = 1024
# What writing to a client that has gone away raises.
HUNG_UP = (BrokenPipeError, ConnectionResetError, ConnectionAbortedError)


def make_handler(dist: Path) -> type[BaseHTTPRequestHandler]:
    root = dist.resolve()
    config = json.dumps(
        {"controllerUrl": os.environ["CONTROLLER_URL"], "apiKey": os.environ.get("CONTROLLER_API_KEY", "")}
    )

    class Handler(BaseHTTPRequestHandler):
        def _send(self, status: int, body: bytes, content_type: str, cache: str = "no-cache") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", cache)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_HEAD(self) -> None:
            self.do_GET()

        def do_GET(self) -> None:
            path = unquote(urlparse(self.path).path)
            if len(path) > MAX_PATH:
                return self._send(414, f"path longer than {MAX_PATH} characters".encode(), "text/plain")
            if "\x00" in path:
                return self._send(400, b"the path contains a NUL byte", "text/plain")
            try:
                self._serve(path)
            except HUNG_UP:
                raise  # nobody to answer (Server.handle_error notes it)
            except OSError as exc:  # a name the file system refuses (too long a component...)
                self._send(400, f"bad path: {exc.strerror}".encode(), "text/plain")

        def _serve(self, path: str) -> None:
            if path == "/health":
                ok = (root / "index.html").is_file()
                body = {"status": "healthy" if ok else "unhealthy", "dist": str(root)}
                if not ok:
                    body["failing"] = {"dist": "index.html missing: run the frontend build step"}
                return self._send(200 if ok else 503, json.dumps(body).encode(), "application/json")
            if path == "/config.js":
                return self._send(200, f"window.APP_CONFIG = {config};\n".encode(), "application/javascript")
            target = (root / path.lstrip("/")).resolve()
            if root not in target.parents and target != root:
                return self._send(403, b"forbidden", "text/plain")
            if target.is_file():
                kind = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
                cache = "public, max-age=31536000, immutable" if "/assets/" in path else "no-cache"
                return self._send(200, target.read_bytes(), kind, cache)
            if "." in Path(path).name:
                return self._send(404, b"not found", "text/plain")
            return self._send(200, (root / "index.html").read_bytes(), "text/html; charset=utf-8")

        def log_message(self, fmt: str, *args: object) -> None:
            log.info("%s %s", self.address_string(), fmt % args)

    return Handler


class Server(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: tuple[str, int]) -> None:
        if isinstance(sys.exc_info()[1], HUNG_UP):
            log.info("%s hung up before its answer was sent", client_address[0])
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--dist", type=Path, required=True)
    args = parser.parse_args()
    logging.basicConfig(stream=sys.stdout, level=logging.INFO, format="%(asctime)s frontend %(levelname)s %(message)s")
    if not (args.dist / "index.html").is_file():
        log.error("no build at %s: run `invoke frontend` (or the frontend_build step)", args.dist)
        return 2
    server = Server(("127.0.0.1", args.port), make_handler(args.dist))
    log.info("serving %s on http://127.0.0.1:%d", args.dist, args.port)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
