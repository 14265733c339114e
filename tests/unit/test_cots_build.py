"""services.cots.build: the parts database is deterministic, complete and atomically replaced."""

from __future__ import annotations

import hashlib
import sqlite3

import pytest
from services.cots.build import SOURCE, CatalogError, build, read_catalog


def dump(path):
    with sqlite3.connect(path) as conn:
        return list(conn.execute("SELECT * FROM parts ORDER BY part_id"))


def test_build_is_deterministic_and_covers_every_category(tmp_path):
    a, b = tmp_path / "a.db", tmp_path / "b.db"
    assert build(a) == build(b) >= 200
    assert dump(a) == dump(b)
    with sqlite3.connect(a) as conn:
        cats = {r[0] for r in conn.execute("SELECT DISTINCT category FROM parts")}
    assert cats == {"resistor", "capacitor", "inductor", "diode", "transistor", "opamp", "regulator", "connector"}


def test_rebuild_replaces_atomically_and_leaves_no_temp_files(tmp_path):
    target = tmp_path / "parts.db"
    build(target)
    first = hashlib.sha256(target.read_bytes()).hexdigest()
    inode = target.stat().st_ino
    reader = sqlite3.connect(target)  # a service holding the old file open while it is rebuilt
    try:
        rows = list(reader.execute("SELECT part_id FROM parts ORDER BY part_id"))
        build(target)
        # Replaced by rename, not rewritten in place: the open reader still sees the whole old file.
        assert target.stat().st_ino != inode
        assert list(reader.execute("SELECT part_id FROM parts ORDER BY part_id")) == rows
    finally:
        reader.close()
    assert hashlib.sha256(target.read_bytes()).hexdigest() == first, "same source, same bytes"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["parts.db"]
    assert len(dump(target)) == len(rows) >= 200


def test_bad_rows_name_the_line(tmp_path):
    src = tmp_path / "catalog.csv"
    lines = SOURCE.read_text().splitlines()
    src.write_text("\n".join([lines[0], lines[1], lines[1]]) + "\n")
    with pytest.raises(CatalogError, match=r"catalog.csv:3: duplicate part_id"):
        read_catalog(src)
    src.write_text("\n".join([lines[0], lines[1].replace("capacitor", "flux-capacitor", 1)]) + "\n")
    with pytest.raises(CatalogError, match=r"catalog.csv:2: category 'flux-capacitor'"):
        read_catalog(src)
    before = list((tmp_path).iterdir())
    with pytest.raises(CatalogError):
        build(tmp_path / "parts.db", src)
    assert list(tmp_path.iterdir()) == before
