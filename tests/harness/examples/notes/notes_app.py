"""A tiny notes API over Postgres (stdlib HTTP server + psycopg), configured by NOTES_DSN."""

import argparse
import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import psycopg


class Handler(BaseHTTPRequestHandler):
    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/health":
            with psycopg.connect(os.environ["NOTES_DSN"]) as conn:
                conn.execute("SELECT 1")
            return self._send(200, {"status": "ok"})
        if self.path == "/notes":
            with psycopg.connect(os.environ["NOTES_DSN"]) as conn:
                rows = conn.execute("SELECT id, body FROM notes ORDER BY id").fetchall()
            return self._send(200, [{"id": i, "body": b} for i, b in rows])
        return self._send(404, {"error": "not found"})

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with psycopg.connect(os.environ["NOTES_DSN"]) as conn:
            (new_id,) = conn.execute("INSERT INTO notes (body) VALUES (%s) RETURNING id", (body["body"],)).fetchone()
        return self._send(201, {"id": new_id})


parser = argparse.ArgumentParser()
parser.add_argument("--port", type=int, required=True)
ThreadingHTTPServer(("127.0.0.1", parser.parse_args().port), Handler).serve_forever()
