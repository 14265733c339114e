"""Playwright fixtures: Debian's Chromium (Playwright cannot download its own browsers here)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

# Shared fixtures, the autouse lock included: disruptive tests (which stop services) run alone.
from tests.integration.conftest import _stack_lock, harness_cli, stack  # noqa: F401

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


# Chromium puts its singleton socket in $TMPDIR/org.chromium.Chromium.XXXXXX/ and aborts when that
# path passes 107 bytes; nox's TMPDIR is inside the checkout, and a checkout can be deep (act's
# job workspaces are /tmp/act-.../cache/<16 hex>/hostexecutor/).
SOCKET_ROOM = 107 - len("/org.chromium.Chromium.XXXXXX/SingletonSocket")


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    args = {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_FLAGS, "headless": True}
    if len(tempfile.gettempdir()) > SOCKET_ROOM:
        args["env"] = {**os.environ, "TMPDIR": "/tmp"}
    return args


@pytest.fixture(scope="session")
def app_url(stack_env) -> str:
    return stack_env["FRONTEND_URL"]


@pytest.fixture
def page(page, browser_errors):
    """Playwright's page, its page errors and console errors failing the test (the harness plugin)."""
    return browser_errors.attach(page)


@pytest.fixture
def fresh_page(page, app_url):
    """The app with empty localStorage, viewport fixed so column geometry is predictable."""
    page.set_viewport_size({"width": 1400, "height": 800})
    page.goto(app_url)
    page.evaluate("localStorage.clear()")
    page.reload()
    page.wait_for_selector('[data-testid="app-layout"]')
    return page
