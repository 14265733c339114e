"""Several pytest runs as one: JUnit files merged, latency recomputed from the raw samples.

A suite run in phases is combined here into the run's single ``junit.xml`` and results; shards
of a suite (``harness merge``) are combined the same way. Percentiles are recomputed from every
call's sample, never averaged.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.plugin.latency import Call, summarize
from harness.plugin.protocol import selectable


def merge_junit(sources: Iterable[Path], target: Path) -> None:
    """Every test suite of the JUnit files that exist, in one file."""
    from junitparser import JUnitXml

    merged = JUnitXml()
    for path in sources:
        if path.is_file():
            try:
                suites = list(JUnitXml.fromfile(str(path)))
            except Exception as exc:  # junitparser raises its XML parser's own errors
                raise HarnessError(f"{path}: not a JUnit XML file ({str(exc).splitlines()[0][:200]})") from None
            for suite in suites:
                merged.add_testsuite(suite)
    merged.write(str(target))


def latency_of(samples: Sequence[Sequence[Any]]) -> dict[str, Any]:
    """The latency summary of raw ``[service, method, route, status, ms]`` samples, samples kept."""
    latency = summarize([Call(*s) for s in samples])
    latency["samples"] = [list(s) for s in samples]
    return latency


def junit_address(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a node id as pytest's JUnit writer spells them (xdist's group suffix
    left out, as :func:`junit_cases` leaves it out of the names it reads)."""
    path, bracket, params = selectable(nodeid).partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return ".".join(names[:-1]), names[-1]


def junit_cases(root: ET.Element) -> dict[tuple[str, str], ET.Element]:
    """Each ``testcase`` element by its (classname, name)."""
    return {(c.get("classname", ""), selectable(c.get("name", ""))): c for c in root.iter("testcase")}


def mark_junit(path: Path, marks: dict[str, tuple[str, str]]) -> None:
    """A ``<property name= value=>`` on the test cases of ``marks`` (node id: (name, value))."""
    if not marks or not path.is_file():
        return
    tree = ET.parse(path)
    cases = junit_cases(tree.getroot())
    for nodeid, (name, value) in marks.items():
        case = cases.get(junit_address(nodeid))
        if case is None:
            continue
        props = case.find("properties")
        if props is None:
            props = ET.Element("properties")
            case.insert(0, props)
        ET.SubElement(props, "property", {"name": name, "value": value})
    tree.write(path, encoding="utf-8", xml_declaration=True)
