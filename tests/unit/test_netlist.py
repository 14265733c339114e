"""services.worker_heavy.netlist: parsing and validation (pure, no services)."""

from __future__ import annotations

import pytest
from services.worker_heavy.netlist import candidates, include_target, parse, parse_value, unsafe, validate

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


# -- what ngspice would obey besides the circuit (INT-123, INT-124) ---------------------------------
def unsafe_lines(text, files=None, path="circuit.cir"):
    result = validate(text, lookup, path=path, load=(files or {}).get)
    return [(p["line"], p["message"]) for p in result["problems"] if p["kind"] == "unsafe"]


@pytest.mark.parametrize(
    ("line", "why"),
    [
        (".control", ".control blocks"),
        ("  .CONTROL", ".control blocks"),
        ("\t.endc", ".control blocks"),
        (".controlx", ".control blocks"),
        ("*# shell id > /tmp/x", "'*#' lines are ngspice commands"),
        ("   *#shell id", "'*#' lines are ngspice commands"),
        ("*ng_script", "*ng_script"),
        (".exec", "directive .exec is not allowed"),
        (".incfoo /etc/shadow", "directive .incfoo is not allowed"),
        (".libx /etc/shadow s", "directive .libx is not allowed"),
        (".shell id", "directive .shell is not allowed"),
    ],
)
def test_lines_ngspice_would_run_are_unsafe(line, why):
    assert why in (unsafe(line.strip()) or "")
    text = RC.replace(".end\n", f"{line}\n.end\n")
    number = text.splitlines().index(line) + 1
    assert [n for n, _ in unsafe_lines(text)] == [number]


def test_control_block_with_shell_is_refused_on_its_lines():
    text = RC.replace(".end\n", ".control\nshell sh -c 'id > /tmp/pwned'\n.endc\n.end\n")
    result = validate(text, lookup)
    assert not result["valid"]
    assert [p["line"] for p in result["problems"] if p["kind"] == "unsafe"] == [9, 11]
    assert (10, "parse") in [(p["line"], p["kind"]) for p in result["problems"]], "shell is no element either"


@pytest.mark.parametrize("title", ["*ng_script", ".include /etc/shadow", ".control", "*# shell id"])
def test_a_title_line_ngspice_would_obey_is_unsafe(title):
    assert [n for n, _ in unsafe_lines(title + "\n" + RC.split("\n", 1)[1])] == [1]


def test_ordinary_comments_and_directives_are_fine():
    for line in ["* part: R-1k", "* a comment with .control in it", ".tran 1u 1m", ".MODEL d1 D", ".lib fast"]:
        assert unsafe(line) is None, line
    assert unsafe("* an ordinary title", title=True) is None


@pytest.mark.parametrize(
    ("directive", "target"),
    [
        (".include models.lib", "models.lib"),
        (".INC 'my models.lib' extra", "my models.lib"),
        ('.include "q.lib"', "q.lib"),
        (".lib lib/x.lib fast", "lib/x.lib"),
        (".lib fast", None),  # a section of a library file begins, no file
        (".include", ""),
    ],
)
def test_include_targets_as_ngspice_reads_them(directive, target):
    assert include_target(directive) == target


@pytest.mark.parametrize("target", ["/etc/shadow", "~/.bashrc", "~root/x", "../x", "a/../../x", "sub\\..\\x", "a\0b"])
def test_paths_outside_the_bundle_are_refused(target):
    paths, why = candidates(target, "", "")
    assert paths == [] and "outside the bundle" in why


def test_candidates_follow_ngspices_order():
    # Working directory (the top netlist's) first, then the including file's directory.
    assert candidates("diode.lib", "lib", "") == (["diode.lib", "lib/diode.lib"], "")
    assert candidates("x.lib", "top/lib", "top") == (["top/x.lib", "top/lib/x.lib"], "")
    assert candidates("../x.lib", "top/lib", "top") == (["x.lib", "top/x.lib"], ""), "up, but inside the bundle"
    assert candidates("../../x.lib", "top/lib", "top")[0] == [], "up and out of it"


@pytest.mark.parametrize(
    "directive",
    [".include /etc/shadow", ".lib /etc/passwd s", ".include ../secret", ".inc ~/x", ".include missing.lib"],
)
def test_includes_outside_the_bundle_or_missing_are_unsafe(directive):
    text = RC.replace(".end\n", f"{directive}\n.end\n")
    (found,) = unsafe_lines(text, {"other.lib": "* here\n"})
    assert found[0] == 9 and "cannot include" in found[1]


def test_includes_from_the_bundle_are_followed_and_checked():
    text = RC.replace(".end\n", ".include lib/models.lib\n.end\n")
    files = {"lib/models.lib": ".include diode.lib\n", "lib/diode.lib": ".model d1 D\n"}
    result = validate(text, lookup, load=files.get)
    assert result["valid"] and result["includes"] == ["lib/models.lib", "lib/diode.lib"]
    # A file of the bundle that would run commands is refused on the netlist's .include line.
    files["lib/diode.lib"] = ".model d1 D\n*# shell id\n.control\nA1 in out filesrc\n"
    problems = unsafe_lines(text, files)
    assert [n for n, _ in problems] == [9, 9, 9]
    assert [m.split(":")[0] for _, m in problems] == [
        "lib/diode.lib line 2",
        "lib/diode.lib line 3",
        "lib/diode.lib line 4",
    ]


def test_a_netlist_in_a_subdirectory_includes_from_its_directory():
    files = {"sim/models.lib": ".model d1 D\n"}
    text = RC.replace(".end\n", ".include models.lib\n.end\n")
    assert validate(text, lookup, path="sim/top.cir", load=files.get)["includes"] == ["sim/models.lib"]
    assert unsafe_lines(text, files, path="top.cir"), "models.lib is not beside top.cir"


def test_include_cycles_and_nesting_are_bounded():
    text = RC.replace(".end\n", ".include a.lib\n.end\n")
    cyclic = {"a.lib": ".include b.lib\n", "b.lib": ".include a.lib\n"}
    assert any("includes itself" in m for _, m in unsafe_lines(text, cyclic))
    back_to_top = {"circuit.cir": text, "a.lib": ".include circuit.cir\n"}
    assert any("circuit.cir includes itself" in m for _, m in unsafe_lines(text, back_to_top))
    deep = {f"l{i}.lib": f".include l{i + 1}.lib\n" for i in range(20)}
    deep["a.lib"] = ".include l0.lib\n"
    assert any("too many" in m for _, m in unsafe_lines(text, deep))
