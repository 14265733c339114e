"""SPICE netlist parsing and validation against the parts catalog.

Components name catalog parts with a ``* part: <part_id>`` comment on the line before them, or an
inline ``; part: <part_id>``. Every problem is reported with its line number.

A netlist is untrusted input that ngspice would otherwise obey, so anything that makes ngspice do
more than simulate is refused (a problem of kind ``unsafe``), in the netlist and in every file it
includes: ``.control``/``.endc`` blocks and ``*#`` lines (ngspice commands, ``shell`` among them),
a ``*ng_script`` or directive title line, any directive not in :data:`DIRECTIVES`, any element
letter not in :data:`ELEMENTS` (XSPICE ``A`` devices read files), and ``.include``/``.inc``/``.lib``
of anything but a regular file of the bundle: absolute, ``~`` and escaping (``..``) paths are
refused, as is a name that is not a file of the bundle (a symlink in it is not one).
"""

from __future__ import annotations

import posixpath
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
# Every directive a netlist may hold. ngspice matches directives by prefix, so the first word must
# be one of these exactly; anything else (.control, .endc, .exec, .incfoo...) is refused.
DIRECTIVES = {
    ".ac", ".dc", ".disto", ".end", ".endl", ".ends", ".four", ".func", ".global", ".ic", ".inc",
    ".include", ".lib", ".meas", ".measure", ".model", ".nodeset", ".noise", ".op", ".opt",
    ".option", ".options", ".param", ".plot", ".print", ".pz", ".save", ".sens", ".subckt",
    ".temp", ".tf", ".tran", ".width",
}  # fmt: skip
INCLUDES = {".include", ".inc", ".lib"}
MAX_INCLUDES = 64  # files one netlist may pull in, all levels together
MAX_DEPTH = 8
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
    includes: list[tuple[int, str]] = field(default_factory=list)  # (line, path as written)


def include_target(directive: str) -> str | None:
    """The file an ``.include``/``.inc``/``.lib`` line names, as ngspice reads it (quoted or up to
    the first blank); None for a one-word ``.lib name`` (a section's start, no file)."""
    fields = directive.split(None, 1)
    rest = fields[1].strip() if len(fields) > 1 else ""
    if rest[:1] in ("'", '"'):
        end = rest.find(rest[0], 1)
        return rest[1:end] if end > 0 else rest[1:]
    words = rest.split()
    if fields[0].lower() == ".lib" and len(words) < 2:
        return None
    return words[0] if words else ""


def unsafe(stripped: str, *, title: bool = False) -> str | None:
    """Why ngspice must not see this line (stripped of blanks), or None when it may."""
    lower = stripped.lower()
    if lower.startswith("*ng_script"):
        return "'*ng_script' would make ngspice run the file as a script of commands"
    if lower.startswith("*#"):
        return "'*#' lines are ngspice commands ('shell' among them), not comments"
    if not lower.startswith("."):
        return None
    word = lower.split()[0]
    if title:
        return f"the first line is the title; a directive there ({word}) would still be obeyed"
    if word.startswith((".control", ".endc")):
        return f"{word}: .control blocks hold ngspice commands ('shell' among them) and are not allowed"
    if word not in DIRECTIVES:
        return f"directive {word} is not allowed (allowed: {', '.join(sorted(DIRECTIVES))})"
    return None


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
    danger = unsafe(net.title, title=True)
    if danger:
        net.problems.append(Problem(1, "unsafe", danger))
    pending_part: str | None = None
    for number, line in lines[1:]:
        stripped = line.strip()
        if not stripped:
            continue
        danger = unsafe(stripped)
        if danger:
            net.problems.append(Problem(number, "unsafe", danger))
            continue
        lower = stripped.lower()
        if stripped.startswith("*"):
            found = PART_RE.search(stripped)
            pending_part = found.group(1) if found else pending_part
            continue
        if stripped.startswith("."):
            net.directives.append((number, stripped))
            if lower.split()[0] in INCLUDES:
                target = include_target(stripped)
                if target is not None:
                    net.includes.append((number, target))
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


def screen_library(text: str) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
    """An included file (models, subcircuits: no title line): its unsafe lines (line, why) and its
    own includes (line, path), checked as the netlist's are."""
    problems: list[tuple[int, str]] = []
    includes: list[tuple[int, str]] = []
    for number, line in _logical_lines(text):
        stripped = line.strip()
        if not stripped:
            continue
        danger = unsafe(stripped)
        if danger:
            problems.append((number, danger))
        elif stripped.startswith("."):
            if stripped.split()[0].lower() in INCLUDES:
                target = include_target(stripped)
                if target is not None:
                    includes.append((number, target))
        elif not stripped.startswith("*") and stripped[0].upper() not in ELEMENTS:
            problems.append((number, f"{stripped.split()[0]}: unknown element type '{stripped[0]}'"))
    return problems, includes


def candidates(target: str, directory: str, top: str) -> tuple[list[str], str]:
    """The bundle paths ngspice would try for ``target``, included from a file in ``directory``, in
    its order: the top netlist's directory (its working directory), then the including file's.
    Empty with the reason when any of them would leave the bundle (absolute, ``~``, ``..``)."""
    outside = "it is outside the bundle (only the bundle's own files may be included)"
    if not target:
        return [], "the directive names no file"
    if target.startswith(("/", "~")) or "\\" in target or "\0" in target:
        return [], outside
    paths = [posixpath.normpath(posixpath.join(base, target)) for base in (top, directory)]
    if any(path == ".." or path.startswith("../") for path in paths):
        return [], outside
    return list(dict.fromkeys(paths)), ""


def check_includes(
    net: Netlist, path: str, load: Callable[[str], str | None] | None
) -> tuple[list[Problem], list[str]]:
    """Follow the netlist's includes through the bundle: problems (on the netlist's line that leads
    to them) and the bundle files ngspice will read, in order."""
    path = posixpath.normpath(path)
    top = posixpath.dirname(path)
    problems: list[Problem] = []
    found: list[str] = []

    def visit(includes: list[tuple[int, str]], directory: str, chain: list[str], at: int | None) -> None:
        for number, target in includes:
            line = number if at is None else at
            where = "" if at is None else f"{chain[-1]} line {number}: "
            if len(chain) > MAX_DEPTH or len(found) >= MAX_INCLUDES:
                problems.append(Problem(line, "unsafe", f"{where}too many nested or included files"))
                return
            options, why = candidates(target, directory, top)
            loaded = [(option, text) for option in options if (text := load(option) if load else None) is not None]
            if not loaded:
                why = why or "it is not a file of the bundle"
                problems.append(Problem(line, "unsafe", f"{where}cannot include {target!r}: {why}"))
                continue
            chosen, text = loaded[0]
            if chosen in chain:
                problems.append(Problem(line, "unsafe", f"{where}{chosen} includes itself"))
                continue
            if chosen not in found:
                found.append(chosen)
            bad, nested = screen_library(text)
            problems.extend(Problem(line, "unsafe", f"{chosen} line {n}: {reason}") for n, reason in bad)
            visit(nested, posixpath.dirname(chosen), [*chain, chosen], line)

    visit(net.includes, top, [path], None)
    return problems, found


Lookup = Callable[[list[str]], Mapping[str, Mapping[str, Any]]]


def validate(
    text: str,
    lookup: Lookup,
    cost_cap: float | None = None,
    *,
    path: str = "circuit.cir",
    load: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    """Parse, check every part against the catalog and the bill of materials against the cap.

    ``path`` is the netlist's place in its bundle and ``load`` reads another file of the bundle
    (None when there is none), for ``.include``: without it nothing may be included.
    """
    net = parse(text)
    problems = list(net.problems)
    unsafe_includes, included = check_includes(net, path, load)
    problems += unsafe_includes
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
        "includes": included,
    }
