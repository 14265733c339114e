"""A run's failures as GitHub Actions annotations (``::error file=...,line=...::``).

Printed by the harness itself under GitHub Actions (``GITHUB_ACTIONS=true``): one per failed or
errored test, on the line where it failed (the record's ``location``, relative to the
repository), and one per service that died while the tests ran. A pull request then shows each
failure beside the code, with no step of the workflow parsing JUnit to find it.

GitHub shows at most 10 error annotations per step (and 50 per job): past that, the rest are
counted in one notice that says where every failure is.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any

ERRORS_PER_STEP = 10
MESSAGE_CHARS = 4000  # an annotation shows a message, not a log: the record has the rest
# Terminal colours: pytest colours its assertion diffs on a terminal (act runs steps on one), and
# the message it records keeps them; an annotation would show them as text.
COLOUR = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def under_github(environ: Mapping[str, str]) -> bool:
    return environ.get("GITHUB_ACTIONS") == "true"


def escape_data(text: str) -> str:
    """A workflow command's message, as GitHub's toolkit escapes it."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    """A workflow command's property value (``file=``, ``title=``): ``:`` and ``,`` too."""
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **properties: object) -> str:
    """``::kind k=v,...::message``, escaped; properties that are None are left out."""
    props = ",".join(f"{k}={escape_property(str(v))}" for k, v in properties.items() if v is not None)
    text = COLOUR.sub("", message)[:MESSAGE_CHARS]
    return f"::{kind}{' ' + props if props else ''}::{escape_data(text)}"


def workflow_commands(data: Mapping[str, Any], where: str = "", limit: int = ERRORS_PER_STEP) -> list[str]:
    """The workflow commands for a run's record (a merged one too): service deaths first (they
    explain the failures after them), then failed tests, in the record's order."""
    errors = [_death(e) for e in data.get("events", []) if e.get("event") == "died" and not e.get("intended")]
    errors += [_failure(c) for c in data.get("tests", {}).get("cases", []) if c.get("outcome") in ("failed", "error")]
    if len(errors) <= limit:
        return errors
    more = len(errors) - limit
    record = f" (the record: {where})" if where else ""
    note = (
        f"{more} more failure(s) not annotated: GitHub shows {limit} error annotations per step. "
        f"Every failure is in the step summary and in results.json{record}."
    )
    return [*errors[:limit], command("notice", note, title=f"{more} more failures")]


def _failure(case: Mapping[str, Any]) -> str:
    kind = "failed" if case["outcome"] == "failed" else "errored"
    name = case.get("int_id") or case["nodeid"].rsplit("::", 1)[-1]
    where = case.get("location") or {}
    file = where.get("file") if where.get("file") and not os.path.isabs(where["file"]) else None
    shard = f" (shard {case['shard']})" if case.get("shard") else ""
    message = str(case.get("message") or "").strip()
    return command(
        "error",
        f"{case['nodeid']} {kind}{shard}" + (f": {message}" if message else ""),
        file=file,
        line=where.get("line") if file else None,
        title=f"{name} {kind}",
    )


def _death(event: Mapping[str, Any]) -> str:
    shard = f" (shard {event['shard']})" if event.get("shard") else ""
    tests = event.get("tests") or []
    lines = [f"service {event['service']} died{shard}: {event.get('detail', '')}"]
    if tests:
        lines.append(f"during {', '.join(tests)}")
    tail = event.get("log_tail") or []
    if tail:
        lines += [f"last lines of {event['service']}'s log:", *tail[-10:]]
    return command("error", "\n".join(lines), title=f"service {event['service']} died")
