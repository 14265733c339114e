"""The team's migration: one table."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute("CREATE TABLE IF NOT EXISTS items (id serial PRIMARY KEY, name text NOT NULL)")
print("migrated")
