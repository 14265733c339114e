"""worker_heavy: netlist validation against parts.db, and the read-only parts search."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.integration.support import BAD_SYNTAX, RC_FILTER

pytestmark = pytest.mark.integration_p0


@pytest.mark.int_id("INT-011")
def test_int_011_valid_netlist_has_a_priced_bill_of_materials(stack, session_id):
    result = stack.validate(session_id, RC_FILTER)
    assert result.valid and result.problems == []
    assert [(e["part_id"], e["quantity"]) for e in result.bom] == [("C-0603-100nF", 1), ("R-0603-1k", 1)]
    assert result.total_cost == pytest.approx(sum(e["unit_price"] for e in result.bom), abs=1e-4)
    assert result.measures == ["vout_max", "t_rise"]


@pytest.mark.int_id("INT-012")
def test_int_012_parse_errors_carry_line_numbers(stack, session_id):
    result = stack.validate(session_id, BAD_SYNTAX)
    assert not result.valid
    by_line = {p.line: p for p in result.problems}
    assert by_line[4].kind == "parse" and "R1" in by_line[4].message
    assert by_line[6].kind == "parse" and "ten_nF" in by_line[6].message


@pytest.mark.int_id("INT-013")
def test_int_013_unknown_part_is_named_with_its_line(stack, session_id):
    result = stack.validate(session_id, RC_FILTER.replace("C-0603-100nF", "C-0603-UNOBTAINIUM"))
    assert not result.valid
    assert [(p.line, p.kind) for p in result.problems] == [(6, "part")]
    assert "C-0603-UNOBTAINIUM" in result.problems[0].message


@pytest.mark.int_id("INT-014")
def test_int_014_cost_cap_is_enforced(stack, session_id):
    under = stack.validate(session_id, RC_FILTER, cost_cap=1.0)
    assert under.valid
    total = round(sum(line["quantity"] * line["unit_price"] for line in under.bom), 4)
    assert total > 0.001 and under.total_cost == total, "the total is the bill of materials' sum"
    over = stack.validate(session_id, RC_FILTER, cost_cap=0.001)
    assert not over.valid and over.total_cost == total
    assert over.problems[0].kind == "cost"
    assert f"{total:.4f}" in over.problems[0].message and "0.0010" in over.problems[0].message


@pytest.mark.int_id("INT-015")
def test_int_015_parts_search_returns_catalog_fields_read_only(stack):
    db = Path(stack.env["PARTS_DB"])
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    resp = stack.heavy.get("/parts", params={"q": "1N4148"})
    assert resp.status_code == 200
    parts = resp.json()["parts"]
    assert {p["part_id"] for p in parts} >= {"D-1N4148"}
    part = next(p for p in parts if p["part_id"] == "D-1N4148")
    assert set(part) >= {"part_id", "category", "manufacturer", "mpn", "specs", "unit_price", "source"}
    assert part["category"] == "diode" and part["unit_price"] > 0
    caps = stack.heavy.get("/parts", params={"q": "", "category": "capacitor", "limit": 200}).json()["parts"]
    assert caps and all(p["category"] == "capacitor" for p in caps)
    bad = stack.heavy.get("/parts", params={"limit": 0})
    assert bad.status_code == 422 and bad.json()["field"] == "query.limit"
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
