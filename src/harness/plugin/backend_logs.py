"""The lines each service wrote to its log while one test ran.

Offsets into every ``<service>.log`` of the instance's log directory are taken when a test
starts; what was appended since is the test's share, every line of it (an error early in a chatty
test is still found; a failure's report shows only the last lines). Pure Python: it travels with
the plugin.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from .protocol import LOG_DIR_VAR


class ServiceLogs:
    """The instance's service logs: where each ends, and what was appended since.

    Each log is held open, so where it ends is an ``lseek`` (a tenth of a ``stat`` by path), and
    the directory's own descriptor says by its modification time when a log came or went (a
    service's first start, or a log replaced): then the logs are opened again. A log is read only
    when it grew. A test that made no service write costs a few system calls, which a suite of
    thousands of fast tests notices.
    """

    def __init__(self, directory: Path | None) -> None:
        self.directory = directory
        self._dir_fd = -1
        self._mtime = -1.0
        self._fds: dict[str, int] = {}  # service: its log, open for reading

    def _current(self) -> dict[str, int]:
        if self.directory is None:
            return {}
        try:
            if self._dir_fd < 0:
                self._dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            mtime = os.fstat(self._dir_fd).st_mtime
        except OSError:
            return {}
        if mtime != self._mtime:
            self._mtime = mtime
            self._reopen()
        return self._fds

    def _reopen(self) -> None:
        for fd in self._fds.values():
            with contextlib.suppress(OSError):
                os.close(fd)
        self._fds = {}
        assert self.directory is not None
        for path in sorted(self.directory.glob("*.log")):
            with contextlib.suppress(OSError):
                self._fds[path.stem] = os.open(path, os.O_RDONLY)

    def offsets(self) -> dict[str, int]:
        out = {}
        for name, fd in self._current().items():
            try:
                out[name] = os.lseek(fd, 0, os.SEEK_END)
            except OSError:
                continue
        return out

    def new_lines(self, start: dict[str, int]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, fd in self._current().items():
            since = start.get(name, 0)
            try:
                size = os.lseek(fd, 0, os.SEEK_END)
                if size <= since:
                    continue
                text = os.pread(fd, size - since, since).decode("utf-8", "replace")
            except OSError:
                continue
            lines = [line for line in text.splitlines() if line.strip()]
            if lines:
                out[name] = lines
        return out


def service_logs() -> ServiceLogs:
    """The logs of the stack this process tests (``LOG_DIR_VAR``)."""
    value = os.environ.get(LOG_DIR_VAR)
    return ServiceLogs(Path(value) if value else None)
