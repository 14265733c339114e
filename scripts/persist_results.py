"""Send an existing run record to the results sinks again (after a sink was down, say).

    python scripts/persist_results.py logs/runs/<run_id>    # or logs/latest

Uses the same sinks and settings as a suite run: HARNESS_RESULTS_DSN and HARNESS_RESULTS_S3
(with HARNESS_RESULTS_S3_ENDPOINT / _ACCESS_KEY / _SECRET_KEY). Nothing local is changed except
``sinks.json`` in the run directory. Exit 0 when every configured sink took the record.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

from rich.console import Console

from harness.record import sinks


def main(argv: list[str]) -> int:
    console = Console(stderr=True)
    if len(argv) != 1:
        console.print("usage: python scripts/persist_results.py RUN_DIR")
        return 2
    run_dir = Path(argv[0]).resolve()
    results = run_dir / "results.json"
    if not results.is_file():
        console.print(f"error: {results} does not exist: give a directory under logs/runs/")
        return 2
    try:
        data = json.loads(results.read_text())
    except ValueError as exc:
        console.print(f"error: {results} is not valid JSON: {exc}")
        return 2
    env = dict(os.environ)
    if not (env.get("HARNESS_RESULTS_DSN") or env.get("HARNESS_RESULTS_S3")):
        console.print("nothing to do: set HARNESS_RESULTS_DSN and/or HARNESS_RESULTS_S3")
        return 2
    outcomes = sinks.send(data, run_dir, env, console)
    for name, outcome in outcomes.items():
        console.print(f"{name}: {outcome}")
    return 0 if all(o.startswith("ok") for o in outcomes.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
