"""One GitHub Actions error annotation per failed or errored test of a JUnit file.

    python3 scripts/junit_annotations.py merged/junit.xml

prints ``::error file=F,line=N,title=T::M`` for each: F and N from the deepest frame of the
test's traceback in this repository (pytest's ``path.py:N: Error`` lines), else the test's file;
T the test's id (its int_id property, else its name); M its node id and the first line of its
message. A missing file prints a warning and exits 0: the step that merged the records has
already said why. Stdlib only, so it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

FRAME = re.compile(r"^(?P<file>[^\s:][^:\n]*\.py):(?P<line>\d+): ", re.MULTILINE)


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def annotations(junit: Path, root: Path) -> list[str]:
    lines = []
    for case in ET.parse(junit).iter("testcase"):
        problem = case.find("failure")
        if problem is None:
            problem = case.find("error")
        if problem is None:
            continue
        classname, name = case.get("classname", ""), case.get("name", "")
        module = Path(*classname.split(".")).with_suffix(".py") if classname else None
        nodeid = f"{module}::{name}" if module else name
        props = {p.get("name"): p.get("value", "") for p in case.iter("property")}
        trace = (problem.text or "") + "\n" + problem.get("message", "")
        frames = [m for m in FRAME.finditer(trace) if (root / m["file"]).is_file()]
        where = ""
        if frames:
            where = f"file={escape_property(frames[-1]['file'])},line={frames[-1]['line']},"
        elif module and (root / module).is_file():
            where = f"file={escape_property(str(module))},"
        kind = "failed" if problem.tag == "failure" else "errored"
        title = escape_property(f"{props.get('int_id') or name} {kind}")
        first = (problem.get("message") or "").strip().splitlines()[:1]
        text = f"{nodeid} {kind}" + (f": {first[0]}" if first else "")
        lines.append(f"::error {where}title={title}::{escape_data(text)}")
    return lines


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__.strip().splitlines()[0], file=sys.stderr)
        return 2
    junit = Path(argv[1])
    if not junit.is_file():
        print(f"::warning::junit_annotations: no {junit}; no test annotations")
        return 0
    for line in annotations(junit, Path.cwd()):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
