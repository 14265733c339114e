"""``harness summary``: a run's record as the Markdown a CI job writes to its step summary."""

from __future__ import annotations

from typing import Any

from harness.record.rates import executed, percent


def markdown(data: dict[str, Any], excerpt_lines: int = 12) -> str:
    """What a CI job writes to its step summary: counts, failures, slow endpoints, stage timings, every test."""
    t = data["tests"]
    out = [
        f"## {data['suite']}: {data['status']} (exit {data['exit_code']})",
        "",
        "| tests | passed | failed | errors | skipped | pass rate |",
        "|---|---|---|---|---|---|",
        f"| {t['total']} | {t['passed']} | {t['failed']} | {t['errors']} | {t['skipped']} | "
        f"{percent(t.get('pass_rate'))} |",
    ]
    if data.get("failure"):
        out += ["", f"**{data['failure'].splitlines()[0]}**"]
    tiers = t.get("by_tier", {})
    if tiers:
        out += ["", "| tier | passed | executed | pass rate |", "|---|---|---|---|"]
        out += [f"| {k} | {v['passed']} | {executed(v)} | {percent(v['pass_rate'])} |" for k, v in tiers.items()]
    failed = [c for c in t["cases"] if c["outcome"] in ("failed", "error")]
    if failed:
        out += ["", "### Failures"]
        for case in failed:
            label = f" ({case['int_id']})" if case.get("int_id") else ""
            out += ["", f"**{case['nodeid']}**{label}: {case['message'].splitlines()[0] if case['message'] else ''}"]
            for service, lines in case.get("backend_logs", {}).items():
                out += [
                    f"<details><summary>{service} log</summary>",
                    "",
                    "```",
                    *lines[-excerpt_lines:],
                    "```",
                    "</details>",
                ]
    slow = data.get("latency", {}).get("slow_endpoints", [])
    if slow:
        endpoints = data["latency"]["endpoints"]
        out += ["", "### Slow endpoints (p99 over the threshold)", "", "| endpoint | count | p99 ms |", "|---|---|---|"]
        out += [f"| {k} | {endpoints[k]['count']} | {endpoints[k]['p99_ms']} |" for k in slow]
    if data.get("stages"):
        out += ["", "### Stages", "", "| stage | status | took |", "|---|---|---|"]
        out += [f"| {s['name']} | {s['status']} | {s['duration']:.2f} s |" for s in data["stages"]]
    if t["cases"]:
        out += _all_tests(t["cases"])
    return "\n".join(out) + "\n"


def _all_tests(cases: list[dict[str, Any]]) -> list[str]:
    """Every test of the run, one row each (a merged record's with its shard), folded away."""
    merged = any(c.get("shard") for c in cases)
    columns = ["test", "id", "outcome", "took", *(["shard"] if merged else [])]
    rows = []
    for c in cases:
        nodeid = c["nodeid"].replace("|", "\\|")  # a parametrized id may hold one
        row = [f"`{nodeid}`", c.get("int_id") or "", c["outcome"], f"{c.get('duration_s') or 0:.2f} s"]
        rows.append("| " + " | ".join([*row, c.get("shard", "")] if merged else row) + " |")
    return [
        "",
        f"<details><summary>All {len(cases)} tests</summary>",
        "",
        "| " + " | ".join(columns) + " |",
        "|---" * len(columns) + "|",
        *rows,
        "",
        "</details>",
    ]
