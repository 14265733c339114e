"""The human report of a run: one self-contained HTML page written next to results.json.

It shows the stage timeline as a waterfall (what started when, and how long it took to become
ready) with the services' events during the tests marked on it, the failing tests with their
backend log excerpts, the slowest tests, the endpoint latency table and each service's CPU and
memory.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from harness.host.files import write_atomic
from harness.record.rates import percent

STYLE = """
body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse} td,th{padding:2px 10px;border-bottom:1px solid #eee;text-align:left}
.bar{height:14px;background:#4a8;display:inline-block;border-radius:2px}
.bar.failed{background:#c44}.bar.cancelled{background:#aaa}
.lane{position:relative;width:600px;height:16px;background:#f6f6f6}
.lane span{position:absolute;top:1px}
pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:300px}
.pass{color:#2a7}.fail{color:#c33}
.mark{width:3px;height:14px;background:#c44}.mark.intended{background:#48c}
"""


def _event_offsets(data: dict[str, Any]) -> list[tuple[float, dict[str, Any]]]:
    """Each event with its offset from the run's start (the stages' zero)."""
    try:
        start = dt.datetime.fromisoformat(data["started_at"]).timestamp()
    except (KeyError, ValueError):
        return []
    return [(max(0.0, e["time"] - start), e) for e in data.get("events", [])]


def _waterfall(stages: list[dict[str, Any]], events: Sequence[tuple[float, dict[str, Any]]] = ()) -> str:
    if not stages:
        return "<p>no stages recorded</p>"
    end = max([s["start_offset"] + s["duration"] for s in stages] + [t for t, _ in events]) or 1.0
    rows = []
    for s in stages:
        left = 600 * s["start_offset"] / end
        width = max(2.0, 600 * s["duration"] / end)
        rows.append(
            f"<tr><td>{escape(s['name'])}</td><td>{escape(s['status'])}</td>"
            f"<td>{s['start_offset']:.2f} s</td><td>{s['duration']:.2f} s</td>"
            f"<td><div class=lane><span class='bar {escape(s['status'])}' "
            f"style='left:{left:.0f}px;width:{width:.0f}px'></span></div></td></tr>"
        )
    for offset, e in events:
        kind = "mark intended" if e.get("intended") else "mark"
        rows.append(
            f"<tr><td>{escape(e['service'])}: {escape(e['event'])}</td><td>event</td><td>{offset:.2f} s</td>"
            f"<td></td><td><div class=lane><span class='{kind}' style='left:{600 * offset / end:.0f}px'>"
            "</span></div></td></tr>"
        )
    return (
        "<table><tr><th>stage</th><th>status</th><th>start</th><th>took</th><th>timeline</th></tr>"
        + "".join(rows)
        + "</table>"
    )


def _failures(cases: list[dict[str, Any]]) -> str:
    failed = [c for c in cases if c["outcome"] in ("failed", "error")]
    if not failed:
        return "<p class=pass>no failing tests</p>"
    parts = []
    for case in failed:
        int_id = f" ({escape(case['int_id'])})" if case.get("int_id") else ""
        parts.append(f"<h3 class=fail>{escape(case['nodeid'])}{int_id}</h3><pre>{escape(case['message'])}</pre>")
        for service, lines in case.get("backend_logs", {}).items():
            parts.append(f"<p>{escape(service)} log while the test ran:</p><pre>{escape(chr(10).join(lines))}</pre>")
    return "".join(parts)


def _slowest(cases: list[dict[str, Any]], n: int = 10) -> str:
    rows = "".join(
        f"<tr><td>{escape(c['nodeid'])}</td><td>{c['duration_s']:.2f} s</td><td>{escape(c['outcome'])}</td></tr>"
        for c in sorted(cases, key=lambda c: -c["duration_s"])[:n]
    )
    return f"<table><tr><th>test</th><th>duration</th><th>outcome</th></tr>{rows}</table>"


def _rates(groups: dict[str, dict[str, Any]], what: str) -> str:
    if not groups:
        return f"<p>no {escape(what)} recorded</p>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{r['total']}</td><td>{r['passed']}</td><td>{r['failed'] + r['errors']}</td>"
        f"<td>{r['skipped']}</td><td class={'pass' if r['pass_rate'] == 1 else 'fail'}>"
        f"{percent(r['pass_rate'])}</td></tr>"
        for name, r in groups.items()
    )
    return (
        f"<table><tr><th>{escape(what)}</th><th>tests</th><th>passed</th><th>failed</th><th>skipped</th>"
        f"<th>pass rate</th></tr>{rows}</table>"
    )


def _latency(latency: dict[str, Any]) -> str:
    endpoints = latency.get("endpoints", {})
    if not endpoints:
        return (
            "<p>no HTTP calls recorded: only calls made through the plugin's <code>service_client</code> "
            "are timed (calls made in-process, or with another client, are not)</p>"
        )
    slow = set(latency.get("slow_endpoints", []))
    rows = "".join(
        f"<tr class={'fail' if k in slow else ''}><td>{escape(k)}</td><td>{v['count']}</td><td>{v['p50_ms']}</td>"
        f"<td>{v['p95_ms']}</td><td>{v['p99_ms']}</td></tr>"
        for k, v in endpoints.items()
    )
    return (
        "<table><tr><th>endpoint</th><th>count</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th></tr>"
        + rows
        + "</table>"
    )


def _events(events: list[tuple[float, dict[str, Any]]]) -> str:
    if not events:
        return "<p>none: every watched service stayed up and healthy</p>"
    rows = "".join(
        f"<tr><td>{t:.2f} s</td><td>{escape(e['service'])}</td><td class={'fail' if e.get('fails') else 'pass'}>"
        f"{escape(e['event'])}{' (intended)' if e.get('intended') else ''}</td><td>{escape(e['detail'])}</td>"
        f"<td>{escape(', '.join(e.get('tests', [])))}</td></tr>"
        for t, e in events
    )
    return (
        f"<table><tr><th>at</th><th>service</th><th>event</th><th>detail</th><th>test running</th></tr>{rows}</table>"
    )


def _resources(resources: dict[str, dict[str, Any]]) -> str:
    if not resources:
        return "<p>not sampled</p>"
    rows = "".join(
        f"<tr><td>{escape(name)}</td><td>{u['cpu_percent_peak']}</td><td>{u['cpu_percent_mean']}</td>"
        f"<td>{u['rss_mb_peak']}</td><td>{u['rss_mb_mean']}</td><td>{u['samples']}</td></tr>"
        for name, u in sorted(resources.items())
    )
    return (
        "<table><tr><th>service</th><th>CPU % peak</th><th>CPU % mean</th><th>memory MiB peak</th>"
        f"<th>memory MiB mean</th><th>samples</th></tr>{rows}</table>"
    )


def _shards(shards: list[dict[str, Any]]) -> str:
    """A merged run's shards side by side."""
    if not shards:
        return ""
    rows = "".join(
        f"<tr><td>{escape(s['shard'])}</td><td>{escape(s['status'])} (exit {s['exit_code']})</td>"
        f"<td>{s['tests']['passed']}/{s['tests']['total']}</td><td>{s['duration_s']:.1f} s</td>"
        f"<td>{escape(s['run_id'])}</td><td>{escape(s.get('failure', '')[:200])}</td></tr>"
        for s in shards
    )
    return (
        "<h2>Shards</h2><table><tr><th>shard</th><th>status</th><th>passed</th><th>took</th><th>run</th>"
        f"<th>failure</th></tr>{rows}</table>"
    )


def render_html(data: dict[str, Any]) -> str:
    t = data["tests"]
    verdict = "pass" if data["exit_code"] == 0 else "fail"
    failure = f"<p class=fail>{escape(data['failure'])}</p>" if data.get("failure") else ""
    events = _event_offsets(data)
    return f"""<!doctype html><html><head><meta charset=utf-8><title>{escape(data["run_id"])}</title>
<style>{STYLE}</style></head><body>
<h1>{escape(data["suite"])}: <span class={verdict}>{escape(data["status"])}</span> (exit {data["exit_code"]})</h1>
<p>run {escape(data["run_id"])} · commit {escape(data["git_commit"][:12])}{_changes(data)}
 · backend {escape(data["backend"])} · {escape(data["started_at"])}
 → {escape(data["completed_at"])} ({data["duration_s"]:.1f} s)</p>
{failure}
<p>{t["total"]} tests: {t["passed"]} passed, {t["failed"]} failed, {t["errors"]} errors, {t["skipped"]} skipped,
 {t.get("xfailed", 0)} xfailed, {t.get("xpassed", 0)} xpassed, {t.get("not_run", 0)} not run,
 {t.get("flaky", 0)} flaky, {t.get("quarantined", 0)} quarantined</p>
{_shards(data.get("shards", []))}
{_coverage(data.get("coverage"))}
<h2>Flaky and quarantined tests</h2>{_flaky(t["cases"])}
<h2>Pass rate by tier</h2>{_rates(t.get("by_tier", {}), "tier")}
<h2>Stage timeline</h2>{_waterfall(data["stages"], events)}
<h2>Service events</h2>{_events(events)}
<h2>Failing tests</h2>{_failures(t["cases"])}
<h2>Slowest tests</h2>{_slowest(t["cases"])}
<h2>Endpoint latency</h2>{_latency(data["latency"])}
<h2>Service resources</h2>{_resources(data.get("resources", {}))}
<h2>Pass rate by test file</h2>{_rates(t.get("by_file", {}), "file")}
<h2>Pass rate by catalog id</h2>{_rates(t.get("by_id", {}), "id")}
</body></html>"""


def _coverage(result: dict[str, Any] | None) -> str:
    """The services' coverage ([suites.X] coverage), linked to its HTML report beside this page."""
    if not result:
        return ""
    rows = "".join(f"<tr><td>{escape(s)}</td><td>{p:.1f}%</td></tr>" for s, p in result.get("services", {}).items())
    rows += "".join(
        f"<tr><td>{escape(s)}</td><td>not measured: {escape(why)}</td></tr>"
        for s, why in (result.get("missing") or {}).items()
    )
    total = result.get("total")
    head = f"{total:.1f}%" if total is not None else "no data"
    html, xml = result.get("html"), result.get("xml")
    link = f' · <a href="{escape(html)}">report</a> · <a href="{escape(xml or "")}">coverage.xml</a>' if html else ""
    return f"<h2>Coverage of the services: {head}{link}</h2><table>{rows}</table>"


def _flaky(cases: list[dict[str, Any]]) -> str:
    """Tests that passed only on a rerun (each attempt), and quarantined ones (reason, date)."""
    rows = ""
    for c in cases:
        attempts = c.get("attempts") or []
        q = c.get("quarantine")
        if c["outcome"] != "flaky" and not q and len(attempts) < 2:
            continue
        tried = " → ".join(escape(a["outcome"]) for a in attempts) or escape(c["outcome"])
        note = f"quarantined until {escape(q['until'])}: {escape(q['reason'])}" if q else ""
        if q and q.get("expired"):
            note = "quarantine expired: " + note
        rows += f"<tr><td>{escape(c['nodeid'])}</td><td>{escape(c['outcome'])}</td><td>{tried}</td><td>{note}</td></tr>"
    if not rows:
        return "<p>none</p>"
    return f"<table><tr><th>test</th><th>outcome</th><th>attempts</th><th>quarantine</th></tr>{rows}</table>"


def write_html_report(data: dict[str, Any], path: Path) -> None:
    write_atomic(path, render_html(data))


def _changes(data: dict[str, Any]) -> str:
    """`` with uncommitted changes (3 files)``, for a run made from a dirty tree."""
    count = data.get("git_changes", {}).get("count", 0)
    return f" with uncommitted changes ({count} file{'s' if count != 1 else ''})" if count else ""
