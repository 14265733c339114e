"""The lines each service wrote to its log while one test ran.

Offsets into every ``<service>.log`` of the instance's log directory are taken when a test
starts; what was appended since is the test's share (the last ``MAX_LOG_LINES`` of it). Pure
Python: it travels with the plugin.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .protocol import LOG_DIR_VAR

MAX_LOG_LINES = 200


class ServiceLogs:
    """The instance's service logs: where each ends, and what was appended since.

    The directory is listed again only when it changed (a service's first start makes its log);
    a log is read only when it grew. A test that made no service write costs a few ``stat`` calls.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._mtime = -1.0
        self._files: dict[str, Path] = {}

    def files(self) -> dict[str, Path]:
        if self.directory is None:
            return {}
        try:
            mtime = self.directory.stat().st_mtime
        except OSError:
            return {}
        if mtime != self._mtime:
            self._mtime = mtime
            self._files = {p.stem: p for p in sorted(self.directory.glob("*.log"))}
        return self._files

    def offsets(self) -> dict[str, int]:
        out = {}
        for name, path in self.files().items():
            with contextlib.suppress(OSError):
                out[name] = path.stat().st_size
        return out

    def new_lines(self, start: dict[str, int]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, path in self.files().items():
            since = start.get(name, 0)
            try:
                if path.stat().st_size <= since:
                    continue
                with open(path, "rb") as fh:
                    fh.seek(since)
                    text = fh.read().decode("utf-8", "replace")
            except OSError:
                continue
            lines = [line for line in text.splitlines() if line.strip()]
            if lines:
                out[name] = lines[-MAX_LOG_LINES:]
        return out


def service_logs() -> ServiceLogs:
    """The logs of the stack this process tests (``LOG_DIR_VAR``)."""
    value = os.environ.get(LOG_DIR_VAR)
    return ServiceLogs(Path(value) if value else None)
