"""Another team's suite through the harness against the same suite by hand, printed.

    python scripts/bench_adoption.py [--rounds 5] [--instance 5]

The project is the adoption test's (tests/harness/adopter.py): a tiny items API on Postgres, a
migration step and 20 tests (one makes the server log an ERROR on purpose), in its own venv
that holds pytest and psycopg and nothing of the harness, its stack.toml `harness init
--postgres` output with only the newcomer's edits. One round, both ways, alternately, each on
its own warm Postgres data directory (made before timing):

  by hand   a team's shell script (``SCRIPT``): pg_ctl start -w, psql for the role and database,
            migrate, start the API, poll /health with curl every 50 ms, pytest, stop the API,
            pg_ctl stop -m fast;
  harness   `harness suite tests`: the same from stack.toml, plus the run record.

Prints each round, the medians and their ratio (the target is under 1.05). What the harness does
differently is in the figures, not hidden: its migrate step is cached by its inputs (`inputs`
unset here, so it runs every time like the script's), and it starts pytest while the stack comes
up (`early_start`).
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchlib import ROOT, harness

sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
INSTANCE_DEFAULT = "5"


SCRIPT = r"""#!/bin/bash
# The team's own script: each step after the previous one, the standard tools, tight polls.
set -euo pipefail
cd "$PROJECT"
$AS_PG "$PGBIN/pg_ctl" -D "$DATA" -w -s -l "$WORK/pg.log" -o "-p $PGPORT -h 127.0.0.1 -k $WORK/run" start
export PGPASSWORD=super-pw
psql="psql -h 127.0.0.1 -p $PGPORT -U postgres -d postgres -tAq"
$psql -c "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'" | grep -q 1 ||
  $psql -c "CREATE ROLE $ROLE LOGIN CREATEDB PASSWORD '$ROLE_PASSWORD'"
$psql -c "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1 || $psql -c "CREATE DATABASE $DB OWNER $ROLE"
"$PY" migrate.py >/dev/null
"$PY" app.py --port "$APP_PORT" >"$WORK/app.log" 2>&1 &
app=$!
until curl -sf "$APP_URL/health" >/dev/null; do sleep 0.05; done
rc=0
"$PY" -m pytest -q tests >"$WORK/pytest.log" 2>&1 || rc=$?
kill "$app"; wait "$app" || true
$AS_PG "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -s stop
exit $rc
"""


class ByHand:
    """The project brought up, tested and stopped by a shell script (``SCRIPT``), as a team's would be."""

    def __init__(self, project: Path, python: Path, env: dict[str, str]) -> None:
        from harness.kinds.postgres import server_bin

        work = project / "by-hand"
        (work / "run").mkdir(parents=True)
        (work / "pw").write_text("super-pw\n")
        as_pg = os.geteuid() == 0  # Postgres refuses to run as root
        if as_pg:
            entry = pwd.getpwnam("postgres")
            for path in (work, work / "run", work / "pw"):
                os.chown(path, entry.pw_uid, entry.pw_gid)
        initdb = [server_bin("initdb", None), "-D", str(work / "data"), "-U", "postgres", f"--pwfile={work / 'pw'}"]
        initdb += ["--auth=scram-sha-256", "-E", "UTF8", "--locale=C", "--no-sync"]
        subprocess.run(initdb, check=True, capture_output=True, user="postgres" if as_pg else None)
        (work / "run.sh").write_text(SCRIPT)
        port, api_port = int(env["DB_PORT"]) + 1, int(env["APP_PORT"]) + 1  # beside the harness's ports
        role, password, database = env["DB_USER"], env["DB_PASSWORD"], env["DB_DB"]
        self.script, self.env = (
            work / "run.sh",
            {
                **os.environ,
                "PROJECT": str(project),
                "WORK": str(work),
                "DATA": str(work / "data"),
                "PGBIN": str(Path(server_bin("postgres", None)).parent),
                "AS_PG": "runuser -u postgres --" if as_pg else "",
                "PGPORT": str(port),
                "ROLE": role,
                "ROLE_PASSWORD": password,
                "DB": database,
                "PY": str(python),
                "APP_PORT": str(api_port),
                "APP_URL": f"http://127.0.0.1:{api_port}",
                "DATABASE_URL": f"postgresql://{role}:{password}@127.0.0.1:{port}/{database}",
            },
        )

    def round(self) -> None:
        res = subprocess.run(["bash", str(self.script)], env=self.env, capture_output=True, text=True)
        if res.returncode:
            log = (
                (self.script.parent / "pytest.log").read_text() if (self.script.parent / "pytest.log").exists() else ""
            )
            raise SystemExit(f"by hand: the script failed ({res.returncode}):\n{res.stderr[-2000:]}{log[-2000:]}")


def main() -> int:
    from tests.harness.adopter import EXAMPLE, init_and_edit, make_venv

    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instance", default=INSTANCE_DEFAULT)
    args = parser.parse_args()
    if shutil.which("uv") is None:
        raise SystemExit("needs uv to make the project's venv (pip install uv)")
    # Under the checkout: as root, Postgres runs as the postgres user and must reach its data.
    (ROOT / ".harness").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="bench-adoption-", dir=ROOT / ".harness"))
    os.chmod(work, 0o755)
    project, stack = work / "adopter", work / "adopter" / "stack.toml"
    try:
        shutil.copytree(EXAMPLE, project)
        python = make_venv(project)
        init_and_edit(stack, int(args.instance))
        env = json.loads(harness(args.instance, "env", "--show-secrets", stack=stack).stdout)["env"]
        by_hand = ByHand(project, python, env)

        def through_harness() -> None:
            harness(args.instance, "suite", "tests", stack=stack)

        through_harness()  # warm-up, not timed: initdb, the venv's first imports
        by_hand.round()
        times: dict[str, list[float]] = {"by hand": [], "harness": []}
        for n in range(1, args.rounds + 1):
            for name, run in (("by hand", by_hand.round), ("harness", through_harness)):
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
        harness(args.instance, "down", stack=stack, check=False)
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
