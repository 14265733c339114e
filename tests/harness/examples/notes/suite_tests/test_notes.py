"""The notes stack's own suite: it needs a DSN and the API URL, both from the harness."""

import os

import httpx
import psycopg


def test_note_round_trip_through_api_and_database():
    api = os.environ["NOTES_API"]
    created = httpx.post(f"{api}/notes", json={"body": "hello"}).json()
    assert created["id"] >= 1
    with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
        assert conn.execute("SELECT body FROM notes WHERE id = %s", (created["id"],)).fetchone() == ("hello",)
    assert {"id": created["id"], "body": "hello"} in httpx.get(f"{api}/notes").json()


def test_libpq_style_variables_and_extra_database():
    with psycopg.connect("") as conn:  # PGHOST, PGPORT, PGUSER, PGPASSWORD, PGDATABASE
        assert conn.execute("SELECT current_database()").fetchone() == ("notes",)
        dbs = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
        assert os.environ["NOTES_EXPECT_AUDIT_DB"] in dbs
        assert conn.execute("SHOW work_mem").fetchone() == ("8MB",)
