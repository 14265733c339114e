"""The harness against doing it by hand, on another team's stack (examples/webapi), printed.

    python scripts/bench_adoption.py [--rounds 5] [--instance 5]

One round, both ways, alternately, on a warm Postgres data directory each (made before timing):
  by hand   what a team's script does: start Postgres, wait for it, create the role and database,
            migrate, seed, start the API, wait for /health, run pytest, stop the API and Postgres;
  harness   `harness suite api`: the same steps from stack.toml, plus the run record.
Prints each round, the medians and their ratio (the target is under 1.05).
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def wait(check, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"by hand: {what} not ready after {timeout} s")
        time.sleep(0.02)


class ByHand:
    """The webapi stack started and stopped step by step, as a shell script would."""

    def __init__(self, work: Path, port: int, api_port: int) -> None:
        from harness.kinds.postgres import server_bin

        self.work, self.port, self.api_port = work, port, api_port
        self.data, self.sockets = work / "pg" / "data", work / "pg" / "run"
        self.user = "postgres" if os.geteuid() == 0 else None
        self.bin = server_bin
        self.sockets.mkdir(parents=True, exist_ok=True)
        pwfile = work / "pg" / "pw"
        pwfile.write_text("super-pw\n")
        if self.user:
            entry = pwd.getpwnam(self.user)
            for path in (work / "pg", self.sockets, pwfile):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb = [
            server_bin("initdb", None),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        ]
        subprocess.run(initdb, check=True, capture_output=True, user=self.user)
        self.dsn = f"postgresql://shop:shop-local-pw@127.0.0.1:{port}/shop"

    def round(self) -> None:
        import psycopg

        env = {**os.environ, "DATABASE_URL": self.dsn, "API_URL": f"http://127.0.0.1:{self.api_port}"}
        pg = subprocess.Popen(
            [
                self.bin("postgres", None),
                "-D",
                str(self.data),
                "-p",
                str(self.port),
                "-h",
                "127.0.0.1",
                "-k",
                str(self.sockets),
                "-c",
                "fsync=off",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            user=self.user,
            start_new_session=True,
        )
        su = f"postgresql://postgres:super-pw@127.0.0.1:{self.port}/postgres"
        wait(lambda: psycopg.connect(su).close() is None, "postgres")
        with psycopg.connect(su, autocommit=True) as conn:
            if not conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'shop'").fetchone():
                conn.execute("CREATE ROLE shop LOGIN PASSWORD 'shop-local-pw'")
            if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'shop'").fetchone():
                conn.execute("CREATE DATABASE shop OWNER shop")
        example = self.work / "webapi"
        for script in ("migrate.py", "seed.py"):
            subprocess.run([sys.executable, script], cwd=example, env=env, check=True, capture_output=True)
        api = subprocess.Popen(
            [sys.executable, "api.py", "--port", str(self.api_port)],
            cwd=example,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait(lambda: urllib.request.urlopen(env["API_URL"] + "/health", timeout=2).status == 200, "the API")
        subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests"],
            cwd=example,
            env=env,
            check=True,
            capture_output=True,
        )
        for proc, sig in ((api, signal.SIGTERM), (pg, signal.SIGINT)):
            os.killpg(proc.pid, sig)
            proc.wait(timeout=30)


def harness_round(stack: Path, instance: str) -> None:
    res = subprocess.run(
        [sys.executable, "-m", "harness", "--stack", str(stack), "--instance", instance, "suite", "api"],
        capture_output=True,
        text=True,
    )
    if res.returncode:
        raise SystemExit(f"harness suite failed ({res.returncode}):\n{res.stderr[-2000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instance", default="5")
    args = parser.parse_args()
    # Under the checkout: as root, Postgres runs as the postgres user and must reach its data.
    (ROOT / ".harness").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-adoption-", dir=ROOT / ".harness"))
    os.chmod(work, 0o755)
    try:
        shutil.copytree(ROOT / "examples" / "webapi", work / "webapi")
        stack = work / "webapi" / "stack.toml"
        offset = int(args.instance) * 10
        by_hand = ByHand(work, 23432 + offset + 1, 23080 + offset + 1)  # beside the harness's own ports
        harness_round(stack, args.instance)  # warm-up: initdb and the migrate cache, not timed
        by_hand.round()
        times: dict[str, list[float]] = {"by hand": [], "harness": []}
        for n in range(1, args.rounds + 1):
            for name, run in (("by hand", by_hand.round), ("harness", lambda: harness_round(stack, args.instance))):
                t0 = time.perf_counter()
                run()
                times[name].append(time.perf_counter() - t0)
            print(f"round {n}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
        medians = {k: statistics.median(v) for k, v in times.items()}
        print(
            f"\nmedian over {args.rounds} rounds: by hand {medians['by hand']:.2f} s, "
            f"harness {medians['harness']:.2f} s; harness / by hand = {medians['harness'] / medians['by hand']:.3f}"
        )
    finally:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "harness",
                "--stack",
                str(work / "webapi" / "stack.toml"),
                "--instance",
                args.instance,
                "down",
            ],
            capture_output=True,
        )
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
