#!/opt/moto/bin/python
"""`minio server DIR --address HOST:PORT [--console-address ...]`, served by moto's S3 server.

Only the command line of MinIO is imitated (enough for the harness's compose file); the S3 API
is moto's. Credentials are not checked, so MINIO_ROOT_USER/PASSWORD need no handling.
"""

import argparse
import os
import sys

parser = argparse.ArgumentParser(prog="minio")
commands = parser.add_subparsers(dest="command", required=True)
server = commands.add_parser("server")
server.add_argument("dirs", nargs="*")
server.add_argument("--address", default=":9000")
server.add_argument("--console-address")
args = parser.parse_args()
host, _, port = args.address.rpartition(":")
os.execv(sys.executable, [sys.executable, "-m", "moto.server", "-H", host or "0.0.0.0", "-p", port])
