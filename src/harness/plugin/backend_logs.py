"""The lines each service wrote to its log while one test ran.

Offsets into every ``<service>.log`` of the instance's log directory are taken when a test
starts; what was appended since is the test's share (the last ``MAX_LOG_LINES`` of it). Pure
Python: it travels with the plugin.
"""

from __future__ import annotations

import os
from pathlib import Path

from .protocol import LOG_DIR_VAR

MAX_LOG_LINES = 200


def log_dir() -> Path | None:
    value = os.environ.get(LOG_DIR_VAR)
    return Path(value) if value else None


def log_files() -> dict[str, Path]:
    directory = log_dir()
    if directory is None or not directory.is_dir():
        return {}
    return {p.stem: p for p in sorted(directory.glob("*.log"))}


def offsets() -> dict[str, int]:
    return {name: path.stat().st_size for name, path in log_files().items()}


def new_lines(start: dict[str, int]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for name, path in log_files().items():
        try:
            with open(path, "rb") as fh:
                fh.seek(start.get(name, 0))
                text = fh.read().decode("utf-8", "replace")
        except OSError:
            continue
        lines = [line for line in text.splitlines() if line.strip()]
        if lines:
            out[name] = lines[-MAX_LOG_LINES:]
    return out
