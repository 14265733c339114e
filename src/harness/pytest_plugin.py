"""The pytest plugin loaded for integration suites (``-p harness.pytest_plugin``).

It gives tests the running stack, read from the environment the harness exports:

- ``stack_env``, ``service_url(name)``, ``service_client(name)`` (httpx clients that time every
  request), ``test_id`` (the id the stack's id marker gives the test) and ``session_id``
  (``<id>-<8 hex>``, unique per test);
- per test, the lines each service wrote to its log while the test ran: attached to failing
  reports (terminal and JUnit properties) under the service's name;
- a test during which a service logged a traceback or an ERROR line fails, naming the service and
  the line, unless marked ``allow_backend_errors``;
- at the end, ``$HARNESS_RUN_DIR/pytest-results.json`` with every test and the latency summary,
  which the suite runner folds into ``results.json``.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import shards
from .cases import case_of, skipped_module
from .latency import Call, LatencyLog, route_of, summarize
from .names import env_name

ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|\bCRITICAL\b")
MAX_LOG_LINES = 200
ID_PROPERTY = "int_id"  # the record's and JUnit's name for a test's catalog id, whatever its marker
LOGS_KEY = pytest.StashKey[dict[str, list[str]]]()
OFFSETS_KEY = pytest.StashKey[dict[str, int]]()

_latency = LatencyLog()
_records: list[dict[str, Any]] = []


def log_dir() -> Path | None:
    value = os.environ.get("HARNESS_LOG_DIR")
    return Path(value) if value else None


def _log_files() -> dict[str, Path]:
    directory = log_dir()
    if directory is None or not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.log"))}


def _offsets() -> dict[str, int]:
    return {name: path.stat().st_size for name, path in _log_files().items()}


def _new_lines(start: dict[str, int]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, path in _log_files().items():
        try:
            with open(path, "rb") as fh:
                fh.seek(start.get(name, 0))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            out[name] = lines[-MAX_LOG_LINES:]
    return out


def id_marker() -> str:
    """The marker that carries a test's catalog id (``[tests] id_marker`` in stack.toml)."""
    return os.environ.get("HARNESS_ID_MARKER") or "test_id"


def tier_prefix() -> str:
    return os.environ.get("HARNESS_TIER_PREFIX", "")


def pytest_configure(config: pytest.Config) -> None:
    for line in (
        f"{id_marker()}(id): the catalog id this test proves",
        "allow_backend_errors: service ERROR lines or tracebacks during this test are expected",
    ):
        config.addinivalue_line("markers", line)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Keep this shard's tests (``$HARNESS_SHARD``), and check ids against ``[tests] id_pattern``."""
    if os.environ.get("HARNESS_SHARD"):
        k, n = shards.parse(os.environ["HARNESS_SHARD"])
        durations = shards.load_durations(os.environ.get("HARNESS_DURATIONS"))
        disruptive = [i.nodeid for i in items if i.get_closest_marker("disruptive") is not None]
        mine = set(shards.split([i.nodeid for i in items], n, durations, disruptive)[k - 1])
        config.hook.pytest_deselected(items=[i for i in items if i.nodeid not in mine])
        items[:] = [i for i in items if i.nodeid in mine]
    pattern = os.environ.get("HARNESS_ID_PATTERN")
    if not pattern:
        return
    wrong = []
    for item in items:
        marker = item.get_closest_marker(id_marker())
        if marker is not None and marker.args and not re.fullmatch(pattern, str(marker.args[0])):
            wrong.append(f"{item.nodeid}: {marker.args[0]!r}")
    if wrong:
        raise pytest.UsageError(f"test ids that do not match {pattern!r}: " + "; ".join(wrong))


# -- fixtures ---------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The environment the harness derived for this run (ports, URLs, credentials, DISPLAY)."""
    if "HARNESS_STACK_FILE" not in os.environ:
        pytest.fail(
            "not running under the harness: start suites with `harness suite NAME` (or its nox session), "
            "or `invoke up` then `harness suite NAME --reuse`",
            pytrace=False,
        )
    return dict(os.environ)


@pytest.fixture(scope="session")
def service_url(stack_env: dict[str, str]) -> Callable[[str], str]:
    def url(service: str) -> str:
        key = f"{env_name(service)}_URL"
        if key not in stack_env:
            pytest.fail(f"no {key} in the harness environment: is '{service}' in stack.toml?", pytrace=False)
        return stack_env[key]

    return url


@pytest.fixture(scope="session")
def latency_log() -> LatencyLog:
    return _latency


def _timing_transport(service: str, log: LatencyLog) -> Any:
    """An httpx transport that records every request's method, route, status and duration."""
    import httpx

    class TimingTransport(httpx.BaseTransport):
        def __init__(self) -> None:
            self.inner = httpx.HTTPTransport()

        def handle_request(self, request: httpx.Request) -> httpx.Response:
            t0 = time.perf_counter()
            response = self.inner.handle_request(request)
            response.read()
            ms = (time.perf_counter() - t0) * 1000
            log.add(Call(service, request.method, route_of(request.url.path), response.status_code, ms))
            return response

        def close(self) -> None:
            self.inner.close()

    return TimingTransport()


@pytest.fixture(scope="session")
def service_client(service_url: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """``service_client("controller")``: an httpx client on that service that times each call.

    httpx is imported only here: a suite that never asks for this fixture needs only pytest.
    """
    try:
        import httpx
    except ImportError:
        pytest.fail("service_client needs httpx in the suite's Python (pip install httpx)", pytrace=False)
    made: dict[tuple[str, float], Any] = {}

    def client(service: str, timeout: float = 60.0) -> Any:
        key = (service, timeout)
        if key not in made:
            made[key] = httpx.Client(
                base_url=service_url(service), timeout=timeout, transport=_timing_transport(service, _latency)
            )
        return made[key]

    yield client
    for c in made.values():
        c.close()


@pytest.fixture
def test_id(request: pytest.FixtureRequest) -> str:
    name = id_marker()
    marker = request.node.get_closest_marker(name)
    if marker is None or not marker.args:
        pytest.fail(f"{request.node.nodeid} has no @pytest.mark.{name}('...') marker", pytrace=False)
    return str(marker.args[0])


@pytest.fixture
def session_id(test_id: str) -> str:
    """A session id of the form ``<test id>-<8 hex>``, unique per test (services log it)."""
    return f"{test_id}-{uuid.uuid4().hex[:8]}"


# -- per-test log capture -----------------------------------------------------------------------
@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Iterator[None]:
    item.stash[OFFSETS_KEY] = _offsets()
    return (yield)


def backend_errors(logs: dict[str, list[str]], only: str | None = None) -> list[tuple[str, str]]:
    """(service, line) pairs that look like errors; ``only`` keeps lines mentioning that text."""
    found = []
    for service, lines in logs.items():
        for line in lines:
            if ERROR_LINE.search(line) and (only is None or only in line):
                found.append((service, line.strip()))
    return found


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report: pytest.TestReport = yield
    marker = item.get_closest_marker(id_marker())
    if report.when == "setup" and marker is not None and marker.args:
        # On the item too: later phases' reports (and JUnit, which reads teardown's) carry it.
        item.user_properties.append((ID_PROPERTY, str(marker.args[0])))
        report.user_properties.append((ID_PROPERTY, str(marker.args[0])))
    if report.when == "call":
        logs = _new_lines(item.stash.get(OFFSETS_KEY, {}))
        item.stash[LOGS_KEY] = logs
        checked = os.environ.get("HARNESS_BACKEND_ERRORS", "on") != "off"
        if checked and report.passed and item.get_closest_marker("allow_backend_errors") is None:
            ignored = set(filter(None, os.environ.get("HARNESS_BACKEND_ERRORS_IGNORE", "").split(",")))
            _fail_on_backend_errors(item, report, {s: lines for s, lines in logs.items() if s not in ignored})
    if report.failed:
        _attach_logs(item, report)
    return report


def _fail_on_backend_errors(item: pytest.Item, report: pytest.TestReport, logs: dict[str, list[str]]) -> None:
    # Under pytest-xdist other tests write to the same logs at the same time: there, only
    # lines naming this test's session id can be blamed on it.
    only = None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        only = getattr(item, "funcargs", {}).get("session_id") or "\0"
    errors = backend_errors(logs, only)
    if errors:
        service, line = errors[0]
        report.outcome = "failed"
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        report.longrepr = (
            f"backend error during the test: {service} logged: {line}{more}\n"
            "(mark the test allow_backend_errors if this is expected)"
        )


def _attach_logs(item: pytest.Item, report: pytest.TestReport) -> None:
    logs = item.stash.get(LOGS_KEY, None)
    if logs is None:
        logs = _new_lines(item.stash.get(OFFSETS_KEY, {}))
        item.stash[LOGS_KEY] = logs
    for service, lines in logs.items():
        text = "\n".join(lines[-60:])
        report.sections.append((f"backend log: {service}", text))
        report.user_properties.append((f"backend_log.{service}", text))
        item.user_properties.append((f"backend_log.{service}", text))


# -- collecting results (on the xdist controller too: reports arrive there serialised) ----------
_phases: dict[str, list[pytest.TestReport]] = {}


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    _phases.setdefault(report.nodeid, []).append(report)
    if report.when == "teardown":
        _records.append(case_of(report.nodeid, _phases.pop(report.nodeid), ID_PROPERTY, tier_prefix()))


def pytest_collectreport(report: pytest.CollectReport) -> None:
    """A module skipped as a whole (``pytest.skip(allow_module_level=True)``) is a case too."""
    if report.skipped and report.nodeid:
        _records.append(skipped_module(report))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    run_dir = os.environ.get("HARNESS_RUN_DIR")
    if not run_dir:
        return
    directory = Path(run_dir)
    directory.mkdir(parents=True, exist_ok=True)
    worker = getattr(session.config, "workerinput", {}).get("workerid")
    calls = [vars(c) for c in _latency.calls]
    if worker:  # an xdist worker: hand its calls to the controller through a file
        (directory / f"latency-{worker}.json").write_text(json.dumps(calls))
        return
    for part in directory.glob("latency-*.json"):
        calls += json.loads(part.read_text())
        part.unlink()
    latency = summarize([Call(**c) for c in calls])
    latency["samples"] = [[c["service"], c["method"], c["route"], c["status"], round(c["ms"], 3)] for c in calls]
    payload = {"exitstatus": int(exitstatus), "tests": _records, "latency": latency}
    (directory / "pytest-results.json").write_text(json.dumps(payload, indent=2))
