"""A test's record for results.json, from pytest's reports (pure: the plugin's hooks call it).

Every case has the same keys, whichever way it came about (a test that ran, one the run never
reached, a module skipped as a whole): :func:`case` builds them all.
"""

from __future__ import annotations

import json
import os
import re
import sysconfig
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pytest

from .protocol import ID_PROPERTY


def case(
    nodeid: str,
    outcome: str,
    *,
    message: str = "",
    duration: float = 0.0,
    int_id: str | None = None,
    markers: Sequence[str] = (),
    backend_logs: Mapping[str, list[str]] | None = None,
    browser_errors: Sequence[str] = (),
    subtests: Sequence[Mapping[str, str]] = (),
    websocket_frames: Mapping[str, list[str]] | None = None,
    location: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One test's case, with every key results.json gives a case."""
    return {
        "nodeid": nodeid,
        "int_id": int_id,
        "markers": list(markers),
        "outcome": outcome,
        "duration_s": round(duration, 3),
        "message": message,
        "backend_logs": dict(backend_logs or {}),
        "browser_errors": list(browser_errors),
        "subtests": [dict(s) for s in subtests],  # {name, outcome, message} each, in the order they ran
        "websocket_frames": dict(websocket_frames or {}),  # a failing test's frames, per service
        "location": dict(location) if location else None,  # {file, line} where a failed test failed
    }


def tier_markers(keywords: Iterable[str], tier_prefix: str) -> list[str]:
    if not tier_prefix:
        return []
    return sorted(k for k in keywords if k.startswith(tier_prefix))


def subtest_of(rep: pytest.TestReport) -> dict[str, str] | None:
    """A subtest's report (``subtests.test(...)``, pytest's own or pytest-subtests') as
    ``{name, outcome, message}``; None for the test's own reports."""
    context = getattr(rep, "context", None)
    if context is None or rep.when != "call":
        return None
    describe = getattr(rep, "_sub_test_description", None)
    name = describe() if callable(describe) else str(getattr(context, "msg", "") or "(<subtest>)")
    outcome = "xfailed" if rep.skipped and hasattr(rep, "wasxfail") else rep.outcome
    return {"name": name, "outcome": outcome, "message": short(rep) if rep.failed or rep.skipped else ""}


def case_of(nodeid: str, reports: list[pytest.TestReport], tier_prefix: str) -> dict[str, Any]:
    """One test's case from its setup, call and teardown reports, outcomes as pytest counts them.

    Subtests are listed in their test's case; a failed subtest fails the test (as pytest 9 says).
    """
    if all(_plain_pass(rep) for rep in reports):  # most tests: no subtest, xfail or failure to read
        return _passed(nodeid, reports, tier_prefix)
    outcome, message, duration = "passed", "", 0.0
    props: dict[str, str] = {}
    subtests = [s for s in map(subtest_of, reports) if s is not None]
    for rep in reports:
        if getattr(rep, "context", None) is not None:
            continue  # a subtest: listed apart, its duration is inside the test's call
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
    frames = (
        {k.removeprefix("websocket."): v.splitlines() for k, v in props.items() if k.startswith("websocket.")}
        if outcome in ("failed", "error")
        else {}
    )
    failed_sub = next((s for s in subtests if s["outcome"] == "failed"), None)
    if failed_sub is not None and (outcome == "passed" or message.startswith("contains ")):
        outcome, message = "failed", f"subtest {failed_sub['name']}: {failed_sub['message']}"
    logs = (
        {k.removeprefix("backend_log."): v.splitlines() for k, v in props.items() if k.startswith("backend_log.")}
        if outcome in ("failed", "error")
        else {}
    )
    return case(
        nodeid,
        outcome,
        message=message,
        duration=duration,
        int_id=props.get(ID_PROPERTY),
        markers=tier_markers(reports[0].keywords, tier_prefix),
        backend_logs=logs,
        browser_errors=json.loads(props.get("browser_errors", "[]")),
        subtests=subtests,
        websocket_frames=frames,
        location=location_of(reports) if outcome in ("failed", "error") else None,
    )


def _passed(nodeid: str, reports: list[pytest.TestReport], tier_prefix: str) -> dict[str, Any]:
    props = {str(k): str(v) for rep in reports for k, v in rep.user_properties}
    return case(
        nodeid,
        "passed",
        duration=sum(rep.duration for rep in reports),
        int_id=props.get(ID_PROPERTY),
        markers=tier_markers(reports[0].keywords, tier_prefix),
        browser_errors=json.loads(props["browser_errors"]) if "browser_errors" in props else (),
    )


def _plain_pass(rep: pytest.TestReport) -> bool:
    """Passed, and neither a subtest nor an xfail: its case needs only its duration and properties
    (a suite of thousands of fast tests pays for every attribute looked up per report)."""
    return rep.passed and not hasattr(rep, "wasxfail") and getattr(rep, "context", None) is None


def not_run(nodeid: str, reason: str, tier_prefix: str, keywords: Iterable[str] = ()) -> dict[str, Any]:
    """A selected test the run never reached (it stopped early), with the reason."""
    return case(nodeid, "not_run", message=reason, markers=tier_markers(keywords, tier_prefix))


def skipped_module(report: pytest.CollectReport) -> dict[str, Any]:
    """A module skipped as a whole (``pytest.skip(allow_module_level=True)``)."""
    message = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
    return case(report.nodeid, "skipped", message=message)


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


# The standard library's and installed packages' directories: a frame there is not where a
# project's test failed (httpx raising is not the line to annotate; the test's call to it is).
_LIBRARIES = ("stdlib", "platstdlib", "purelib", "platlib")
_INSTALLED = tuple({os.path.join(p, "") for k, p in sysconfig.get_paths().items() if k in _LIBRARIES})


def location_of(reports: Sequence[pytest.TestReport]) -> dict[str, Any] | None:
    """Where a failed test failed, so CI can annotate that line: the deepest frame of its traceback
    in the project's own code (not the standard library, not an installed package), its file an
    absolute path; else the test itself, its file relative to pytest's rootdir (a failure the
    plugin declares, as a service's death, has no traceback of its own)."""
    failed = [r for r in reports if r.failed and getattr(r, "context", None) is None]
    failed = failed or [r for r in reports if r.failed]  # a failed subtest
    if not failed:
        return None
    for path, line in reversed(_frames(failed[0].longrepr)):
        if os.path.isfile(path) and not _installed(path):
            return {"file": path, "line": line}
    fspath, lineno, _ = failed[0].location
    return {"file": fspath, "line": lineno + 1 if lineno is not None else None}


def _frames(longrepr: object) -> list[tuple[str, int]]:
    """(absolute path, line) of each entry of a failure's traceback, outermost first, where it
    crashed last. pytest gives them relative to the directory it was started in, or absolute."""
    frames = []
    traceback = getattr(longrepr, "reprtraceback", None)
    for entry in getattr(traceback, "reprentries", None) or ():
        where = getattr(entry, "reprfileloc", None)
        if where is not None:
            frames.append((os.path.abspath(where.path), int(where.lineno)))
    crash = getattr(longrepr, "reprcrash", None)
    if crash is not None:
        frames.append((os.path.abspath(crash.path), int(crash.lineno)))
    return frames


def _installed(path: str) -> bool:
    return path.startswith(_INSTALLED) or any(p in ("site-packages", "dist-packages") for p in path.split(os.sep))
