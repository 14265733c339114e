"""Browser errors fail browser tests: page errors and console errors a test's page produced.

The ``browser_errors`` fixture's collector is attached to a page (``browser_errors.attach(page)``,
duck-typed: any object with Playwright's ``page.on("pageerror"| "console", ...)``), so the plugin
needs no browser library itself. Errors that no ``allow_browser_errors("regex", ...)`` pattern on
the test covers fail it, with the messages in the failure and in ``results.json``. Pure Python:
copied to the suite's ``PYTHONPATH`` with the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from .patterns import compile_regex
from .protocol import ALLOW_BROWSER_ERRORS as MARKER


class BrowserErrors:
    """Error messages from the pages it was attached to, in the order they came."""

    def __init__(self) -> None:
        self.messages: list[str] = []

    def attach(self, page: Any) -> Any:
        page.on("pageerror", lambda error: self.messages.append(f"page error: {getattr(error, 'message', error)}"))
        page.on("console", self._console)
        return page

    def _console(self, message: Any) -> None:
        kind = message.type() if callable(getattr(message, "type", None)) else getattr(message, "type", "")
        if kind == "error":
            text = message.text() if callable(getattr(message, "text", None)) else getattr(message, "text", "")
            self.messages.append(f"console error: {text}")


def allowances(markers: Iterable[Any], where: str) -> list[re.Pattern[str]]:
    """The test's allowed patterns; a marker without one (allowing every error) is refused."""
    out = []
    for marker in markers:
        if not marker.args:
            raise ValueError(
                f"{where}: {MARKER} needs at least one regular expression; allowing every error is refused"
            )
        out += [compile_regex(pattern, where) for pattern in marker.args]
    return out


def unallowed(messages: Iterable[str], allowed: Iterable[re.Pattern[str]]) -> list[str]:
    allowed = list(allowed)
    return [m for m in messages if not any(p.search(m) for p in allowed)]
