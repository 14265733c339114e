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
            tests += _tests_in(tree.body, module_marks, str(path.relative_to(ROOT)))
    return tests


def _tests_in(body: list[ast.stmt], inherited: list[tuple[str, list[str]]], where: str) -> list[dict[str, object]]:
    """Test functions (plain or async) at this level and in ``Test*`` classes, with their markers."""
    found: list[dict[str, object]] = []
    for node in body:
        if isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            class_marks = [m for d in node.decorator_list for m in _marks(d)]
            for stmt in node.body:
                if isinstance(stmt, ast.Assign) and any(
                    isinstance(t, ast.Name) and t.id == "pytestmark" for t in stmt.targets
                ):
                    class_marks += _marks(stmt.value)
            found += _tests_in(node.body, inherited + class_marks, f"{where}::{node.name}")
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test_"):
            marks = inherited + [m for d in node.decorator_list for m in _marks(d)]
            found.append(
                {
                    "where": f"{where}::{node.name}",
                    "ids": [a[0] for name, a in marks if name == "int_id" and a],
                    "tiers": {name for name, _ in marks if name in TIERS.values()},
                    # A skipped or expected-to-fail test proves nothing: it covers no id.
                    "covers": not any(name in ("skip", "skipif", "xfail") for name, _ in marks),
                }
            )
    return found


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
    tested = {i for t in collect_tests() if t["covers"] for i in t["ids"]}
    deferred = {i for i, e in entries.items() if e["status"].startswith("deferred:") and len(e["status"]) > 12}
    missing = sorted(set(entries) - tested - deferred)
    assert not missing, f"catalog ids without a test or a 'deferred: <reason>' status: {missing}"
    assert len(deferred) <= MAX_DEFERRED, f"too many deferred ids: {sorted(deferred)}"


def test_the_collector_sees_classes_async_tests_and_discounts_skips(tmp_path, monkeypatch):
    module = tmp_path / "integration" / "test_sample.py"
    module.parent.mkdir()
    module.write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.integration_p0\n"
        "class TestGroup:\n"
        "    @pytest.mark.int_id('INT-001')\n"
        "    def test_int_001_in_a_class(self): ...\n"
        "@pytest.mark.int_id('INT-002')\n"
        "async def test_int_002_async(): ...\n"
        "@pytest.mark.skip(reason='not yet')\n"
        "@pytest.mark.int_id('INT-003')\n"
        "def test_int_003_skipped(): ...\n"
        "@pytest.mark.xfail(reason='broken')\n"
        "@pytest.mark.int_id('INT-004')\n"
        "def test_int_004_xfailed(): ...\n"
    )
    monkeypatch.setitem(globals(), "TEST_DIRS", [module.parent])
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    found = {t["where"].rsplit("::", 1)[1]: t for t in collect_tests()}
    assert set(found) == {
        "test_int_001_in_a_class",
        "test_int_002_async",
        "test_int_003_skipped",
        "test_int_004_xfailed",
    }
    assert found["test_int_001_in_a_class"]["tiers"] == {"integration_p0"}
    assert found["test_int_001_in_a_class"]["covers"] and found["test_int_002_async"]["covers"]
    assert not found["test_int_003_skipped"]["covers"] and not found["test_int_004_xfailed"]["covers"]
