"""Writing files whole or not at all: every run record, and what the harness keeps beside it.

A reader (a CI job uploading the run directory, ``harness summary``, a person, the harness
itself after a crash) never sees half a file: it is written to a temporary name beside the
target and renamed over it.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any


def write_atomic(path: Path, text: str) -> Path:
    """``text`` into ``path`` through a temporary file renamed over it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def write_json(path: Path, data: Any) -> Path:
    """``data`` as indented JSON, atomically (results.json, merged records, durations)."""
    return write_atomic(path, json.dumps(data, indent=2) + "\n")
