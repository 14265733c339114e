"""Does ``--changed`` catch what breaks? Single-line breaking changes to the reference services,
each run through ``harness suite p0 --changed HEAD``.

    python scripts/mutation_impact.py [--instance 7] [--refresh]

For each mutation below (one line of one service, as a careless edit would change it) the script
changes the line in the working tree, runs ``harness suite p0 --changed HEAD`` and puts the line
back (whatever happens). A mutation is caught when ``--changed`` chose at least one test and one
of them failed, or the stack the chosen tests need did not come up with the change (a health
answer a readiness probe refuses). One that it did not catch is run through the full P0 too: when
that fails, it is a miss of ``--changed`` (the goal is none); when that passes as well, P0 does not
test what the line does, and the mutation is not counted. Printed: each mutation's verdict and the share of P0
chosen, the miss count and the mean share. The suite's test impact map (``logs/impact/p0.json``)
is made first when missing, or with ``--refresh`` (``harness impact refresh p0``). Figures go to
logs/mutation-impact.json. Run it on a clean tree: it refuses files with uncommitted changes.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

from benchlib import ROOT, harness, latest_record, outcomes


@dataclass(frozen=True)
class Mutation:
    file: str
    old: str
    new: str
    what: str


MUTATIONS = (
    Mutation(
        "services/worker_light/app.py",
        'return {"path": body.path, "size": len(data)}',
        'return {"path": body.path, "size": len(data) + 1}',
        "a write reports one byte too many",
    ),
    Mutation(
        "services/worker_light/app.py",
        'raise Rejected(400, "the X-Session-ID header is required", "X-Session-ID")',
        'raise Rejected(401, "the X-Session-ID header is required", "X-Session-ID")',
        "a missing session id is 401, not 400",
    ),
    Mutation(
        "services/worker_light/app.py",
        'raise Rejected(403, f"path {rel!r} escapes the workspace", "path")',
        'raise Rejected(404, f"path {rel!r} escapes the workspace", "path")',
        "a path escaping the workspace is 404, not 403",
    ),
    Mutation(
        "services/worker_light/app.py",
        'raise Rejected(403, f"path {rel!r} is not a relative path inside the workspace", "path")',
        'raise Rejected(404, f"path {rel!r} is not a relative path inside the workspace", "path")',
        "an absolute path is 404, not 403",
    ),
    Mutation(
        "services/worker_light/app.py",
        '"size": st.st_size} for rel, st, _ in found',
        '"size": st.st_size + 1} for rel, st, _ in found',
        "the listing's sizes are off by one",
    ),
    Mutation(
        "services/worker_light/app.py",
        'return {"path": body.path, "content": data.decode("utf-8"), "encoding": "utf-8", "size": len(data)}',
        'return {"path": body.path, "content": data.decode("utf-8")[::-1], "encoding": "utf-8", "size": len(data)}',
        "a read returns the text reversed",
    ),
    Mutation(
        "services/worker_light/app.py",
        'raise Rejected(400, "X-Session-ID must be 3-64 letters, digits',
        'raise Rejected(422, "X-Session-ID must be 3-64 letters, digits',
        "a malformed session id is 422, not 400",
    ),
    Mutation(
        "services/worker_heavy/netlist.py",
        'total = round(sum(e["quantity"] * e["unit_price"] for e in bom.values()), 4)',
        'total = round(sum(e["quantity"] * e["unit_price"] for e in bom.values()), 4) + 1',
        "the bill of materials costs one more",
    ),
    Mutation(
        "services/worker_heavy/netlist.py",
        '{"part_id": comp.part_id, "quantity": 0,',
        '{"part_id": comp.part_id, "quantity": 1,',
        "every part is counted once too often",
    ),
    Mutation(
        "services/temporal_worker/worker.py",
        'return 200, {"status": "healthy", "checks": sorted(checks), "task_queue": queue}',
        'return 200, {"status": "ok", "checks": sorted(checks), "task_queue": queue}',
        "the Temporal worker's health says ok, not healthy",
    ),
    Mutation(
        "services/controller/app.py",
        'status="created",',
        'status="new",',
        "a new episode's status is new, not created",
    ),
    Mutation(
        "services/controller/app.py",
        'raise Rejected(401, "the X-API-Key header is required", "X-API-Key")',
        'raise Rejected(403, "the X-API-Key header is required", "X-API-Key")',
        "a missing API key is 403, not 401",
    ),
    Mutation(
        "services/worker_heavy/app.py",
        'raise Rejected(409, f"a simulation is already running: {self.running}", running=self.running)',
        'raise Rejected(429, f"a simulation is already running: {self.running}", running=self.running)',
        "a second simulation is 429, not 409",
    ),
)


def run_id() -> str:
    """The latest suite run's id (a run that wrote no record leaves it as it was)."""
    try:
        return str(latest_record()["run_id"])
    except (OSError, ValueError, KeyError):
        return ""


def stack_failed(record: dict[str, Any]) -> bool:
    """The run ended because its stack did not come up (not the lock, git, pytest or isolation)."""
    stage = record.get("failed_stage", "")
    return record.get("status") == "error" and stage not in ("", "start", "reuse", "isolate", "tests")


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--instance", default="7")
    parser.add_argument("--refresh", action="store_true", help="make the test impact map anew first")
    args = parser.parse_args()
    files = sorted({m.file for m in MUTATIONS})
    dirty = subprocess.run(["git", "status", "--porcelain", "--", *files], cwd=ROOT, capture_output=True, text=True)
    if dirty.stdout.strip():
        print(f"uncommitted changes in {', '.join(files)}: commit or stash them first", file=sys.stderr)
        return 2
    impact_map = ROOT / "logs" / "impact" / "p0.json"
    if args.refresh or not impact_map.is_file():
        harness(args.instance, "impact", "refresh", "p0")
        assert impact_map.is_file(), f"harness impact refresh p0 made no {impact_map}"
    total = len(json.loads(impact_map.read_text())["tests"])
    rows = []
    for m in MUTATIONS:
        path = ROOT / m.file
        text = path.read_text()
        assert text.count(m.old) == 1, f"{m.file}: the line to change is not there once: {m.old}"
        try:
            path.write_text(text.replace(m.old, m.new))
            before = run_id()
            changed = harness(args.instance, "suite", "p0", "--changed", "HEAD", check=False)
            nothing = "nothing to run" in changed.output
            record = {} if nothing else latest_record()
            assert nothing or record["run_id"] != before, f"--changed wrote no record:\n{changed.tail()}"
            ran = outcomes(record) if record else {}
            named = [a for a in record.get("argv", []) if not a.startswith("-")]  # what --changed chose
            chosen = len(ran) or len(named) or (total if record else 0)  # nothing named: every test
            failed = sorted(n for n, o in ran.items() if o in ("failed", "error"))
            if failed:
                verdict = "caught"
            elif stack_failed(record):  # the chosen tests' stack did not come up with the change
                verdict, failed = "caught (the stack did not come up)", [record["failure"][:80]]
            else:
                assert changed.code in (0, 1), f"--changed: exit {changed.code}:\n{changed.tail()}"
                full = harness(args.instance, "suite", "p0", check=False)
                assert full.code in (0, 1) or stack_failed(latest_record()), f"P0: exit {full.code}:\n{full.tail()}"
                verdict = "MISSED" if full.code else "not breaking for P0 (not counted)"
        finally:
            path.write_text(text)
        rows.append({"what": m.what, "file": m.file, "chosen": chosen, "failed": failed, "verdict": verdict})
        print(f"{verdict:34s} {chosen:3d}/{total} chosen, {len(failed)} failed  {m.file}: {m.what}", flush=True)
    counted = [r for r in rows if not r["verdict"].startswith("not breaking")]
    missed = [r for r in counted if r["verdict"] == "MISSED"]
    share = statistics.mean(r["chosen"] / total for r in counted) if counted else 0.0
    said = f"{len(counted)} breaking mutations, {len(missed)} missed by --changed (goal 0)"
    print(f"{said}; mean share of P0 chosen {share:.2f}")
    out = ROOT / "logs" / "mutation-impact.json"
    out.write_text(json.dumps({"rows": rows, "missed": len(missed), "mean_share": share, "tests": total}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
