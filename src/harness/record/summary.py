"""``harness summary``: a run's record as the Markdown a CI job writes to its step summary.

GitHub refuses a step summary over 1 MiB (the job gets an error in its place), and a large
suite's table of every test, or thousands of failures with their log excerpts, can pass that. So
the text is kept under the limit: the table of every test is cut first, then the failures, and
the last line says how much is shown and where the whole record is.
"""

from __future__ import annotations

from typing import Any

from harness.record.rates import executed, percent

STEP_SUMMARY_LIMIT = 1024 * 1024  # bytes: GitHub's limit for one step's summary


def markdown(data: dict[str, Any], excerpt_lines: int = 12, *, limit: int = STEP_SUMMARY_LIMIT, where: str = "") -> str:
    """What a CI job writes to its step summary: counts, failures, slow endpoints, stage timings,
    every test; under ``limit`` bytes, the cut said in a last line that points at ``where``."""
    t = data["tests"]
    head = [
        f"## {data['suite']}: {data['status']} (exit {data['exit_code']})",
        "",
        "| tests | passed | failed | errors | skipped | pass rate |",
        "|---|---|---|---|---|---|",
        f"| {t['total']} | {t['passed']} | {t['failed']} | {t['errors']} | {t['skipped']} | "
        f"{percent(t.get('pass_rate'))} |",
    ]
    if data.get("failure"):
        head += ["", f"**{data['failure'].splitlines()[0]}**"]
    tiers = t.get("by_tier", {})
    if tiers:
        head += ["", "| tier | passed | executed | pass rate |", "|---|---|---|---|"]
        head += [f"| {k} | {v['passed']} | {executed(v)} | {percent(v['pass_rate'])} |" for k, v in tiers.items()]
    failures = [_failure(c, excerpt_lines) for c in t["cases"] if c["outcome"] in ("failed", "error")]
    tail = _endpoints_and_stages(data)
    rows = _rows(t["cases"])
    text = _text(head, failures, tail, t["cases"], rows)
    if _size(text) < limit:
        return text
    return _shortened(head, failures, tail, t["cases"], rows, limit, where)


def _failure(case: dict[str, Any], excerpt_lines: int) -> list[str]:
    label = f" ({case['int_id']})" if case.get("int_id") else ""
    out = ["", f"**{case['nodeid']}**{label}: {case['message'].splitlines()[0] if case['message'] else ''}"]
    for service, lines in case.get("backend_logs", {}).items():
        out += [f"<details><summary>{service} log</summary>", "", "```", *lines[-excerpt_lines:], "```", "</details>"]
    return out


def _endpoints_and_stages(data: dict[str, Any]) -> list[str]:
    out: list[str] = []
    slow = data.get("latency", {}).get("slow_endpoints", [])
    if slow:
        endpoints = data["latency"]["endpoints"]
        out += ["", "### Slow endpoints (p99 over the threshold)", "", "| endpoint | count | p99 ms |", "|---|---|---|"]
        out += [f"| {k} | {endpoints[k]['count']} | {endpoints[k]['p99_ms']} |" for k in slow]
    if data.get("stages"):
        out += ["", "### Stages", "", "| stage | status | took |", "|---|---|---|"]
        out += [f"| {s['name']} | {s['status']} | {s['duration']:.2f} s |" for s in data["stages"]]
    return out


def _rows(cases: list[dict[str, Any]]) -> list[str]:
    """Every test of the run, one row each (a merged record's with its shard)."""
    merged = any(c.get("shard") for c in cases)
    rows = []
    for c in cases:
        nodeid = c["nodeid"].replace("|", "\\|")  # a parametrized id may hold one
        row = [f"`{nodeid}`", c.get("int_id") or "", c["outcome"], f"{c.get('duration_s') or 0:.2f} s"]
        rows.append("| " + " | ".join([*row, c.get("shard", "")] if merged else row) + " |")
    return rows


def _all_tests(cases: list[dict[str, Any]], rows: list[str]) -> list[str]:
    """The table of every test (or of the first ``rows``), folded away."""
    if not cases:
        return []
    shown = f"All {len(cases)} tests" if len(rows) == len(cases) else f"The first {len(rows)} of {len(cases)} tests"
    return ["", f"<details><summary>{shown}</summary>", "", *(_columns(cases) if rows else []), *rows, "", "</details>"]


def _columns(cases: list[dict[str, Any]]) -> list[str]:
    columns = ["test", "id", "outcome", "took", *(["shard"] if any(c.get("shard") for c in cases) else [])]
    return ["| " + " | ".join(columns) + " |", "|---" * len(columns) + "|"]


def _text(
    head: list[str], failures: list[list[str]], tail: list[str], cases: list[dict[str, Any]], rows: list[str]
) -> str:
    failed = ["", "### Failures", *(line for f in failures for line in f)] if failures else []
    return "\n".join([*head, *failed, *tail, *_all_tests(cases, rows)]) + "\n"


def _size(text: str) -> int:
    return len(text.encode())


def _lines_size(lines: list[str]) -> int:
    return sum(_size(line) + 1 for line in lines)


def _shortened(
    head: list[str],
    failures: list[list[str]],
    tail: list[str],
    cases: list[dict[str, Any]],
    rows: list[str],
    limit: int,
    where: str,
) -> str:
    """The summary under ``limit`` bytes: as many failures as fit (all of them, when they do),
    then as many of the table's rows, and a last line saying so."""

    def note(n_failures: int, n_rows: int) -> list[str]:
        cut = [f"{n_rows} of {len(rows)} tests"]
        if n_failures < len(failures):
            cut.insert(0, f"{n_failures} of {len(failures)} failures")
        record = f" in {where}" if where else ""
        return [
            "",
            f"**Shortened to stay under the step summary's limit ({limit:,} bytes): {' and '.join(cut)} shown. "
            f"Every test is in the run's record{record} (results.json, report.html).**",
        ]

    # Room for the note and what changes with the counts (the table's head, its summary line).
    reserve = _lines_size(note(0, len(rows))) + _lines_size(_columns(cases)) + 256
    fixed = _size(_text(head, [], tail, cases, []))
    room = limit - fixed - reserve - _lines_size(["", "### Failures"])
    kept_failures = _fit([_lines_size(f) for f in failures], room)
    fixed = _size(_text(head, failures[:kept_failures], tail, cases, []))
    # Failures cut: no table (its first few rows would be a fragment of no use).
    kept_rows = _fit([_size(r) + 1 for r in rows], limit - fixed - reserve) if kept_failures == len(failures) else 0
    text = _text(head, failures[:kept_failures], tail, cases, rows[:kept_rows]).rstrip("\n")
    return "\n".join([text, *note(kept_failures, kept_rows)]) + "\n"


def _fit(sizes: list[int], room: int) -> int:
    """How many of the first ``sizes`` fit in ``room``."""
    used = 0
    for n, size in enumerate(sizes):
        used += size
        if used > room:
            return n
    return len(sizes)
