"""Browser errors fail browser tests: a real Chromium (Debian's) on pages a throwaway stack serves."""

from __future__ import annotations

import json
import shutil
import textwrap

import pytest

pytest.importorskip("pytest_playwright", reason="the e2e extra (playwright, pytest-playwright) is not installed")
pytestmark = pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian's chromium is not installed")

STACK = """
[stack]
name = "pages"

[services.site]
command = "{python} -m http.server {port} --bind 127.0.0.1 --directory site"
port = {p0}
ready = { tcp = true, timeout = 20 }

[profiles.all]
services = ["site"]

[suites.browser]
profile = "all"
paths = ["tests"]
"""

CONFTEST = """
import shutil

import pytest


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    return {**browser_type_launch_args, "executable_path": shutil.which("chromium"), "args": flags}


@pytest.fixture
def page(page, browser_errors):
    return browser_errors.attach(page)
"""

TESTS = """
import os

import pytest

URL = os.environ["SITE_URL"]


def test_a_clean_page(page):
    page.goto(URL + "/clean.html")
    assert page.text_content("h1") == "fine"


def test_a_page_that_throws(page):
    page.goto(URL + "/throws.html")
    page.wait_for_timeout(300)  # the error is raised by a timer after load


@pytest.mark.allow_browser_errors(r"known widget glitch")
def test_an_allowed_error(page):
    page.goto(URL + "/allowed.html")
    page.wait_for_timeout(300)


def test_a_console_error(page):
    page.goto(URL + "/console.html")
"""

ICON = '<link rel="icon" href="data:,">'  # else Chromium's favicon request 404s: a console error too
PAGES = {
    "clean.html": ICON + "<h1>fine</h1>",
    "throws.html": ICON + "<h1>x</h1><script>setTimeout(() => { throw new Error('boom from the page') }, 50)</script>",
    "allowed.html": ICON + "<script>setTimeout(() => { throw new Error('known widget glitch') }, 50)</script>",
    "console.html": ICON + "<script>console.error('the API answered 500')</script>",
}


def test_page_and_console_errors_fail_browser_tests_unless_allowed(make_stack):
    sd = make_stack(STACK)
    (sd.root / "site").mkdir()
    for name, html in PAGES.items():
        (sd.root / "site" / name).write_text(html)
    (sd.root / "tests").mkdir()
    (sd.root / "tests" / "conftest.py").write_text(textwrap.dedent(CONFTEST))
    (sd.root / "tests" / "test_pages.py").write_text(textwrap.dedent(TESTS))
    res = sd.cli("suite", "browser", timeout=300)
    assert res.returncode == 1, res.stdout + res.stderr
    data = json.loads((sd.root / "logs" / "latest" / "results.json").read_text())
    cases = {c["nodeid"].rsplit("::", 1)[1].removesuffix("[chromium]"): c for c in data["tests"]["cases"]}
    assert cases["test_a_clean_page"]["outcome"] == "passed" and cases["test_a_clean_page"]["browser_errors"] == []
    throws = cases["test_a_page_that_throws"]
    assert throws["outcome"] == "failed", throws
    assert throws["message"] == "browser error during the test: page error: boom from the page", throws
    assert throws["browser_errors"] == ["page error: boom from the page"], throws
    allowed = cases["test_an_allowed_error"]
    assert allowed["outcome"] == "passed" and allowed["browser_errors"] == ["page error: known widget glitch"]
    console = cases["test_a_console_error"]
    assert console["outcome"] == "failed" and console["browser_errors"] == ["console error: the API answered 500"]
