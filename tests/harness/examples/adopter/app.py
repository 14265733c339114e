"""A tiny items API another team might have: stdlib HTTP server, Postgres through psycopg."""

import json
import os
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg

DSN = os.environ["DATABASE_URL"]


class Handler(BaseHTTPRequestHandler):
    def answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            return self.answer(200, {"status": "ok"})
        if self.path == "/boom":
            print("ERROR deliberate: the /boom endpoint always logs this", flush=True)
            return self.answer(200, {"logged": True})
        if self.path.startswith("/items/"):
            with psycopg.connect(DSN) as conn:
                row = conn.execute("SELECT id, name FROM items WHERE id = %s", (int(self.path[7:]),)).fetchone()
            return self.answer(200, {"id": row[0], "name": row[1]}) if row else self.answer(404, {"error": "no item"})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with psycopg.connect(DSN) as conn:
            (item_id,) = conn.execute("INSERT INTO items (name) VALUES (%s) RETURNING id", (body["name"],)).fetchone()
        self.answer(201, {"id": item_id, "name": body["name"]})

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler).serve_forever()
