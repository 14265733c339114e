"""Read-only access to parts.db (opened with ``mode=ro``: the catalog is never written here)."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

FIELDS = (
    "part_id",
    "category",
    "manufacturer",
    "mpn",
    "value",
    "value_text",
    "unit",
    "package",
    "specs",
    "unit_price",
    "source",
)


class Catalog:
    def __init__(self, path: Path) -> None:
        self.path = path

    def connect(self) -> sqlite3.Connection:
        if not self.path.is_file():
            raise FileNotFoundError(f"parts database {self.path} does not exist (run the cots-db step)")
        conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        conn.row_factory = sqlite3.Row
        return conn

    @staticmethod
    def _row(row: sqlite3.Row) -> dict[str, Any]:
        item = {k: row[k] for k in FIELDS}
        item["specs"] = json.loads(item["specs"])
        return item

    def lookup(self, part_ids: list[str]) -> dict[str, dict[str, Any]]:
        marks = ",".join("?" for _ in part_ids)
        with closing(self.connect()) as conn:
            rows = conn.execute(f"SELECT * FROM parts WHERE part_id IN ({marks})", part_ids).fetchall()
        return {r["part_id"]: self._row(r) for r in rows}

    def search(self, query: str, category: str | None, limit: int) -> list[dict[str, Any]]:
        like = f"%{query}%"
        sql = (
            "SELECT * FROM parts WHERE (part_id LIKE ? OR mpn LIKE ? OR manufacturer LIKE ? OR category LIKE ?)"
            + (" AND category = ?" if category else "")
            + " ORDER BY part_id LIMIT ?"
        )
        params: list[Any] = [like, like, like, like, *([category] if category else []), limit]
        with closing(self.connect()) as conn:
            return [self._row(r) for r in conn.execute(sql, params).fetchall()]

    def count(self) -> int:
        with closing(self.connect()) as conn:
            return int(conn.execute("SELECT count(*) FROM parts").fetchone()[0])
