#!/usr/bin/python3
"""A tiny HTTP service for the harness's container-node tests (image harness-local/http-echo).

    http-echo [--port 8080] [--name NAME]     (ECHO_PORT, ECHO_NAME; ECHO_DATA_DIR=/data)

One line per request on stdout (`<name> <method> <path> <status>`); /healthz is answered but not
logged unless ECHO_LOG_HEALTH=1 (the image's HEALTHCHECK polls it every second). Paths:

  GET /healthz            200 ok
  GET /error[/<text>]     500, and logs `ERROR <text>` (a backend error a test can find in the log)
  GET /env/<NAME>         the value of an environment variable (404 when unset)
  PUT /data/<file>        store the body in ECHO_DATA_DIR (a volume); GET /data/<file> reads it back
  anything else           200, JSON: name, hostname, method, path, headers

SIGTERM/SIGINT stop it at once, saying so (as a container's PID 1 a signal has no default action).
`http-echo --check` is the HEALTHCHECK: exit 0 when /healthz answers 200.
"""

import argparse
import json
import os
import signal
import socket
import sys
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

p = argparse.ArgumentParser(prog="http-echo")
p.add_argument("--port", type=int, default=int(os.environ.get("ECHO_PORT", "8080")))
p.add_argument("--name", default=os.environ.get("ECHO_NAME", "http-echo"))
p.add_argument("--check", action="store_true")
args = p.parse_args()
if args.check:
    try:
        sys.exit(0 if urllib.request.urlopen(f"http://127.0.0.1:{args.port}/healthz", timeout=2).status == 200 else 1)
    except Exception:
        sys.exit(1)
data = os.environ.get("ECHO_DATA_DIR", "/data")
log_health = os.environ.get("ECHO_LOG_HEALTH") == "1"


class Handler(BaseHTTPRequestHandler):
    def reply(self, status, body, ctype="text/plain"):
        raw = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)
        if self.path != "/healthz" or log_health:
            print(f"{args.name} {self.command} {self.path} {status}", flush=True)

    def do_GET(self):
        path = self.path.split("?")[0]
        if path == "/healthz":
            return self.reply(200, "ok\n")
        if path == "/error" or path.startswith("/error/"):
            print(f"ERROR {path[7:] or 'requested'} ({args.name})", flush=True)
            return self.reply(500, "error\n")
        if path.startswith("/env/"):
            value = os.environ.get(path[5:])
            return self.reply(404, "unset\n") if value is None else self.reply(200, value)
        if path.startswith("/data/"):
            try:
                with open(os.path.join(data, os.path.basename(path)), "rb") as f:
                    return self.reply(200, f.read(), "application/octet-stream")
            except FileNotFoundError:
                return self.reply(404, "no such file\n")
        info = {
            "name": args.name,
            "hostname": socket.gethostname(),
            "method": self.command,
            "path": self.path,
            "headers": dict(self.headers),
        }
        return self.reply(200, json.dumps(info) + "\n", "application/json")

    def do_PUT(self):
        if not self.path.startswith("/data/"):
            return self.reply(405, "PUT only under /data/\n")
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        os.makedirs(data, exist_ok=True)
        with open(os.path.join(data, os.path.basename(self.path)), "wb") as f:
            f.write(body)
        return self.reply(201, "stored\n")

    def log_message(self, *_):  # our own line per request instead
        pass


def stop(signum, _frame):
    print(f"{args.name} stopping on signal {signum}", flush=True)
    os._exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
server = ThreadingHTTPServer(("0.0.0.0", args.port), Handler)
print(f"{args.name} listening on 0.0.0.0:{args.port}", flush=True)
server.serve_forever()
