"""The run's results as the plugin writes them: every test's case as its reports arrive (on the
xdist controller too: reports reach it serialised), the tests deselected, what pytest's own line
counts, the latency of every timed call; written at the session's end to
``protocol.results_file()`` in the run directory, which the harness folds into results.json.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .cases import case_of, not_run, skipped_module
from .fixtures import LATENCY
from .latency import Call, summarize
from .protocol import PluginConfig, worker_part

RECORDS: list[dict[str, Any]] = []
STOPPED: list[str] = []  # why the run stopped early, if it did (the first reason)
DESELECTED: list[str] = []  # node ids deselected in this process

_phases: dict[str, list[pytest.TestReport]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _phases.setdefault(report.nodeid, []).append(report)
    if report.when == "teardown":
        RECORDS.append(case_of(report.nodeid, _phases.pop(report.nodeid), PluginConfig.current().tier_prefix))


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Deselected tests are recorded by id (``-k``, ``-m``, a shard's split): under xdist pytest
    itself does not count them."""
    DESELECTED.extend(item.nodeid for item in items)


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped as a whole (``pytest.skip(allow_module_level=True)``) is a case too."""
    if report.skipped and report.nodeid:
        RECORDS.append(skipped_module(report))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    config = PluginConfig.current()
    if not config.run_dir:
        return
    directory = Path(config.run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    calls = [vars(c) for c in LATENCY.calls]
    deselected = set(DESELECTED)
    if worker:  # an xdist worker: hand what it saw to the controller through a file
        (directory / worker_part(worker)).write_text(json.dumps({"calls": calls, "deselected": sorted(deselected)}))
        return
    for part in directory.glob(worker_part("*")):
        handed = json.loads(part.read_text())
        calls += handed["calls"]
        deselected.update(handed["deselected"])
        part.unlink()
    latency = summarize([Call(**c) for c in calls])
    latency["samples"] = [[c["service"], c["method"], c["route"], c["status"], round(c["ms"], 3)] for c in calls]
    if session.shouldstop or session.shouldfail:  # the tests the early stop left out, and why
        done = {r["nodeid"] for r in RECORDS}
        why = str(STOPPED[0] if STOPPED else session.shouldstop or session.shouldfail)
        RECORDS.extend(
            not_run(i.nodeid, why, config.tier_prefix, i.keywords) for i in session.items if i.nodeid not in done
        )
    payload = {"exitstatus": int(exitstatus), "tests": RECORDS, "latency": latency, "stopped": STOPPED[:1]}
    payload["deselected"] = sorted(deselected - {r["nodeid"] for r in RECORDS})
    payload["pytest_counts"] = counts_said(session.config)
    payload["python"] = sys.executable  # which interpreter ran the suite (the project's, or the harness's)
    payload["rootdir"] = str(session.config.rootpath)  # node ids are relative to it (reruns name them so)
    config.results_path.write_text(json.dumps(payload))  # a suite run in phases: one per phase, combined later


def counts_said(config: pytest.Config) -> dict[str, int]:
    """What pytest's last line says (``2 failed, 1 passed, 2 subtests passed``), as counts; empty
    when its terminal reporter is off. Kept in the record beside the harness's own tally."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    stats: dict[str, list[Any]] = getattr(reporter, "stats", {}) or {}
    return {key: len(reports) for key, reports in sorted(stats.items()) if key and key != "warnings"}
