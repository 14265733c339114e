"""The orders table (idempotent: the step runs again only when this file changes)."""

import os
from urllib.parse import unquote, urlparse

import pymysql

dsn = urlparse(os.environ["SHOP_DSN"])
with (
    pymysql.connect(
        host=dsn.hostname,
        port=dsn.port,
        user=unquote(dsn.username),
        password=unquote(dsn.password),
        database=dsn.path[1:],
    ) as conn,
    conn.cursor() as cur,
):
    cur.execute(
        "CREATE TABLE IF NOT EXISTS orders ("
        " id INT AUTO_INCREMENT PRIMARY KEY, item VARCHAR(100) NOT NULL, qty INT NOT NULL,"
        " payment VARCHAR(200) NOT NULL)"
    )
    conn.commit()
