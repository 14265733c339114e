"""The worker: takes {"id", "text"} jobs from the `jobs` list, writes the text upper-cased to S3."""

import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
from resp import Redis

s3 = boto3.client(
    "s3",
    endpoint_url=os.environ["STORE_ENDPOINT"],
    aws_access_key_id=os.environ["STORE_ACCESS_KEY"],
    aws_secret_access_key=os.environ["STORE_SECRET_KEY"],
    region_name=os.environ["STORE_REGION"],
)


def work() -> None:
    queue = Redis(os.environ["QUEUE_URL"])
    while True:
        popped = queue.call("BLPOP", "jobs", "1")
        if not popped:
            continue
        try:
            job = json.loads(popped[1])
            s3.put_object(Bucket=os.environ["RESULTS_BUCKET"], Key=f"results/{job['id']}.txt", Body=job["text"].upper())
            print(f"done {job['id']}", flush=True)
        except (ValueError, KeyError, TypeError) as exc:
            print(f"ERROR bad job {popped[1]!r}: {exc!r}", flush=True)


class Health(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200 if self.path == "/health" else 404)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, fmt, *args):
        pass


if __name__ == "__main__":
    threading.Thread(target=work, daemon=True).start()
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[sys.argv.index("--port") + 1])), Health).serve_forever()
