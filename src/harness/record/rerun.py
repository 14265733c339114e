"""``harness suite NAME --failed-from RUN``: the tests that failed or errored in a recorded run.

The run is named by its directory, its results.json, or ``latest``; a shard's record and a merged
one (say, downloaded from CI) serve alike. The tests are its cases whose outcome is ``failed`` or
``error``, nothing else: not the ones a run stopped early never reached, nor the skipped.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError, command_hint
from harness.plugin.protocol import selectable

RERUN = ("failed", "error")


@dataclass(frozen=True)
class FailedRun:
    """What a rerun takes from the recorded run, and says of it in its own record."""

    results: Path  # the results.json read
    run_id: str
    nodeids: tuple[str, ...]  # as pytest names them: relative to its rootdir
    rootdir: str  # pytest's rootdir relative to the stack's directory; "" in an older record
    not_reached: int  # tests the run never reached (stopped early): not rerun

    def arguments(self, stack_root: Path, cwd: Path) -> list[str]:
        """The node ids as pytest's arguments: pytest reads them from where it starts (the suite's
        directory), while node ids are relative to its rootdir, which may be another."""
        if not self.rootdir:
            return list(self.nodeids)
        base = stack_root / self.rootdir
        out = []
        for nodeid in self.nodeids:
            file, sep, rest = nodeid.partition("::")
            out.append(Path(os.path.relpath(os.path.normpath(base / file), cwd)).as_posix() + sep + rest)
        return out

    def provenance(self) -> dict[str, Any]:
        """results.json's ``failed_from``."""
        return {"run_id": self.run_id, "results": str(self.results), "tests": len(self.nodeids)}


def read_failed(source: str, latest: Path, suite: str) -> FailedRun:
    """The failed and errored tests of ``source`` (a run directory, a results.json, or ``latest``),
    which must be a run of ``suite``."""
    path = latest if source == "latest" else Path(source)
    results = path / "results.json" if path.is_dir() else path
    if not results.is_file():
        said = f"latest ({latest})" if source == "latest" else source
        raise HarnessError(
            f"--failed-from {said}: no results.json there (give a run directory, a results.json or latest)"
        )
    try:
        data = json.loads(results.read_text())
        cases = data["tests"]["cases"]
        recorded_suite, run_id = str(data["suite"]), str(data["run_id"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HarnessError(f"--failed-from {results}: not a run's results.json ({exc})") from None
    if recorded_suite != suite:
        raise HarnessError(
            f"--failed-from {source}: {run_id} is a run of suite '{recorded_suite}', not of '{suite}' "
            f"({command_hint(f'suite {recorded_suite} --failed-from {source}')} reruns its failures)"
        )
    nodeids = tuple(dict.fromkeys(selectable(c["nodeid"]) for c in cases if c.get("outcome") in RERUN))
    code = int(data.get("exit_code") or 0)
    if not nodeids and code != 0:
        # Exit 0 with nothing run would turn a run whose stack never came up green.
        first = str(data.get("failure") or "").splitlines()[:1]
        raise HarnessError(
            f"--failed-from {source}: no test failed or errored in {run_id}, yet it ended "
            f"{data.get('status', 'failed')} (exit {code})"
            + (f": {first[0]}" if first else "")
            + "; nothing to rerun alone: run the suite whole"
        )
    return FailedRun(
        results=results,
        run_id=run_id,
        nodeids=nodeids,
        rootdir=str(data.get("rootdir") or ""),
        not_reached=sum(1 for c in cases if c.get("outcome") == "not_run"),
    )
