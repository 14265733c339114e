"""Reading a run's results.json back (``merge``, ``summary``, ``durations``): checked first, so
a file that is not one, or one mangled by hand or cut short, is one line naming the file and the
key at fault, never a traceback halfway through writing something else.

Only what those readers use is checked; every other key is kept as it is.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.errors import HarnessError


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow")


class CaseShape(_Shape):
    nodeid: str
    outcome: str
    duration_s: float = 0.0
    message: str = ""
    int_id: str | None = None
    backend_logs: dict[str, list[str]] = {}


class TestsShape(_Shape):
    total: int = 0
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    pass_rate: float | None = None
    cases: list[CaseShape]


class StageShape(_Shape):
    name: str
    status: str
    duration: float = 0.0


class RecordShape(_Shape):
    run_id: str
    suite: str
    status: str
    exit_code: int
    started_at: str = ""
    completed_at: str = ""
    duration_s: float = 0.0
    failure: str = ""
    shard: str = ""
    group_id: str = ""
    stages: list[StageShape] = []
    latency: dict[str, Any] = Field(default_factory=lambda: {"endpoints": {}, "slow_endpoints": []})
    tests: TestsShape


def read_record(path: Path, what: str) -> dict[str, Any]:
    """The record at ``path`` (a results.json), checked; ``what`` names the command for the message."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise HarnessError(f"{what}: {path}: cannot be read ({exc.strerror or exc})") from None
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HarnessError(f"{what}: {path} is not a results file: {exc}") from None
    try:
        return RecordShape.model_validate(data).model_dump()
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "(the whole file)"
        raise HarnessError(f"{what}: {path}: {where}: {first['msg']}") from None
