"""Playwright fixtures: Debian's Chromium (Playwright cannot download its own browsers here)."""

from __future__ import annotations

import shutil

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


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    return {**browser_type_launch_args, "executable_path": executable, "args": CHROMIUM_FLAGS, "headless": True}


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
