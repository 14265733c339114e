"""Several pytest runs as one: JUnit files merged, latency recomputed from the raw samples.

A suite run in phases is combined here into the run's single ``junit.xml`` and results; shards
of a suite (``harness merge``) are combined the same way. Percentiles are recomputed from every
call's sample, never averaged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.plugin.latency import Call, summarize


def merge_junit(sources: Iterable[Path], target: Path) -> None:
    """Every test suite of the JUnit files that exist, in one file."""
    from junitparser import JUnitXml

    merged = JUnitXml()
    for path in sources:
        if path.is_file():
            for suite in JUnitXml.fromfile(str(path)):
                merged.add_testsuite(suite)
    merged.write(str(target))


def latency_of(samples: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The latency summary of raw ``[service, method, route, status, ms]`` samples, samples kept."""
    latency = summarize([Call(*s) for s in samples])
    latency["samples"] = [list(s) for s in samples]
    return latency
