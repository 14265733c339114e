"""A tiny HTTP service for the harness's own tests: behaviour chosen by flags.

    python app.py --port P [--delay S] [--crash] [--orphan] [--need-env VAR ...] [--healthy-once]

``/health`` answers ``{"status": "healthy"}``; ``/env/NAME`` echoes an environment variable.
``--crash`` exits 3 at once after a message; ``--orphan`` starts a grandchild in a new session
(so it leaves the process group) to prove the harness still finds it.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Handler(BaseHTTPRequestHandler):
    healthy_once = False
    health_checks = 0

    def do_GET(self) -> None:
        if self.path == "/health" and self.healthy_once and Handler.health_checks > 0:
            self.send_error(503, "healthy only once")
            return
        if self.path == "/health":
            Handler.health_checks += 1
            body = {"status": "healthy", "pid": os.getpid()}
        elif self.path.startswith("/log/"):  # the service logs a line a test chooses
            print(self.path[5:].replace("%20", " "), flush=True)
            body = {"logged": True}
        elif self.path.startswith("/env/"):
            body = {"value": os.environ.get(self.path[5:])}
        else:
            self.send_error(404)
            return
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, fmt: str, *args: object) -> None:
        if self.path.startswith("/log/"):  # the line it was asked to log is the point; not its request
            return
        print(f"{self.address_string()} {fmt % args}", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--crash", action="store_true")
    parser.add_argument("--orphan", action="store_true")
    parser.add_argument("--need-env", action="append", default=[])
    parser.add_argument("--healthy-once", action="store_true", help="/health answers 200 once, then 503")
    args = parser.parse_args()
    Handler.healthy_once = args.healthy_once
    print(f"app starting on {args.port}", flush=True)
    missing = [v for v in args.need_env if not os.environ.get(v)]
    if missing:
        print(f"app: missing environment variables {missing}", flush=True)
        return 4
    if args.crash:
        print("app: configured to crash: boom", flush=True)
        return 3
    if args.orphan:
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], start_new_session=True)
    time.sleep(args.delay)
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("app ready", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
