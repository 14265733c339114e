"""The catalog every environment starts with (idempotent: safe on every up)."""

import os

import psycopg

SEED = [("kettle", 2499), ("teapot", 1899), ("mug", 599)]

with psycopg.connect(os.environ["DATABASE_URL"]) as conn:
    for name, price in SEED:
        conn.execute("INSERT INTO products (name, price_cents) VALUES (%s, %s) ON CONFLICT DO NOTHING", (name, price))
print(f"seeded {len(SEED)} products")
