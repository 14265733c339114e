"""The pytest plugin loaded for integration suites (``-p harness.plugin.pytest_plugin``).

It gives tests the running stack, read from the environment the harness exports:

- ``stack_env``, ``service_url(name)``, ``service_ws(name, path)`` (a timed WebSocket client),
  ``service_client(name)`` (httpx clients that time every
  request), ``test_id`` (the id the stack's id marker gives the test) and ``session_id``
  (``<id>-<8 hex>``, unique per test);
- per test, the lines each service wrote to its log while the test ran: attached to failing
  reports (terminal and JUnit properties) under the service's name;
- a test during which a service logged a traceback or an ERROR line fails, naming the service and
  the line, unless an allowance covers it (``allow_backend_errors("regex", service=...)`` on the
  test, or ``[tests] allow_backend_errors`` for the stack);
- a test during which a watched service died or stopped answering fails, naming the service, what
  happened and its log tail (``service_events.py``); the run can stop there, the rest listed as
  not run;
- at the end, ``protocol.results_file()`` in the run directory with every test and the latency
  summary, which the suite runner folds into ``results.json``.

What the harness tells it comes in one :class:`~.protocol.PluginConfig`; the names of the files
both sides read and write are in ``protocol.py``.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from . import browser, collect, run_order, running_test, service_events, shards, websocket, worker_env
from .backend_errors import Allowance, BadAllowance, compile_allowances, stack_allowances, unallowed
from .backend_logs import service_logs
from .cases import wrong_ids
from .markers import has_marker
from .protocol import (
    ALLOW_BACKEND_ERRORS,
    ALLOW_BROWSER_ERRORS,
    DISRUPTIVE,
    ID_PROPERTY,
    PluginConfig,
    ServiceEvent,
)

ALLOWED_KEY = pytest.StashKey[list[Allowance]]()
BROWSER_KEY = pytest.StashKey[list[re.Pattern[str]]]()

_live: service_events.ServiceEvents | None = None
_running: running_test.RunningTest | None = None  # [suites.X] coverage: the services' contexts follow it
_logs = service_logs()  # the stack's service logs, sliced per test


def _config() -> PluginConfig:
    return PluginConfig.current()


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config: pytest.Config, parser: pytest.Parser, args: list[str]) -> None:
    """An xdist worker's own copies of the isolated data, before any conftest reads the environment."""
    try:
        worker_env.apply()
    except worker_env.WorkerEnvError as exc:
        raise pytest.UsageError(str(exc)) from None


def pytest_configure(config: pytest.Config) -> None:
    global _live, _running
    for line in (
        f"{id_marker()}(id): the catalog id this test proves",
        f"{ALLOW_BACKEND_ERRORS}(*regex, service=None): service error lines matching one of these are expected",
        f"{ALLOW_BROWSER_ERRORS}(*regex): browser page or console errors matching one of these are expected",
    ):
        config.addinivalue_line("markers", line)
    if not config.pluginmanager.has_plugin("harness-run-order"):  # the gate; what a phase left
        config.pluginmanager.register(run_order, "harness-run-order")
    if not config.pluginmanager.has_plugin("harness-results"):  # every test's case, written at the end
        config.pluginmanager.register(collect, "harness-results")
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    xdist = worker is not None or bool(getattr(config.option, "numprocesses", None))
    # Each test waits until the services switched to it (alone: to it only).
    _running = running_test.from_env(worker or "main", alone=not xdist)
    harness = _config()
    if harness.run_dir and harness.watch and _live is None:
        _live = service_events.ServiceEvents(Path(harness.run_dir), worker or "main")
        _live.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    if _live is not None:
        _live.stop()


def _stop(session: pytest.Session, reason: str) -> None:
    if not collect.STOPPED:
        collect.STOPPED.append(reason)
    session.shouldstop = reason


# First: pytest-xdist's loadgroup renames grouped tests (``id@group``) in the same hook, and the
# shard split and the ids check must see the tests' own ids (the recorded durations are keyed so).
@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this shard's tests (``PluginConfig.shard``), and check ids against ``[tests] id_pattern``."""
    harness = _config()
    if harness.shard:
        k, n = shards.parse(harness.shard)
        durations = shards.load_durations(harness.durations)
        disruptive = [i.nodeid for i in items if i.get_closest_marker(DISRUPTIVE) is not None]
        mine = set(shards.split([i.nodeid for i in items], n, durations, disruptive)[k - 1])
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in mine])
        items[:] = [i for i in items if i.nodeid in mine]
    _check_allowances(items, harness)
    pattern = harness.id_pattern
    wrong = wrong_ids(items, harness.id_marker, pattern) if pattern else []
    if wrong:
        raise pytest.UsageError(f"test ids that do not match {pattern!r}: " + "; ".join(wrong))


def _check_allowances(items: list[pytest.Item], config: PluginConfig) -> None:
    """Every test's allowances compiled once; a marker without a pattern is refused here."""
    try:
        shared = stack_allowances(config)
    except BadAllowance as exc:
        raise pytest.UsageError(str(exc)) from None
    wrong = []
    for item in items:
        allowed = shared  # most tests have neither marker: asking is cheaper than walking them
        if has_marker(item, ALLOW_BACKEND_ERRORS):
            allowed = list(shared)
            for marker in item.iter_markers(ALLOW_BACKEND_ERRORS):
                try:
                    allowed += compile_allowances(marker.args, marker.kwargs.get("service"), where=item.nodeid)
                except BadAllowance as exc:
                    wrong.append(str(exc))
        item.stash[ALLOWED_KEY] = allowed
        if has_marker(item, ALLOW_BROWSER_ERRORS):
            try:
                item.stash[BROWSER_KEY] = browser.allowances(item.iter_markers(ALLOW_BROWSER_ERRORS), item.nodeid)
            except ValueError as exc:
                wrong.append(str(exc))
    if wrong:
        raise pytest.UsageError("; ".join(dict.fromkeys(wrong)))


# -- fixtures: stack_env, service_url, service_client, service_ws, latency_log, test_id, session_id ---
from .fixtures import (  # noqa: E402  (pytest finds a plugin's fixtures in its namespace)
    browser_errors,
    id_marker,
    latency_log,
    service_client,
    service_url,
    service_ws,
    session_id,
    stack_env,
    test_id,
)

__all__ = [
    "browser_errors",
    "latency_log",
    "service_client",
    "service_url",
    "service_ws",
    "session_id",
    "stack_env",
    "test_id",
]


# -- per-test log capture -----------------------------------------------------------------------
# One test runs at a time in a pytest process: its log offsets and lines are this module's, not
# the item's stash (every test of a suite of thousands pays for each lookup).
_offsets: dict[str, int] = {}  # where each service's log ended when it started
_test_logs: dict[str, list[str]] | None = None  # the lines the services wrote during it, once read


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """The test starts (a plain hook returning nothing: pytest's own protocol runs next)."""
    global _offsets, _test_logs
    _offsets, _test_logs = _logs.offsets(), None
    websocket.start_test()
    if _live is not None:
        _live.begin(item.nodeid)
    if _running is not None:
        _running.announce(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Iterator[None]:
    if _live is None:
        return (yield)
    _live.enter_call()
    try:
        return (yield)
    finally:
        _live.leave_call()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Each phase's report: the id property added, the test failed for what its services did.

    Here, not in ``pytest_runtest_logreport``: pytest counts failures (``-x``, the exit code) in
    its own first ``logreport`` hook, before any plugin's could change the outcome.
    """
    global _test_logs
    report: pytest.TestReport = yield
    when = report.when
    if when == "setup":
        name = id_marker()
        marker = item.get_closest_marker(name) if has_marker(item, name) else None
        if marker is not None and marker.args:
            # On the item too: later phases' reports (and JUnit, which reads teardown's) carry it.
            item.user_properties.append((ID_PROPERTY, str(marker.args[0])))
            report.user_properties.append((ID_PROPERTY, str(marker.args[0])))
        if _live is not None and _live.pending():
            _fail_on_events(item, report, _live.blame())
    elif when == "call":
        if _live is not None:
            _fail_on_events(item, report, _live.blame())
        _fail_on_browser_errors(item, report)
        _test_logs = logs = _logs.new_lines(_offsets)
        config = _config()
        if logs and config.backend_errors and report.passed:
            ignored = set(config.backend_errors_ignore)
            checked = {s: lines for s, lines in logs.items() if s not in ignored}
            _fail_on_backend_errors(item, report, checked, config.stop_on_backend_error)
    else:  # teardown: the test's time ends
        if _live is not None:
            _live.end()
        if _running is not None:
            _running.announce("")
    if report.failed:
        _attach_logs(item, report)
        websocket.attach_frames(item, report)
    return report


def _fail_on_browser_errors(item: pytest.Item, report: pytest.TestReport) -> None:
    """Page and console errors of the test's pages (``browser_errors`` fixture) fail it unless allowed."""
    collector = getattr(item, "funcargs", {}).get("browser_errors")
    if not isinstance(collector, browser.BrowserErrors) or not collector.messages:
        return
    report.user_properties.append(("browser_errors", json.dumps(collector.messages)))
    item.user_properties.append(("browser_errors", json.dumps(collector.messages)))
    patterns: list[re.Pattern[str]] = item.stash.get(BROWSER_KEY, [])
    bad = browser.unallowed(collector.messages, patterns)
    if bad and report.passed:
        report.outcome = "failed"
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        report.longrepr = (
            f"browser error during the test: {bad[0]}{more}\n" + "\n".join(bad[1:]) + "\n"
            f"(if expected, allow it: @pytest.mark.{ALLOW_BROWSER_ERRORS}(r'<regex matching the message>'))"
        )


def _fail_on_events(item: pytest.Item, report: pytest.TestReport, events: list[ServiceEvent]) -> None:
    """Services that died or stopped answering during the test fail it (and may stop the run)."""
    if not events:
        return
    report.outcome = "failed"
    more = f"\n(and {len(events) - 1} more service event(s); see results.json events)" if len(events) > 1 else ""
    report.longrepr = events[0].describe() + more
    report.user_properties.append(("service_events", json.dumps([f"{e.service}: {e.detail}" for e in events])))
    if _config().stop_on_death:
        _stop(item.session, f"stopped at the first service failure: {events[0].service} {events[0].event}")


def _fail_on_backend_errors(
    item: pytest.Item, report: pytest.TestReport, logs: dict[str, list[str]], stop: bool
) -> None:
    # Under pytest-xdist other tests write to the same logs at the same time: there, only
    # lines naming this test's session id can be blamed on it.
    only = None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        only = getattr(item, "funcargs", {}).get("session_id") or "\0"
    allowed: list[Allowance] = item.stash.get(ALLOWED_KEY, [])
    errors = unallowed(logs, allowed, only)
    if errors:
        service, line = errors[0]
        report.outcome = "failed"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        report.longrepr = (
            f"backend error during the test: {service} logged: {line}{more}\n"
            f"(if this test expects it, allow it: @pytest.mark.{ALLOW_BACKEND_ERRORS}"
            f"(r'<regex matching the line>', service='{service}'); if {service} logs errors that are no "
            f"failure of the system, as a database does for every statement a test breaks on purpose, stop "
            f"checking its log: backend_errors = false under [services.{service}] in stack.toml, or under "
            f"[suites.{_config().suite or '<suite>'}] for every service)"
        )
        if stop:
            _stop(item.session, f"stopped at the first backend error: {service} logged: {line[:200]}")


def _attach_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    global _test_logs
    logs = _test_logs
    if logs is None:  # it failed in set-up: what the services wrote so far
        _test_logs = logs = _logs.new_lines(_offsets)
    for service, lines in logs.items():
        text = "\n".join(lines[-60:])
        report.sections.append((f"backend log: {service}", text))
        report.user_properties.append((f"backend_log.{service}", text))
        item.user_properties.append((f"backend_log.{service}", text))
