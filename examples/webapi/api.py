"""The shop API: list, read and create products (stdlib HTTP, Postgres through psycopg)."""

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
        with psycopg.connect(DSN) as conn:
            if self.path == "/products":
                rows = conn.execute("SELECT id, name, price_cents FROM products ORDER BY name").fetchall()
                return self.answer(200, [{"id": r[0], "name": r[1], "price_cents": r[2]} for r in rows])
            if self.path.startswith("/products/") and self.path[10:].isdigit():
                row = conn.execute(
                    "SELECT id, name, price_cents FROM products WHERE id = %s", (int(self.path[10:]),)
                ).fetchone()
                if row:
                    return self.answer(200, {"id": row[0], "name": row[1], "price_cents": row[2]})
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not isinstance(body.get("price_cents"), int) or body["price_cents"] < 0 or not body.get("name"):
            return self.answer(422, {"error": "name and a non-negative integer price_cents are required"})
        try:
            with psycopg.connect(DSN) as conn:
                (pid,) = conn.execute(
                    "INSERT INTO products (name, price_cents) VALUES (%s, %s) RETURNING id",
                    (body["name"], body["price_cents"]),
                ).fetchone()
        except psycopg.errors.UniqueViolation:
            return self.answer(409, {"error": f"a product named {body['name']!r} exists"})
        self.answer(201, {"id": pid, **body})

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler).serve_forever()
