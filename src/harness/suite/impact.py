"""Test impact: which tests a change can affect, from the lines each test made the services run.

Every full run of a suite with coverage on (``[suites.X] coverage``, ``--coverage``; no tests
chosen by name, ``-k``, ``-m`` or a shard) leaves a map in ``logs/impact/<suite>.json``: for each
file the services ran (relative to the git repository), each line, the tests that ran it (the
per-test coverage contexts), and the commit it describes. ``harness suite X --changed <ref>``
then runs, from ``git diff <ref>`` (the working tree included):

- the tests whose recorded lines a changed line of a service's file touches (a line removed or
  changed, or the lines on either side of one added);
- every test that ran a changed file at all, where that file changed between the map's commit and
  ``<ref>`` too (the map's line numbers no longer say where its lines are);
- the test files changed since ``<ref>``, and those changed since the map was made (tests added
  since), whole;
- every test when there is no map, or when a changed file is neither a test file nor a file the
  map knows (``stack.toml``, a migration, the frontend, a lock file, a new module), unless a
  ``[tests] impact`` rule maps its path to tests.

It says why each test was chosen, and how many were left out.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import json
import os
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.host.files import write_atomic
from harness.plugin.protocol import TESTS_SEPARATOR, selectable

Rules = Sequence[tuple[Sequence[str], Sequence[str]]]  # (path globs, the tests a change there runs)
RULE = "[tests] impact rule"
HUNK = re.compile(r"^@@ -(\d+)(?:,(\d+))? \+\d+(?:,\d+)? @@")


def map_path(log_dir: Path, suite: str) -> Path:
    return log_dir / "impact" / f"{suite}.json"


# Whatever the user's configuration says (colours, an external diff tool, no prefixes, quoted
# paths), the output parsed here is plain.
NEUTRAL = ("-c", "color.ui=never", "-c", "core.quotePath=false", "-c", "diff.noprefix=false")


def git(root: Path, *args: str) -> str:
    try:
        argv = ["git", *NEUTRAL, *args]
        res = subprocess.run(argv, cwd=root, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"git {' '.join(args)}: {exc}") from None
    if res.returncode != 0:
        raise HarnessError(f"git {' '.join(args)}: {res.stderr.strip() or f'exit {res.returncode}'}")
    return res.stdout


def make_map(
    data_file: Path, tests: Sequence[str], rootdir: str, test_paths: Sequence[str], root: Path
) -> dict[str, Any]:
    """The map from a combined coverage data file with per-test contexts."""
    import coverage

    top = Path(git(root, "rev-parse", "--show-toplevel").strip())
    data = coverage.CoverageData(basename=str(data_file))
    data.read()
    index = {t: i for i, t in enumerate(tests)}
    files: dict[str, dict[str, list[int]]] = {}
    for measured in data.measured_files():
        try:
            rel = Path(measured).resolve().relative_to(top).as_posix()
        except ValueError:
            continue  # outside the repository: no change of it shows in git diff
        lines: dict[str, list[int]] = {}
        for line, contexts in data.contexts_by_lineno(measured).items():
            named = (selectable(t) for c in contexts for t in c.split(TESTS_SEPARATOR))  # `@group`: not in the id
            ids = {index[t] for t in named if t in index}
            if ids:
                lines[str(line)] = sorted(ids)
        if lines:
            files[rel] = lines
    return {
        "commit": git(root, "rev-parse", "HEAD").strip(),
        "made_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "rootdir": rootdir,  # node ids are relative to it, from the stack's directory
        "tests": list(tests),
        "test_paths": [t for t in (Path(os.path.relpath(root / p, top)).as_posix() for p in test_paths) if t != "."],
        # Every test's file, from the repository's top (the ids are relative to pytest's rootdir).
        "test_files": sorted({Path(os.path.relpath(root / rootdir / t.split("::")[0], top)).as_posix() for t in tests}),
        "files": files,
    }


def save_map(path: Path, impact_map: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps(impact_map))


@dataclass
class Selection:
    """What ``--changed`` runs: node ids and whole files (or everything), each with its reason."""

    everything: str = ""  # why every test runs ("" when a selection was made)
    reasons: dict[str, str] = field(default_factory=dict)  # node id or test file: why
    total: int = 0  # the tests the map knows
    unaffecting: list[str] = field(default_factory=list)  # changed files a rule says affect no test
    rootdir: str = ""  # the map's: its node ids are relative to it

    @property
    def chosen(self) -> list[str]:
        return list(self.reasons)

    def describe(self) -> list[str]:
        if self.everything:
            return [f"--changed: every test runs: {self.everything}"]
        ids = [c for c in self.reasons if "::" in c]
        left = max(0, self.total - len(ids))
        head = f"--changed: {len(self.reasons)} chosen ({len(ids)} tests, {len(self.reasons) - len(ids)} test files)"
        lines = [head + f"; {left} of the {self.total} tests the map knows left out"]
        lines += [f"  {c}: {why}" for c, why in self.reasons.items()]
        if self.unaffecting:
            shown = ", ".join(self.unaffecting[:5]) + (
                f" and {len(self.unaffecting) - 5} more" if len(self.unaffecting) > 5 else ""
            )
            lines.append(f"  changed, and affecting no test by a [tests] impact rule: {shown}")
        return lines


def changed_lines(root: Path, ref: str) -> dict[str, set[int]]:
    """Changed files (relative to the repository) and the lines of ``ref``'s version a change touches."""
    out: dict[str, set[int]] = {}
    current = ""
    diff = git(
        root,
        "diff",
        "--no-color",
        "--no-ext-diff",
        "--src-prefix=a/",
        "--dst-prefix=b/",
        "--unified=0",
        "--no-renames",
        ref,
        "--",
    )
    for line in diff.splitlines():
        if line.startswith("diff --git "):
            current = line.split(" b/", 1)[-1]
            out.setdefault(current, set())
        elif line.startswith("--- a/"):
            current = line[6:].rstrip("\t")  # git ends a name with a space in it with a tab here
            out.setdefault(current, set())
        m = HUNK.match(line)
        if m and current:
            start, count = int(m.group(1)), int(m.group(2) or "1")
            # Removed or changed lines; an insertion (count 0) touches the lines on either side of it.
            out[current].update(range(start, start + count) if count else (start, start + 1))
    for path in git(root, "ls-files", "--full-name", "--others", "--exclude-standard").splitlines():  # untracked
        out.setdefault(path, set())
    return out


def select(
    impact_map: Mapping[str, Any] | None,
    changes: Mapping[str, set[int]],
    stale: Iterable[str],
    since_map: Iterable[str],
    rules: Rules,
) -> Selection:
    """Apply the rules (module docstring). ``stale``: files changed between the map's commit and
    the ref; ``since_map``: files changed since the map was made; ``rules``: (globs, tests)."""
    if impact_map is None:
        return Selection(everything="no impact map for this suite yet (a full run with coverage on makes one)")
    tests: list[str] = impact_map["tests"]
    files: dict[str, dict[str, list[int]]] = impact_map["files"]
    test_paths = [p.rstrip("/") + "/" for p in impact_map["test_paths"]]
    test_files = set(impact_map.get("test_files", []))
    stale = set(stale)
    out = Selection(total=len(tests), rootdir=impact_map.get("rootdir", ""))

    def is_test_file(path: str) -> bool:
        """A module of tests: one the map's tests are in, or a new ``test_*.py`` under the tests' paths."""
        name = path.rsplit("/", 1)[-1]
        new = name.endswith(".py") and (name.startswith("test_") or name.endswith("_test.py"))
        return path in test_files or (new and any(path.startswith(p) for p in test_paths))

    def under_tests(path: str) -> bool:
        return any(path.startswith(p) for p in test_paths)

    for path in sorted(set(since_map)):
        if is_test_file(path):
            out.reasons.setdefault(path, "a test file changed since the map was made")
    for path, lines in sorted(changes.items()):
        if is_test_file(path):
            out.reasons[path] = "the test file itself changed"
            continue
        ruled = [tests_ for globs, tests_ in rules if any(fnmatch.fnmatch(path, g) for g in globs)]
        if ruled:
            for chosen in (t for r in ruled for t in r):
                out.reasons.setdefault(chosen, f"{RULE} for {path}")
            if not any(ruled):
                out.unaffecting.append(path)
            continue
        known = files.get(path)
        if known is None and under_tests(path):  # a conftest, a helper, data: whose fixtures, whose files?
            return Selection(everything=f"{path} changed: tests use it in ways the map cannot tell", total=len(tests))
        if known is None:
            return Selection(everything=f"{path} changed, and the map knows no test that ran it", total=len(tests))
        if path in stale:  # its lines moved since the map: every test that ran the file
            for ids in known.values():
                for i in ids:
                    out.reasons.setdefault(selectable(tests[i]), f"ran {path}, which changed since the map was made")
            continue
        for line in sorted(lines):
            for i in known.get(str(line), []):
                out.reasons.setdefault(selectable(tests[i]), f"ran {path}:{line}")
    return out


def for_change(
    root: Path, logs: Path, suite: str, ref: str, rules: Sequence[tuple[Sequence[str], Sequence[str]]], profile: str
) -> Selection:
    """The selection for ``--changed <ref>``, from the suite's map under ``logs`` and git; ``profile``:
    the one this run's stack is (a map made against another saw other services run)."""
    path = map_path(logs, suite)
    impact_map: dict[str, Any] | None = None
    if path.is_file():
        try:
            impact_map = json.loads(path.read_text())
            assert isinstance(impact_map, dict) and {"commit", "tests", "files", "test_paths"} <= set(impact_map)
        except (ValueError, AssertionError):
            raise HarnessError(
                f"{path}: not a test impact map (delete it; a full run with coverage makes another)"
            ) from None
    git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")  # a ref git does not know: said here
    changes = changed_lines(root, ref)
    made_on = (impact_map or {}).get("profile", profile)
    if made_on != profile:
        return Selection(everything=f"the map was made against profile '{made_on}'; this run's is '{profile}'")
    stale: list[str] = []
    since: list[str] = []
    if impact_map is not None:
        try:
            names = ("diff", "--name-only", "-z", "--no-renames", "--no-ext-diff")
            stale = [n for n in git(root, *names, impact_map["commit"], ref, "--").split("\0") if n]
            since = [n for n in git(root, *names, impact_map["commit"], "--").split("\0") if n]
        except HarnessError:  # the map's commit is not in this clone (a shallow one, say)
            return Selection(everything=f"the map's commit {impact_map['commit'][:12]} is not in this repository")
    return select(impact_map, changes, stale, since, rules)


def arguments(selection: Selection, root: Path, cwd: Path) -> list[str]:
    """The chosen tests as pytest's arguments from the suite's directory: node ids are relative to
    the map's rootdir, test files to the repository, rules' tests to the suite's directory."""
    top = Path(git(root, "rev-parse", "--show-toplevel").strip())
    base = root / selection.rootdir
    out = []
    whole = {os.path.normpath(top / c) for c in selection.chosen if "::" not in c}
    for chosen in selection.chosen:
        file, sep, rest = chosen.partition("::")
        if sep:
            where = os.path.normpath(base / file)
            if os.path.exists(where) and where not in whole:  # gone, or its file runs whole anyway
                out.append(Path(os.path.relpath(where, cwd)).as_posix() + sep + rest)
        elif selection.reasons[chosen].startswith(RULE):
            out.append(chosen)  # a rule's test, as the suite names it
        elif (top / file).exists():  # a test file deleted by the change is not handed to pytest
            out.append(Path(os.path.relpath(top / file, cwd)).as_posix())
    return out
