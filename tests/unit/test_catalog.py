"""The INT catalog and the integration tests agree: ids, tiers, and nothing untested."""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "specs" / "integration-tests.md"
TEST_DIRS = [ROOT / "tests" / "integration", ROOT / "tests" / "e2e"]
TIERS = {"P0": "integration_p0", "P1": "integration_p1", "P2": "integration_p2", "Frontend": "integration_frontend"}
MAX_DEFERRED = 3


def read_catalog() -> dict[str, dict[str, str]]:
    entries: dict[str, dict[str, str]] = {}
    tier = None
    for line in CATALOG.read_text().splitlines():
        heading = re.match(r"^## (\w+)", line)
        if heading:
            tier = TIERS.get(heading.group(1))
            continue
        row = re.match(r"^\| (INT-\d{3}) \| ([^|]+) \|([^|]*)\|([^|]*)\|", line)
        if row and tier:
            assert row.group(1) not in entries, f"{row.group(1)} is listed twice"
            entries[row.group(1)] = {"tier": tier, "name": row.group(2).strip(), "status": row.group(4).strip()}
    return entries


def _marks(node: ast.AST) -> list[tuple[str, list[str]]]:
    """(marker, string args) for every ``pytest.mark.X`` / ``pytest.mark.X(...)`` in ``node``."""
    found = []
    for sub in ast.walk(node):
        target, args = (sub.func, sub.args) if isinstance(sub, ast.Call) else (sub, [])
        if (
            isinstance(target, ast.Attribute)
            and isinstance(target.value, ast.Attribute)
            and target.value.attr == "mark"
        ):
            found.append((target.attr, [a.value for a in args if isinstance(a, ast.Constant)]))
    return found


def collect_tests() -> list[dict[str, object]]:
    tests = []
    for directory in TEST_DIRS:
        for path in sorted(directory.rglob("test_*.py")):
            tree = ast.parse(path.read_text())
            module_marks = [
                m
                for stmt in tree.body
                if isinstance(stmt, ast.Assign)
                and any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets)
                for m in _marks(stmt.value)
            ]
            for fn in tree.body:
                if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_"):
                    marks = module_marks + [m for d in fn.decorator_list for m in _marks(d)]
                    tests.append(
                        {
                            "where": f"{path.relative_to(ROOT)}::{fn.name}",
                            "ids": [a[0] for name, a in marks if name == "int_id" and a],
                            "tiers": {name for name, _ in marks if name in TIERS.values()},
                        }
                    )
    return tests


def test_catalog_is_big_enough_per_tier():
    entries = read_catalog()
    count = {tier: sum(1 for e in entries.values() if e["tier"] == tier) for tier in TIERS.values()}
    assert count["integration_p0"] >= 22 and count["integration_p1"] >= 12
    assert count["integration_p2"] >= 5 and count["integration_frontend"] >= 8
    assert len(entries) >= 45


def test_every_test_has_one_known_id_and_the_catalogs_tier():
    entries = read_catalog()
    problems = []
    for test in collect_tests():
        if len(test["ids"]) != 1:
            problems.append(f"{test['where']}: needs exactly one int_id marker, has {test['ids']}")
            continue
        (int_id,) = test["ids"]
        if int_id not in entries:
            problems.append(f"{test['where']}: {int_id} is not in {CATALOG.name}")
        elif test["tiers"] != {entries[int_id]["tier"]}:
            problems.append(
                f"{test['where']}: tier markers {sorted(test['tiers'])} but the catalog puts "
                f"{int_id} in {entries[int_id]['tier']}"
            )
        elif not test["where"].split("::")[1].startswith(f"test_int_{int_id[4:]}"):
            problems.append(f"{test['where']}: name should start with test_int_{int_id[4:]}")
    assert not problems, "\n".join(problems)


def test_every_catalog_id_has_a_test_or_a_deferral_reason():
    entries = read_catalog()
    tested = {i for t in collect_tests() for i in t["ids"]}
    deferred = {i for i, e in entries.items() if e["status"].startswith("deferred:") and len(e["status"]) > 12}
    missing = sorted(set(entries) - tested - deferred)
    assert not missing, f"catalog ids without a test or a 'deferred: <reason>' status: {missing}"
    assert len(deferred) <= MAX_DEFERRED, f"too many deferred ids: {sorted(deferred)}"
