"""Which service log lines fail a test: error-looking lines that no allowance covers.

An allowance is a regular expression (``re.search`` on the line), optionally for one service
only. They come from the test's ``allow_backend_errors("pattern", ..., service="name")`` marker
and from the stack-wide ``[tests] allow_backend_errors`` list (``PluginConfig.allowed_errors``).
A marker without a pattern would allow every error: it is refused at collection. Pure Python:
copied to the suite's ``PYTHONPATH`` with the plugin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .patterns import compile_regex
from .protocol import ALLOW_BACKEND_ERRORS as MARKER
from .protocol import PluginConfig

ERROR_LINE = re.compile(r"Traceback \(most recent call last\)|\bERROR\b|\bCRITICAL\b")


@dataclass(frozen=True)
class Allowance:
    pattern: re.Pattern[str]
    service: str | None = None

    def covers(self, service: str, line: str) -> bool:
        return (self.service is None or self.service == service) and self.pattern.search(line) is not None


class BadAllowance(ValueError):
    """A marker or stack entry that cannot be used (no pattern, or not a regular expression)."""


def compile_allowances(patterns: Iterable[object], service: object = None, *, where: str) -> list[Allowance]:
    """Allowances from a marker's arguments (or one stack entry); ``where`` names it in errors."""
    patterns = list(patterns)
    if not patterns:
        raise BadAllowance(
            f"{where}: {MARKER} needs at least one regular expression for the lines it allows "
            f"(e.g. @pytest.mark.{MARKER}(r'ERROR .*expected', service='api')); allowing every error is refused"
        )
    if service is not None and not isinstance(service, str):
        raise BadAllowance(f"{where}: service= must be a service name, not {service!r}")
    try:
        return [Allowance(compile_regex(pattern, where), service) for pattern in patterns]
    except ValueError as exc:
        raise BadAllowance(str(exc)) from None


def stack_allowances(config: PluginConfig) -> list[Allowance]:
    """The stack-wide list (``[tests] allow_backend_errors``), as the harness handed it over."""
    out: list[Allowance] = []
    for i, (pattern, service) in enumerate(config.allowed_errors):
        out += compile_allowances([pattern], service, where=f"[tests] {MARKER}[{i}]")
    return out


def unallowed(
    logs: Mapping[str, list[str]], allowances: Iterable[Allowance], only: str | None = None
) -> list[tuple[str, str]]:
    """(service, line) of error lines no allowance covers; ``only``: lines mentioning that text."""
    allowances = list(allowances)
    found = []
    for service, lines in logs.items():
        for line in lines:
            if not ERROR_LINE.search(line) or (only is not None and only not in line):
                continue
            if not any(a.covers(service, line) for a in allowances):
                found.append((service, line.strip()))
    return found
