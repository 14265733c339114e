"""``[tests]``: how the plugin reads a stack's tests (id marker, tiers, latency folding, allowances).

The engine knows no stack's conventions; each stack says its own here.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated

from pydantic import AfterValidator, Field, field_validator

from harness.config.models import NAME, Model
from harness.plugin.patterns import compile_regex


def _regex(value: str) -> str:
    compile_regex(value)
    return value


Regex = Annotated[str, AfterValidator(_regex)]


class Route(Model):
    """A latency-table folding rule: ``pattern`` (a regex over the path) becomes ``replace``."""

    pattern: Regex
    replace: str


class Quarantined(Model):
    """A known flaky test: it still runs and is recorded, and its failure does not fail the run
    until ``until`` (a date); past it, the test fails the run again and says the quarantine expired."""

    test: str  # a node id, or a pattern over node ids (fnmatch: * ? [...])
    reason: str
    until: dt.date

    @field_validator("test", "reason")
    @classmethod
    def _given(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty: say which test, and why it is quarantined")
        return value


class AllowedError(Model):
    """A backend error line every test may meet: a regex over the line, for one service or all."""

    pattern: str
    service: str | None = None

    @field_validator("pattern")
    @classmethod
    def _compiles(cls, value: str) -> str:
        if not value:
            raise ValueError("an empty pattern would allow every error; give a regular expression")
        return _regex(value)


class ImpactRule(Model):
    """``--changed``: a change under ``paths`` (globs relative to the repository) runs ``tests``
    (node ids or test files; none: it affects no test), where it would otherwise run every test."""

    paths: list[str] = Field(min_length=1)
    tests: list[str]


class Conventions(Model):
    """How the plugin reads a suite's tests: id marker, tier markers, endpoint folding."""

    id_marker: Annotated[str, Field(pattern=NAME)] = "test_id"
    id_pattern: str = ""  # a regex every id must match (empty: any)
    tier_prefix: str = ""  # markers starting with this are recorded per test (empty: none)
    routes: list[Route] = []
    durations: str = ""  # recorded test durations that balance shards (`harness durations` writes it)
    allow_backend_errors: list[AllowedError] = []  # allowed in every test of every suite
    quarantine: list[Quarantined] = []  # known flaky tests: run and recorded, their failures forgiven until a date
    impact: list[ImpactRule] = []  # --changed: paths outside the services' Python and the tests they select

    @field_validator("id_pattern")
    @classmethod
    def _id_pattern(cls, value: str) -> str:
        return _regex(value) if value else value
