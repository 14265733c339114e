"""services.worker_heavy.netlist: parsing and validation (pure, no services)."""

from __future__ import annotations

import pytest
from services.worker_heavy.netlist import parse, parse_value, validate

CATALOG = {
    "R-1k": {"category": "resistor", "unit_price": 0.01, "mpn": "R1K"},
    "C-100n": {"category": "capacitor", "unit_price": 0.02, "mpn": "C100N"},
}


def lookup(ids):
    return {i: CATALOG[i] for i in ids if i in CATALOG}


RC = """rc
V1 in 0 1
* part: R-1k
R1 in out 1k
C1 out 0 100n ; part: C-100n
+ IC=0
.tran 1u 1m
.meas tran vmax MAX v(out)
.control
this is not parsed
.endc
.end
"""


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1k", 1e3),
        ("4.7k", 4.7e3),
        ("100n", 1e-7),
        ("1meg", 1e6),
        ("2.2uF", 2.2e-6),
        ("10", 10.0),
        ("1e-3", 1e-3),
        ("3M", 3e-3),
    ],
)
def test_values_with_spice_suffixes(text, value):
    assert parse_value(text) == pytest.approx(value)


@pytest.mark.parametrize("text", ["abc", "k1", "", "1..2"])
def test_non_numbers(text):
    assert parse_value(text) is None


def test_parse_collects_components_parts_and_measures():
    net = parse(RC)
    assert net.title == "rc" and net.problems == []
    assert [(c.name, c.line, c.part_id) for c in net.components] == [
        ("V1", 2, None),
        ("R1", 4, "R-1k"),
        ("C1", 5, "C-100n"),
    ]
    assert net.measures == ["vmax"]


def test_validate_prices_the_bill_of_materials():
    result = validate(RC, lookup)
    assert result["valid"] and result["total_cost"] == pytest.approx(0.03)
    assert [b["part_id"] for b in result["bom"]] == ["C-100n", "R-1k"]


def test_problems_carry_lines_and_kinds():
    text = "t\nR1 a b\nR2 a b 1k\n* part: C-100n\nR3 a b 1k\nZ1 a b\n* part: NOPE\nC2 a 0 1n\n"
    result = validate(text, lookup)
    got = [(p["line"], p["kind"]) for p in result["problems"]]
    assert (2, "parse") in got  # too few fields
    assert (3, "part") in got  # no part named
    assert (5, "part") in got  # a capacitor part on a resistor
    assert (6, "parse") in got  # unknown element
    assert "C2: unknown part 'NOPE'" in [p["message"] for p in result["problems"] if p["line"] == 8]
    assert any("no analysis directive" in p["message"] for p in result["problems"])


def test_cost_cap():
    assert validate(RC, lookup, cost_cap=0.05)["valid"]
    over = validate(RC, lookup, cost_cap=0.02)
    assert not over["valid"] and over["problems"][0]["kind"] == "cost"


def test_empty_title_line():
    assert parse("\nR1 a b 1k\n").problems[0].message == "the first line must be a title line"
