"""A test's record for results.json, from pytest's reports (pure: the plugin's hooks call it)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest


def case_of(nodeid: str, reports: list[pytest.TestReport], id_property: str, tier_prefix: str) -> dict[str, Any]:
    """One test's case from its setup, call and teardown reports, outcomes as pytest counts them."""
    outcome, message, duration = "passed", "", 0.0
    props: dict[str, str] = {}
    for rep in reports:
        duration += rep.duration
        props.update({str(k): str(v) for k, v in rep.user_properties})
        expected_failure = hasattr(rep, "wasxfail")
        if rep.failed and outcome not in ("failed", "error"):
            outcome = "failed" if rep.when == "call" else "error"
            message = short(rep)
        elif rep.skipped and expected_failure and outcome == "passed":
            outcome, message = "xfailed", str(rep.wasxfail)
        elif rep.skipped and outcome == "passed":
            outcome, message = "skipped", short(rep)
        elif rep.passed and expected_failure and rep.when == "call" and outcome == "passed":
            outcome, message = "xpassed", str(rep.wasxfail)
    logs = (
        {k.removeprefix("backend_log."): v.splitlines() for k, v in props.items() if k.startswith("backend_log.")}
        if outcome in ("failed", "error")
        else {}
    )
    markers = sorted(k for k in reports[0].keywords if tier_prefix and k.startswith(tier_prefix))
    return {
        "nodeid": nodeid,
        "int_id": props.get(id_property),
        "markers": markers,
        "outcome": outcome,
        "duration_s": round(duration, 3),
        "message": message,
        "backend_logs": logs,
        "browser_errors": json.loads(props.get("browser_errors", "[]")),
    }


def not_run(nodeid: str, reason: str, tier_prefix: str, keywords: Any = ()) -> dict[str, Any]:
    """A selected test the run never reached (it stopped early), with the reason."""
    markers = sorted(k for k in keywords if tier_prefix and k.startswith(tier_prefix))
    return {
        "nodeid": nodeid,
        "int_id": None,
        "markers": markers,
        "outcome": "not_run",
        "duration_s": 0.0,
        "message": reason,
        "backend_logs": {},
    }


def skipped_module(report: pytest.CollectReport) -> dict[str, Any]:
    """A module skipped as a whole (``pytest.skip(allow_module_level=True)``)."""
    message = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return {
        "nodeid": report.nodeid,
        "int_id": None,
        "markers": [],
        "outcome": "skipped",
        "duration_s": 0.0,
        "message": message,
        "backend_logs": {},
    }


def short(rep: pytest.TestReport | pytest.CollectReport) -> str:
    if rep.skipped and isinstance(rep.longrepr, tuple):
        return str(rep.longrepr[2])
    crash = getattr(rep.longrepr, "reprcrash", None)
    if crash is not None:
        return str(crash.message)[:2000]
    text = str(rep.longrepr or "").strip()
    return text.splitlines()[0][:2000] if text else ""


def wrong_ids(items: list[pytest.Item], marker_name: str, pattern: str) -> list[str]:
    """``nodeid: 'id'`` for each test whose id (its marker's first argument) does not match."""
    wrong = []
    for item in items:
        marker = item.get_closest_marker(marker_name)
        if marker is not None and marker.args and not re.fullmatch(pattern, str(marker.args[0])):
            wrong.append(f"{item.nodeid}: {marker.args[0]!r}")
    return wrong
