"""SPICE netlist parsing and validation against the parts catalog.

Components name catalog parts with a ``* part: <part_id>`` comment on the line before them, or an
inline ``; part: <part_id>``. Every problem is reported with its line number.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

VALUE_RE = re.compile(r"^([-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?)(meg|[tgkmunpf])?[a-z]*$", re.I)
PART_RE = re.compile(r"part\s*:\s*([A-Za-z0-9._/+-]+)", re.I)
ANALYSES = {".tran", ".ac", ".dc", ".op", ".noise"}
# element letter -> (catalog category or None when no part is needed, minimum fields)
ELEMENTS: dict[str, tuple[set[str] | None, int]] = {
    "R": ({"resistor"}, 4),
    "C": ({"capacitor"}, 4),
    "L": ({"inductor"}, 4),
    "D": ({"diode"}, 4),
    "Q": ({"transistor"}, 5),
    "M": ({"transistor"}, 6),
    "X": ({"opamp", "regulator", "connector"}, 3),
    "V": (None, 3),
    "I": (None, 3),
    "E": (None, 5),
    "G": (None, 5),
    "B": (None, 4),
    "K": (None, 4),
}
SCALE = {"t": 1e12, "g": 1e9, "meg": 1e6, "k": 1e3, "m": 1e-3, "u": 1e-6, "n": 1e-9, "p": 1e-12, "f": 1e-15}


@dataclass(frozen=True)
class Problem:
    line: int
    kind: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "kind": self.kind, "message": self.message}


@dataclass(frozen=True)
class Component:
    name: str
    line: int
    nodes: tuple[str, ...]
    value: str | None
    part_id: str | None


@dataclass
class Netlist:
    title: str
    components: list[Component] = field(default_factory=list)
    directives: list[tuple[int, str]] = field(default_factory=list)
    measures: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def parse_value(text: str) -> float | None:
    """``4.7k`` -> 4700.0, ``100n`` -> 1e-7, ``1meg`` -> 1e6; None when it is not a number."""
    match = VALUE_RE.match(text)
    if not match:
        return None
    return float(match.group(1)) * SCALE.get((match.group(2) or "").lower(), 1.0)


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Join ``+`` continuation lines onto the line they continue; keep the first line number."""
    out: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("+") and out:
            out[-1] = (out[-1][0], out[-1][1] + " " + line[1:].strip())
        else:
            out.append((number, line))
    return out


def parse(text: str) -> Netlist:
    lines = _logical_lines(text)
    if not lines or not lines[0][1].strip():
        return Netlist("", problems=[Problem(1, "parse", "the first line must be a title line")])
    net = Netlist(title=lines[0][1].strip())
    pending_part: str | None = None
    in_control = False
    for number, line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        lower = stripped.lower()
        if lower.startswith(".control"):
            in_control = True
            continue
        if lower.startswith(".endc"):
            in_control = False
            continue
        if in_control:
            continue
        if stripped.startswith("*"):
            found = PART_RE.search(stripped)
            pending_part = found.group(1) if found else pending_part
            continue
        if stripped.startswith("."):
            net.directives.append((number, stripped))
            if lower.startswith(".meas"):
                fields = stripped.split()
                if len(fields) >= 3:
                    net.measures.append(fields[2].lower())
                else:
                    net.problems.append(Problem(number, "parse", f"incomplete .meas directive: {stripped!r}"))
            continue
        body, _, comment = stripped.partition(";")
        inline = PART_RE.search(comment) if comment else None
        part_id = inline.group(1) if inline else pending_part
        pending_part = None
        fields = body.split()
        name = fields[0]
        letter = name[0].upper()
        if letter not in ELEMENTS:
            net.problems.append(Problem(number, "parse", f"{name}: unknown element type '{letter}'"))
            continue
        _, min_fields = ELEMENTS[letter]
        if len(fields) < min_fields:
            net.problems.append(
                Problem(
                    number,
                    "parse",
                    f"{name}: expected at least {min_fields} fields, got {len(fields)}: {body.strip()!r}",
                )
            )
            continue
        value = fields[3] if letter in "RCL" and len(fields) > 3 else None
        if value is not None and parse_value(value) is None:
            net.problems.append(Problem(number, "parse", f"{name}: value {value!r} is not a number"))
            continue
        net.components.append(Component(name, number, tuple(fields[1:3]), value, part_id))
    if not any(d.split()[0].lower() in ANALYSES for _, d in net.directives):
        net.problems.append(Problem(len(lines), "parse", "no analysis directive (.tran, .ac, .dc or .op)"))
    return net


Lookup = Callable[[list[str]], Mapping[str, Mapping[str, Any]]]


def validate(text: str, lookup: Lookup, cost_cap: float | None = None) -> dict[str, Any]:
    """Parse, check every part against the catalog and the bill of materials against the cap."""
    net = parse(text)
    problems = list(net.problems)
    wanted = sorted({c.part_id for c in net.components if c.part_id})
    parts = lookup(wanted) if wanted else {}
    bom: dict[str, dict[str, Any]] = {}
    for comp in net.components:
        categories, _ = ELEMENTS[comp.name[0].upper()]
        if categories is None:
            continue
        if not comp.part_id:
            problems.append(
                Problem(comp.line, "part", f"{comp.name} names no catalog part (add '* part: <part_id>' above it)")
            )
            continue
        part = parts.get(comp.part_id)
        if part is None:
            problems.append(Problem(comp.line, "part", f"{comp.name}: unknown part '{comp.part_id}'"))
            continue
        if part["category"] not in categories:
            problems.append(
                Problem(
                    comp.line,
                    "part",
                    f"{comp.name}: part '{comp.part_id}' is a {part['category']}, not a {'/'.join(sorted(categories))}",
                )
            )
            continue
        entry = bom.setdefault(
            comp.part_id, {"part_id": comp.part_id, "quantity": 0, "unit_price": part["unit_price"], "mpn": part["mpn"]}
        )
        entry["quantity"] += 1
    total = round(sum(e["quantity"] * e["unit_price"] for e in bom.values()), 4)
    if cost_cap is not None and total > cost_cap:
        problems.append(Problem(0, "cost", f"bill of materials costs {total:.4f}, over the cap of {cost_cap:.4f}"))
    return {
        "valid": not problems,
        "problems": [p.as_dict() for p in sorted(problems, key=lambda p: p.line)],
        "bom": sorted(bom.values(), key=lambda e: e["part_id"]),
        "total_cost": total,
        "measures": net.measures,
        "title": net.title,
    }
