"""Build ``parts.db`` (SQLite) from the committed catalog source, deterministically and atomically.

Run as the ``cots_db`` step (``call = "services.cots.build:build_step"``): the harness skips it
while the output exists and the source's content hash is unchanged.
"""

from __future__ import annotations

import csv
import json
import os
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

SOURCE = Path(__file__).with_name("catalog.csv")
CATEGORIES = {"resistor", "capacitor", "inductor", "diode", "transistor", "opamp", "regulator", "connector"}
SCHEMA = """
CREATE TABLE parts (
    part_id TEXT PRIMARY KEY, category TEXT NOT NULL, manufacturer TEXT NOT NULL, mpn TEXT NOT NULL,
    value REAL, value_text TEXT, unit TEXT, package TEXT, specs TEXT NOT NULL,
    unit_price REAL NOT NULL CHECK (unit_price >= 0), source TEXT NOT NULL
);
CREATE INDEX parts_category ON parts(category);
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class CatalogError(ValueError):
    """A row of the catalog source is wrong; the message names the line and the field."""


def read_catalog(source: Path = SOURCE) -> list[dict[str, Any]]:
    rows = []
    seen: set[str] = set()
    with open(source, newline="", encoding="utf-8") as fh:
        for lineno, row in enumerate(csv.DictReader(fh), start=2):
            where = f"{source.name}:{lineno}"
            if row["part_id"] in seen:
                raise CatalogError(f"{where}: duplicate part_id {row['part_id']!r}")
            seen.add(row["part_id"])
            if row["category"] not in CATEGORIES:
                raise CatalogError(f"{where}: category {row['category']!r} is not one of {sorted(CATEGORIES)}")
            try:
                price = float(row["unit_price"])
                specs = json.loads(row["specs"])
            except ValueError as exc:
                raise CatalogError(f"{where}: unit_price or specs is malformed: {exc}") from None
            try:
                value: float | None = float(row["value"]) if row["value"] else None
            except ValueError:
                value = None
            rows.append(
                {
                    **row,
                    "value": value,
                    "value_text": row["value"],
                    "unit_price": price,
                    "specs": json.dumps(specs, sort_keys=True),
                }
            )
    return sorted(rows, key=lambda r: r["part_id"])


def build(target: Path, source: Path = SOURCE) -> int:
    """Write the database to a temp file beside ``target``, then rename it into place."""
    rows = read_catalog(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".parts-", suffix=".db", dir=target.parent)
    os.close(fd)
    try:
        with sqlite3.connect(tmp) as conn:
            conn.executescript(SCHEMA)
            conn.executemany(
                "INSERT INTO parts VALUES (:part_id, :category, :manufacturer, :mpn, :value, :value_text, "
                ":unit, :package, :specs, :unit_price, :source)",
                rows,
            )
            conn.execute("INSERT INTO meta VALUES ('source', ?)", (source.name,))
            conn.execute("INSERT INTO meta VALUES ('count', ?)", (str(len(rows)),))
        conn.close()
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(rows)


def build_step(ctx: Any) -> None:
    """The harness step: target from ``args.target`` (relative to the stack root)."""
    target = ctx.root / ctx.args.get("target", "build/parts.db")
    try:
        count = build(target)
    except CatalogError as exc:
        from harness.errors import StepFailed

        raise StepFailed(ctx.name, str(exc)) from None
    ctx.say(f"parts.db: {count} parts written to {target}")
