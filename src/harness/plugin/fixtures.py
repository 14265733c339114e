"""The plugin's fixtures: the running stack as tests see it (URLs, timed clients, ids).

Pure Python with pytest (httpx only for ``service_client``): copied to the suite's ``PYTHONPATH``
with the plugin.
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from .browser import BrowserErrors
from .latency import Call, LatencyLog, route_of
from .protocol import STACK_FILE_VAR, PluginConfig, url_var

LATENCY = LatencyLog()


def id_marker() -> str:
    """The marker that carries a test's catalog id (``[tests] id_marker`` in stack.toml)."""
    return PluginConfig.current().id_marker


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    """The environment the harness derived for this run (ports, URLs, credentials, DISPLAY)."""
    if STACK_FILE_VAR not in os.environ:
        pytest.fail(
            "not running under the harness: start suites with `harness suite NAME` (or its nox session), "
            "or `harness up` then `harness suite NAME --reuse`",
            pytrace=False,
        )
    return dict(os.environ)


@pytest.fixture(scope="session")
def service_url(stack_env: dict[str, str]) -> Callable[[str], str]:
    def url(service: str) -> str:
        key = url_var(service)
        if key not in stack_env:
            pytest.fail(f"no {key} in the harness environment: is '{service}' in stack.toml?", pytrace=False)
        return stack_env[key]

    return url


@pytest.fixture(scope="session")
def latency_log() -> LatencyLog:
    return LATENCY


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
                base_url=service_url(service), timeout=timeout, transport=_timing_transport(service, LATENCY)
            )
        return made[key]

    yield client
    for c in made.values():
        c.close()


@pytest.fixture
def service_ws(service_url: Callable[[str], str]) -> Iterator[Callable[..., Any]]:
    """``service_ws("controller", "/episodes/1/events/stream")``: a WebSocket to that service (its
    URL as ``service_client`` has it, ``ws://`` for ``http://``), timed into the latency table and
    closed at the test's end. ``websockets`` is imported only here."""
    from .websocket import TimedSocket

    opened: list[Any] = []

    def connect(service: str, path: str, *, open_timeout: float = 10.0) -> Any:
        try:
            import websockets  # noqa: F401
        except ImportError:
            pytest.fail("service_ws needs websockets in the suite's Python (pip install websockets)", pytrace=False)
        base = service_url(service).rstrip("/")
        url = "ws" + base.removeprefix("http") + path
        sock = TimedSocket(service, url, path, LATENCY, open_timeout)
        opened.append(sock)
        return sock

    yield connect
    for sock in opened:
        sock.close()


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


@pytest.fixture
def browser_errors() -> BrowserErrors:
    """Attach pages to it (``browser_errors.attach(page)``): their page and console errors fail the test."""
    return BrowserErrors()
