"""A small library: named counters kept in Postgres. The project the adoption page is tried on
(tests/harness/test_adopting_docs.py): its tests need a database, it has no app of its own."""

from __future__ import annotations

import os

import psycopg


def connect() -> psycopg.Connection:
    """The database the environment names (``DATABASE_URL``), its table made if missing."""
    conn = psycopg.connect(os.environ["DATABASE_URL"], autocommit=True)
    conn.execute("CREATE TABLE IF NOT EXISTS counters (name text PRIMARY KEY, value bigint NOT NULL)")
    return conn


def bump(conn: psycopg.Connection, name: str, by: int = 1) -> int:
    row = conn.execute(
        "INSERT INTO counters (name, value) VALUES (%s, %s) "
        "ON CONFLICT (name) DO UPDATE SET value = counters.value + EXCLUDED.value RETURNING value",
        (name, by),
    ).fetchone()
    assert row is not None
    return int(row[0])


def value(conn: psycopg.Connection, name: str) -> int:
    row = conn.execute("SELECT value FROM counters WHERE name = %s", (name,)).fetchone()
    return int(row[0]) if row else 0


def reset(conn: psycopg.Connection, name: str) -> None:
    conn.execute("DELETE FROM counters WHERE name = %s", (name,))
