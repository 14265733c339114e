"""The schema: products with a unique name and a non-negative price."""

import os

import psycopg

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS products ("
        " id serial PRIMARY KEY, name text UNIQUE NOT NULL, price_cents integer NOT NULL CHECK (price_cents >= 0))"
    )
print("migrated")
