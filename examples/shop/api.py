"""The orders API: an order is charged through the payments service, then stored in MariaDB."""

import json
import os
import sys
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlparse

import pymysql

DSN = urlparse(os.environ["SHOP_DSN"])
PAYMENTS = os.environ["PAYMENTS_URL"]


def db():
    return pymysql.connect(
        host=DSN.hostname,
        port=DSN.port,
        user=unquote(DSN.username),
        password=unquote(DSN.password),
        database=DSN.path[1:],
        autocommit=True,
    )


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
        if self.path == "/orders":
            with db() as conn, conn.cursor() as cur:
                cur.execute("SELECT id, item, qty, payment FROM orders ORDER BY id")
                rows = [{"id": r[0], "item": r[1], "qty": r[2], "payment": r[3]} for r in cur.fetchall()]
            return self.answer(200, rows)
        self.answer(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        if not body.get("item") or not isinstance(body.get("qty"), int) or body["qty"] < 1:
            return self.answer(422, {"error": "item and a positive integer qty are required"})
        try:
            with urllib.request.urlopen(f"{PAYMENTS}/charge/{body['item']}", timeout=5) as resp:
                charged = json.loads(resp.read())
            payment = f"{charged['name']} {charged['path']}"  # the payments service's receipt
        except (urllib.error.URLError, OSError) as exc:
            return self.answer(502, {"error": f"payments did not answer: {exc}"})
        with db() as conn, conn.cursor() as cur:
            row = (body["item"], body["qty"], payment)
            cur.execute("INSERT INTO orders (item, qty, payment) VALUES (%s, %s, %s)", row)
            order = cur.lastrowid
        self.answer(201, {"id": order, "item": body["item"], "qty": body["qty"], "payment": payment})

    def log_message(self, fmt, *args):
        print(fmt % args, flush=True)


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Handler).serve_forever()
