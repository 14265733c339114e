"""One record from the shards of a suite: ``harness merge <run dirs or globs>``.

Counts are summed, every case is kept (with its shard), every shard's stage timeline is kept,
latency percentiles are recomputed from the raw samples (never averaged), and the exit code is
the worst: 2 if any shard's stack failed, else 130 if one was interrupted, else 1 if a test failed.
"""

from __future__ import annotations

import glob
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from harness.errors import HarnessError, worst
from harness.host.files import write_json
from harness.record.counts import tests_block
from harness.record.history import append_history
from harness.record.rates import tally
from harness.record.reading import read_record
from harness.record.report import write_html_report
from harness.suite.combine import latency_of, merge_junit


def shard_records(sources: Sequence[str]) -> list[tuple[Path, dict[str, Any]]]:
    """Each source a run dir, a results.json, or a glob of them."""
    found: list[Path] = []
    for source in sources:
        for match in sorted(glob.glob(source)) or [source]:
            path = Path(match)
            path = path / "results.json" if path.is_dir() else path
            if not path.is_file():
                raise HarnessError(f"merge: {match}: no results.json there")
            found.append(path)
    records = [(path.parent, read_record(path, "merge")) for path in found]
    for path, record in records:
        if record["shard"] and shard_of(record["shard"]) is None:
            raise HarnessError(
                f"merge: {path / 'results.json'}: shard: {record['shard']!r} is not K/N with 1 <= K <= N"
            )
    return records


def shard_of(text: str) -> tuple[int, int] | None:
    """``(K, N)`` of a shard's ``K/N``, or None when it is not one (``1/0``, ``3/2``, ``x``)."""
    k, _, n = text.partition("/")
    if not (k.isdigit() and n.isdigit()) or not 1 <= int(k) <= int(n):
        return None
    return int(k), int(n)


def merge(records: Sequence[tuple[Path, dict[str, Any]]]) -> dict[str, Any]:
    if not records:
        raise HarnessError("merge: no shard records given")
    shards = [r.get("shard") or "" for _, r in records]
    if not all(shards):
        raise HarnessError(f"merge: {', '.join(str(p) for (p, r) in records if not r.get('shard'))} is not a shard run")
    totals = {shard_of(s)[1] for s in shards}  # type: ignore[index]  # checked when read
    groups = {r.get("group_id") for _, r in records}
    suites = {r["suite"] for _, r in records}
    if len(totals) > 1 or len(groups) > 1 or len(suites) > 1:
        raise HarnessError(
            f"merge: the records are not one suite's shards (N {totals}, groups {groups}, suites {suites})"
        )
    n = totals.pop()
    seen = [int(s.split("/")[0]) for s in shards]
    duplicated = sorted({k for k in seen if seen.count(k) > 1})
    missing = sorted(set(range(1, n + 1)) - set(seen))
    if duplicated or missing:
        problems = [f"shard {k}/{n} given twice" for k in duplicated] + [f"shard {k}/{n} missing" for k in missing]
        raise HarnessError("merge: " + "; ".join(problems))
    ordered = sorted(records, key=lambda pr: int(pr[1]["shard"].split("/")[0]))
    cases = [{**c, "shard": r["shard"]} for _, r in ordered for c in r["tests"]["cases"]]
    latency = latency_of([s for _, r in ordered for s in r.get("latency", {}).get("samples", [])])
    exit_code = worst([r["exit_code"] for _, r in ordered])
    first = ordered[0][1]
    return {
        **{k: first[k] for k in ("version", "suite", "profile", "backend", "git_commit", "rootdir") if k in first},
        "run_id": f"{first['suite']}-{first.get('group_id') or 'merged'}-merged",
        "group_id": first.get("group_id", ""),
        "shard": f"merged {n}",
        "shards": [
            {
                "shard": r["shard"],
                "run_id": r["run_id"],
                "exit_code": r["exit_code"],
                "status": r["status"],
                "failure": r.get("failure", ""),
                "duration_s": r["duration_s"],
                "tests": tally(r["tests"]["cases"]),
            }
            for _, r in ordered
        ],
        "started_at": min(r["started_at"] for _, r in ordered),
        "completed_at": max(r["completed_at"] for _, r in ordered),
        "duration_s": max(r["duration_s"] for _, r in ordered),
        "exit_code": exit_code,
        "status": {0: "passed", 1: "failed", 130: "interrupted"}.get(exit_code, "error"),
        "failure": "; ".join(f"shard {r['shard']}: {r['failure']}" for _, r in ordered if r.get("failure")),
        "failed_stage": "",
        "stages": [{**s, "name": f"{r['shard']} {s['name']}"} for _, r in ordered for s in r["stages"]],
        "tests": tests_block(
            cases,
            deselected=[n for _, r in ordered for n in r["tests"].get("deselected_ids", [])],
            pytest_counts=_summed(ordered, "pytest"),
            junit=_summed(ordered, "junit"),
        ),
        "latency": latency,
        "events": [{**e, "shard": r["shard"]} for _, r in ordered for e in r.get("events", [])],
        "resources": {f"{r['shard']} {name}": u for _, r in ordered for name, u in r.get("resources", {}).items()},
        "logs": [],
    }


def _summed(records: Sequence[tuple[Path, dict[str, Any]]], counted: str) -> dict[str, int]:
    """The shards' ``counted`` pytest or JUnit counts, added up."""
    total: Counter[str] = Counter()
    for _, r in records:
        total.update(r["tests"].get("counted", {}).get(counted, {}))
    return dict(total)


def write_merged(
    records: Sequence[tuple[Path, dict[str, Any]]], out: Path | None, runs_dir: Path, history: Path, console: Console
) -> tuple[Path, dict[str, Any]]:
    """The merged record's directory (results.json, junit.xml, report.html) and a history line."""
    data = merge(records)
    out = out or runs_dir / data["run_id"]
    # Made whole beside it, then put in place: a failure halfway leaves no half-written record.
    building = out.with_name(f".{out.name}.building")
    shutil.rmtree(building, ignore_errors=True)
    try:
        write_json(building / "results.json", data)
        merge_junit([d / "junit.xml" for d, _ in records], building / "junit.xml")
        write_html_report(data, building / "report.html")
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    if out.exists():
        shutil.rmtree(out)
    building.rename(out)
    append_history(history, data)
    return out, data
